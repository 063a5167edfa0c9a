package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpuq/gpuq/internal/execrun"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// binDir holds the binaries built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	// Binaries built elsewhere (a machine without Go, such as a lent GPU
	// machine): gpuqd, gpuqctl, gpuq-node, gpuq-shim and hello in one
	// directory.
	if dir := os.Getenv("GPUQ_E2E_BIN"); dir != "" {
		binDir = dir
		os.Exit(m.Run())
	}
	// go-nvml's header marks many functions deprecated; gcc would warn on each.
	os.Setenv("CGO_CFLAGS", "-O2 -g -Wno-deprecated-declarations")
	dir, err := os.MkdirTemp("", "gpuq-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range [][]string{
		{"-tags", "urfave_cli_no_docs,grpcnotrace", "-trimpath", "-o", dir + "/", "github.com/gpuq/gpuq/gpuqd"},
		{"CGO_ENABLED=0", "-tags", "urfave_cli_no_docs,grpcnotrace", "-trimpath", "-o", dir + "/", "github.com/gpuq/gpuq/gpuqctl"},
		{"-tags", "urfave_cli_no_docs,grpcnotrace", "-trimpath", "-o", dir + "/gpuq-node", "github.com/gpuq/gpuq/node"},
		{"-trimpath", "-o", dir + "/gpuq-shim", "github.com/gpuq/gpuq/node/shim"},
		// A Go program that does nothing: the bare baseline of process start-up.
		{"-o", dir + "/hello", "./testdata/hello"},
		// The floors of a client on gpuqctl's libraries (BenchmarkCtlSubmit).
		{"CGO_ENABLED=0", "-tags", "urfave_cli_no_docs,grpcnotrace", "-trimpath", "-o", dir + "/clifloor", "./testdata/clifloor"},
		{"CGO_ENABLED=0", "-tags", "urfave_cli_no_docs,grpcnotrace", "-trimpath", "-o", dir + "/grpcfloor", "./testdata/grpcfloor"},
	} {
		// A leading NAME=value is the build's environment.
		env := os.Environ()
		if strings.Contains(b[0], "=") && !strings.HasPrefix(b[0], "-") {
			env, b = append(env, b[0]), b[1:]
		}
		cmd := exec.Command("go", append([]string{"build"}, b...)...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b[len(b)-1]+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if os.Getenv("GPUQ_KEEP_TEST_DIR") == "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

const testConfig = `listen:
  tcp: ""
  unix: %[1]s/gpuqd.sock
data_dir: %[1]s/data
log:
  level: debug
defaults:
  heartbeat_interval: 1s
  node_down_after: 3s
  kill_wait: 2s
  grace_period: 2s
# The benchmarks fill the queue with 100,000 jobs of one user.
limits:
  max_pending_per_user: 0
  max_pending_per_team: 0
teams:
  - name: sf
    timezone: America/Los_Angeles
  - name: berlin
    timezone: Europe/Berlin
  - name: tokyo
    timezone: Asia/Tokyo
pools:
  - name: a100-us-west1
    gpu_type: a100
    region: us-west1
    gpus_per_node: 8
  - name: a800-us-east1
    gpu_type: a800
    region: us-east1
    gpus_per_node: 8
`

// cluster is one gpuqd in a temporary directory.
type cluster struct {
	t      testing.TB
	dir    string
	sock   string
	config string // gpuqd's config file; the socket and data dir are always overridden
	cmd    *exec.Cmd
	log    *os.File
	listen string // gpuqd's TCP address (TLS); "" for none
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "gpuq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killLeftovers(dir)
		if os.Getenv("GPUQ_KEEP_TEST_DIR") == "" {
			os.RemoveAll(dir)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "gpuqd.yaml"), fmt.Appendf(nil, testConfig, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, sock: filepath.Join(dir, "gpuqd.sock"), config: filepath.Join(dir, "gpuqd.yaml")}
	t.Cleanup(c.stop)
	return c
}

// start runs gpuqd and waits until it answers.
func (c *cluster) start() {
	c.t.Helper()
	lf, err := os.OpenFile(filepath.Join(c.dir, "gpuqd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	c.log = lf
	c.cmd = exec.Command(filepath.Join(binDir, "gpuqd"), "--config", c.config,
		"--socket", c.sock, "--data-dir", filepath.Join(c.dir, "data"), "--listen", c.listen)
	c.cmd.Stdout, c.cmd.Stderr = lf, lf
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("unix", c.sock); err == nil {
			conn.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("gpuqd did not start; log:\n%s", c.logText())
}

func (c *cluster) logText() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "gpuqd.log"))
	return string(b)
}

// kill9 kills gpuqd with SIGKILL, as a crash would.
func (c *cluster) kill9() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	c.cmd = nil
	c.log.Close()
}

// stop ends gpuqd with SIGTERM and checks that it exits cleanly.
func (c *cluster) stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("gpuqd exited with %v; log:\n%s", err, c.logText())
		}
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		c.t.Errorf("gpuqd did not stop within 10s")
	}
	c.cmd = nil
	c.log.Close()
}

// client dials gpuqd's socket.
func (c *cluster) client() gpuqv1.QueueServiceClient {
	c.t.Helper()
	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return gpuqv1.NewQueueServiceClient(conn)
}

// ctl runs gpuqctl against this cluster and returns stdout, stderr and the exit code.
func (c *cluster) ctl(args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "gpuqctl"), append([]string{"--server", "unix://" + c.sock}, args...)...)
	cmd.Dir = c.dir
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("gpuqctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// joinTokenFile is where gpuqd keeps the join token it made on first start.
func (c *cluster) joinTokenFile() string { return filepath.Join(c.dir, "data", "tls", "join-token") }

// nodeDaemon is one gpuq-node of a cluster.
type nodeDaemon struct {
	c    *cluster
	name string
	args []string
	cmd  *exec.Cmd
}

// rootJobsConfig lets a gpuq-node run root's jobs. The tests submit as
// whoever runs them, root in CI, and gpuq-node refuses root's jobs by
// default; not as root, gpuq-node runs every job as itself anyway.
const rootJobsConfig = "allow_root: true\n"

// startNode runs a gpuq-node with simulated GPUs and the exec runtime that
// runs root's jobs (rootJobsConfig).
func (c *cluster) startNode(name, pool, gpus string) *nodeDaemon {
	c.t.Helper()
	return c.startNodeWith(name, pool, gpus, rootJobsConfig)
}

// startNodeWith is startNode with a config file of these YAML lines
// under the flags.
func (c *cluster) startNodeWith(name, pool, gpus, config string) *nodeDaemon {
	c.t.Helper()
	cfg := filepath.Join(c.dir, "node-"+name+".yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		c.t.Fatal(err)
	}
	n := &nodeDaemon{c: c, name: name, args: []string{"--config", cfg, "--server", "unix://" + c.sock, "--name", name, "--pool", pool,
		"--simulate-gpus", gpus, "--runtime", "exec", "--state-dir", filepath.Join(c.dir, "node-"+name), "--log-level", "debug",
		"--join-token-file", c.joinTokenFile()}}
	n.start()
	c.t.Cleanup(n.stop)
	return n
}

func (n *nodeDaemon) start() {
	n.c.t.Helper()
	lf, err := os.OpenFile(filepath.Join(n.c.dir, "node-"+n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.c.t.Fatal(err)
	}
	n.cmd = exec.Command(filepath.Join(binDir, "gpuq-node"), n.args...)
	n.cmd.Stdout, n.cmd.Stderr = lf, lf
	if err := n.cmd.Start(); err != nil {
		n.c.t.Fatal(err)
	}
}

func (n *nodeDaemon) log() string {
	b, _ := os.ReadFile(filepath.Join(n.c.dir, "node-"+n.name+".log"))
	return string(b)
}

func (n *nodeDaemon) kill9() {
	if n.cmd != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

func (n *nodeDaemon) stop() {
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
		}
		n.cmd = nil
	}
}

// killLeftovers ends the jobs a test left running and their supervisors:
// jobs outlive gpuq-node by design, so a node killed with -9 leaves its
// supervisor (whose command line names a state directory under dir) and
// its jobs behind. Each job is a process group of its own, a child of the
// supervisor.
func killLeftovers(dir string) {
	shims := map[int]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), dir+"/") || !strings.Contains(string(b), execrun.SupervisorCommand) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			shims[pid] = true
		}
	}
	if len(shims) == 0 {
		return
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgid, _ := strconv.Atoi(f[2])
		if shims[ppid] && pgid > 0 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	for pid := range shims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
