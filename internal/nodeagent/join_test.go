package nodeagent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// renewerFunc is gpuqd's RenewCredentials as a function.
type renewerFunc func(csr []byte) (*gpuqv1.RenewCredentialsResponse, error)

func (f renewerFunc) RenewCredentials(_ context.Context, csr []byte) (*gpuqv1.RenewCredentialsResponse, error) {
	return f(csr)
}

// joinedNode writes the files of node n1, joined at issued, under a new
// state directory, and returns its config and the CA that signed it.
func joinedNode(t *testing.T, server string, issued time.Time) (Config, *auth.CA) {
	t.Helper()
	caDir := t.TempDir()
	if _, err := auth.Init(caDir, []string{"localhost"}, issued); err != nil {
		t.Fatal(err)
	}
	ca, err := auth.LoadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Name, cfg.Pool, cfg.Server, cfg.StateDir = "n1", "p", server, t.TempDir()
	key, csr, err := auth.NewNodeKey("n1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignNode(csr, "n1", issued)
	if err != nil {
		t.Fatal(err)
	}
	dir := cfg.tlsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		auth.WriteKey(filepath.Join(dir, nodeKeyFile), key),
		auth.WriteCert(filepath.Join(dir, nodeCAFile), ca.Cert.Raw),
		auth.WriteSecret(filepath.Join(dir, nodeTokenFile), []byte("old-token\n")),
		auth.WriteCert(filepath.Join(dir, nodeCertFile), cert),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return cfg, ca
}

func TestRenewCredentials(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		server    string
		wantToken bool
	}{
		{"gpuqd.example:7420", false}, // TLS: the certificate
		{"unix:///run/gpuq/gpuqd.sock", true},
	} {
		t.Run(tt.server, func(t *testing.T) {
			// Joined 300 days ago: a year's certificate is due for renewal
			// (two thirds of its life have passed); one of 200 days is not.
			cfg, ca := joinedNode(t, tt.server, now.Add(-300*24*time.Hour))
			creds, err := loadNodeCreds(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !creds.renewDue(now) || creds.renewDue(now.Add(-100*24*time.Hour)) {
				t.Fatalf("renewDue: at 300 days %v, at 200 days %v; want true, false", creds.renewDue(now), creds.renewDue(now.Add(-100*24*time.Hour)))
			}
			old := creds.live.Certificate()
			gpuqd := renewerFunc(func(csr []byte) (*gpuqv1.RenewCredentialsResponse, error) {
				cert, err := ca.SignNode(csr, "n1", now)
				return &gpuqv1.RenewCredentialsResponse{Certificate: cert, CaCertificate: ca.Cert.Raw, NodeToken: "new-token"}, err
			})
			if err := creds.renew(t.Context(), gpuqd); err != nil {
				t.Fatalf("renew: %v", err)
			}
			if creds.renewDue(now) || creds.expires().Before(now.Add(364*24*time.Hour)) {
				t.Errorf("after renewal: due %v, expires %s", creds.renewDue(now), creds.expires())
			}
			// What the node presents from now on, and what it finds on disk
			// after a restart.
			if tt.wantToken {
				if creds.live.Token() != "new-token" || creds.live.Certificate() != nil {
					t.Errorf("presents token %q, certificate %v; want the new token", creds.live.Token(), creds.live.Certificate())
				}
			} else if c := creds.live.Certificate(); c == nil || c == old || !c.Leaf.NotAfter.Equal(creds.expires()) || creds.live.Token() != "" {
				t.Errorf("presents %v, token %q; want the new certificate", c, creds.live.Token())
			}
			again, err := loadNodeCreds(cfg)
			if err != nil || !again.expires().Equal(creds.expires()) {
				t.Fatalf("reloaded: %v, expires %v; want %s", err, again, creds.expires())
			}
			tok, _ := os.ReadFile(filepath.Join(cfg.tlsDir(), nodeTokenFile))
			if strings.TrimSpace(string(tok)) != "new-token" {
				t.Errorf("token file %q", tok)
			}
		})
	}
}

func TestRenewCredentialsRefusesWrongCertificates(t *testing.T) {
	now := time.Now()
	cfg, ca := joinedNode(t, "gpuqd.example:7420", now.Add(-300*24*time.Hour))
	otherDir := t.TempDir()
	if _, err := auth.Init(otherDir, []string{"localhost"}, now); err != nil {
		t.Fatal(err)
	}
	other, err := auth.LoadCA(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	_, strangerCSR, err := auth.NewNodeKey("n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		sign func(csr []byte) ([]byte, error)
		want string
	}{
		{"another CA", func(csr []byte) ([]byte, error) { return other.SignNode(csr, "n1", now) }, "unknown authority"},
		{"another node", func(csr []byte) ([]byte, error) { return ca.SignNode(csr, "n2", now) }, "not node n1's"},
		{"another key", func([]byte) ([]byte, error) { return ca.SignNode(strangerCSR, "n1", now) }, "not for this node's key"},
		{"a user's certificate of the node's name", func(csr []byte) ([]byte, error) {
			c, _, err := ca.SignUser(csr, "n1", auth.RoleOperator, nil, 24*time.Hour, now)
			return c, err
		}, "not node n1's"},
		{"no later than the current one", func(csr []byte) ([]byte, error) { return ca.SignNode(csr, "n1", now.Add(-300*24*time.Hour)) }, "no later than the current one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := loadNodeCreds(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(cfg.tlsDir(), nodeCertFile))
			err = creds.renew(t.Context(), renewerFunc(func(csr []byte) (*gpuqv1.RenewCredentialsResponse, error) {
				cert, err := tt.sign(csr)
				return &gpuqv1.RenewCredentialsResponse{Certificate: cert, NodeToken: "t"}, err
			}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("renew = %v, want an error saying %q", err, tt.want)
			}
			after, _ := os.ReadFile(filepath.Join(cfg.tlsDir(), nodeCertFile))
			if string(after) != string(before) || !creds.renewDue(now) {
				t.Error("a refused certificate was stored")
			}
		})
	}
}

// TestKeepRenewed: the loop renews when due, tries again an hour after a
// failure, leaves fresh credentials alone and ends with its context.
func TestKeepRenewed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, ca := joinedNode(t, "gpuqd.example:7420", time.Now().Add(-300*24*time.Hour))
		creds, err := loadNodeCreds(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int32
		var away atomic.Bool
		away.Store(true)
		gpuqd := renewerFunc(func(csr []byte) (*gpuqv1.RenewCredentialsResponse, error) {
			calls.Add(1)
			if away.Load() {
				return nil, errors.New("gpuqd is away")
			}
			cert, err := ca.SignNode(csr, "n1", time.Now())
			return &gpuqv1.RenewCredentialsResponse{Certificate: cert, NodeToken: "new-token"}, err
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			creds.keepRenewed(ctx, gpuqd, slog.New(slog.DiscardHandler))
			close(done)
		}()
		synctest.Wait()
		if calls.Load() != 1 || !creds.renewDue(time.Now()) {
			t.Fatalf("at start: %d calls, due %v; want one failed renewal", calls.Load(), creds.renewDue(time.Now()))
		}
		away.Store(false)
		time.Sleep(renewCheck)
		synctest.Wait()
		if calls.Load() != 2 || creds.renewDue(time.Now()) {
			t.Fatalf("an hour later: %d calls, due %v; want renewed", calls.Load(), creds.renewDue(time.Now()))
		}
		time.Sleep(30 * 24 * time.Hour)
		synctest.Wait()
		if calls.Load() != 2 {
			t.Errorf("a month later: %d calls; fresh credentials were renewed again", calls.Load())
		}
		cancel()
		<-done
	})
}
