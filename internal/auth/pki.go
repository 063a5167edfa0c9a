package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The files `gpuqd init` writes into the TLS directory. Keys and secrets
// are 0600; certificates 0644.
const (
	CACertFile    = "ca.crt"
	CAKeyFile     = "ca.key"
	ServerCert    = "server.crt"
	ServerKey     = "server.key"
	TokenKeyFile  = "token.key"
	JoinTokenFile = "join-token"
)

// Validity of what Init and SignNode issue.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	ServerValidity = 2 * 365 * 24 * time.Hour
	NodeValidity   = 365 * 24 * time.Hour
)

// URI SANs name the principal of a client certificate:
// gpuq://node/<name> and gpuq://user/<name>?role=<role>&team=<team>...
const uriScheme = "gpuq"

// InitResult says what Init did.
type InitResult struct {
	Dir     string
	Created bool // false: everything was there already and is kept
	Join    JoinToken
}

// Init creates, in dir, a CA, a server certificate for hosts signed by it,
// a token-signing key and a node join token. Files that exist are kept, so
// running it twice changes nothing; a server certificate is only made anew
// when it is missing.
func Init(dir string, hosts []string, now time.Time) (InitResult, error) {
	res := InitResult{Dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("tls directory: %w", err)
	}
	caCert, caKey, err := LoadPair(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCA(now)
		if err == nil {
			err = writePair(dir, CACertFile, CAKeyFile, caCert, caKey)
		}
		res.Created = true
		// What the old CA signed or names is of no use with the new one.
		for _, f := range []string{ServerCert, ServerKey, JoinTokenFile} {
			if rmErr := os.Remove(filepath.Join(dir, f)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
				err = rmErr
			}
		}
	}
	if err != nil {
		return res, err
	}
	if _, err := os.Stat(filepath.Join(dir, ServerCert)); errors.Is(err, os.ErrNotExist) {
		cert, key, err := newServerCert(caCert, caKey, hosts, now)
		if err != nil {
			return res, err
		}
		if err := writePair(dir, ServerCert, ServerKey, cert, key); err != nil {
			return res, err
		}
		res.Created = true
	}
	if _, err := os.Stat(filepath.Join(dir, TokenKeyFile)); errors.Is(err, os.ErrNotExist) {
		key := make([]byte, KeySize)
		_, _ = rand.Read(key)
		if err := WriteSecret(filepath.Join(dir, TokenKeyFile), key); err != nil {
			return res, err
		}
		res.Created = true
	}
	join, err := ReadJoinToken(dir)
	if errors.Is(err, os.ErrNotExist) {
		join = JoinToken{Secret: NewSecret(), CA: Fingerprint(caCert)}
		err = WriteSecret(filepath.Join(dir, JoinTokenFile), []byte(join.String()+"\n"))
		res.Created = true
	}
	res.Join = join
	return res, err
}

// ReadJoinToken reads the join token Init wrote.
func ReadJoinToken(dir string) (JoinToken, error) {
	b, err := os.ReadFile(filepath.Join(dir, JoinTokenFile))
	if err != nil {
		return JoinToken{}, err
	}
	return ParseJoinToken(string(b))
}

// ReadTokenKey reads the token-signing key.
func ReadTokenKey(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, TokenKeyFile))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, in hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// CA is gpuqd's certificate authority: it signs node certificates.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// LoadCA reads the CA that Init wrote into dir.
func LoadCA(dir string) (*CA, error) {
	c, k, err := LoadPair(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	return &CA{Cert: c, key: k}, nil
}

// Pool returns a cert pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// SignNode checks a node's certificate request and returns a client
// certificate (DER) that names it gpuq://node/<name>.
func (ca *CA) SignNode(csrDER []byte, name string, now time.Time) ([]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	u := &url.URL{Scheme: uriScheme, Host: "node", Path: "/" + name}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, OrganizationalUnit: []string{"gpuq-node"}},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(NodeValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign node certificate: %w", err)
	}
	return der, nil
}

// SignUser checks a user's certificate request and returns a client
// certificate (DER) naming gpuq://user/<name>?role=<role>&team=<team>...,
// valid for ttl.
func (ca *CA) SignUser(csrDER []byte, name string, role Role, teams []string, ttl time.Duration, now time.Time) ([]byte, time.Time, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, time.Time{}, fmt.Errorf("certificate request: %w", err)
	}
	q := url.Values{"role": {string(role)}, "team": teams}
	u := &url.URL{Scheme: uriScheme, Host: "user", Path: "/" + name, RawQuery: q.Encode()}
	expires := now.Add(ttl)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, OrganizationalUnit: []string{"gpuq-user"}},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     expires,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sign user certificate: %w", err)
	}
	return der, expires, nil
}

// certBackdate is how far before its issue a certificate's NotBefore lies
// (clock skew); CertIssued undoes it.
const certBackdate = 5 * time.Minute

// CertIssued is when gpuqd issued a certificate it signed.
func CertIssued(c *x509.Certificate) time.Time { return c.NotBefore.Add(certBackdate) }

// IdentityFromCert returns the principal a verified client certificate names.
func IdentityFromCert(c *x509.Certificate) (*Identity, error) {
	for _, u := range c.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		name := strings.TrimPrefix(u.Path, "/")
		if name == "" {
			break
		}
		switch u.Host {
		case "node":
			return &Identity{Kind: KindNode, Name: name, Method: MethodCert}, nil
		case "user":
			role, err := ParseRole(u.Query().Get("role"))
			if err != nil {
				return nil, err
			}
			id := &Identity{Kind: KindUser, Name: name, Role: role, Teams: u.Query()["team"], Method: MethodCert}
			if role == RoleTeamAdmin {
				id.AdminOf = id.Teams
			}
			return id, nil
		}
	}
	return nil, errors.New("the client certificate names no gpuq principal")
}

// ServerTLS returns gpuqd's TLS config: its certificate (with the CA in the
// chain, so clients pinning the CA's fingerprint find it) and client
// certificates verified against the CA when given.
func ServerTLS(dir string) (*tls.Config, *CA, error) {
	ca, err := LoadCA(dir)
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey))
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	pair.Certificate = append(pair.Certificate, ca.Cert.Raw)
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
	}, ca, nil
}

// ClientTLS returns a client's TLS config for gpuqd at serverName: the
// server must present a chain to a CA in roots or, when roots is nil, to
// the CA whose fingerprint is pin. cert, when not nil, is called at each
// handshake for the certificate to present (a node renews its own).
func ClientTLS(serverName string, roots *x509.CertPool, pin string, cert func() *tls.Certificate) (*tls.Config, error) {
	if serverName == "" {
		return nil, errors.New("no server name to check gpuqd's certificate against")
	}
	c := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12, RootCAs: roots}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if p := cert(); p != nil {
				return p, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		}
	}
	if roots != nil {
		return c, nil
	}
	if len(pin) != 64 {
		return nil, errors.New("no CA to trust gpuqd with: give a CA file, or a token that carries gpuqd's CA fingerprint")
	}
	// Verified below against the pinned CA, host name included.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		var ca *x509.Certificate
		for _, x := range cs.PeerCertificates {
			if strings.EqualFold(Fingerprint(x), pin) {
				ca = x
			}
		}
		if ca == nil || len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("gpuqd's certificate is not signed by the CA with fingerprint %s…", pin[:16])
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: serverName})
		return err
	}
	return c, nil
}

// NewNodeKey returns a new private key and a certificate request for a
// node (or user) called name.
func NewNodeKey(name string) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := NewCSR(key, name)
	return key, csr, err
}

// NewCSR returns a certificate request for name signed by key: a node
// renewing its certificate keeps its key.
func NewCSR(key crypto.Signer, name string) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
}

// WriteKey writes a private key as PEM with mode 0600.
func WriteKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return WriteSecret(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// WriteCert writes certificates (DER) as PEM with mode 0644.
func WriteCert(path string, ders ...[]byte) error {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return writeFile(path, out, 0o644)
}

// ReadCertPool reads PEM certificates into a pool.
func ReadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return p, nil
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gpuq CA", Organization: []string{"gpuq"}},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func newServerCert(ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "gpuqd"},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(ServerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range ServerHosts(hosts) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create server certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

// ServerHosts is the names a server certificate is made for: hosts, plus
// localhost, the loopback addresses and this machine's host name.
func ServerHosts(hosts []string) []string {
	out := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h)
	}
	out = slices.DeleteFunc(out, func(h string) bool { return h == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(dir, certName, keyName string, c *x509.Certificate, k crypto.Signer) error {
	if err := WriteKey(filepath.Join(dir, keyName), k); err != nil {
		return err
	}
	return WriteCert(filepath.Join(dir, certName), c.Raw)
}

// LoadPair reads a certificate and its signing key; os.ErrNotExist when
// the certificate file is missing.
func LoadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		if _, statErr := os.Stat(certPath); errors.Is(statErr, os.ErrNotExist) {
			return nil, nil, statErr
		}
		return nil, nil, fmt.Errorf("load %s: %w", certPath, err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	s, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return c, s, nil
}

// WriteSecret writes b to path atomically, readable by its owner only
// (0600): keys, tokens, credentials.
func WriteSecret(path string, b []byte) error { return writeFile(path, b, 0o600) }

// writeFile writes b to path atomically with mode perm.
func writeFile(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm) // umask may have narrowed it; never widened
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
