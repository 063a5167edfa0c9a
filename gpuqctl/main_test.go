package main

import (
	"os/exec"
	"path/filepath"
	"testing"

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
