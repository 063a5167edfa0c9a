package reclog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Log is the writer of a record file. It is safe for concurrent use.
type Log struct {
	path string

	// syncMu orders syncs and rewrites; it is taken before mu.
	syncMu sync.Mutex
	synced uint64 // appends known to be on disk

	mu      sync.Mutex
	fd      int // -1 once closed, or after a Rewrite could not reopen it
	closed  bool
	size    int64  // of the file: where the next record starts
	written uint64 // appends made
	lines   int    // records in the file
}

// Open opens the log at path for appending, making it when missing, and
// returns its content.
func Open(path string) (*Log, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	fd, err := openAppend(path)
	if err != nil {
		return nil, nil, err
	}
	l := &Log{path: path, fd: fd}
	for range Lines(b) {
		l.lines++
	}
	l.size = int64(len(b))
	// A torn last line would swallow the next record: cut it off.
	if end := bytes.LastIndexByte(b, '\n') + 1; end < len(b) {
		if err := unix.Ftruncate(fd, int64(end)); err != nil {
			unix.Close(fd)
			return nil, nil, &fs.PathError{Op: "truncate", Path: path, Err: err}
		}
		b = b[:end]
		l.size = int64(end)
	}
	return l, b, nil
}

// Read returns the content of the log at path; a missing log is empty.
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Lines yields the records of b, a log's content, with their line numbers
// (from 1): empty lines and a last line without its newline (cut short by
// a crash) are left out.
func Lines(b []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 1; len(b) > 0; n++ {
			line, rest, found := bytes.Cut(b, []byte{'\n'})
			if !found {
				return
			}
			b = rest
			if len(line) > 0 && !yield(n, line) {
				return
			}
		}
	}
}

func openAppend(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// writeAll writes b to fd: one write(2) unless the kernel takes less.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// A log is worth compacting once it holds CompactAfter records, at least
// CompactRatio times as many as are live.
const (
	CompactAfter = 4096
	CompactRatio = 4
)

// CompactionDue reports whether the log, of whose records those of live
// items are still needed (a record or a few each), is worth a Rewrite.
func (l *Log) CompactionDue(live int) bool {
	n := l.Records()
	return n >= CompactAfter && live*CompactRatio <= n
}

// Records is the number of records in the log.
func (l *Log) Records() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}

// Append writes rec, which must hold no newline, as a line. With durable
// it returns once the record is on disk.
func (l *Log) Append(rec []byte, durable bool) error {
	if bytes.IndexByte(rec, '\n') >= 0 {
		return fmt.Errorf("%s: a record with a newline", l.path)
	}
	line := make([]byte, 0, len(rec)+1)
	line = append(append(line, rec...), '\n')
	l.mu.Lock()
	if err := l.reopenLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	if err := writeAll(l.fd, line); err != nil {
		// A part written would join the next record: cut it off.
		unix.Ftruncate(l.fd, l.size)
		l.mu.Unlock()
		return &fs.PathError{Op: "write", Path: l.path, Err: err}
	}
	l.size += int64(len(line))
	l.lines++
	l.written++
	seq := l.written
	l.mu.Unlock()
	if !durable {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= seq {
		return nil // a sync made for another append covered this one
	}
	l.mu.Lock()
	upto, fd := l.written, l.fd
	l.mu.Unlock()
	if err := unix.Fdatasync(fd); err != nil {
		return &fs.PathError{Op: "sync", Path: l.path, Err: err}
	}
	l.synced = upto
	return nil
}

// Rewrite replaces the log's records with those that keep returns,
// durably: emptied in place when there are none, else through a temporary
// file renamed over it. keep is called with appends held off, so that what
// it reads of the log is all of it; it must not append.
func (l *Log) Rewrite(keep func() ([][]byte, error)) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, err := keep()
	if err != nil {
		return err
	}
	if err := l.reopenLocked(); err != nil {
		return err
	}
	if len(recs) == 0 {
		if err := unix.Ftruncate(l.fd, 0); err != nil {
			return &fs.PathError{Op: "truncate", Path: l.path, Err: err}
		}
		l.lines, l.size = 0, 0
		if err := unix.Fdatasync(l.fd); err != nil {
			return &fs.PathError{Op: "sync", Path: l.path, Err: err}
		}
		l.synced = l.written
		return nil
	}
	var out []byte
	for _, rec := range recs {
		out = append(append(out, rec...), '\n')
	}
	tmp := l.path + ".tmp"
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "open", Path: tmp, Err: err}
	}
	err = writeAll(fd, out)
	if err == nil {
		err = unix.Fdatasync(fd)
	}
	unix.Close(fd)
	if err == nil {
		err = unix.Rename(tmp, l.path)
	}
	if err != nil {
		unix.Unlink(tmp)
		return &fs.PathError{Op: "rewrite", Path: l.path, Err: err}
	}
	if dfd, err := unix.Open(filepath.Dir(l.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Fsync(dfd)
		unix.Close(dfd)
	}
	unix.Close(l.fd)
	l.fd, l.lines, l.size, l.synced = -1, len(recs), int64(len(out)), l.written
	// Appends to the file renamed away would be lost: until the new one
	// opens, they fail (and try it again).
	return l.reopenLocked()
}

// reopenLocked opens the log again after a Rewrite could not; the caller
// holds mu.
func (l *Log) reopenLocked() error {
	switch {
	case l.closed:
		return &fs.PathError{Op: "write", Path: l.path, Err: fs.ErrClosed}
	case l.fd >= 0:
		return nil
	}
	fd, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.fd = fd
	return nil
}

// Close closes the log's file.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}
