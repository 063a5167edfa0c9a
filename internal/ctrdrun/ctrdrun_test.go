package ctrdrun_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/ctrdrun"
	"github.com/gpuq/gpuq/internal/ctrdrun/ctrdtest"
	"github.com/gpuq/gpuq/internal/jobrun"
)

// testNamespace is the test's own containerd namespace, so that tests
// sharing one containerd (GPUQ_CONTAINERD_ADDRESS) see only their jobs.
func testNamespace(t *testing.T) string {
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			return c
		}
		if c >= 'A' && c <= 'Z' {
			return c - 'A' + 'a'
		}
		return '-'
	}, strings.TrimPrefix(t.Name(), "Test"))
	return ctrdtest.Namespace + "-" + name
}

// newRuntime returns a Runtime on opts.Address, or on a containerd
// started for the test, in the test's namespace with the test image.
func newRuntime(t *testing.T, opts ctrdrun.Options) *ctrdrun.Runtime {
	t.Helper()
	if opts.Address == "" {
		opts.Address = ctrdtest.Start(t)
	}
	if opts.Namespace == "" {
		opts.Namespace = testNamespace(t)
	}
	ref := ctrdtest.ImageIn(t, opts.Address, opts.Namespace)
	if opts.DefaultImage == "" {
		opts.DefaultImage = ref
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := ctrdrun.New(ctx, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run starts spec, waits for it, deletes it and returns its exit.
func run(t *testing.T, r *ctrdrun.Runtime, spec jobrun.Spec) jobrun.Exit {
	t.Helper()
	ctx := testContext(t)
	if err := r.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	e, err := r.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := r.Delete(ctx, spec.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	return e
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFile waits for a file a job writes.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

func TestNewUnreachable(t *testing.T) {
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{filepath.Join(dir, "missing.sock"), notSocket} {
		t0 := time.Now()
		_, err := ctrdrun.New(t.Context(), ctrdrun.Options{Address: addr, InitPath: os.Args[0]})
		if !errors.Is(err, ctrdrun.ErrUnavailable) {
			t.Errorf("New(%s) = %v, want ErrUnavailable", addr, err)
		} else if !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q does not name the address", err)
		}
		if d := time.Since(t0); d > 6*time.Second {
			t.Errorf("New(%s) took %v", addr, d)
		}
	}
}

func TestExitCodes(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"true", []string{"true"}, 0},
		{"exit3", sh("exit 3"), 3},
		{"exit130", sh("exit 130"), 130}, // not a signal: none was sent
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().UTC()
			e := run(t, r, jobrun.Spec{ID: "exit-" + tc.name, Args: tc.args})
			if diff := cmp.Diff(jobrun.Exit{Code: tc.want}, jobrun.Exit{Code: e.Code, Signal: e.Signal, OOM: e.OOM}); diff != "" {
				t.Errorf("exit (-want +got):\n%s", diff)
			}
			if e.Started.Before(before.Add(-time.Second)) || e.Ended.Before(e.Started) || e.Ended.After(time.Now().Add(time.Second)) {
				t.Errorf("times: started %v ended %v (test began %v)", e.Started, e.Ended, before)
			}
			if e.Started.Location() != time.UTC || e.Ended.Location() != time.UTC {
				t.Errorf("times not in UTC: %v %v", e.Started, e.Ended)
			}
		})
	}
}

func TestOutput(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	dir := t.TempDir()
	t.Run("separate", func(t *testing.T) {
		out, errp := filepath.Join(dir, "sep", "out.log"), filepath.Join(dir, "sep", "err.log")
		e := run(t, r, jobrun.Spec{ID: "out-sep", Args: sh("echo to-out; echo to-err >&2; echo again > /dev/stdout"), Stdout: out, Stderr: errp})
		if e.Code != 0 {
			t.Fatalf("code %d", e.Code)
		}
		if got := readFile(t, out); got != "to-out\nagain\n" {
			t.Errorf("stdout = %q", got)
		}
		if got := readFile(t, errp); got != "to-err\n" {
			t.Errorf("stderr = %q", got)
		}
	})
	t.Run("shared-appends", func(t *testing.T) {
		both := filepath.Join(dir, "both.log")
		if err := os.WriteFile(both, []byte("earlier\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e := run(t, r, jobrun.Spec{ID: "out-both", Args: sh("echo one; sleep 0.05; echo two >&2"), Stdout: both, Stderr: both})
		if e.Code != 0 {
			t.Fatalf("code %d", e.Code)
		}
		if got := readFile(t, both); got != "earlier\none\ntwo\n" {
			t.Errorf("output = %q", got)
		}
	})
	t.Run("stdout-only", func(t *testing.T) {
		out := filepath.Join(dir, "only.log")
		run(t, r, jobrun.Spec{ID: "out-only", Args: sh("echo kept; echo dropped >&2"), Stdout: out})
		if got := readFile(t, out); got != "kept\n" {
			t.Errorf("stdout = %q", got)
		}
	})
}

func TestEnvironmentMountsLimits(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	data, ckpt := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "input"), []byte("input-data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	script := `echo "foo=$FOO gpus=$CUDA_VISIBLE_DEVICES nv=$NVIDIA_VISIBLE_DEVICES"
echo "pwd=$(pwd)"
cat /data/input
echo written > /ckpt/state
if (echo x > /data/nope) 2>/dev/null; then echo data-writable; else echo data-readonly; fi
echo "user=$(id -u):$(id -g)"
if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
else
  echo "mem=$(cat /sys/fs/cgroup/memory.max)"
  echo "cpu=$(cut -d' ' -f1 /sys/fs/cgroup/cpu.max)"
fi
grep -o ' /dev/shm .*size=[0-9]*k' /proc/mounts | grep -o 'size=.*'
if ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1; then echo raw-sockets; else echo no-raw-sockets; fi
`
	e := run(t, r, jobrun.Spec{
		ID:          "env",
		Args:        sh(script),
		Env:         []string{"FOO=bar", "CUDA_VISIBLE_DEVICES=0,1", "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"},
		Dir:         "/ckpt",
		Mounts:      []jobrun.Mount{{Source: data, Target: "/data", ReadOnly: true}, {Source: ckpt, Target: "/ckpt"}},
		Stdout:      out,
		Stderr:      out,
		MemoryBytes: 96 << 20,
		CPUs:        0.5,
	})
	if e.Code != 0 {
		t.Fatalf("code %d; output:\n%s", e.Code, readFile(t, out))
	}
	want := `foo=bar gpus=0,1 nv=GPU-a,GPU-b
pwd=/ckpt
input-data
data-readonly
user=0:0
mem=100663296
cpu=50000
size=98304k
no-raw-sockets
`
	if diff := cmp.Diff(want, readFile(t, out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if got := readFile(t, filepath.Join(ckpt, "state")); got != "written\n" {
		t.Errorf("checkpoint dir: %q", got)
	}
}

func TestUserAndDevices(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	// Output is made as the job's user: in a directory anyone may write
	// in (t.TempDir's parent is closed to other users).
	dir, err := os.MkdirTemp("", "ctrdrun-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	nobody := uint32(65534)
	var devices []string
	check := "true"
	for _, d := range []string{"/dev/fuse", "/dev/loop-control"} {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			devices = []string{d}
			check = fmt.Sprintf("test -c %s && echo device-ok", d)
			break
		}
	}
	e := run(t, r, jobrun.Spec{
		ID:      "user",
		Args:    sh(`echo "user=$(id -u):$(id -g) groups=$(id -G)"; echo via-dev-stdout > /dev/stdout; ` + check),
		UID:     &nobody,
		GID:     &nobody,
		Groups:  []uint32{nobody, 4242},
		Stdout:  out,
		Stderr:  out,
		Devices: devices,
	})
	if e.Code != 0 {
		t.Fatalf("code %d; output:\n%s", e.Code, readFile(t, out))
	}
	want := "user=65534:65534 groups=65534 4242\nvia-dev-stdout\n"
	if devices != nil {
		want += "device-ok\n"
	}
	if diff := cmp.Diff(want, readFile(t, out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
		t.Errorf("output owned by %d:%d, want %d:%d", st.Uid, st.Gid, nobody, nobody)
	}

	// Output the user may not write: the job does not start.
	secret := filepath.Join(dir, "root-only")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	err = r.Start(testContext(t), jobrun.Spec{ID: "user-denied", Args: sh("echo owned"), UID: &nobody, GID: &nobody, Stdout: link, Stderr: link})
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("Start with output through a link to root's file: %v, want permission denied", err)
	}
	if got := readFile(t, secret); got != "x\n" {
		t.Errorf("root's file now holds %q", got)
	}
}

const cdiSpec = `cdiVersion: "0.6.0"
kind: vendor.com/gpu
devices:
- name: "0"
  containerEdits:
    env:
    - GPUQ_FAKE_GPU=0
    deviceNodes:
    - path: /dev/fakegpu0
      hostPath: /dev/null
containerEdits:
  env:
  - GPUQ_FAKE_DRIVER=1
`

func TestCDI(t *testing.T) {
	specDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(specDir, "vendor.yaml"), []byte(cdiSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, ctrdrun.Options{CDISpecDirs: []string{specDir}})
	out := filepath.Join(t.TempDir(), "out")
	e := run(t, r, jobrun.Spec{
		ID:         "cdi",
		Args:       sh(`echo "gpu=$GPUQ_FAKE_GPU driver=$GPUQ_FAKE_DRIVER"; test -c /dev/fakegpu0 && echo node-ok`),
		CDIDevices: []string{"vendor.com/gpu=0"},
		Stdout:     out, Stderr: out,
	})
	if e.Code != 0 {
		t.Fatalf("code %d; output:\n%s", e.Code, readFile(t, out))
	}
	if diff := cmp.Diff("gpu=0 driver=1\nnode-ok\n", readFile(t, out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	ctx := testContext(t)
	err := r.Start(ctx, jobrun.Spec{ID: "cdi-missing", Args: []string{"true"}, CDIDevices: []string{"vendor.com/gpu=7"}})
	if !errors.Is(err, ctrdrun.ErrCDIDevice) || !strings.Contains(err.Error(), "vendor.com/gpu=7") {
		t.Fatalf("Start with an unknown CDI device = %v, want ErrCDIDevice naming it", err)
	}
	if l, err := r.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("after a failed start List = %v, %v; want nothing left", l, err)
	}
}

func TestSignalTermCheckpoint(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	ckpt := t.TempDir()
	ctx := testContext(t)
	spec := jobrun.Spec{
		ID:     "term",
		Args:   sh(`trap 'echo saved > /ckpt/checkpoint; exit 0' TERM; touch /ckpt/ready; while :; do sleep 0.1; done`),
		Mounts: []jobrun.Mount{{Source: ckpt, Target: "/ckpt"}},
	}
	if err := r.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer r.Delete(context.Background(), spec.ID)
	waitFile(t, filepath.Join(ckpt, "ready"))
	if err := r.Signal(ctx, spec.ID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e, err := r.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Code != 0 || e.Signal != 0 || e.OOM {
		t.Errorf("exit %+v, want code 0", e)
	}
	if got := readFile(t, filepath.Join(ckpt, "checkpoint")); got != "saved\n" {
		t.Errorf("checkpoint = %q", got)
	}
	// Signalling a job that has ended is not an error.
	if err := r.Signal(ctx, spec.ID, syscall.SIGTERM); err != nil {
		t.Errorf("Signal after exit: %v", err)
	}
}

func TestSignalKill(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	ckpt := t.TempDir()
	ctx := testContext(t)
	spec := jobrun.Spec{
		ID:     "kill",
		Args:   sh(`trap '' TERM; touch /ckpt/ready; while :; do sleep 0.1; done`),
		Mounts: []jobrun.Mount{{Source: ckpt, Target: "/ckpt"}},
		Labels: map[string]string{"job": "42"},
	}
	if err := r.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer r.Delete(context.Background(), spec.ID)
	waitFile(t, filepath.Join(ckpt, "ready"))
	if err := r.Signal(ctx, spec.ID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	l, err := r.List(ctx)
	if err != nil || len(l) != 1 || l[0].Exited != nil {
		t.Fatalf("after TERM, List = %+v, %v; want the job still running", l, err)
	}
	if err := r.Signal(ctx, spec.ID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e, err := r.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Code != 137 || e.Signal != syscall.SIGKILL || e.OOM {
		t.Errorf("exit %+v, want code 137 signal 9", e)
	}
}

func TestOOM(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	out := filepath.Join(t.TempDir(), "out")
	// busybox tail buffers a line without end: 100 MiB of zeros.
	e := run(t, r, jobrun.Spec{
		ID:          "oom",
		Args:        sh(`head -c 100m /dev/zero | tail`),
		MemoryBytes: 16 << 20,
		Stdout:      out, Stderr: out,
	})
	if !e.OOM || e.Code != 137 || e.Signal != syscall.SIGKILL {
		t.Errorf("exit %+v, want OOM, code 137, signal 9; output %q", e, readFile(t, out))
	}
}

func TestReattach(t *testing.T) {
	addr := ctrdtest.Start(t)
	first := newRuntime(t, ctrdrun.Options{Address: addr})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ctx := testContext(t)
	spec := jobrun.Spec{
		ID:     "reattach",
		Args:   sh(`echo before; touch /w/ready; while [ ! -f /w/go ]; do sleep 0.05; done; echo after; exit 5`),
		Mounts: []jobrun.Mount{{Source: dir, Target: "/w"}},
		Stdout: out, Stderr: out,
		Labels: map[string]string{"job": "7", "team": "vision"},
	}
	if err := first.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "ready"))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := newRuntime(t, ctrdrun.Options{Address: addr})
	l, err := second.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].ID != spec.ID || l[0].Exited != nil || l[0].Started.IsZero() {
		t.Fatalf("List = %+v, want %s running", l, spec.ID)
	}
	if diff := cmp.Diff(spec.Labels, l[0].Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := second.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Code != 5 || e.Signal != 0 || !e.Started.Equal(l[0].Started) {
		t.Errorf("exit %+v, want code 5 started %v", e, l[0].Started)
	}
	if got := readFile(t, out); got != "before\nafter\n" {
		t.Errorf("output = %q", got)
	}
	l, err = second.List(ctx)
	if err != nil || len(l) != 1 || l[0].Exited == nil || l[0].Exited.Code != 5 {
		t.Fatalf("List after exit = %+v, %v; want Exited code 5", l, err)
	}
	if err := second.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteAndErrors(t *testing.T) {
	r := newRuntime(t, ctrdrun.Options{})
	ctx := testContext(t)
	if err := r.Delete(ctx, "never-was"); err != nil {
		t.Errorf("Delete of an unknown id: %v", err)
	}
	if _, err := r.Wait(ctx, "never-was"); !errors.Is(err, ctrdrun.ErrNotFound) {
		t.Errorf("Wait of an unknown id = %v, want ErrNotFound", err)
	}
	if err := r.Signal(ctx, "never-was", syscall.SIGTERM); !errors.Is(err, ctrdrun.ErrNotFound) {
		t.Errorf("Signal of an unknown id = %v, want ErrNotFound", err)
	}
	err := r.Start(ctx, jobrun.Spec{ID: "noimage", Image: "localhost/nope:9", Args: []string{"true"}})
	if !errors.Is(err, ctrdrun.ErrImageNotFound) || !strings.Contains(err.Error(), "localhost/nope:9") {
		t.Errorf("Start with a missing image = %v, want ErrImageNotFound naming it", err)
	}
	if err := r.Start(ctx, jobrun.Spec{ID: "bad/id", Args: []string{"true"}}); !errors.Is(err, ctrdrun.ErrInvalidSpec) {
		t.Errorf("Start with a bad id = %v, want ErrInvalidSpec", err)
	}

	spec := jobrun.Spec{ID: "sleeper", Args: []string{"sleep", "60"}}
	if err := r.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec); !errors.Is(err, ctrdrun.ErrExists) {
		t.Errorf("second Start = %v, want ErrExists", err)
	}
	waited := make(chan jobrun.Exit, 1)
	go func() {
		e, _ := r.Wait(ctx, spec.ID)
		waited <- e
	}()
	t0 := time.Now()
	if err := r.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("Delete of a running job took %v", d)
	}
	if e := <-waited; e.Code != 137 || e.Signal != syscall.SIGKILL {
		t.Errorf("Wait during Delete = %+v, want 137/SIGKILL", e)
	}
	if err := r.Delete(ctx, spec.ID); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if l, err := r.List(ctx); err != nil || len(l) != 0 {
		t.Errorf("List after Delete = %+v, %v", l, err)
	}
}

func TestContainerdRestart(t *testing.T) {
	d := ctrdtest.StartDaemon(t)
	r := newRuntime(t, ctrdrun.Options{Address: d.Address})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ctx := testContext(t)
	spec := jobrun.Spec{
		ID:     "restart",
		Args:   sh(`touch /w/ready; while [ ! -f /w/go ]; do sleep 0.05; done; echo done; exit 4`),
		Mounts: []jobrun.Mount{{Source: dir, Target: "/w"}},
		Stdout: out, Stderr: out,
	}
	if err := r.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "ready"))
	waited := make(chan error, 1)
	var e jobrun.Exit
	go func() {
		var err error
		e, err = r.Wait(ctx, spec.ID)
		waited <- err
	}()
	d.Kill()
	// The job ends while containerd is down.
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	d.Restart()
	if err := <-waited; err != nil {
		t.Fatalf("Wait across a containerd restart: %v", err)
	}
	if e.Code != 4 || e.Signal != 0 {
		t.Errorf("exit %+v, want code 4", e)
	}
	if got := readFile(t, out); got != "done\n" {
		t.Errorf("output = %q", got)
	}
	if err := r.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}

// TestInterruptedStart: what a crash between creating a container and
// starting its task leaves behind is reported as ended (Code -1) and
// deleted cleanly.
func TestInterruptedStart(t *testing.T) {
	addr := ctrdtest.Start(t)
	r := newRuntime(t, ctrdrun.Options{Address: addr})
	ns := testNamespace(t)
	ref := ctrdtest.ImageIn(t, addr, ns)
	ctx := namespaces.WithNamespace(testContext(t), ns)
	client, err := containerd.New(addr, containerd.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	img, err := client.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC().Truncate(time.Second)
	for _, id := range []string{"no-task", "created-task"} {
		ctr, err := client.NewContainer(ctx, id,
			containerd.WithImage(img), containerd.WithNewSnapshot(id, img),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("true")),
			containerd.WithContainerLabels(map[string]string{ctrdrun.LabelStarted: started.Format(time.RFC3339Nano), "job": id}))
		if err != nil {
			t.Fatal(err)
		}
		if id == "created-task" {
			if _, err := ctr.NewTask(ctx, cio.NullIO); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Not gpuq's: left alone.
	foreign, err := client.NewContainer(ctx, "foreign", containerd.WithNewSpec(oci.WithProcessArgs("true")))
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Delete(context.WithoutCancel(ctx))
	l, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ended := &jobrun.Exit{Code: -1, Started: started}
	want := []jobrun.Running{
		{ID: "created-task", Labels: map[string]string{"job": "created-task"}, Started: started, Exited: ended},
		{ID: "no-task", Labels: map[string]string{"job": "no-task"}, Started: started, Exited: ended},
	}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, w := range want {
		e, err := r.Wait(ctx, w.ID)
		if err != nil || e != *ended {
			t.Errorf("Wait(%s) = %+v, %v; want %+v", w.ID, e, err, *ended)
		}
		if err := r.Delete(ctx, w.ID); err != nil {
			t.Errorf("Delete(%s): %v", w.ID, err)
		}
	}
	if l, err := r.List(ctx); err != nil || len(l) != 0 {
		t.Errorf("List after Delete = %+v, %v", l, err)
	}
	if _, err := client.LoadContainer(ctx, "foreign"); err != nil {
		t.Errorf("a container not gpuq's was touched: %v", err)
	}

	// A snapshot left without its container does not block the id.
	sn := client.SnapshotService("overlayfs")
	if _, err := sn.Prepare(ctx, "stale", ""); err != nil {
		t.Fatal(err)
	}
	if e := run(t, r, jobrun.Spec{ID: "stale", Args: []string{"true"}}); e.Code != 0 {
		t.Errorf("run over a stale snapshot: %+v", e)
	}
}
