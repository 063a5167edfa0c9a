package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var initFiles = map[string]fs.FileMode{
	CACertFile:    0o644,
	CAKeyFile:     0o600,
	ServerCert:    0o644,
	ServerKey:     0o600,
	TokenKeyFile:  0o600,
	JoinTokenFile: 0o600,
}

func mustInit(t testing.TB, dir string, hosts []string, now time.Time) InitResult {
	t.Helper()
	res, err := Init(dir, hosts, now)
	if err != nil {
		t.Fatalf("Init(%s): %v", dir, err)
	}
	return res
}

func readCertFile(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("%s: more than one PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func readDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestInitCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls", "nested")
	res := mustInit(t, dir, []string{"gpuq.example.org"}, t0)
	if !res.Created || res.Dir != dir {
		t.Errorf("Init = %+v, want Created in %s", res, dir)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("%s: mode %o, want 700", dir, got)
	}
	var names []string
	for name, want := range initFiles {
		names = append(names, name)
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := st.Mode(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	// Nothing else: no temporary files left behind.
	var got []string
	for name := range readDir(t, dir) {
		got = append(got, name)
	}
	if diff := cmp.Diff(names, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}

	ca := readCertFile(t, filepath.Join(dir, CACertFile))
	if !ca.IsCA || !ca.BasicConstraintsValid || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA certificate: IsCA %v, basic constraints %v, max path len zero %v, key usage %v",
			ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLenZero, ca.KeyUsage)
	}
	if !ca.NotBefore.Equal(t0.Add(-5*time.Minute)) || !ca.NotAfter.Equal(t0.Add(CAValidity)) {
		t.Errorf("CA valid %s to %s, want %s to %s", ca.NotBefore, ca.NotAfter, t0.Add(-5*time.Minute), t0.Add(CAValidity))
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}

	// The join token carries the CA's fingerprint and a fresh secret.
	if got, want := res.Join.CA, Fingerprint(ca); got != want {
		t.Errorf("join token CA %q, want %q", got, want)
	}
	if len(res.Join.Secret) < 32 {
		t.Errorf("join secret of %d characters", len(res.Join.Secret))
	}
	join, err := ReadJoinToken(dir)
	if err != nil {
		t.Fatalf("ReadJoinToken: %v", err)
	}
	if join != res.Join {
		t.Errorf("ReadJoinToken = %+v, Init said %+v", join, res.Join)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, JoinTokenFile))
	if got, want := string(raw), res.Join.String()+"\n"; got != want {
		t.Errorf("join-token file %q, want %q", got, want)
	}

	key, err := ReadTokenKey(dir)
	if err != nil {
		t.Fatalf("ReadTokenKey: %v", err)
	}
	if _, err := NewSigner(key); err != nil {
		t.Errorf("the token key Init wrote: %v", err)
	}
	if bytes.Equal(key, make([]byte, KeySize)) {
		t.Errorf("the token key is all zeros")
	}

	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if Fingerprint(loaded.Cert) != Fingerprint(ca) {
		t.Errorf("LoadCA loaded another certificate")
	}
}

// Two clusters set up apart share nothing.
func TestInitIsRandom(t *testing.T) {
	a := mustInit(t, t.TempDir(), nil, t0)
	b := mustInit(t, t.TempDir(), nil, t0)
	if a.Join.CA == b.Join.CA || a.Join.Secret == b.Join.Secret {
		t.Errorf("two Inits made the same CA or join secret: %+v, %+v", a.Join, b.Join)
	}
	ka, _ := ReadTokenKey(a.Dir)
	kb, _ := ReadTokenKey(b.Dir)
	if bytes.Equal(ka, kb) {
		t.Errorf("two Inits made the same token key")
	}
}

func TestInitTwiceChangesNothing(t *testing.T) {
	dir := t.TempDir()
	first := mustInit(t, dir, []string{"a.example"}, t0)
	before := readDir(t, dir)
	// Later, with other hosts: still nothing changes.
	second := mustInit(t, dir, []string{"b.example"}, t0.Add(24*time.Hour))
	if second.Created {
		t.Errorf("second Init: Created")
	}
	if diff := cmp.Diff(first.Join, second.Join); diff != "" {
		t.Errorf("second Init's join token (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
		t.Errorf("second Init changed the files (-before +after):\n%s", diff)
	}
	for name, want := range initFiles {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode() != want {
			t.Errorf("%s after a second Init: %v, %v", name, st.Mode(), err)
		}
	}
}

// Init makes again what is missing and keeps the rest.
func TestInitRestoresMissing(t *testing.T) {
	tests := []struct {
		remove  []string
		changed []string // the files that must differ afterwards
	}{
		{remove: []string{ServerCert}, changed: []string{ServerCert, ServerKey}},
		{remove: []string{ServerCert, ServerKey}, changed: []string{ServerCert, ServerKey}},
		{remove: []string{TokenKeyFile}, changed: []string{TokenKeyFile}},
		{remove: []string{JoinTokenFile}, changed: []string{JoinTokenFile}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.remove, "+"), func(t *testing.T) {
			dir := t.TempDir()
			first := mustInit(t, dir, nil, t0)
			before := readDir(t, dir)
			for _, name := range tt.remove {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			res := mustInit(t, dir, nil, t0)
			if !res.Created {
				t.Errorf("Init after removing %v: not Created", tt.remove)
			}
			if res.Join.CA != first.Join.CA {
				t.Errorf("the CA changed")
			}
			after := readDir(t, dir)
			for name := range initFiles {
				if changed := before[name] != after[name]; changed != slices.Contains(tt.changed, name) {
					t.Errorf("%s changed: %v, want %v", name, changed, !changed)
				}
				if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode() != initFiles[name] {
					t.Errorf("%s: %v, %v", name, st.Mode(), err)
				}
			}
			// The server's TLS config still loads (certificate and key match).
			if _, _, err := ServerTLS(dir); err != nil {
				t.Errorf("ServerTLS: %v", err)
			}
		})
	}
}

func TestInitRefusesBrokenFiles(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		write string
	}{
		{name: "CA certificate not PEM", file: CACertFile, write: "garbage"},
		{name: "CA key not PEM", file: CAKeyFile, write: "garbage"},
		{name: "join token garbage", file: JoinTokenFile, write: "not a join token\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mustInit(t, dir, nil, t0)
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.write), 0o600); err != nil {
				t.Fatal(err)
			}
			before := readDir(t, dir)
			if _, err := Init(dir, nil, t0); err == nil {
				t.Errorf("Init over a broken %s: no error", tt.file)
			}
			if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
				t.Errorf("a failed Init changed the files (-before +after):\n%s", diff)
			}
		})
	}
}

func TestInitServerCertificate(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, []string{"gpuq.example.org", "10.0.0.5", "", "gpuq.example.org", "fd00::1"}, t0)
	ca := readCertFile(t, filepath.Join(dir, CACertFile))
	srv := readCertFile(t, filepath.Join(dir, ServerCert))

	var wantDNS, wantIP []string
	for _, h := range ServerHosts([]string{"gpuq.example.org", "10.0.0.5", "fd00::1"}) {
		if ip := net.ParseIP(h); ip != nil {
			wantIP = append(wantIP, ip.String())
		} else {
			wantDNS = append(wantDNS, h)
		}
	}
	var gotIP []string
	for _, ip := range srv.IPAddresses {
		gotIP = append(gotIP, ip.String())
	}
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	if diff := cmp.Diff(wantDNS, srv.DNSNames, sorted); diff != "" {
		t.Errorf("DNS SANs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantIP, gotIP, sorted); diff != "" {
		t.Errorf("IP SANs (-want +got):\n%s", diff)
	}
	for _, name := range []string{"localhost", "gpuq.example.org"} {
		if !slices.Contains(srv.DNSNames, name) {
			t.Errorf("server certificate lacks DNS name %s: %v", name, srv.DNSNames)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.0.0.5", "fd00::1"} {
		if !slices.Contains(gotIP, ip) {
			t.Errorf("server certificate lacks IP %s: %v", ip, gotIP)
		}
	}
	if srv.IsCA {
		t.Errorf("the server certificate is a CA")
	}
	if !slices.Equal(srv.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server ExtKeyUsage %v, want server auth only", srv.ExtKeyUsage)
	}
	if !srv.NotAfter.Equal(t0.Add(ServerValidity)) {
		t.Errorf("server certificate expires %s, want %s", srv.NotAfter, t0.Add(ServerValidity))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "gpuq.example.org", "10.0.0.5"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: t0}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	for _, name := range []string{"evil.example.org", "10.0.0.6", "example.org"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: t0}); err == nil {
			t.Errorf("server certificate verifies for %s", name)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", CurrentTime: t0.Add(ServerValidity + time.Second)}); err == nil {
		t.Errorf("server certificate verifies after it expired")
	}
}

func TestServerHosts(t *testing.T) {
	self, _ := os.Hostname()
	want := func(hosts ...string) []string {
		out := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
		if self != "" {
			out = append(out, self)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	tests := []struct {
		name  string
		hosts []string
		want  []string
	}{
		{name: "none", want: want()},
		{name: "one", hosts: []string{"gpuq.example.org"}, want: want("gpuq.example.org")},
		{name: "duplicates and blanks", hosts: []string{"b", "", "a", "b", "localhost", "127.0.0.1"}, want: want("a", "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ServerHosts(tt.hosts)); diff != "" {
				t.Errorf("ServerHosts(%q) (-want +got):\n%s", tt.hosts, diff)
			}
		})
	}
}

func TestLoadCAMissing(t *testing.T) {
	if _, err := LoadCA(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCA of an empty directory: %v, want fs.ErrNotExist", err)
	}
	if _, _, err := ServerTLS(t.TempDir()); err == nil {
		t.Errorf("ServerTLS of an empty directory: no error")
	}
	if _, err := ReadJoinToken(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadJoinToken of an empty directory: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadTokenKey(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTokenKey of an empty directory: %v, want fs.ErrNotExist", err)
	}
}

func TestSignNode(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, csr, err := NewNodeKey("gpu-07")
	if err != nil {
		t.Fatalf("NewNodeKey: %v", err)
	}
	der, err := ca.SignNode(csr, "gpu-07", t0)
	if err != nil {
		t.Fatalf("SignNode: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Errorf("the node certificate is not for the node's key")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("node certificate as a client: %v", err)
	}
	// A node cannot pose as gpuqd.
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, DNSName: "gpu-07"}); err == nil {
		t.Errorf("the node certificate verifies as a server certificate")
	}
	if cert.IsCA {
		t.Errorf("the node certificate is a CA")
	}
	if !cert.NotAfter.Equal(t0.Add(NodeValidity)) || !cert.NotBefore.Equal(t0.Add(-5*time.Minute)) {
		t.Errorf("node certificate valid %s to %s", cert.NotBefore, cert.NotAfter)
	}
	id, err := IdentityFromCert(cert)
	if err != nil {
		t.Fatalf("IdentityFromCert: %v", err)
	}
	if diff := cmp.Diff(&Identity{Kind: KindNode, Name: "gpu-07", Method: MethodCert}, id); diff != "" {
		t.Errorf("IdentityFromCert (-want +got):\n%s", diff)
	}

	// The name is the one gpuqd gives, not the one the request asks for.
	der, err = ca.SignNode(csr, "gpu-08", t0)
	if err != nil {
		t.Fatalf("SignNode: %v", err)
	}
	cert, _ = x509.ParseCertificate(der)
	if id, err := IdentityFromCert(cert); err != nil || id.Name != "gpu-08" {
		t.Errorf("IdentityFromCert = %v, %v; want node gpu-08", id, err)
	}
	// Serial numbers differ.
	der2, _ := ca.SignNode(csr, "gpu-08", t0)
	cert2, _ := x509.ParseCertificate(der2)
	if cert.SerialNumber.Cmp(cert2.SerialNumber) == 0 {
		t.Errorf("two node certificates with serial %v", cert.SerialNumber)
	}
}

func TestSignNodeRefusesBadRequests(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, csr, err := NewNodeKey("n1")
	if err != nil {
		t.Fatal(err)
	}
	// A request signed by a key other than the one it asks a certificate for.
	stolen, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	parsed, _ := x509.ParseCertificateRequest(csr)
	badSig := bytes.Clone(csr)
	idx := bytes.LastIndex(badSig, parsed.Signature)
	if idx < 0 {
		t.Fatal("signature not found in the request")
	}
	badSig[idx+len(parsed.Signature)-1] ^= 0x01
	if p, err := x509.ParseCertificateRequest(badSig); err != nil || p.CheckSignature() == nil {
		t.Fatalf("test setup: the changed request should parse (%v) and not check", err)
	}
	otherKey := swapCSRKey(t, csr, &stolen.PublicKey)

	for name, der := range map[string][]byte{
		"bad signature":              badSig,
		"signature for another key":  otherKey,
		"garbage":                    []byte("not a CSR"),
		"empty":                      nil,
		"a certificate, not request": ca.Cert.Raw,
		"truncated":                  csr[:len(csr)/2],
	} {
		if got, err := ca.SignNode(der, "n1", t0); err == nil {
			t.Errorf("SignNode(%s) = %d bytes, want an error", name, len(got))
		}
	}
}

func TestSignUser(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, csr, err := NewNodeKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		user  string
		role  Role
		teams []string
		want  *Identity
	}{
		{name: "user", user: "alice", role: RoleUser, teams: []string{"sf"},
			want: &Identity{Kind: KindUser, Name: "alice", Role: RoleUser, Teams: []string{"sf"}, Method: MethodCert}},
		{name: "team admin of two teams", user: "carol", role: RoleTeamAdmin, teams: []string{"sf", "ny"},
			want: &Identity{Kind: KindUser, Name: "carol", Role: RoleTeamAdmin, Teams: []string{"sf", "ny"}, AdminOf: []string{"sf", "ny"}, Method: MethodCert}},
		{name: "operator", user: "olga", role: RoleOperator,
			want: &Identity{Kind: KindUser, Name: "olga", Role: RoleOperator, Method: MethodCert}},
		// Names and teams that would change the URI's meaning stay what they are.
		{name: "query characters in the name", user: "eve?role=operator", role: RoleUser, teams: []string{"sf"},
			want: &Identity{Kind: KindUser, Name: "eve?role=operator", Role: RoleUser, Teams: []string{"sf"}, Method: MethodCert}},
		{name: "query characters in a team", user: "eve", role: RoleUser, teams: []string{"sf&role=operator"},
			want: &Identity{Kind: KindUser, Name: "eve", Role: RoleUser, Teams: []string{"sf&role=operator"}, Method: MethodCert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, expires, err := ca.SignUser(csr, tt.user, tt.role, tt.teams, 24*time.Hour, t0)
			if err != nil {
				t.Fatalf("SignUser: %v", err)
			}
			if !expires.Equal(t0.Add(24 * time.Hour)) {
				t.Errorf("expires %s, want %s", expires, t0.Add(24*time.Hour))
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if !cert.NotAfter.Equal(expires) {
				t.Errorf("NotAfter %s, SignUser said %s", cert.NotAfter, expires)
			}
			if !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Errorf("the certificate is not for the requester's key")
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("user certificate as a client: %v", err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, DNSName: tt.user}); err == nil {
				t.Errorf("the user certificate verifies as a server certificate")
			}
			id, err := IdentityFromCert(cert)
			if err != nil {
				t.Fatalf("IdentityFromCert: %v", err)
			}
			if diff := cmp.Diff(tt.want, id); diff != "" {
				t.Errorf("IdentityFromCert (-want +got):\n%s", diff)
			}
		})
	}
	_, badCSR, _ := NewNodeKey("alice")
	parsed, _ := x509.ParseCertificateRequest(badCSR)
	idx := bytes.LastIndex(badCSR, parsed.Signature)
	badCSR[idx+len(parsed.Signature)-1] ^= 0x01
	for name, der := range map[string][]byte{"bad signature": badCSR, "garbage": []byte("x"), "empty": nil} {
		if got, _, err := ca.SignUser(der, "alice", RoleUser, nil, time.Hour, t0); err == nil {
			t.Errorf("SignUser(%s) = %d bytes, want an error", name, len(got))
		}
	}
}

// swapCSRKey returns csr with its public key replaced by pub, keeping the
// old signature, which no longer matches.
func swapCSRKey(t *testing.T, csr []byte, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	parsed, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := x509.MarshalPKIXPublicKey(parsed.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(oldKey) != len(newKey) {
		t.Skip("keys of different lengths")
	}
	out := bytes.Replace(csr, oldKey, newKey, 1)
	p, err := x509.ParseCertificateRequest(out)
	if err != nil {
		t.Fatalf("test setup: %v", err)
	}
	if p.CheckSignature() == nil {
		t.Fatalf("test setup: the request with another key still checks")
	}
	return out
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestIdentityFromCert(t *testing.T) {
	tests := []struct {
		name string
		uris []string
		want *Identity // nil: an error
	}{
		{name: "node", uris: []string{"gpuq://node/gpu-01"}, want: &Identity{Kind: KindNode, Name: "gpu-01", Method: MethodCert}},
		{name: "user", uris: []string{"gpuq://user/alice"}, want: &Identity{Kind: KindUser, Name: "alice", Role: RoleUser, Method: MethodCert}},
		{name: "user with teams", uris: []string{"gpuq://user/alice?team=sf&team=ny"},
			want: &Identity{Kind: KindUser, Name: "alice", Role: RoleUser, Teams: []string{"sf", "ny"}, Method: MethodCert}},
		{name: "team admin", uris: []string{"gpuq://user/alice?role=team-admin&team=sf"},
			want: &Identity{Kind: KindUser, Name: "alice", Role: RoleTeamAdmin, Teams: []string{"sf"}, AdminOf: []string{"sf"}, Method: MethodCert}},
		{name: "team admin by alias", uris: []string{"gpuq://user/alice?team=sf&role=admin&team=ny"},
			want: &Identity{Kind: KindUser, Name: "alice", Role: RoleTeamAdmin, Teams: []string{"sf", "ny"}, AdminOf: []string{"sf", "ny"}, Method: MethodCert}},
		{name: "operator", uris: []string{"gpuq://user/root?role=operator"},
			want: &Identity{Kind: KindUser, Name: "root", Role: RoleOperator, Method: MethodCert}},
		{name: "other URIs first", uris: []string{"spiffe://example.org/x", "https://node/evil", "gpuq://node/n1"},
			want: &Identity{Kind: KindNode, Name: "n1", Method: MethodCert}},
		{name: "no URIs"},
		{name: "other scheme", uris: []string{"https://node/n1"}},
		{name: "spiffe", uris: []string{"spiffe://gpuq/node/n1"}},
		{name: "unknown host", uris: []string{"gpuq://admin/n1"}},
		{name: "no name", uris: []string{"gpuq://node/"}},
		{name: "no path", uris: []string{"gpuq://node"}},
		{name: "unknown role", uris: []string{"gpuq://user/alice?role=root"}},
		{name: "node role on a user", uris: []string{"gpuq://user/alice?role=node"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &x509.Certificate{}
			for _, u := range tt.uris {
				c.URIs = append(c.URIs, mustURL(t, u))
			}
			got, err := IdentityFromCert(c)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("IdentityFromCert(%v) = %+v, want an error", tt.uris, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("IdentityFromCert(%v): %v", tt.uris, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("IdentityFromCert(%v) (-want +got):\n%s", tt.uris, diff)
			}
		})
	}
}

// A user certificate signed by the CA names the user through a real
// handshake, role and team included.
func TestUserCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	mustInit(t, dir, nil, now)
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert := signClient(t, ca, "gpuq://user/alice?role=team-admin&team=sf", now)
	srvCfg, _, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := ClientTLS("localhost", ca.Pool(), "", certFunc(&cert))
	if err != nil {
		t.Fatal(err)
	}
	state, srvErr, cliErr := handshake(t, srvCfg, cliCfg)
	if srvErr != nil || cliErr != nil {
		t.Fatalf("handshake: server %v, client %v", srvErr, cliErr)
	}
	if len(state.VerifiedChains) == 0 {
		t.Fatalf("the server did not verify the client certificate")
	}
	id, err := IdentityFromCert(state.PeerCertificates[0])
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{Kind: KindUser, Name: "alice", Role: RoleTeamAdmin, Teams: []string{"sf"}, AdminOf: []string{"sf"}, Method: MethodCert}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
}

// signClient makes a client certificate with the URI SAN uri, signed by ca.
func signClient(t testing.TB, ca *CA, uri string, now time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{mustURL(t, uri)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// nodeCert is a node certificate signed by the CA in dir, as JoinNode makes it.
func nodeCert(t testing.TB, dir, name string, now time.Time) tls.Certificate {
	t.Helper()
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, csr, err := NewNodeKey(name)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignNode(csr, name, now)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake runs a TLS handshake between server and client configs over an
// in-memory pipe and returns what the server saw and each side's error.
func handshake(t testing.TB, server, client *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	sc, cc := net.Pipe()
	srv := tls.Server(sc, server)
	cli := tls.Client(cc, client)
	type result struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		err := srv.Handshake()
		st := srv.ConnectionState()
		_ = sc.Close()
		done <- result{st, err}
	}()
	cliErr := cli.Handshake()
	if cliErr == nil {
		// Read what the server still sends (session tickets, an alert)
		// until it closes its end.
		_, _ = io.Copy(io.Discard, cli)
	}
	_ = cc.Close()
	r := <-done
	return r.state, r.err, cliErr
}

func TestTLSHandshake(t *testing.T) {
	now := time.Now() // the TLS stack checks certificates against the real clock
	dir := t.TempDir()
	mustInit(t, dir, []string{"gpuq.example.org"}, now)
	otherDir := t.TempDir()
	mustInit(t, otherDir, []string{"gpuq.example.org"}, now)

	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := LoadCA(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	pin := Fingerprint(ca.Cert)
	serverCfg, gotCA, err := ServerTLS(dir)
	if err != nil {
		t.Fatalf("ServerTLS: %v", err)
	}
	if Fingerprint(gotCA.Cert) != pin {
		t.Errorf("ServerTLS returned another CA")
	}
	otherServerCfg, _, err := ServerTLS(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	// An impostor: the other CA's server certificate, with our (public) CA
	// certificate appended to its chain to fool a fingerprint check.
	impostorCfg := otherServerCfg.Clone()
	impostorPair := impostorCfg.Certificates[0]
	impostorPair.Certificate = append(slices.Clone(impostorPair.Certificate), ca.Cert.Raw)
	impostorCfg.Certificates = []tls.Certificate{impostorPair}

	node := nodeCert(t, dir, "gpu-01", now)
	strangerNode := nodeCert(t, otherDir, "gpu-01", now)
	serverAsClient, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		server     *tls.Config
		serverName string
		roots      *x509.CertPool
		pin        string
		cert       *tls.Certificate
		clientOK   bool
		serverOK   bool
		verified   string // the node the server verified, if any
	}{
		{name: "pinned", server: serverCfg, serverName: "localhost", pin: pin, clientOK: true, serverOK: true},
		{name: "pinned, upper case", server: serverCfg, serverName: "localhost", pin: strings.ToUpper(pin), clientOK: true, serverOK: true},
		{name: "pinned, by IP", server: serverCfg, serverName: "127.0.0.1", pin: pin, clientOK: true, serverOK: true},
		{name: "pinned, configured host", server: serverCfg, serverName: "gpuq.example.org", pin: pin, clientOK: true, serverOK: true},
		{name: "pinned, wrong server name", server: serverCfg, serverName: "evil.example.org", pin: pin},
		{name: "pinned, wrong fingerprint", server: serverCfg, serverName: "localhost", pin: Fingerprint(otherCA.Cert)},
		// Pinning gpuqd's own certificate (rather than its CA) is as strict.
		{name: "pinned, the server certificate's fingerprint", server: serverCfg, serverName: "localhost",
			pin: Fingerprint(readCertFile(t, filepath.Join(dir, ServerCert))), clientOK: true, serverOK: true},
		{name: "pinned, the server certificate's fingerprint, wrong name", server: serverCfg, serverName: "evil.example.org",
			pin: Fingerprint(readCertFile(t, filepath.Join(dir, ServerCert)))},
		{name: "pinned, other gpuqd", server: otherServerCfg, serverName: "localhost", pin: pin},
		{name: "pinned, impostor carrying our CA", server: impostorCfg, serverName: "localhost", pin: pin},
		{name: "roots", server: serverCfg, serverName: "localhost", roots: ca.Pool(), clientOK: true, serverOK: true},
		{name: "roots win over a wrong pin", server: serverCfg, serverName: "localhost", roots: ca.Pool(), pin: "nonsense", clientOK: true, serverOK: true},
		{name: "roots, wrong server name", server: serverCfg, serverName: "evil.example.org", roots: ca.Pool()},
		{name: "roots of another CA", server: serverCfg, serverName: "localhost", roots: otherCA.Pool()},
		{name: "roots, impostor carrying our CA", server: impostorCfg, serverName: "localhost", roots: ca.Pool()},
		{name: "node certificate", server: serverCfg, serverName: "localhost", pin: pin, cert: &node, clientOK: true, serverOK: true, verified: "gpu-01"},
		{name: "node certificate with roots", server: serverCfg, serverName: "localhost", roots: ca.Pool(), cert: &node, clientOK: true, serverOK: true, verified: "gpu-01"},
		{name: "node certificate from another CA", server: serverCfg, serverName: "localhost", pin: pin, cert: &strangerNode, clientOK: true},
		{name: "server certificate as a client certificate", server: serverCfg, serverName: "localhost", pin: pin, cert: &serverAsClient, clientOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, err := ClientTLS(tt.serverName, tt.roots, tt.pin, certFunc(tt.cert))
			if err != nil {
				t.Fatalf("ClientTLS: %v", err)
			}
			state, serverErr, clientErr := handshake(t, tt.server, client)
			if (clientErr == nil) != tt.clientOK {
				t.Errorf("client handshake: %v, want ok %v", clientErr, tt.clientOK)
			}
			if !tt.clientOK && serverErr == nil {
				t.Errorf("the client refused the server but the server's handshake succeeded")
			}
			if (serverErr == nil) != tt.serverOK {
				t.Errorf("server handshake: %v, want ok %v", serverErr, tt.serverOK)
			}
			if !tt.serverOK {
				return
			}
			if tt.verified == "" {
				if len(state.PeerCertificates) != 0 || len(state.VerifiedChains) != 0 {
					t.Errorf("the server saw a client certificate")
				}
				return
			}
			if len(state.VerifiedChains) == 0 {
				t.Fatalf("the server did not verify the node's certificate")
			}
			id, err := IdentityFromCert(state.PeerCertificates[0])
			if err != nil {
				t.Fatal(err)
			}
			if id.Kind != KindNode || id.Name != tt.verified {
				t.Errorf("the server saw %v, want node %s", id, tt.verified)
			}
		})
	}
}

func TestClientTLSNeedsATrustAnchor(t *testing.T) {
	for _, pin := range []string{"", "abc", strings.Repeat("a", 63), strings.Repeat("a", 65)} {
		if c, err := ClientTLS("localhost", nil, pin, nil); err == nil {
			t.Errorf("ClientTLS(pin %q) = %v, want an error", pin, c)
		}
	}
	c, err := ClientTLS("localhost", nil, strings.Repeat("a", 64), nil)
	if err != nil {
		t.Fatalf("ClientTLS with a pin: %v", err)
	}
	if c.MinVersion < tls.VersionTLS12 || c.VerifyConnection == nil || c.ServerName != "localhost" {
		t.Errorf("ClientTLS with a pin: %+v", c)
	}
	// VerifyConnection refuses a connection with no certificates at all.
	if err := c.VerifyConnection(tls.ConnectionState{}); err == nil {
		t.Errorf("VerifyConnection with no peer certificates: no error")
	}
}

func TestServerTLSConfig(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	cfg, ca, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("ClientAuth %v, want VerifyClientCertIfGiven", cfg.ClientAuth)
	}
	if !slices.Contains(cfg.NextProtos, "h2") {
		t.Errorf("NextProtos %v lacks h2", cfg.NextProtos)
	}
	// The chain served is the server certificate, then the CA.
	if len(cfg.Certificates) != 1 || len(cfg.Certificates[0].Certificate) != 2 {
		t.Fatalf("certificates: %d", len(cfg.Certificates))
	}
	if !bytes.Equal(cfg.Certificates[0].Certificate[1], ca.Cert.Raw) {
		t.Errorf("the second certificate served is not the CA")
	}
}

func TestWriteAndReadCerts(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, csr, err := NewNodeKey("n1")
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignNode(csr, "n1", t0)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	keyPath, certPath := filepath.Join(out, "node.key"), filepath.Join(out, "node.crt")
	if err := WriteKey(keyPath, key); err != nil {
		t.Fatalf("WriteKey: %v", err)
	}
	if err := WriteCert(certPath, der, ca.Cert.Raw); err != nil {
		t.Fatalf("WriteCert: %v", err)
	}
	for path, want := range map[string]fs.FileMode{keyPath: 0o600, certPath: 0o644} {
		if st, err := os.Stat(path); err != nil || st.Mode() != want {
			t.Errorf("%s: %v, %v; want mode %v", path, st.Mode(), err, want)
		}
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadX509KeyPair of what WriteKey and WriteCert wrote: %v", err)
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("%d certificates in the chain, want 2", len(pair.Certificate))
	}
	// Writing again replaces the file, and keeps its mode.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKey(keyPath, key); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(keyPath); st.Mode() != 0o600 {
		t.Errorf("rewritten key: mode %v, want 0600", st.Mode())
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2 {
		t.Errorf("%d files in %s, want 2 (no temporary files)", len(entries), out)
	}

	pool, err := ReadCertPool(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatalf("ReadCertPool: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify against ReadCertPool's pool: %v", err)
	}
	if _, err := ReadCertPool(keyPath); err == nil {
		t.Errorf("ReadCertPool of a key file: no error")
	}
	if _, err := ReadCertPool(filepath.Join(out, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadCertPool of a missing file: %v", err)
	}
	if err := WriteKey(filepath.Join(out, "no", "such", "dir"), key); err == nil {
		t.Errorf("WriteKey into a missing directory: no error")
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	ca := readCertFile(t, filepath.Join(dir, CACertFile))
	fp := Fingerprint(ca)
	if len(fp) != 64 || strings.ToLower(fp) != fp || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Errorf("Fingerprint = %q, want 64 lower-case hex digits", fp)
	}
	srv := readCertFile(t, filepath.Join(dir, ServerCert))
	if Fingerprint(srv) == fp {
		t.Errorf("two certificates with one fingerprint")
	}
}

// certFunc presents c, or no certificate when c is nil.
func certFunc(c *tls.Certificate) func() *tls.Certificate {
	if c == nil {
		return nil
	}
	return func() *tls.Certificate { return c }
}
