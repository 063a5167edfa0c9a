package ctl

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/client/clienttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testNow is the clock of every test: 10:00 UTC, 11:00 in testZone.
var (
	testNow  = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	testZone = time.FixedZone("CET", 3600)
)

// env is a fake gpuqd and the configuration gpuqctl runs with against it.
type env struct {
	srv    *clienttest.Server
	target string
	cfg    config
	vars   map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{srv: &clienttest.Server{}, vars: map[string]string{}}
	e.target = e.srv.Start(t)
	e.cfg = config{
		now:        func() time.Time { return testNow },
		loc:        testZone,
		getenv:     func(k string) string { return e.vars[k] },
		environ:    func() []string { return []string{"HOME=/home/alice", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"} },
		stdin:      strings.NewReader(""),
		username:   func() (string, error) { return "alice", nil },
		getwd:      func() (string, error) { return "/home/alice/proj", nil },
		requestID:  func() string { return "req-1" },
		pollMin:    time.Millisecond,
		pollMax:    5 * time.Millisecond,
		retryPause: time.Millisecond,
		retryWait:  300 * time.Millisecond,
	}
	return e
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs gpuqctl --server TARGET args...
func (e *env) run(t *testing.T, args ...string) result {
	t.Helper()
	return e.runCtx(t, t.Context(), args...)
}

func (e *env) runCtx(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	argv := append([]string{"gpuqctl", "--server", e.target}, args...)
	code := run(ctx, e.cfg, argv, &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

func (r result) check(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if diff := cmp.Diff(result{stdout, stderr, code}, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("gpuqctl (-want +got):\n%s", diff)
	}
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelp(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "EXIT STATUS") || !strings.Contains(r.stdout, "3    gpuqd cannot be reached") {
		t.Errorf("gpuqctl help = %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"submit", "--help"}, {"submit", "-h"}, {"queue", "--help"}, {"help", "queue"}, {"show", "job", "--help"}} {
		r := e.run(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "USAGE") || r.stderr != "" {
			t.Errorf("gpuqctl %s = %d, stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := e.run(t, "queue", "--help"); !strings.Contains(r.stdout, "%R  NODELIST(REASON)") {
		t.Errorf("queue --help does not list the format codes:\n%s", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"frobnicate"}, "gpuqctl: error: unknown command \"frobnicate\"\nRun 'gpuqctl --help' for usage.\n"},
		{[]string{"queue", "--bogus"}, "gpuqctl: error: flag provided but not defined: -bogus\nRun 'gpuqctl queue --help' for usage.\n"},
		{[]string{"queue", "-t", "SLEEPING"}, "gpuqctl: error: --state: unknown job state \"SLEEPING\"\nRun 'gpuqctl queue --help' for usage.\n"},
		{[]string{"queue", "-o", "%i %z"}, "gpuqctl: error: format \"%i %z\": unknown field code %z (see gpuqctl queue --help)\nRun 'gpuqctl queue --help' for usage.\n"},
		{[]string{"queue", "-j", "x"}, "gpuqctl: error: --job: job id \"x\": want a positive number, 42_3 or 42_[1-5]\nRun 'gpuqctl queue --help' for usage.\n"},
		{[]string{"queue", "42"}, "gpuqctl: error: unexpected argument \"42\" (use --job to select jobs)\nRun 'gpuqctl queue --help' for usage.\n"},
		{[]string{"cancel"}, "gpuqctl: error: name the jobs to cancel, or select them with --me, --team, --user, --state or --name\nRun 'gpuqctl cancel --help' for usage.\n"},
		{[]string{"cancel", "4x"}, "gpuqctl: error: job id \"4x\": want a positive number, 42_3 or 42_[1-5]\nRun 'gpuqctl cancel --help' for usage.\n"},
		{[]string{"hold"}, "gpuqctl: error: name the jobs to hold\nRun 'gpuqctl hold --help' for usage.\n"},
		{[]string{"show"}, "gpuqctl: error: show what? (gpuqctl show job JOB, or show node [NAME])\nRun 'gpuqctl show --help' for usage.\n"},
		{[]string{"show", "job"}, "gpuqctl: error: want one job, 42 or 42_3\nRun 'gpuqctl show job --help' for usage.\n"},
		{[]string{"show", "job", "42_[1-3]"}, "gpuqctl: error: want one job, 42 or 42_3, not \"42_[1-3]\"\nRun 'gpuqctl show job --help' for usage.\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e.run(t, tt.args...).check(t, 2, "", tt.stderr)
		})
	}
	if calls := e.srv.Calls(); len(calls) != 0 {
		t.Errorf("usage errors made calls: %v", calls)
	}
}

func TestNoCommand(t *testing.T) {
	e := newEnv(t)
	r := e.run(t)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "COMMANDS:") {
		t.Errorf("gpuqctl = %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestUnreachable(t *testing.T) {
	e := newEnv(t)
	dir, err := os.MkdirTemp("", "gpuqtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "none.sock")
	e.target = sock
	want := "gpuqctl: error: cannot reach gpuqd at " + sock + ": dial unix " + sock + ": connect: no such file or directory\n"
	e.run(t, "queue").check(t, 3, "", want)
	e.run(t, "cancel", "42").check(t, 3, "", want)
	e.run(t, "submit", "--wrap", "true").check(t, 3, "", want)
}

// GPUQ_SERVER is the default of --server, and --server may follow the command.
func TestServerFlag(t *testing.T) {
	e := newEnv(t)
	var stdout, stderr bytes.Buffer
	e.vars["GPUQ_SERVER"] = e.target
	if code := run(t.Context(), e.cfg, []string{"gpuqctl", "queue", "-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("with GPUQ_SERVER: exit %d, stderr %s", code, stderr.String())
	}
	e.vars["GPUQ_SERVER"] = "/nonexistent/gpuqd.sock"
	if code := run(t.Context(), e.cfg, []string{"gpuqctl", "queue", "--server", e.target}, &stdout, &stderr); code != 0 {
		t.Errorf("--server after the command: exit %d, stderr %s", code, stderr.String())
	}
}

func TestInterrupted(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e.runCtx(t, ctx, "queue").check(t, 130, "", "gpuqctl: error: interrupted\n")
}

func TestHelpUnknownTopic(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "help", "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, "gpuqctl: error: No help topic for 'frobnicate'") {
		t.Errorf("gpuqctl help frobnicate = %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
