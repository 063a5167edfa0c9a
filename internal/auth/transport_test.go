package auth

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/credentials"
)

// connPair returns both ends of a connection on a listener of network
// ("unix" in a temporary directory, or "tcp" on loopback).
func connPair(t *testing.T, network string) (server, client net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatalf("dial %s: %v", network, err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

func TestServerCredentialsUnix(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	tlsCfg, _, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The unix socket never speaks TLS, whether or not TCP does.
	for name, cfg := range map[string]*tls.Config{"insecure": nil, "tls": tlsCfg} {
		t.Run(name, func(t *testing.T) {
			srv, cli := connPair(t, "unix")
			conn, info, err := ServerCredentials(cfg).ServerHandshake(srv)
			if err != nil {
				t.Fatalf("ServerHandshake: %v", err)
			}
			if conn != srv {
				t.Errorf("ServerHandshake wrapped the unix connection")
			}
			pc, ok := info.(PeerCred)
			if !ok {
				t.Fatalf("AuthInfo %T, want PeerCred", info)
			}
			want := PeerCred{
				CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
				UID:            uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: int32(os.Getpid()),
			}
			if diff := cmp.Diff(want, pc); diff != "" {
				t.Errorf("peer credentials (-want +got):\n%s", diff)
			}
			if got := info.AuthType(); got != "peercred" {
				t.Errorf("AuthType() = %q", got)
			}
			// The connection still carries bytes unchanged both ways.
			if _, err := cli.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
				t.Errorf("read %q, %v", buf, err)
			}
		})
	}
}

func TestServerCredentialsPlaintext(t *testing.T) {
	srv, cli := connPair(t, "tcp")
	conn, info, err := ServerCredentials(nil).ServerHandshake(srv)
	if err != nil {
		t.Fatalf("ServerHandshake: %v", err)
	}
	if conn != srv {
		t.Errorf("ServerHandshake wrapped the plaintext connection")
	}
	want := Plaintext{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
	if diff := cmp.Diff(info, credentials.AuthInfo(want)); diff != "" {
		t.Errorf("AuthInfo (-got +want):\n%s", diff)
	}
	if got := info.AuthType(); got != "plaintext" {
		t.Errorf("AuthType() = %q", got)
	}
	if _, err := cli.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Errorf("read %q, %v", buf, err)
	}
}

func TestServerCredentialsTLS(t *testing.T) {
	now := time.Now() // the TLS stack checks certificates against the real clock
	dir := t.TempDir()
	mustInit(t, dir, nil, now)
	tlsCfg, ca, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	node := nodeCert(t, dir, "gpu-03", now)
	tests := []struct {
		name    string
		cert    *tls.Certificate
		node    string // the node the server verified, if any
		wantErr bool
	}{
		{name: "no client certificate"},
		{name: "node certificate", cert: &node, node: "gpu-03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := connPair(t, "tcp")
			clientCfg, err := ClientTLS("localhost", nil, Fingerprint(ca.Cert), certFunc(tt.cert))
			if err != nil {
				t.Fatal(err)
			}
			clientCfg.NextProtos = []string{"h2"} // as grpc's client offers
			clientDone := make(chan error, 1)
			go func() {
				c := tls.Client(cli, clientCfg)
				err := c.Handshake()
				if err == nil {
					_, _ = io.Copy(io.Discard, c)
				}
				clientDone <- err
			}()
			creds := ServerCredentials(tlsCfg)
			conn, info, err := creds.ServerHandshake(srv)
			if err != nil {
				t.Fatalf("ServerHandshake: %v", err)
			}
			_ = conn.Close()
			if err := <-clientDone; err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			ti, ok := info.(credentials.TLSInfo)
			if !ok {
				t.Fatalf("AuthInfo %T, want credentials.TLSInfo", info)
			}
			if ti.SecurityLevel != credentials.PrivacyAndIntegrity {
				t.Errorf("security level %v", ti.SecurityLevel)
			}
			if ti.State.NegotiatedProtocol != "h2" {
				t.Errorf("negotiated %q, want h2", ti.State.NegotiatedProtocol)
			}
			if tt.node == "" {
				if len(ti.State.PeerCertificates) != 0 {
					t.Errorf("the server saw a client certificate")
				}
				return
			}
			if len(ti.State.VerifiedChains) == 0 {
				t.Fatalf("the server did not verify the node certificate")
			}
			id, err := IdentityFromCert(ti.State.PeerCertificates[0])
			if err != nil || id.Kind != KindNode || id.Name != tt.node {
				t.Errorf("IdentityFromCert = %v, %v; want node %s", id, err, tt.node)
			}
		})
	}
}

func TestServerCredentialsRefusesPlaintextClientOnTLS(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, time.Now())
	tlsCfg, _, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := connPair(t, "tcp")
	go func() {
		_, _ = cli.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		_, _ = io.Copy(io.Discard, cli)
	}()
	if conn, info, err := ServerCredentials(tlsCfg).ServerHandshake(srv); err == nil {
		t.Errorf("ServerHandshake of a plaintext client = %v, %v; want an error", conn, info)
	}
}

func TestServerCredentialsMethods(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, dir, nil, t0)
	tlsCfg, _, err := ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      *tls.Config
		protocol string
	}{
		{name: "insecure", cfg: nil, protocol: "insecure"},
		{name: "tls", cfg: tlsCfg, protocol: "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := ServerCredentials(tt.cfg)
			if got := creds.Info().SecurityProtocol; got != tt.protocol {
				t.Errorf("Info().SecurityProtocol = %q, want %q", got, tt.protocol)
			}
			clone := creds.Clone()
			if clone == creds {
				t.Errorf("Clone returned the same value")
			}
			if got := clone.Info().SecurityProtocol; got != tt.protocol {
				t.Errorf("clone: Info().SecurityProtocol = %q, want %q", got, tt.protocol)
			}
			if err := creds.OverrideServerName("x"); err != nil { //lint:ignore SA1019 part of the interface it implements
				t.Errorf("OverrideServerName: %v", err)
			}
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			if conn, info, err := creds.ClientHandshake(context.Background(), "localhost", a); err == nil {
				t.Errorf("ClientHandshake = %v, %v; want an error (server credentials)", conn, info)
			}
		})
	}
}
