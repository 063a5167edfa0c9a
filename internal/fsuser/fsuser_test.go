package fsuser_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/gpuq/gpuq/internal/fsuser"
)

const nobody = 65534

func owner(t *testing.T, path string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		err := fsuser.Do(fsuser.ID{UID: nobody, GID: nobody}, func() error { return nil })
		if !errors.Is(err, fsuser.ErrNotPrivileged) {
			t.Errorf("Do without root: %v, want ErrNotPrivileged", err)
		}
		t.Skip("not root: the rest needs root to change the file-system identity")
	}
	// A directory anyone may write in, as users' output directories are
	// to their owners; t.TempDir's parent is closed to other users.
	dir, err := os.MkdirTemp("", "fsuser")
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
	if err := os.Symlink(secret, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	id := fsuser.ID{UID: nobody, GID: nobody, Groups: []uint32{nobody}}

	t.Run("new files belong to the user", func(t *testing.T) {
		p := filepath.Join(dir, "sub", "out")
		err := fsuser.Do(id, func() error {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, []byte("hello\n"), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{filepath.Dir(p), p} {
			if uid, gid := owner(t, q); uid != nobody || gid != nobody {
				t.Errorf("%s owned by %d:%d, want %d:%d", q, uid, gid, nobody, nobody)
			}
		}
	})
	t.Run("root's files stay closed, through links too", func(t *testing.T) {
		for _, p := range []string{secret, filepath.Join(dir, "link")} {
			err := fsuser.Do(id, func() error {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err == nil {
					f.Close()
				}
				return err
			})
			if !errors.Is(err, os.ErrPermission) {
				t.Errorf("open %s as nobody: %v, want permission denied", p, err)
			}
		}
	})
	t.Run("the caller keeps its identity", func(t *testing.T) {
		p := filepath.Join(dir, "after")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if uid, _ := owner(t, p); uid != 0 {
			t.Errorf("a file made after Do is owned by %d, want 0", uid)
		}
	})
	t.Run("threads that served Do are the process's again", func(t *testing.T) {
		for range 20 {
			if err := fsuser.Do(id, func() error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		// Goroutines on threads of their own, some of them those Do used.
		errc := make(chan error, 20)
		for i := range 20 {
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				p := filepath.Join(dir, fmt.Sprintf("reused-%d", i))
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					errc <- err
					return
				}
				fi, err := os.Lstat(p)
				if err == nil && fi.Sys().(*syscall.Stat_t).Uid != 0 {
					err = fmt.Errorf("%s owned by %d, want 0", p, fi.Sys().(*syscall.Stat_t).Uid)
				}
				errc <- err
			}()
		}
		for range 20 {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	})
}
