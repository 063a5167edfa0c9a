package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/client/clienttest"
)

// build compiles gpuqctl into a temporary directory.
func build(tb testing.TB) string {
	tb.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command to build gpuqctl with")
	}
	bin := filepath.Join(tb.TempDir(), "gpuqctl")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary runs the real binary once: exit codes reach the shell.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	srv := &clienttest.Server{}
	target := srv.Start(t)
	out, err := exec.Command(bin, "--server", target, "submit", "--parsable", "--wrap", "true").CombinedOutput()
	if err != nil || string(out) != "1\n" {
		t.Errorf("gpuqctl submit = %q, %v; want \"1\\n\"", out, err)
	}
	err = exec.Command(bin, "--server", target, "cancel", "999").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("gpuqctl cancel 999: %v, want exit status 1", err)
	}
	err = exec.Command(bin, "--server", target, "queue", "--bogus").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("gpuqctl queue --bogus: %v, want exit status 2", err)
	}
}

// BenchmarkSubmitProcess measures `gpuqctl submit script` as a whole
// process against an in-memory gpuqd: start-up, reading and parsing the
// script, one round trip, exit. The budget is 8 ms median.
func BenchmarkSubmitProcess(b *testing.B) {
	bin := build(b)
	srv := &clienttest.Server{}
	target := srv.Start(b)
	script := filepath.Join(b.TempDir(), "train.sh")
	if err := os.WriteFile(script, []byte("#!/bin/bash\n#SBATCH -G a100:4 -t 2:00:00\n#SBATCH --job-name=train\npython train.py\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "GPUQ_SERVER="+target, "GPUQ_TEAM=sf")
	var times []time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "submit", "--parsable", script)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("gpuqctl submit: %v\n%s", err, out)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(times[len(times)*9/10].Microseconds())/1000, "p90-ms")
}
