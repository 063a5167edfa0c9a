package nodeagent

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// The files a joined node keeps in its TLS directory.
const (
	nodeKeyFile   = "node.key"   // 0600
	nodeCertFile  = "node.crt"   // signed by gpuqd's CA
	nodeCAFile    = "ca.crt"     // gpuqd's CA
	nodeTokenFile = "node.token" // 0600; for the unix socket and insecure mode
)

func (c *Config) tlsDir() string {
	if c.TLSDir != "" {
		return c.TLSDir
	}
	return filepath.Join(c.StateDir, "tls")
}

// credentials returns how the node authenticates to gpuqd: with the
// certificate (over TLS) or node token (unix socket, insecure mode) it got
// when it joined; a node without them joins first with its join token.
func credentials(ctx context.Context, cfg Config, log *slog.Logger) (*nodeCreds, error) {
	creds, err := loadNodeCreds(cfg)
	if err == nil {
		return creds, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	join, err := joinToken(cfg)
	if err != nil {
		return nil, err
	}
	delay := time.Second
	for {
		err = joinCluster(ctx, cfg, join)
		if err == nil || !errors.Is(err, job.ErrUnavailable) {
			break
		}
		log.Warn("cannot reach gpuqd to join; retrying", "server", cfg.Server, "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
	if err != nil {
		return nil, fmt.Errorf("join the cluster: %w", err)
	}
	log.Info("joined the cluster: certificate and node token stored", "dir", cfg.tlsDir())
	return loadNodeCreds(cfg)
}

// joinToken reads the join token from the config or its file.
func joinToken(cfg Config) (auth.JoinToken, error) {
	text := cfg.JoinToken
	if cfg.JoinTokenFile != "" {
		b, err := os.ReadFile(cfg.JoinTokenFile)
		if err != nil {
			return auth.JoinToken{}, fmt.Errorf("join_token_file: %w", err)
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return auth.JoinToken{}, fmt.Errorf("node %s has no credentials in %s and no join token: set join_token_file to the token `gpuqd init` printed", cfg.Name, cfg.tlsDir())
	}
	jt, err := auth.ParseJoinToken(text)
	if err != nil {
		return jt, fmt.Errorf("join_token: %w", err)
	}
	return jt, nil
}

// joinCluster presents the join token with a certificate request and
// stores what gpuqd hands back.
func joinCluster(ctx context.Context, cfg Config, join auth.JoinToken) error {
	cl, err := client.Dial(cfg.Server, client.Security{CAPin: join.CA, Insecure: cfg.InsecurePlaintext})
	if err != nil {
		return err
	}
	defer cl.Close()
	key, csr, err := auth.NewNodeKey(cfg.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := cl.JoinNode(ctx, cfg.Name, join.String(), csr)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(resp.CaCertificate)
	if err != nil {
		return fmt.Errorf("gpuqd's CA certificate: %w", err)
	}
	if join.CA != "" && !strings.EqualFold(auth.Fingerprint(ca), join.CA) {
		return fmt.Errorf("gpuqd answered with a CA whose fingerprint is not the join token's")
	}
	dir := cfg.tlsDir()
	// The state directory first, with the mode gpuq-node gives it (jobs
	// running as other users pass through it); only tls/ is private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, step := range []func() error{
		func() error { return auth.WriteKey(filepath.Join(dir, nodeKeyFile), key) },
		func() error { return auth.WriteCert(filepath.Join(dir, nodeCAFile), resp.CaCertificate) },
		func() error { return auth.WriteSecret(filepath.Join(dir, nodeTokenFile), []byte(resp.NodeToken+"\n")) },
		// The certificate last: its presence says the join is complete.
		func() error { return auth.WriteCert(filepath.Join(dir, nodeCertFile), resp.Certificate) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// nodeCreds are a joined node's credentials: its key, its certificate and
// node token, which it renews before they expire (keepRenewed), and what
// its connections present, replaced in place when renewed.
type nodeCreds struct {
	cfg   Config
	key   crypto.Signer
	roots *x509.CertPool
	live  *client.Renewable
	// useToken: the node authenticates with its token (the unix socket,
	// insecure mode), else with its certificate.
	useToken bool

	mu   sync.Mutex
	leaf *x509.Certificate
}

// loadNodeCreds reads what joinCluster (or renew) stored; os.ErrNotExist
// when the node has not joined (or joined under another name).
func loadNodeCreds(cfg Config) (*nodeCreds, error) {
	dir := cfg.tlsDir()
	leaf, key, err := auth.LoadPair(filepath.Join(dir, nodeCertFile), filepath.Join(dir, nodeKeyFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	if id, err := auth.IdentityFromCert(leaf); err != nil || id.Kind != auth.KindNode || id.Name != cfg.Name {
		return nil, fmt.Errorf("the certificate in %s is not node %s's: %w", dir, cfg.Name, os.ErrNotExist)
	}
	roots, err := auth.ReadCertPool(filepath.Join(dir, nodeCAFile))
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(dir, nodeTokenFile))
	if err != nil {
		return nil, fmt.Errorf("node token: %w", err)
	}
	pair := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	n := &nodeCreds{cfg: cfg, key: key, roots: roots, leaf: leaf,
		useToken: cfg.InsecurePlaintext || client.IsUnix(cfg.Server)}
	n.live = client.NewRenewable(n.present(&pair, strings.TrimSpace(string(tok))))
	return n, nil
}

// present is what the node's connections present: the token or the
// certificate.
func (n *nodeCreds) present(pair *tls.Certificate, token string) (*tls.Certificate, string) {
	if n.useToken {
		return nil, token
	}
	return pair, ""
}

func (n *nodeCreds) security() client.Security {
	return client.Security{Roots: n.roots, Insecure: n.cfg.InsecurePlaintext, Renewable: n.live}
}

// expires is when the current certificate expires.
func (n *nodeCreds) expires() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaf.NotAfter
}

// renewDue reports whether two thirds of the certificate's lifetime (and
// so of its node token's, issued with it) have passed.
func (n *nodeCreds) renewDue(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	life := n.leaf.NotAfter.Sub(n.leaf.NotBefore)
	return !now.Before(n.leaf.NotBefore.Add(life / 3 * 2))
}

// credentialRenewer is gpuqd, as seen by a node renewing its credentials
// (internal/client's Client).
type credentialRenewer interface {
	RenewCredentials(ctx context.Context, csr []byte) (*gpuqv1.RenewCredentialsResponse, error)
}

// renew asks gpuqd for a new certificate for the node's key and a new node
// token, checks them, stores them (the token first: each file is replaced
// atomically, and either pair of files on disk is valid) and has the
// node's connections present them from their next handshake or call.
func (n *nodeCreds) renew(ctx context.Context, r credentialRenewer) error {
	csr, err := auth.NewCSR(n.key, n.cfg.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := r.RenewCredentials(ctx, csr)
	if err != nil {
		return fmt.Errorf("ask gpuqd: %w", err)
	}
	leaf, err := x509.ParseCertificate(resp.Certificate)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: n.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	if id, err := auth.IdentityFromCert(leaf); err != nil || id.Kind != auth.KindNode || id.Name != n.cfg.Name {
		return fmt.Errorf("renewed certificate is not node %s's", n.cfg.Name)
	}
	if !leaf.NotAfter.After(n.expires()) {
		return fmt.Errorf("renewed certificate expires at %s, no later than the current one", leaf.NotAfter.Format(time.RFC3339))
	}
	pub, ok := n.key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return errors.New("renewed certificate is not for this node's key")
	}
	if strings.TrimSpace(resp.NodeToken) == "" {
		return errors.New("gpuqd sent no node token")
	}
	dir := n.cfg.tlsDir()
	if err := auth.WriteSecret(filepath.Join(dir, nodeTokenFile), []byte(resp.NodeToken+"\n")); err != nil {
		return fmt.Errorf("store the renewed token: %w", err)
	}
	if err := auth.WriteCert(filepath.Join(dir, nodeCertFile), resp.Certificate); err != nil {
		return fmt.Errorf("store the renewed certificate: %w", err)
	}
	n.mu.Lock()
	n.leaf = leaf
	n.mu.Unlock()
	n.live.Set(n.present(&tls.Certificate{Certificate: [][]byte{resp.Certificate}, PrivateKey: n.key, Leaf: leaf}, resp.NodeToken))
	return nil
}

// renewCheck is how often a node checks whether its credentials are due
// for renewal; a failed renewal is tried again at the next check.
const renewCheck = time.Hour

// keepRenewed renews the node's credentials whenever they are due, checking
// every renewCheck, until ctx ends.
func (n *nodeCreds) keepRenewed(ctx context.Context, r credentialRenewer, log *slog.Logger) {
	for {
		if n.renewDue(time.Now()) {
			err := n.renew(ctx, r)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				log.Warn("cannot renew the node's certificate and token; trying again later",
					"expires", n.expires().Format(time.RFC3339), "retry_in", renewCheck, "err", err)
			default:
				log.Info("renewed the node's certificate and token", "expires", n.expires().Format(time.RFC3339))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(renewCheck):
		}
	}
}
