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

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// These tests need no containerd; those that need root say so.

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

func TestOpenOutput(t *testing.T) {
	dir := t.TempDir()
	out, errp := filepath.Join(dir, "a", "out"), filepath.Join(dir, "b", "err")
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		want           [2]string // the files the shim is handed
		wantErr        bool
	}{
		{"none", "", "", [2]string{}, false},
		{"shared", out, out, [2]string{out, out}, false},
		{"separate", out, errp, [2]string{out, errp}, false},
		{"stderr discarded", out, "", [2]string{out, os.DevNull}, false},
		{"relative", "out", "out", [2]string{}, true},
		{"relative separate", out, "err", [2]string{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := openOutput(jobrun.Spec{Stdout: tc.stdout, Stderr: tc.stderr})
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidSpec) {
					t.Fatalf("openOutput = %v, want ErrInvalidSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer o.close()
			io, err := o.creator()("id")
			if err != nil {
				t.Fatal(err)
			}
			c := io.Config()
			var got [2]string
			for i, p := range []string{c.Stdout, c.Stderr} {
				if p == "" || p == os.DevNull {
					got[i] = p
					continue
				}
				// A /proc/<pid>/fd path of a file this process has open.
				if got[i], err = os.Readlink(p); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			// One file for both streams goes over as two descriptors, both
			// appending, so that the shim never shares one between its two
			// copies (see openOutput).
			if tc.stdout == tc.stderr && tc.stdout != "" && c.Stdout == c.Stderr {
				t.Errorf("equal paths handed over as one %q: the shim would share one descriptor between both copies", c.Stdout)
			}
		})
	}
}

func TestOpenOutputAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: opening output as another user needs root")
	}
	// A directory anyone may write in; t.TempDir's parent is closed to
	// other users.
	dir, err := os.MkdirTemp("", "ctrdrun-output")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "root-only")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nobody := uint32(65534)
	spec := jobrun.Spec{UID: &nobody, GID: &nobody, Stdout: filepath.Join(dir, "logs", "out")}
	spec.Stderr = spec.Stdout
	o, err := openOutput(spec)
	if err != nil {
		t.Fatal(err)
	}
	o.close()
	for _, p := range []string{filepath.Dir(spec.Stdout), spec.Stdout} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, nobody, nobody)
		}
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{secret, filepath.Join(dir, "link")} {
		spec.Stdout, spec.Stderr = p, p
		if o, err := openOutput(spec); !errors.Is(err, os.ErrPermission) {
			if err == nil {
				o.close()
			}
			t.Errorf("output %s as nobody: %v, want permission denied", p, err)
		}
	}
}

func TestWithGroups(t *testing.T) {
	s := &oci.Spec{Process: &specs.Process{User: specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{100, 0}}}}
	if err := withGroups([]uint32{100, 27, 44})(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint32{100, 27, 44}, s.Process.User.AdditionalGids); diff != "" {
		t.Errorf("additional gids (-want +got):\n%s", diff)
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
