package ctrdrun

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// These tests need neither root nor containerd.

func TestValidSpec(t *testing.T) {
	ok := jobrun.Spec{ID: "job-1.2_a", Args: []string{"true"}}
	for _, tc := range []struct {
		name string
		edit func(*jobrun.Spec)
		ok   bool
	}{
		{"ok", func(*jobrun.Spec) {}, true},
		{"no id", func(s *jobrun.Spec) { s.ID = "" }, false},
		{"slash in id", func(s *jobrun.Spec) { s.ID = "a/b" }, false},
		{"no args", func(s *jobrun.Spec) { s.Args = nil }, false},
		{"reserved label", func(s *jobrun.Spec) { s.Labels = map[string]string{LabelStarted: "x"} }, false},
		{"job label", func(s *jobrun.Spec) { s.Labels = map[string]string{"gpuq.job": "1"} }, true},
		{"relative mount", func(s *jobrun.Spec) { s.Mounts = []jobrun.Mount{{Source: "data", Target: "/data"}} }, false},
		{"relative dir", func(s *jobrun.Spec) { s.Dir = "work" }, false},
		{"negative cpus", func(s *jobrun.Spec) { s.CPUs = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			err := validSpec(s)
			if tc.ok && err != nil {
				t.Fatalf("validSpec: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("validSpec = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestStdio(t *testing.T) {
	dir := t.TempDir()
	out, errp := filepath.Join(dir, "a", "out"), filepath.Join(dir, "b", "err")
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		want           cio.Config
		wantErr        bool
	}{
		{"none", "", "", cio.Config{}, false},
		{"shared", out, out, cio.Config{Stdout: out, Stderr: out}, false},
		{"separate", out, errp, cio.Config{Stdout: out, Stderr: errp}, false},
		{"stderr discarded", out, "", cio.Config{Stdout: out, Stderr: os.DevNull}, false},
		{"relative", "out", "out", cio.Config{}, true},
		{"relative separate", out, "err", cio.Config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := stdio(tc.stdout, tc.stderr)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidSpec) {
					t.Fatalf("stdio = %v, want ErrInvalidSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c("id")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Config()); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
	// Separate files are created, so that the shim can open them.
	for _, p := range []string{out, errp} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s not created: %v", p, err)
		}
	}
}

func TestExitSignal(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	ended := started.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		code   uint32
		labels map[string]string
		sent   []int
		oom    bool
		want   jobrun.Exit
	}{
		{"exit 0", 0, nil, nil, false, jobrun.Exit{}},
		{"exit 137 unsignalled", 137, nil, nil, false, jobrun.Exit{Code: 137}},
		{"killed here", 137, nil, []int{15, 9}, false, jobrun.Exit{Code: 137, Signal: syscall.SIGKILL}},
		{"killed by an earlier process", 143, map[string]string{LabelSignals: "15"}, nil, false, jobrun.Exit{Code: 143, Signal: syscall.SIGTERM}},
		{"trapped term, exit 0", 0, map[string]string{LabelSignals: "15"}, nil, false, jobrun.Exit{}},
		{"oom event", 137, nil, nil, true, jobrun.Exit{Code: 137, Signal: syscall.SIGKILL, OOM: true}},
		{"oom label", 137, map[string]string{LabelOOM: "true"}, nil, false, jobrun.Exit{Code: 137, Signal: syscall.SIGKILL, OOM: true}},
		{"oom of a child, script went on", 1, nil, nil, true, jobrun.Exit{Code: 1, OOM: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Runtime{log: slog.New(slog.DiscardHandler), oom: map[string]bool{}, signals: map[string][]int{}}
			r.oom["j"] = tc.oom
			r.signals["j"] = tc.sent
			labels := map[string]string{LabelStarted: started.Format(time.RFC3339Nano)}
			for k, v := range tc.labels {
				labels[k] = v
			}
			got := r.exit(context.Background(), "j", labels, nil, tc.code, ended)
			want := tc.want
			want.Started, want.Ended = started, ended
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("exit (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShmSize(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  []string
	}{
		{0, []string{"nosuid", "noexec", "nodev", "mode=1777"}},
		{96 << 20, []string{"nosuid", "noexec", "nodev", "mode=1777", "size=98304k"}},
	} {
		s := &oci.Spec{Mounts: []specs.Mount{
			{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		}}
		if err := withShmSize(tc.limit)(context.Background(), nil, nil, s); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, s.Mounts[0].Options); diff != "" {
			t.Errorf("limit %d: options (-want +got):\n%s", tc.limit, diff)
		}
	}
}

func TestSignalsLabel(t *testing.T) {
	if got := parseSignals(formatSignals([]int{15, 9})); !cmp.Equal(got, []int{15, 9}) {
		t.Errorf("round trip = %v", got)
	}
	if got := parseSignals(""); got != nil {
		t.Errorf("parseSignals(\"\") = %v", got)
	}
}
