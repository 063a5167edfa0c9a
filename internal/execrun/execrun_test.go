package execrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/jobrun"
	"github.com/gpuq/gpuq/internal/timerslack"
)

// testCgroupRoot is where the tests look for cgroups: GPUQ_TEST_CGROUP_ROOT,
// or /sys/fs/cgroup. Where it is not writable (not root) the runtime runs
// without cgroups and the tests that need them skip.
func testCgroupRoot() string {
	if v, ok := os.LookupEnv("GPUQ_TEST_CGROUP_ROOT"); ok {
		return v
	}
	return "/sys/fs/cgroup"
}

var idSeq atomic.Int64

// newID is a run id unique across concurrent test processes: cgroups are
// shared by the whole machine.
func newID(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return fmt.Sprintf("t%d-%d-%s", os.Getpid(), idSeq.Add(1), name)
}

func testOptions(t testing.TB, stateDir string) Options {
	return Options{
		StateDir:     stateDir,
		CgroupRoot:   testCgroupRoot(),
		PollInterval: 20 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
}

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := New(testOptions(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sh is a spec running script with /bin/sh; stdout and stderr go to
// files in dir.
func sh(t testing.TB, dir, script string) jobrun.Spec {
	return jobrun.Spec{
		ID:     newID(t),
		Args:   []string{"/bin/sh", "-c", script},
		Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin", "D=" + dir},
		Dir:    dir,
		Stdout: filepath.Join(dir, "out"),
		Stderr: filepath.Join(dir, "err"),
	}
}

// start starts spec on r and deletes it when the test ends.
func start(t testing.TB, r *Runtime, spec jobrun.Spec) {
	t.Helper()
	if err := r.Start(testContext(t), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Delete(context.Background(), spec.ID); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("delete %s: %v", spec.ID, err)
		}
	})
}

// run starts spec on r and waits for it.
func run(t testing.TB, r *Runtime, spec jobrun.Spec) jobrun.Exit {
	t.Helper()
	start(t, r, spec)
	ex, err := r.Wait(testContext(t), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// result is the part of an Exit that tests compare.
type result struct {
	Code   int
	Signal syscall.Signal
	OOM    bool
}

func resultOf(ex jobrun.Exit) result { return result{ex.Code, ex.Signal, ex.OOM} }

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFile waits for a file a job writes.
func waitFile(t testing.TB, path string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGone waits for pid to be gone or a zombie.
func waitGone(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := readProcStat(pid)
		if err != nil || st.State == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there (state %c)", pid, st.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExitCode(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		name   string
		script string
		want   result
	}{
		{"zero", "exit 0", result{Code: 0}},
		{"three", "exit 3", result{Code: 3}},
		{"killed by a signal", "kill -KILL $$", result{Code: 137, Signal: syscall.SIGKILL}},
		{"terminated", "kill -TERM $$", result{Code: 143, Signal: syscall.SIGTERM}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().UTC()
			ex := run(t, r, sh(t, t.TempDir(), tt.script))
			if diff := cmp.Diff(tt.want, resultOf(ex)); diff != "" {
				t.Errorf("exit (-want +got):\n%s", diff)
			}
			if ex.Started.Before(before.Add(-time.Second)) || ex.Ended.Before(ex.Started) || ex.Started.Location() != time.UTC {
				t.Errorf("started %v, ended %v: want UTC, in order, after %v", ex.Started, ex.Ended, before)
			}
		})
	}
}

func TestOutput(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		name           string
		stdout, stderr string // relative to the job's directory
		before         string // already in stdout's file
		want           map[string]string
	}{
		{"separate files", "out", "err", "", map[string]string{"out": "to stdout\n", "err": "to stderr\n"}},
		{"one file", "all", "all", "", map[string]string{"all": "to stdout\nto stderr\n"}},
		{"appended", "log", "log", "earlier\n", map[string]string{"log": "earlier\nto stdout\nto stderr\n"}},
		{"stderr discarded", "out", "", "", map[string]string{"out": "to stdout\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.before != "" {
				os.WriteFile(filepath.Join(dir, tt.stdout), []byte(tt.before), 0o644)
			}
			spec := sh(t, dir, "echo to stdout; echo to stderr >&2")
			spec.Stdout, spec.Stderr = tt.stdout, tt.stderr // relative: in Dir
			if ex := run(t, r, spec); ex.Code != 0 {
				t.Fatalf("exit %d", ex.Code)
			}
			got := map[string]string{}
			for name := range tt.want {
				got[name] = readFile(t, filepath.Join(dir, name))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvAndDir(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	spec := sh(t, dir, `echo "FOO=$FOO"; echo "dir=$(pwd)"; echo "shim=${`+envShim+`:-unset}"`)
	spec.Env = append(spec.Env, "FOO=bar baz")
	if ex := run(t, r, spec); ex.Code != 0 {
		t.Fatalf("exit %d: %s", ex.Code, readFile(t, spec.Stderr))
	}
	real, _ := filepath.EvalSymlinks(dir)
	want := "FOO=bar baz\ndir=" + real + "\nshim=unset\n"
	if diff := cmp.Diff(want, readFile(t, spec.Stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestCommandInJobPath(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "hello"), []byte("#!/bin/sh\necho hello from PATH\n"), 0o755)
	spec := sh(t, dir, "")
	spec.Args = []string{"hello"}
	spec.Env = []string{"PATH=" + bin}
	if ex := run(t, r, spec); ex.Code != 0 {
		t.Fatalf("exit %d", ex.Code)
	}
	if got := readFile(t, spec.Stdout); got != "hello from PATH\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestSignal(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		name    string
		script  string
		signals []syscall.Signal // sent in turn, the job given 300ms after each but the last
		want    result
		files   map[string]string // written by the job
	}{
		{
			name: "TERM trapped, checkpoint written",
			script: `trap 'echo step 41 > "$D/checkpoint"; exit 0' TERM
echo ready > "$D/ready"
while :; do sleep 0.05; done`,
			signals: []syscall.Signal{syscall.SIGTERM},
			want:    result{Code: 0},
			files:   map[string]string{"checkpoint": "step 41\n"},
		},
		{
			name: "TERM ignored, then KILL",
			script: `trap '' TERM
echo ready > "$D/ready"
while :; do sleep 0.05; done`,
			signals: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
			want:    result{Code: 137, Signal: syscall.SIGKILL},
		},
		{
			// Only the group signal reaches the child with TERM: what the
			// shim kills after the job's end gets KILL and writes nothing.
			name: "child in the process group gets it too",
			script: `trap 'wait $child; exit 0' TERM
sh -c 'trap "echo child got TERM > \"\$D/child\"; exit 0" TERM; echo ready > "$D/ready"; while :; do sleep 0.05; done' &
child=$!
wait $child`,
			signals: []syscall.Signal{syscall.SIGTERM},
			want:    result{Code: 0},
			files:   map[string]string{"child": "child got TERM\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := sh(t, dir, tt.script)
			start(t, r, spec)
			waitFile(t, filepath.Join(dir, "ready"))
			for i, sig := range tt.signals {
				if err := r.Signal(testContext(t), spec.ID, sig); err != nil {
					t.Fatal(err)
				}
				if i < len(tt.signals)-1 {
					ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
					ex, err := r.Wait(ctx, spec.ID)
					cancel()
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("after %v: exit %+v, err %v; want still running", sig, ex, err)
					}
				}
			}
			ex, err := r.Wait(testContext(t), spec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, resultOf(ex)); diff != "" {
				t.Errorf("exit (-want +got):\n%s\nstderr: %s", diff, readFile(t, spec.Stderr))
			}
			for name, want := range tt.files {
				if got := readFile(t, filepath.Join(dir, name)); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			// Signalling a run that has exited is no error.
			if err := r.Signal(testContext(t), spec.ID, syscall.SIGTERM); err != nil {
				t.Errorf("signal after exit: %v", err)
			}
		})
	}
}

// TestLeftoversKilled: what a job leaves running in its process group ends
// with it; with a cgroup, so does what left the process group.
func TestLeftoversKilled(t *testing.T) {
	tests := []struct {
		name   string
		root   string // cgroup root; "" none
		escape bool   // the leftover makes a session of its own
	}{
		{"process group", "", false},
		{"cgroup, left the process group", testCgroupRoot(), true},
		{"cgroup v2, left the process group", "/sys/fs/cgroup/unified", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, t.TempDir())
			opts.CgroupRoot = tt.root
			r, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.root != "" && r.cg.Version == 0 {
				t.Skipf("no writable cgroup under %s", tt.root)
			}
			if tt.name == "cgroup v2, left the process group" && r.cg.Version != 2 {
				t.Skipf("%s is not cgroup v2", tt.root)
			}
			dir := t.TempDir()
			bg := `sleep 300 & echo $! > "$D/pid"`
			if tt.escape {
				bg = `setsid sh -c 'echo $$ > "$D/pid"; exec sleep 300' &`
			}
			spec := sh(t, dir, bg+"\nwhile [ ! -s \"$D/pid\" ]; do sleep 0.01; done; cat /proc/self/cgroup; exit 0")
			if ex := run(t, r, spec); ex.Code != 0 {
				t.Fatalf("exit %d: %s", ex.Code, readFile(t, spec.Stderr))
			}
			pid, err := strconv.Atoi(strings.TrimSpace(waitFile(t, filepath.Join(dir, "pid"))))
			if err != nil {
				t.Fatal(err)
			}
			waitGone(t, pid)
			if r.cg.Version == 2 {
				if out := readFile(t, spec.Stdout); !strings.Contains(out, "0::/gpuq/"+spec.ID+"\n") {
					t.Errorf("job's /proc/self/cgroup:\n%s\nwant 0::/gpuq/%s", out, spec.ID)
				}
			}
			for _, d := range r.cg.jobDirs(spec.ID) {
				if fileExists(d) {
					t.Errorf("cgroup %s left behind", d)
				}
			}
		})
	}
}

func TestReattach(t *testing.T) {
	tests := []struct {
		name string
		// start starts spec in a Runtime on stateDir that is then gone.
		start func(t *testing.T, stateDir string, spec jobrun.Spec)
	}{
		{"runtime closed", func(t *testing.T, stateDir string, spec jobrun.Spec) {
			r1, err := New(testOptions(t, stateDir))
			if err != nil {
				t.Fatal(err)
			}
			if err := r1.Start(testContext(t), spec); err != nil {
				t.Fatal(err)
			}
			if err := r1.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := r1.List(testContext(t)); !errors.Is(err, ErrClosed) {
				t.Errorf("List after Close: %v, want ErrClosed", err)
			}
		}},
		{"node daemon exited", func(t *testing.T, stateDir string, spec jobrun.Spec) {
			req, _ := json.Marshal(starterRequest{Options: Options{StateDir: stateDir, CgroupRoot: testCgroupRoot()}, Spec: spec})
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envStarter+"="+string(req))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("starter: %v\n%s", err, out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stateDir, dir := t.TempDir(), t.TempDir()
			spec := sh(t, dir, `echo ready > "$D/ready"; while [ ! -e "$D/go" ]; do sleep 0.01; done; exit 7`)
			spec.Labels = map[string]string{"job": "42", "team": "berlin"}
			tt.start(t, stateDir, spec)

			r2, err := New(testOptions(t, stateDir))
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			defer r2.Delete(context.Background(), spec.ID)
			waitFile(t, filepath.Join(dir, "ready"))
			runs, err := r2.List(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].ID != spec.ID || runs[0].Exited != nil || runs[0].Started.IsZero() {
				t.Fatalf("List: %+v, want %s running", runs, spec.ID)
			}
			if diff := cmp.Diff(spec.Labels, runs[0].Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
			ex, err := r2.Wait(testContext(t), spec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(result{Code: 7}, resultOf(ex)); diff != "" {
				t.Errorf("exit (-want +got):\n%s", diff)
			}
			runs, err = r2.List(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].Exited == nil || runs[0].Exited.Code != 7 {
				t.Errorf("List after exit: %+v, want exited with 7", runs)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	r := newRuntime(t)
	ctx := testContext(t)
	dir := t.TempDir()
	spec := sh(t, dir, `sleep 300 & echo $! > "$D/pid"; wait`)
	if err := r.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st, err := r.readState(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(waitFile(t, filepath.Join(dir, "pid"))))
	for i := range 2 {
		if err := r.Delete(ctx, spec.ID); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	waitGone(t, st.PID)
	waitGone(t, child)
	if fileExists(r.runDir(spec.ID)) {
		t.Errorf("%s left behind", r.runDir(spec.ID))
	}
	for _, d := range st.Cgroups {
		if fileExists(d) {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	if err := r.Delete(ctx, "never-was"); err != nil {
		t.Errorf("delete of an unknown run: %v", err)
	}
	if _, err := r.Wait(ctx, spec.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("wait after delete: %v, want ErrNotFound", err)
	}
	if err := r.Signal(ctx, spec.ID, syscall.SIGTERM); !errors.Is(err, ErrNotFound) {
		t.Errorf("signal after delete: %v, want ErrNotFound", err)
	}
	if runs, err := r.List(ctx); err != nil || len(runs) != 0 {
		t.Errorf("list after delete: %+v, %v", runs, err)
	}
}

func TestStartFails(t *testing.T) {
	r := newRuntime(t)
	dup := sh(t, t.TempDir(), "sleep 300")
	start(t, r, dup)
	tests := []struct {
		name string
		edit func(*jobrun.Spec)
		want error // nil: any error
	}{
		{"command not found", func(s *jobrun.Spec) { s.Args = []string{"/nonexistent/job"} }, ErrStartFailed},
		{"command not in PATH", func(s *jobrun.Spec) { s.Args = []string{"no-such-command-gpuq"} }, ErrStartFailed},
		{"directory missing", func(s *jobrun.Spec) { s.Dir = "/nonexistent" }, ErrStartFailed},
		{"output not writable", func(s *jobrun.Spec) { s.Stdout = "/nonexistent/out" }, ErrStartFailed},
		{"same id as a running job", func(s *jobrun.Spec) { s.ID = dup.ID }, ErrExists},
		{"id with a slash", func(s *jobrun.Spec) { s.ID = "../x" }, nil},
		{"no command", func(s *jobrun.Spec) { s.Args = nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := sh(t, t.TempDir(), "exit 0")
			tt.edit(&spec)
			err := r.Start(testContext(t), spec)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Start: %v, want %v", err, tt.want)
			}
			t.Log(err)
			runs, err := r.List(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].ID != dup.ID {
				t.Errorf("List: %+v, want only %s", runs, dup.ID)
			}
			for _, d := range r.cg.jobDirs(spec.ID) {
				if validateID(spec.ID) == nil && spec.ID != dup.ID && fileExists(d) {
					t.Errorf("cgroup %s left behind", d)
				}
			}
		})
	}
}

func TestStartContextDone(t *testing.T) {
	r := newRuntime(t)
	spec := sh(t, t.TempDir(), "sleep 300")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Start(ctx, spec); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start: %v, want context.Canceled", err)
	}
	if fileExists(r.runDir(spec.ID)) {
		t.Errorf("%s left behind", r.runDir(spec.ID))
	}
}

// TestSignalRecycledPid: a recorded pid that now names another process
// (another start time) is not signalled.
func TestSignalRecycledPid(t *testing.T) {
	r := newRuntime(t)
	other := exec.Command("sleep", "300")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()
	ps, err := readProcStat(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	id := newID(t)
	os.Mkdir(r.runDir(id), 0o700)
	st := state{Version: formatVersion, ID: id, PID: other.Process.Pid, PIDStart: ps.Start - 1, ShimPID: other.Process.Pid, ShimStart: ps.Start - 1}
	if err := writeJSONAtomic(r.runDir(id), stateFile, st, false); err != nil {
		t.Fatal(err)
	}
	if err := r.Signal(testContext(t), id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if st, err := readProcStat(other.Process.Pid); err != nil || st.State == 'Z' {
		t.Fatalf("process with the recycled pid was killed")
	}
	// Neither its shim nor its job being alive, the run's exit is lost.
	if _, err := r.Wait(testContext(t), id); !errors.Is(err, ErrLost) {
		t.Errorf("Wait: %v, want ErrLost", err)
	}
	if err := r.Delete(testContext(t), id); err != nil {
		t.Fatal(err)
	}
	if st, err := readProcStat(other.Process.Pid); err != nil || st.State == 'Z' {
		t.Fatalf("process with the recycled pid was killed by Delete")
	}
}

// TestSupervisor: one supervisor starts every run of a state directory;
// runs started from several Runtimes and concurrently share it; it goes
// when it has no runs and no clients.
func TestSupervisor(t *testing.T) {
	stateDir := t.TempDir()
	r1, err := New(testOptions(t, stateDir))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := New(testOptions(t, stateDir))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	var specs []jobrun.Spec
	errc := make(chan error, 8)
	for i := range 8 {
		r := []*Runtime{r1, r2}[i%2]
		spec := sh(t, t.TempDir(), fmt.Sprintf("exit %d", i))
		specs = append(specs, spec)
		go func() { errc <- r.Start(ctx, spec) }()
	}
	for range specs {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	pids := map[int]bool{}
	for i, spec := range specs {
		st, err := r1.readState(spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		pids[st.ShimPID] = st.Supervised
		// Either Runtime waits for any run.
		ex, err := []*Runtime{r2, r1}[i%2].Wait(ctx, spec.ID)
		if err != nil || ex.Code != i {
			t.Errorf("run %d: exit %+v, %v; want code %d", i, ex, err, i)
		}
		if err := r1.Delete(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("runs had parents %v, want one supervisor", pids)
	}
	for pid, supervised := range pids {
		if !supervised {
			t.Errorf("state.json: supervised false")
		}
		r1.Close()
		r2.Close()
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid, 0) || sameProcessAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("supervisor %d still there without runs and clients", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if fileExists(filepath.Join(stateDir, supervisorSock)) {
			t.Errorf("%s left behind", supervisorSock)
		}
	}
}

// sameProcessAlive reports whether pid is a process that has not exited.
func sameProcessAlive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z' && st.State != 'X'
}

// TestSupervisorKilled: a supervisor killed with -9 loses the exit status
// of its jobs (ErrLost once a job is gone); the next start gets a new
// supervisor, and Delete still kills an orphaned job.
func TestSupervisorKilled(t *testing.T) {
	r := newRuntime(t)
	ctx := testContext(t)
	dir := t.TempDir()
	orphan := sh(t, dir, `echo ready > "$D/ready"; exec sleep 300`)
	start(t, r, orphan)
	waitFile(t, filepath.Join(dir, "ready"))
	st, err := r.readState(orphan.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.ShimPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next := sh(t, t.TempDir(), "exit 3")
	if ex := run(t, r, next); ex.Code != 3 {
		t.Errorf("run after the supervisor was killed: exit %+v, want 3", ex)
	}
	if st2, err := r.readState(next.ID); err != nil || st2.ShimPID == st.ShimPID {
		t.Errorf("run after the supervisor was killed: parent %d, %v; want a new supervisor", st2.ShimPID, err)
	}
	// Still running: Wait waits.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = r.Wait(short, orphan.ID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a running orphan: %v, want still running", err)
	}
	if err := r.Signal(ctx, orphan.ID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(ctx, orphan.ID); !errors.Is(err, ErrLost) {
		t.Errorf("Wait after the supervisor died: %v, want ErrLost", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	r := newRuntime(t)
	if r.cg.Version == 0 || (r.cg.Version == 1 && r.cg.Memory == "") {
		t.Skipf("no writable memory cgroup under %q (root: %v): memory limits are not enforced here", testCgroupRoot(), os.Geteuid() == 0)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string // "": a shell that exits 0
		want result
	}{
		{"over the limit", envHog + "=1", result{Code: 137, Signal: syscall.SIGKILL, OOM: true}},
		{"under the limit", "", result{Code: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := sh(t, t.TempDir(), "exit 0")
			if tt.env != "" {
				spec.Args = []string{self}
				spec.Env = []string{tt.env}
			}
			spec.MemoryBytes = 64 << 20
			ex := run(t, r, spec)
			if diff := cmp.Diff(tt.want, resultOf(ex)); diff != "" {
				t.Errorf("exit (-want +got):\n%s\nstdout: %s", diff, readFile(t, spec.Stdout))
			}
		})
	}
}

func TestCPULimit(t *testing.T) {
	r := newRuntime(t)
	if r.cg.Version != 1 || r.cg.CPU == "" {
		t.Skipf("no writable cgroup v1 cpu controller under %q", testCgroupRoot())
	}
	spec := sh(t, t.TempDir(), "")
	spec.CPUs = 0.5
	spec.Args = []string{"/bin/sh", "-c", "cat " + filepath.Join(r.cg.CPU, spec.ID, "cpu.cfs_quota_us") + " " + filepath.Join(r.cg.CPU, spec.ID, "cgroup.procs")}
	if ex := run(t, r, spec); ex.Code != 0 {
		t.Fatalf("exit %d: %s", ex.Code, readFile(t, spec.Stderr))
	}
	lines := strings.Fields(readFile(t, spec.Stdout))
	if len(lines) < 2 || lines[0] != "50000" {
		t.Errorf("cpu cgroup: %q, want quota 50000 and the job's processes", lines)
	}
}

func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change user")
	}
	r := newRuntime(t)
	nobody := uint32(65534)
	// t.TempDir's parent is closed to other users.
	dir, err := os.MkdirTemp("", "execrun-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	secret := filepath.Join(dir, "root-only")
	os.WriteFile(secret, []byte("x\n"), 0o600)
	t.Run("runs as the user with its groups, output owned by the user", func(t *testing.T) {
		spec := sh(t, dir, "id -u; id -g; id -G")
		spec.Dir = "/"
		spec.Stdout = filepath.Join(dir, "id.out")
		spec.UID, spec.GID = &nobody, &nobody
		spec.Groups = []uint32{nobody, 4242}
		if ex := run(t, r, spec); ex.Code != 0 {
			t.Fatalf("exit %d: %s", ex.Code, readFile(t, spec.Stderr))
		}
		if diff := cmp.Diff("65534\n65534\n65534 4242\n", readFile(t, spec.Stdout)); diff != "" {
			t.Errorf("id (-want +got):\n%s", diff)
		}
		fi, err := os.Stat(spec.Stdout)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("stdout owned by %d:%d, want %d:%d", st.Uid, st.Gid, nobody, nobody)
		}
	})
	t.Run("no groups given: none of root's", func(t *testing.T) {
		spec := sh(t, dir, "id -G")
		spec.Dir = "/"
		spec.Stdout = filepath.Join(dir, "groups.out")
		spec.UID, spec.GID = &nobody, &nobody
		spec.Groups = []uint32{}
		if ex := run(t, r, spec); ex.Code != 0 {
			t.Fatalf("exit %d: %s", ex.Code, readFile(t, spec.Stderr))
		}
		if diff := cmp.Diff("65534\n", readFile(t, spec.Stdout)); diff != "" {
			t.Errorf("id -G (-want +got):\n%s", diff)
		}
	})
	t.Run("cannot append to a file the user cannot write", func(t *testing.T) {
		spec := sh(t, dir, "echo owned")
		spec.Dir = "/"
		spec.Stdout = secret
		spec.UID, spec.GID = &nobody, &nobody
		if err := r.Start(testContext(t), spec); !errors.Is(err, ErrStartFailed) {
			t.Fatalf("Start: %v, want ErrStartFailed", err)
		}
		if got := readFile(t, secret); got != "x\n" {
			t.Errorf("root's file now holds %q", got)
		}
	})
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in   string
		want procStat
		err  bool
	}{
		{"123 (sh) S 1 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 2461696 1 18446744073709551615", procStat{'S', 123, 98765}, false},
		{"7 (a) b) (c) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", procStat{'Z', 9, 42}, false},
		{"7 (x) S 1 2", procStat{}, true},
		{"garbage", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestValidateID(t *testing.T) {
	for id, ok := range map[string]bool{
		"alloc-17.3": true, "A_b": true, "": false, ".hidden": false, "-x": false,
		"a/b": false, "..": false, "a b": false, strings.Repeat("x", 129): false,
	} {
		if err := validateID(id); (err == nil) != ok {
			t.Errorf("validateID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}

// writeJSONAtomic writes v as dir/name, as runs of format version 2 were
// written, so that a reader sees either no file
// or the whole of it: a temporary file renamed. With durable, the file
// also survives a crash once it returns: fsync of the file before the
// rename and of the directory after.
func writeJSONAtomic(dir, name string, v any, durable bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if durable {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// TestWaitAfterRestartForExitUnseen: a run that a new Runtime found with
// List, and that ended before that Runtime connected to the supervisor, is
// not waited for forever: the exit is in the journal.
func TestWaitAfterRestartForExitUnseen(t *testing.T) {
	stateDir := t.TempDir()
	r1, err := New(testOptions(t, stateDir))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	short := sh(t, dir, `while [ ! -e "$D/go" ]; do sleep 0.01; done; exit 4`)
	long := sh(t, t.TempDir(), "sleep 300")
	for _, spec := range []jobrun.Spec{short, long} {
		if err := r1.Start(testContext(t), spec); err != nil {
			t.Fatal(err)
		}
	}
	r1.Close()
	r2, err := New(testOptions(t, stateDir))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer r2.Delete(context.Background(), long.ID)
	defer r2.Delete(context.Background(), short.ID)
	if runs, err := r2.List(testContext(t)); err != nil || len(runs) != 2 {
		t.Fatalf("List: %+v, %v", runs, err)
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		runs, _ := readJournal(stateDir)
		if run := runs[short.ID]; run != nil && run.exit != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the short run's exit was not recorded")
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ex, err := r2.Wait(ctx, short.ID)
	if err != nil || ex.Code != 4 {
		t.Fatalf("Wait: %+v, %v; want exit 4", ex, err)
	}
}

// TestStartGivenUpOn: a Start whose context ends while the supervisor is
// still starting the job (here: its output is a FIFO nobody reads yet)
// leaves nothing running once the job does start, and nothing listed.
func TestStartGivenUpOn(t *testing.T) {
	r := newRuntime(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("exec sleep 300 # %s", dir) // in the job's command line
	spec := sh(t, dir, marker)
	spec.Stdout, spec.Stderr = fifo, fifo
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := r.Start(ctx, spec); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v, want context.DeadlineExceeded", err)
	}
	// Now the job can open its output, and start.
	reader, err := os.OpenFile(fifo, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(r.dir, journalFile))
		if strings.Contains(string(b), `{"op":"exit","id":"`+spec.ID+`"`) {
			break // started after it was forgotten, and ended
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not start and end; journal:\n%s", b)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), marker) {
			t.Errorf("%s: the job still runs", p)
		}
	}
	if runs, err := r.List(testContext(t)); err != nil || len(runs) != 0 {
		t.Errorf("List: %+v, %v; want nothing", runs, err)
	}
}

// TestJobTimerSlack: a job starts with the kernel's timer slack, whatever
// its supervisor's (gpuq's daemons raise theirs: internal/timerslack).
func TestJobTimerSlack(t *testing.T) {
	// The supervisor is forked from this thread and takes its slack.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := timerslack.Thread()
	if err != nil {
		t.Fatal(err)
	}
	if err := timerslack.SetThread(3 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	defer timerslack.SetThread(prev)
	r := newRuntime(t)
	dir := t.TempDir()
	spec := sh(t, dir, `echo "job=$(cat /proc/self/timerslack_ns) supervisor=$(cat /proc/$PPID/timerslack_ns)"`)
	if ex := run(t, r, spec); ex.Code != 0 {
		t.Fatalf("exit %d: %s", ex.Code, readFile(t, spec.Stderr))
	}
	want := fmt.Sprintf("job=%d supervisor=3000000\n", timerslack.Job.Nanoseconds())
	if got := readFile(t, spec.Stdout); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
}

func TestCgroupHome(t *testing.T) {
	self := []byte("12:pids:/system.slice/gpuq-node.service\n4:cpu,cpuacct:/system.slice\n3:memory:/a/b\n0::/\n")
	for _, tc := range []struct{ mount, want string }{
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/a/b"},
		{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu/system.slice"},
		{"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpuacct/system.slice"},
		{"/sys/fs/cgroup/freezer", ""},
	} {
		got, err := cgroupHome(self, tc.mount)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%s: %q, %v; want %q", tc.mount, got, err, tc.want)
		}
	}
}

// TestListsProcess: a home cgroup that does not list the supervisor (its
// path read inside a cgroup namespace rooted elsewhere) is refused.
func TestListsProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("1\n4242\n77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := listsProcess(dir, 4242); err != nil {
		t.Errorf("listed: %v", err)
	}
	if err := listsProcess(dir, 42); err == nil || !strings.Contains(err.Error(), "does not list it") {
		t.Errorf("not listed: %v", err)
	}
	if err := listsProcess(filepath.Join(dir, "gone"), 4242); err == nil {
		t.Error("no cgroup: no error")
	}
}

// TestThreadHome: on cgroup v1 the supervisor's own cgroup, where a
// thread that forked a job goes back to, is found and lists it.
func TestThreadHome(t *testing.T) {
	mount := "/sys/fs/cgroup/memory"
	if !fileExists(filepath.Join(mount, "cgroup.procs")) || fileExists("/sys/fs/cgroup/cgroup.controllers") {
		t.Skip("no cgroup v1 memory hierarchy here")
	}
	home, err := threadHome(filepath.Join(mount, "gpuq", "some-job"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(home, mount) {
		t.Errorf("home %s is not under %s", home, mount)
	}
}

// readState is the state of run id; ErrNotFound when it is not there or
// has not started.
func (r *Runtime) readState(id string) (state, error) {
	ri, err := r.startedRun(id)
	return ri.st, err
}
