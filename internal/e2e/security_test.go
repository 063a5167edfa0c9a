package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback address nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNodeJoinsOverTLS: a gpuq-node on TCP joins with the join token,
// runs a job, and after a restart without the join token authenticates
// with the certificate it got. A user logs in with a token over TLS and
// may not touch another team's job; the refusal is audited.
func TestNodeJoinsOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := newCluster(t)
	c.listen = freePort(t)
	c.start()

	join := filepath.Join(c.dir, "join-token")
	b, err := os.ReadFile(c.joinTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(join, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// alice is not a user of this machine: her job runs as nobody.
	cfg := filepath.Join(c.dir, "node-tls1.yaml")
	if err := os.WriteFile(cfg, []byte("allow_root: true\nunknown_user: nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &nodeDaemon{c: c, name: "tls1", args: []string{"--config", cfg, "--server", c.listen, "--name", "tls1", "--pool", "a100-us-west1",
		"--simulate-gpus", "a100:2", "--runtime", "exec", "--state-dir", filepath.Join(c.dir, "node-tls1"),
		"--log-level", "debug", "--join-token-file", join}}
	n.start()
	t.Cleanup(n.stop)
	waitFor(t, "node tls1 up", func() bool {
		out, _, _ := c.ctl("nodes", "-h")
		return strings.Contains(out, "tls1") && strings.Contains(out, "idle")
	}, n.log)
	for _, f := range []string{"node.key", "node.token"} {
		st, err := os.Stat(filepath.Join(c.dir, "node-tls1", "tls", f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, st, err)
		}
	}

	// Restart without the join token: the certificate is enough.
	n.stop()
	if err := os.Remove(join); err != nil {
		t.Fatal(err)
	}
	n.start()
	out, errOut, code := c.ctl("token", "create", "--user", "alice", "--team", "sf", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errOut)
	}
	aliceTok := filepath.Join(c.dir, "alice.token")
	if err := os.WriteFile(aliceTok, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	as := func(user string, args ...string) (string, string, int) {
		cmd := exec.Command(filepath.Join(binDir, "gpuqctl"), append([]string{"--server", c.listen}, args...)...)
		cmd.Dir = c.dir
		cmd.Env = append(os.Environ(), "GPUQ_CREDENTIALS="+filepath.Join(c.dir, user+".credentials"), "GPUQ_SERVER=")
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return o.String(), e.String(), code
	}
	if _, e, code := as("alice", "login", "--token-file", aliceTok); code != 0 {
		t.Fatalf("alice login: %d %s", code, e)
	}
	if st, err := os.Stat(filepath.Join(c.dir, "alice.credentials")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, %v; want mode 0600", st, err)
	}
	// Her job writes its output where she submits from, as nobody.
	work := filepath.Join(c.dir, "alice")
	if err := os.Mkdir(work, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{c.dir, work} {
		if err := os.Chmod(d, map[bool]os.FileMode{true: 0o711, false: 0o777}[d == c.dir]); err != nil {
			t.Fatal(err)
		}
	}
	id, e, code := as("alice", "submit", "--parsable", "--gpus", "a100:1", "-D", work, "--wrap", "echo ran as $USER on $SLURMD_NODENAME")
	if code != 0 {
		t.Fatalf("alice submits over TLS: %d %s", code, e)
	}
	id = strings.TrimSpace(id)
	waitFor(t, "alice's job to complete on tls1", func() bool {
		out, _, _ := c.ctl("queue", "--state", "all", "-h", "--format", "%i %T %N %u", "--job", id)
		return strings.Contains(out, "COMPLETED tls1 alice")
	}, n.log)

	held, _, _ := c.ctl("submit", "--parsable", "--team", "tokyo", "--hold", "--wrap", "true")
	held = strings.TrimSpace(held)
	_, e, code = as("alice", "cancel", held)
	if code != 1 || !strings.Contains(e, "permission denied") {
		t.Errorf("alice cancels tokyo's job %s: exit %d, %q; want 1 and permission denied", held, code, e)
	}
	audit, _ := os.ReadFile(filepath.Join(c.dir, "data", "audit.log"))
	if !strings.Contains(string(audit), `"principal":"user alice"`) || !strings.Contains(string(audit), `"decision":"denied"`) {
		t.Errorf("the refusal is not in the audit log:\n%s", audit)
	}
	if !strings.Contains(string(audit), `"rpc":"/gpuq.v1.NodeService/JoinNode","principal":"anonymous"`) {
		t.Errorf("the node's join is not in the audit log:\n%s", audit)
	}
}

func waitFor(t *testing.T, what string, cond func() bool, logs ...func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	var extra strings.Builder
	for _, l := range logs {
		extra.WriteString(l())
	}
	t.Fatalf("timed out waiting for %s\n%s", what, extra.String())
}
