package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/logging"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const securityConfig = `
teams:
  - {name: sf, timezone: America/Los_Angeles}
  - {name: tokyo, timezone: Asia/Tokyo}
pools:
  - {name: a100, gpu_type: a100, region: us-west1, gpus_per_node: 8}
limits:
  max_request_bytes: 65536
  submit_rate: 0.01
  submit_burst: 2
  max_pending_per_user: 3
`

// secureCluster is gpuqd serving TLS on TCP and the unix socket, in process.
type secureCluster struct {
	dir, sock string
	tcp       string
	log       *syncBuffer
	op        *client.Client // the test's own uid on the socket: an operator
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startSecure(t *testing.T) *secureCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "gpuqsec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg, err := config.Parse([]byte(securityConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen.TCP = "127.0.0.1:0"
	cfg.Listen.Unix = filepath.Join(dir, "gpuqd.sock")
	cfg.DataDir = filepath.Join(dir, "data")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := &secureCluster{dir: dir, sock: cfg.Listen.Unix, log: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, logging.New(c.log, "debug", "text"), func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		c.tcp = a.String()
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gpuqd did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c.op = c.dial(t, "unix://"+c.sock, client.Security{})
	return c
}

func (c *secureCluster) dial(t *testing.T, target string, sec client.Security) *client.Client {
	t.Helper()
	cl, err := client.Dial(target, sec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// user issues a token and returns a client that uses it over TLS.
func (c *secureCluster) user(t *testing.T, name, role string, teams ...string) (*client.Client, string) {
	t.Helper()
	resp, err := c.op.CreateToken(tctx(t), name, role, teams, time.Hour)
	if err != nil {
		t.Fatalf("create token for %s: %v", name, err)
	}
	return c.dial(t, c.tcp, client.Security{Token: resp.Token}), resp.Token
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func jobFilter(id uint64) *gpuqv1.JobFilter {
	return &gpuqv1.JobFilter{Jobs: []*gpuqv1.JobRef{{Id: id}}}
}

// TestAuthorisation is issue #6's list: every refusal gpuqd must make,
// each with its code and an audit record, over real TLS and the socket.
func TestAuthorisation(t *testing.T) {
	c := startSecure(t)
	ctx := tctx(t)
	alice, aliceTok := c.user(t, "alice", "user", "sf")
	bob, _ := c.user(t, "bob", "user", "sf")
	carol, _ := c.user(t, "carol", "team-admin", "sf")
	kenji, _ := c.user(t, "kenji", "user", "tokyo")

	who, err := alice.WhoAmI(ctx)
	if err != nil || who.Name != "alice" || who.Method != "token" || who.Role != "user" {
		t.Fatalf("alice whoami = %v, %v", who, err)
	}
	if who, err := c.op.WhoAmI(ctx); err != nil || who.Role != "operator" || who.Method != "peercred" {
		t.Fatalf("operator on the socket: whoami = %v, %v", who, err)
	}

	res, err := alice.Submit(ctx, &gpuqv1.JobSpec{Team: "sf", Script: []byte("#!/bin/sh\ntrue\n"), Hold: true}, "")
	if err != nil {
		t.Fatalf("alice submits: %v", err)
	}
	if got, _ := alice.Get(ctx, job.Ref{ID: res.JobId}); len(got) != 1 || got[0].Spec.User != "alice" {
		t.Fatalf("alice's job is not hers: %v", got)
	}
	id := res.JobId
	if got, err := kenji.Get(ctx, job.Ref{ID: id}); err != nil || len(got[0].Spec.Script) != 0 {
		t.Errorf("kenji sees alice's script: %v, %v", got, err)
	}
	if got, err := alice.Get(ctx, job.Ref{ID: id}); err != nil || len(got[0].Spec.Script) == 0 {
		t.Errorf("alice does not see her own script: %v, %v", got, err)
	}

	t.Run("another user's job", func(t *testing.T) {
		_, err := bob.Cancel(ctx, jobFilter(id), "")
		wantErr(t, "bob cancels alice's job", err, job.ErrPermissionDenied)
		_, err = bob.Hold(ctx, jobFilter(id))
		wantErr(t, "bob holds alice's job", err, job.ErrPermissionDenied)
		_, err = bob.Release(ctx, jobFilter(id))
		wantErr(t, "bob releases alice's job", err, job.ErrPermissionDenied)
		_, err = bob.Cancel(ctx, &gpuqv1.JobFilter{Users: []string{"alice"}}, "")
		wantErr(t, "bob cancels by --user alice", err, job.ErrPermissionDenied)
		_, err = kenji.Cancel(ctx, &gpuqv1.JobFilter{Teams: []string{"sf"}}, "")
		wantErr(t, "kenji cancels by --team sf", err, job.ErrPermissionDenied)
		// A filter that names nobody acts on one's own jobs only.
		out, err := bob.Release(ctx, &gpuqv1.JobFilter{States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PENDING}})
		if err != nil || len(out) != 0 {
			t.Errorf("bob releases --state PENDING: %v, %v; want nothing done", out, err)
		}
		if got, _ := c.op.Get(ctx, job.Ref{ID: id}); !got[0].Held {
			t.Errorf("alice's job was released by bob")
		}
		// The team's admin and an operator may.
		if out, err := carol.Release(ctx, jobFilter(id)); err != nil || client.OutcomeErr(out[0]) != nil {
			t.Errorf("carol (sf admin) releases alice's job: %v, %v", out, err)
		}
		if out, err := c.op.Hold(ctx, jobFilter(id)); err != nil || client.OutcomeErr(out[0]) != nil {
			t.Errorf("operator holds alice's job: %v, %v", out, err)
		}
	})

	t.Run("another team's accounting", func(t *testing.T) {
		err := kenji.Records(ctx, &gpuqv1.ListRecordsRequest{Teams: []string{"sf"}}, func(*gpuqv1.RunRecord) error { return nil })
		wantErr(t, "kenji reads sf's records", err, job.ErrPermissionDenied)
		_, err = kenji.Budgets(ctx, &gpuqv1.BudgetsRequest{Teams: []string{"sf"}})
		wantErr(t, "kenji reads sf's budget", err, job.ErrPermissionDenied)
		_, err = kenji.CostReport(ctx, &gpuqv1.CostReportRequest{Month: "2026-11"})
		wantErr(t, "kenji reads the cost report", err, job.ErrPermissionDenied)
		_, err = alice.Budgets(ctx, &gpuqv1.BudgetsRequest{Teams: []string{"tokyo"}})
		wantErr(t, "alice reads tokyo's budget", err, job.ErrPermissionDenied)
		if b, err := carol.Budgets(ctx, &gpuqv1.BudgetsRequest{}); err != nil || len(b.Teams) != 1 || b.Teams[0].Team != "sf" {
			t.Errorf("carol's budgets = %v, %v; want sf's only", b, err)
		}
	})

	t.Run("submit for another team or as another user", func(t *testing.T) {
		_, err := kenji.Submit(ctx, &gpuqv1.JobSpec{Team: "sf", Script: []byte("#!/bin/sh\n")}, "")
		wantErr(t, "kenji submits for sf", err, job.ErrPermissionDenied)
		_, err = kenji.Submit(ctx, &gpuqv1.JobSpec{Team: "tokyo", User: "alice", Script: []byte("#!/bin/sh\n")}, "")
		wantErr(t, "kenji submits as alice", err, job.ErrPermissionDenied)
	})

	t.Run("operator actions", func(t *testing.T) {
		wantErr(t, "alice drains a node", alice.DrainNode(ctx, "n1", "mine now"), job.ErrPermissionDenied)
		_, err := alice.CreateToken(ctx, "mallory", "operator", nil, time.Hour)
		wantErr(t, "alice issues a token", err, job.ErrPermissionDenied)
	})

	t.Run("nodes", func(t *testing.T) {
		pin := tokenCA(t, aliceTok)
		anon := c.dial(t, c.tcp, client.Security{CAPin: pin})
		nodes := gpuqv1.NewNodeServiceClient(anon.Conn())
		info := &gpuqv1.NodeInfo{Name: "n1", Pool: "a100"}
		_, err := nodes.RegisterNode(ctx, &gpuqv1.RegisterNodeRequest{Node: info})
		wantErr(t, "register without credentials", client.FromStatus(err), job.ErrUnauthenticated)

		nodeKey, csr, err := auth.NewNodeKey("n1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = anon.JoinNode(ctx, "n1", auth.JoinToken{Secret: auth.NewSecret()}.String(), csr)
		wantErr(t, "join with a wrong join token", err, job.ErrUnauthenticated)

		_, err = gpuqv1.NewNodeServiceClient(alice.Conn()).RegisterNode(ctx, &gpuqv1.RegisterNodeRequest{Node: info})
		wantErr(t, "register with a user's token", client.FromStatus(err), job.ErrPermissionDenied)

		join, err := auth.ReadJoinToken(filepath.Join(c.dir, "data", "tls"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := anon.JoinNode(ctx, "n1", join.String(), csr)
		if err != nil {
			t.Fatalf("join with the join token: %v", err)
		}
		// The join token is on every node: it must not let one node become
		// another that has joined.
		_, err = anon.JoinNode(ctx, "n1", join.String(), csr)
		wantErr(t, "join as a node that has joined", err, job.ErrPermissionDenied)
		n1 := c.dial(t, "unix://"+c.sock, client.Security{Token: resp.NodeToken})
		_, err = gpuqv1.NewNodeServiceClient(n1.Conn()).RegisterNode(ctx, &gpuqv1.RegisterNodeRequest{Node: &gpuqv1.NodeInfo{Name: "n2", Pool: "a100"}})
		wantErr(t, "node n1 registers as n2", client.FromStatus(err), job.ErrPermissionDenied)
		if _, err := gpuqv1.NewNodeServiceClient(n1.Conn()).RegisterNode(ctx, &gpuqv1.RegisterNodeRequest{Node: info}); err != nil {
			t.Errorf("node n1 registers as itself: %v", err)
		}
		_, err = n1.List(ctx, &gpuqv1.JobFilter{})
		wantErr(t, "a node lists jobs", err, job.ErrPermissionDenied)

		// Its certificate over TLS works until an operator revokes the
		// node; then the certificate and the node token are refused.
		roots := x509.NewCertPool()
		ca, _ := x509.ParseCertificate(resp.CaCertificate)
		roots.AddCert(ca)
		pair := tls.Certificate{Certificate: [][]byte{resp.Certificate}, PrivateKey: nodeKey}
		n1tls := c.dial(t, c.tcp, client.Security{Roots: roots, Certificate: &pair})
		if who, err := n1tls.WhoAmI(ctx); err != nil || who.Kind != "node" || who.Method != "cert" {
			t.Fatalf("node n1 over TLS with its certificate: %v, %v", who, err)
		}
		// Renewal: refused to a user, and to a node before half of its
		// credentials' lifetime (internal/server's TestRenewCredentials
		// and internal/nodeagent's TestRenewCredentials renew with clocks
		// set months ahead).
		renewCSR, err := auth.NewCSR(nodeKey, "n1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = alice.RenewCredentials(ctx, renewCSR)
		wantErr(t, "a user renews node credentials", err, job.ErrPermissionDenied)
		_, err = n1tls.RenewCredentials(ctx, renewCSR)
		wantErr(t, "node n1 renews its day-old credentials", err, job.ErrInvalidState)
		_, err = alice.RevokeCertificates(ctx, "node", "n1")
		wantErr(t, "alice revokes a node", err, job.ErrPermissionDenied)
		rev, err := c.op.RevokeCertificates(ctx, "node", "n1")
		if err != nil || len(rev.TokenIds) != 1 {
			t.Fatalf("revoke node n1: %v, %v; want its one node token revoked", rev, err)
		}
		_, err = n1tls.WhoAmI(ctx)
		wantErr(t, "a revoked node's certificate", err, job.ErrUnauthenticated)
		_, err = n1.WhoAmI(ctx)
		wantErr(t, "a revoked node's token", err, job.ErrUnauthenticated)
		_, err = n1tls.RenewCredentials(ctx, renewCSR)
		wantErr(t, "a revoked node renews", err, job.ErrUnauthenticated)
		if _, err := anon.JoinNode(ctx, "n1", join.String(), csr); err != nil {
			t.Errorf("join again after the operator revoked the node: %v", err)
		}
	})

	t.Run("user certificates", func(t *testing.T) {
		key, csr, err := auth.NewNodeKey("frank")
		if err != nil {
			t.Fatal(err)
		}
		_, err = alice.CreateCertificate(ctx, "frank", "user", []string{"sf"}, time.Hour, csr)
		wantErr(t, "alice issues a certificate", err, job.ErrPermissionDenied)
		resp, err := c.op.CreateCertificate(ctx, "frank", "user", []string{"sf"}, time.Hour, csr)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := x509.ParseCertificate(resp.CaCertificate)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		pair := tls.Certificate{Certificate: [][]byte{resp.Certificate}, PrivateKey: key}
		frank := c.dial(t, c.tcp, client.Security{Roots: roots, Certificate: &pair})
		who, err := frank.WhoAmI(ctx)
		if err != nil || who.Name != "frank" || who.Method != "cert" || len(who.Teams) != 1 || who.Teams[0] != "sf" {
			t.Fatalf("frank whoami = %v, %v", who, err)
		}
		_, err = frank.Cancel(ctx, jobFilter(id), "")
		wantErr(t, "frank cancels alice's job", err, job.ErrPermissionDenied)
		_, err = gpuqv1.NewNodeServiceClient(frank.Conn()).RegisterNode(ctx, &gpuqv1.RegisterNodeRequest{Node: &gpuqv1.NodeInfo{Name: "frank"}})
		wantErr(t, "a user certificate registers a node", client.FromStatus(err), job.ErrPermissionDenied)
	})

	t.Run("bad tokens", func(t *testing.T) {
		resp, err := c.op.CreateToken(ctx, "dave", "user", []string{"sf"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.op.RevokeToken(ctx, resp.Info.Id); err != nil {
			t.Fatal(err)
		}
		_, err = c.dial(t, c.tcp, client.Security{Token: resp.Token}).WhoAmI(ctx)
		wantErr(t, "revoked token", err, job.ErrUnauthenticated)

		forged := promote(t, aliceTok)
		_, err = c.dial(t, c.tcp, client.Security{Token: forged}).WhoAmI(ctx)
		wantErr(t, "token with its claims changed", err, job.ErrUnauthenticated)
		other, _ := auth.NewSigner(bytes.Repeat([]byte{7}, auth.KeySize))
		claims, _ := auth.ReadClaims(aliceTok)
		selfSigned, _ := other.Sign(claims)
		_, err = c.dial(t, c.tcp, client.Security{Token: selfSigned}).WhoAmI(ctx)
		wantErr(t, "token signed with another key", err, job.ErrUnauthenticated)

		short, err := c.op.CreateToken(ctx, "erin", "user", []string{"sf"}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the token's expiry is in whole seconds
		_, err = c.dial(t, c.tcp, client.Security{Token: short.Token}).WhoAmI(ctx)
		wantErr(t, "expired token", err, job.ErrUnauthenticated)

		_, err = c.dial(t, c.tcp, client.Security{CAPin: tokenCA(t, aliceTok)}).List(ctx, &gpuqv1.JobFilter{})
		wantErr(t, "no credentials over TLS", err, job.ErrUnauthenticated)
		_, err = c.dial(t, c.tcp, client.Security{Insecure: true, Token: aliceTok}).List(ctx, &gpuqv1.JobFilter{})
		wantErr(t, "plaintext to the TLS port", err, job.ErrUnavailable)
	})

	t.Run("limits", func(t *testing.T) {
		lim, _ := c.user(t, "lim", "user", "sf")
		spec := &gpuqv1.JobSpec{Team: "sf", Script: []byte("#!/bin/sh\n"), Hold: true}
		if _, err := lim.Submit(ctx, spec, ""); err != nil {
			t.Fatalf("first submission: %v", err)
		}
		arr := &gpuqv1.JobSpec{Team: "sf", Script: []byte("#!/bin/sh\n"), Hold: true, Array: &gpuqv1.ArraySpec{TaskIds: []uint32{0, 1, 2}}}
		_, err := lim.Submit(ctx, arr, "")
		wantErr(t, "4 pending jobs with max_pending_per_user 3", err, job.ErrLimit)
		if err != nil && !strings.Contains(err.Error(), "limits.max_pending_per_user") {
			t.Errorf("the pending-limit error names no setting: %v", err)
		}
		_, err = lim.Submit(ctx, spec, "")
		wantErr(t, "third submission with submit_burst 2", err, job.ErrLimit)
		if err != nil && !strings.Contains(err.Error(), "limits.submit_rate") {
			t.Errorf("the rate-limit error names no setting: %v", err)
		}
		big := &gpuqv1.JobSpec{Team: "sf", Script: []byte("#!/bin/sh\n" + strings.Repeat("#", 100_000))}
		_, err = c.op.Submit(ctx, big, "")
		wantErr(t, "a request over max_request_bytes", err, job.ErrLimit)
	})

	// Every refusal above is in the audit log; no secret is in any log.
	audit, err := os.ReadFile(filepath.Join(c.dir, "data", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"rpc":"/gpuq.v1.QueueService/CancelJobs","principal":"user bob"`,
		`"rpc":"/gpuq.v1.QueueService/HoldJobs","principal":"user bob"`,
		`"rpc":"/gpuq.v1.QueueService/ReleaseJobs","principal":"user bob"`,
		`"rpc":"/gpuq.v1.AccountingService/ListRecords","principal":"user kenji"`,
		`"rpc":"/gpuq.v1.NodeService/RegisterNode","principal":"anonymous"`,
		`"rpc":"/gpuq.v1.NodeService/JoinNode","principal":"anonymous"`,
		`"rpc":"/gpuq.v1.NodeService/RegisterNode","principal":"user alice"`,
		`"rpc":"/gpuq.v1.NodeService/RenewCredentials","principal":"user alice"`,
		`"rpc":"/gpuq.v1.AuthService/WhoAmI","principal":"anonymous"`,
		"revoked", "signature does not match", "expired", "certificate revoked",
	} {
		if !bytes.Contains(audit, []byte(want)) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if st, err := os.Stat(filepath.Join(c.dir, "data", "audit.log")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode: %v, %v; want 0600", st.Mode(), err)
	}
	join, _ := auth.ReadJoinToken(filepath.Join(c.dir, "data", "tls"))
	for _, secret := range []string{aliceTok, join.Secret, strings.SplitN(aliceTok, ".", 2)[1]} {
		if strings.Contains(string(audit), secret) || strings.Contains(c.log.String(), secret) {
			t.Errorf("a secret appears in a log")
		}
	}
	for _, f := range []string{auth.CAKeyFile, auth.ServerKey, auth.TokenKeyFile, auth.JoinTokenFile} {
		if st, err := os.Stat(filepath.Join(c.dir, "data", "tls", f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, st.Mode(), err)
		}
	}
}

// tokenCA is the CA fingerprint a token carries.
func tokenCA(t *testing.T, tok string) string {
	c, err := auth.ReadClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c.CA
}

// promote rewrites a token's claims to make its holder an operator,
// keeping the signature.
func promote(t *testing.T, tok string) string {
	payload, sig, _ := strings.Cut(strings.TrimPrefix(tok, auth.TokenPrefix), ".")
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["role"] = "operator"
	body, _ = json.Marshal(m)
	return auth.TokenPrefix + base64.RawURLEncoding.EncodeToString(body) + "." + sig
}

// TestInsecurePlaintextLoopback: the insecure mode serves plaintext TCP on
// loopback; tokens are still required there, and TLS clients fail.
func TestInsecurePlaintextLoopback(t *testing.T) {
	dir, err := os.MkdirTemp("", "gpuqins")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	sock := filepath.Join(dir, "gpuqd.sock")
	addr := freeAddr(t)
	go func() {
		done <- Main(ctx, []string{"gpuqd", "--config", "../../examples/gpuqd.yaml", "--data-dir", filepath.Join(dir, "data"),
			"--socket", sock, "--listen", addr, "--insecure-plaintext"}, &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gpuqd exited %d: %s", code, errOut.String())
		}
	})
	op, err := client.Dial("unix://"+sock, client.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	var tok string
	for i := 0; ; i++ {
		resp, err := op.CreateToken(tctx(t), "alice", "user", []string{"sf"}, time.Hour)
		if err == nil {
			tok = resp.Token
			break
		}
		if i == 100 {
			t.Fatalf("create token: %v\n%s", err, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	plain, _ := client.Dial(addr, client.Security{Insecure: true, Token: tok})
	defer plain.Close()
	if who, err := plain.WhoAmI(tctx(t)); err != nil || who.Name != "alice" {
		t.Errorf("plaintext with a token: %v, %v", who, err)
	}
	anon, _ := client.Dial(addr, client.Security{Insecure: true})
	defer anon.Close()
	_, err = anon.List(tctx(t), &gpuqv1.JobFilter{})
	wantErr(t, "plaintext without a token", err, job.ErrUnauthenticated)
	tlsClient, _ := client.Dial(addr, client.Security{Token: tok})
	defer tlsClient.Close()
	_, err = tlsClient.WhoAmI(tctx(t))
	wantErr(t, "TLS to the plaintext port", err, job.ErrUnavailable)
	if !strings.Contains(errOut.String(), "INSECURE") {
		t.Errorf("gpuqd does not warn about the insecure mode:\n%s", errOut.String())
	}

	// Off loopback the flag is refused, naming the field.
	var out2, errOut2 bytes.Buffer
	code := Main(context.Background(), []string{"gpuqd", "--config", "../../examples/gpuqd.yaml", "--listen", "0.0.0.0:7420",
		"--insecure-plaintext", "config", "check"}, &out2, &errOut2)
	if code != 1 || !strings.Contains(errOut2.String(), "security.insecure_plaintext") {
		t.Errorf("insecure off loopback: exit %d, %s", code, errOut2.String())
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
