package nodeagent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// scriptCache keeps one file for each distinct script and owner under
// StateDir/scripts, and gives each job its script as a hard link to it:
// the 1,000 tasks of an array, or a sweep of one script, then make no new
// file per job (a new inode is dear on some file systems: see
// internal/reclog's doc). A
// job's link is its own path, so the cache may drop a file at any time.
//
// The cached file is the user's, read-only (mode 0500, as slurmd writes a
// batch script), so that a job does not change the script of its siblings
// by mistake (a shell reads its script as it goes). The user may still
// make it writable: a cached file is used again only while its inode,
// mode, size and modification time are those it was made with; else it is
// made anew, and the jobs that link the old one keep it.
type scriptCache struct {
	dir string
	max int // files kept

	mu    sync.Mutex
	files map[scriptKey]*cachedScript
	clock uint64
}

type scriptKey struct {
	sum      [sha256.Size]byte
	uid, gid uint32
	owned    bool // handed over to uid:gid
}

type cachedScript struct {
	path  string
	ino   uint64
	mode  uint32
	size  int64
	mtime unix.Timespec
	used  uint64 // clock at its last use
}

// newScriptCache empties dir (files of an earlier agent: the jobs that
// link them keep them) and returns a cache keeping up to max files there.
func newScriptCache(dir string, max int) (*scriptCache, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &scriptCache{dir: dir, max: max, files: map[scriptKey]*cachedScript{}}, nil
}

// install makes path a file holding script, owned by uid:gid when own is
// set (else by gpuq-node), mode 0500.
func (c *scriptCache) install(path string, script []byte, own bool, uid, gid uint32) error {
	key := scriptKey{sum: sha256.Sum256(script), owned: own}
	if own {
		key.uid, key.gid = uid, gid
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	if f := c.files[key]; f != nil {
		var st unix.Stat_t
		if unix.Lstat(f.path, &st) == nil && st.Ino == f.ino && st.Mode == f.mode && st.Size == f.size && st.Mtim == f.mtime {
			if err := link(f.path, path); err == nil {
				f.used = c.clock
				return nil
			}
		}
		// Changed through a job's link, or gone: made anew below.
		c.drop(key)
	}
	f, err := c.make(key, script, own)
	if err != nil {
		return err
	}
	if err := link(f.path, path); err != nil {
		return err
	}
	f.used = c.clock
	c.files[key] = f
	for len(c.files) > c.max {
		c.evict()
	}
	return nil
}

// make writes a cached file for key.
func (c *scriptCache) make(key scriptKey, script []byte, own bool) (*cachedScript, error) {
	p := filepath.Join(c.dir, fmt.Sprintf("%x-%d-%d", key.sum[:12], key.uid, key.gid))
	_ = unix.Unlink(p) // a file that changed since it was cached
	if err := writeScript(p, script, 0o500); err != nil {
		return nil, err
	}
	if own {
		if err := os.Lchown(p, int(key.uid), int(key.gid)); err != nil {
			unix.Unlink(p)
			return nil, err
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		unix.Unlink(p)
		return nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	return &cachedScript{path: p, ino: st.Ino, mode: st.Mode, size: st.Size, mtime: st.Mtim}, nil
}

// link links path to the cached file, replacing what a failed start of the
// same run left at path.
func link(cached, path string) error {
	return inDir(path, func() error {
		err := unix.Link(cached, path)
		if errors.Is(err, unix.EEXIST) {
			unix.Unlink(path)
			err = unix.Link(cached, path)
		}
		if err != nil {
			return &os.LinkError{Op: "link", Old: cached, New: path, Err: err}
		}
		return nil
	})
}

// writeScript makes the file path (which must not exist) holding b, with
// mode. Once per cached script: plain os calls.
func writeScript(path string, b []byte, mode os.FileMode) error {
	return inDir(path, func() error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, mode)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// inDir runs op, which makes path, and once more after making path's
// directory when that is missing (removed while gpuq-node ran).
func inDir(path string, op func() error) error {
	err := op()
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Dir(path)); serr != nil {
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
				err = op()
			}
		}
	}
	return err
}

// drop forgets the cached file of key and removes it; jobs that link it
// keep it. The caller holds mu.
func (c *scriptCache) drop(key scriptKey) {
	if f := c.files[key]; f != nil {
		unix.Unlink(f.path)
		delete(c.files, key)
	}
}

// evict drops the file used least recently. The caller holds mu.
func (c *scriptCache) evict() {
	var oldest scriptKey
	var at uint64
	first := true
	for k, f := range c.files {
		if first || f.used < at {
			oldest, at, first = k, f.used, false
		}
	}
	c.drop(oldest)
}
