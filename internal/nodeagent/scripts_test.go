package nodeagent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) (ino uint64, nlink uint64) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Ino, uint64(st.Nlink)
}

func TestScriptCache(t *testing.T) {
	state := t.TempDir()
	jobs := filepath.Join(state, "jobs")
	stale := filepath.Join(state, "scripts", "left-by-an-earlier-agent")
	os.MkdirAll(filepath.Dir(stale), 0o700)
	os.WriteFile(stale, nil, 0o600)
	c, err := newScriptCache(filepath.Join(state, "scripts"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("an earlier agent's cached script is still there: %v", err)
	}
	job := func(n string) string { return filepath.Join(jobs, n+".sh") }
	a := []byte("#!/bin/sh\necho a\n")
	for _, n := range []string{"1", "2"} {
		if err := c.install(job(n), a, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	i1, links := inode(t, job("1"))
	if i2, _ := inode(t, job("2")); i1 != i2 || links != 3 {
		t.Errorf("two jobs of one script: inodes %d and %d, %d links; want one inode, 3 links", i1, i2, links)
	}
	if fi, _ := os.Stat(job("1")); fi.Mode().Perm() != 0o500 {
		t.Errorf("mode %v, want 0500", fi.Mode().Perm())
	}
	// A start of the same run that failed left its script.
	if err := c.install(job("1"), a, false, 0, 0); err != nil {
		t.Fatalf("install over a leftover: %v", err)
	}

	// Job 2 makes its script writable and rewrites it: the next job gets
	// the script it asked for.
	if err := os.Chmod(job("2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(job("2"), []byte("#!/bin/sh\necho changed, and longer\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := c.install(job("3"), a, false, 0, 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(job("3")); string(b) != string(a) {
		t.Errorf("after a job changed its script, the next got %q, want %q", b, a)
	}
	if i3, _ := inode(t, job("3")); i3 == i1 {
		t.Error("the changed file was used again")
	}

	// Up to max files: the one used least recently goes; its jobs keep it.
	for _, s := range []string{"b", "c"} {
		if err := c.install(job(s), []byte(s), false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(state, "scripts"))
	if len(entries) != 2 || len(c.files) != 2 {
		t.Errorf("%d cached files (%d kept), want 2", len(entries), len(c.files))
	}
	if b, err := os.ReadFile(job("3")); err != nil || string(b) != string(a) {
		t.Errorf("a job's script after its cached file went: %q, %v", b, err)
	}

	if os.Geteuid() != 0 {
		t.Skip("not root: handing scripts over to a user needs root")
	}
	if err := c.install(job("4"), a, true, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Lstat(job("4"))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("owned by %d:%d, want 65534:65534", st.Uid, st.Gid)
	}
	if i4, _ := inode(t, job("4")); i4 == i1 {
		t.Error("a script of another owner shares the inode")
	}
}

// TestRemoveJobFiles: a run's script file, or its directory with the
// script, goes when the run ends.
func TestRemoveJobFiles(t *testing.T) {
	state := t.TempDir()
	for _, dir := range []bool{false, true} {
		script, mount := scriptPaths(state, "7.0.ab", dir)
		if err := writeScript(script, []byte("#!/bin/sh\n"), 0o500); err != nil {
			t.Fatal(err)
		}
		removeJobFiles(state, "7.0.ab")
		if _, err := os.Lstat(mount); !os.IsNotExist(err) {
			t.Errorf("job directory %v: %s left behind (%v)", dir, mount, err)
		}
	}
}
