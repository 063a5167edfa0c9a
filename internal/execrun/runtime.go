package execrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gpuq/gpuq/internal/jobrun"
)

var (
	// ErrNotFound: no run with this id in the state directory.
	ErrNotFound = errors.New("run not found")
	// ErrExists: Start was given the id of a run that is still there.
	ErrExists = errors.New("run already exists")
	// ErrStartFailed: the shim could not start the job (command not found,
	// output file not writable, ...); nothing is left running.
	ErrStartFailed = errors.New("job did not start")
	// ErrLost: the shim died before it recorded the job's exit (killed, or
	// the machine rebooted), and the job is gone: its exit status is lost.
	ErrLost = jobrun.ErrLost
	// ErrClosed: the Runtime was closed.
	ErrClosed = errors.New("runtime closed")
)

// Options configure a Runtime.
type Options struct {
	// StateDir is where per-run state lives, one directory per run, e.g.
	// /var/lib/gpuq-node/exec. Required; made when missing.
	StateDir string
	// ShimPath is the executable run as the per-job shim; default
	// os.Executable(). It must call ShimMain when given ShimArgs.
	ShimPath string
	// ShimArgs come before the run directory on the shim's command line;
	// default [ShimCommand].
	ShimArgs []string
	// CgroupRoot is where cgroup file systems are mounted, e.g.
	// /sys/fs/cgroup; empty: no cgroups. With cgroups each job gets its
	// memory and CPU limits, its OOM kills are reported and every one of
	// its processes can be found and killed. When they cannot be used
	// (not writable, not mounted) jobs run without, with a logged warning.
	CgroupRoot string
	// PollInterval is the longest pause between two looks for a run's exit
	// when its shim is not this process's child (after a restart); the
	// pauses start at a few milliseconds and double up to it. Default 500ms.
	PollInterval time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// Timing the runtime does not expose.
const (
	// killWait is how long Delete waits for the shim to record the exit of
	// a job it killed before it kills the shim too.
	killWait = 5 * time.Second
	// firstPoll is the first pause when polling for an exit.
	firstPoll = 2 * time.Millisecond
)

// Runtime runs jobs as plain processes, each under a shim. It is safe for
// concurrent use.
type Runtime struct {
	dir      string
	shimPath string
	shimArgs []string
	cg       cgroupConfig
	poll     time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	closed   bool
	children map[string]*child // shims this Runtime started, until Delete
}

// child is a shim this process started: its parent, so it reaps it.
type child struct {
	proc *os.Process
	done chan struct{} // closed when the shim has exited and been reaped
}

// New returns a Runtime keeping its state in opts.StateDir. Runs already
// there, from an earlier Runtime or process, are found by List and can be
// waited for, signalled and deleted.
func New(opts Options) (*Runtime, error) {
	if opts.StateDir == "" {
		return nil, errors.New("execrun: StateDir is required")
	}
	r := &Runtime{
		dir:      filepath.Clean(opts.StateDir),
		shimPath: opts.ShimPath,
		shimArgs: slices.Clone(opts.ShimArgs),
		poll:     opts.PollInterval,
		log:      opts.Logger,
		children: make(map[string]*child),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.poll <= 0 {
		r.poll = 500 * time.Millisecond
	}
	if r.shimArgs == nil {
		r.shimArgs = []string{ShimCommand}
	}
	if r.shimPath == "" {
		p, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("execrun: shim path: %w", err)
		}
		r.shimPath = p
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("execrun: %w", err)
	}
	var warn []string
	r.cg, warn = detectCgroups(opts.CgroupRoot)
	for _, w := range warn {
		r.log.Warn("execrun: " + w)
	}
	if r.cg.Version != 0 {
		r.log.Info("execrun: jobs run in cgroups", "version", r.cg.Version, "memory", r.cg.Memory, "cpu", r.cg.CPU, "unified", r.cg.Unified)
	}
	return r, nil
}

// Start starts the run spec.ID under a new shim and returns once the job is
// running, or with an error and nothing left behind. ctx bounds the start
// only: the job runs on after ctx is done, and after this process exits.
func (r *Runtime) Start(ctx context.Context, spec jobrun.Spec) error {
	if err := r.open(); err != nil {
		return err
	}
	if err := validateID(spec.ID); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if len(spec.Args) == 0 {
		return fmt.Errorf("start %s: no command", spec.ID)
	}
	runDir := r.runDir(spec.ID)
	if err := os.Mkdir(runDir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("start %s: %w", spec.ID, ErrExists)
		}
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	st, err := r.start(ctx, spec, runDir)
	if err != nil {
		// Undo on a context of its own: ctx may be what ended the start.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*killWait)
		defer cancel()
		if derr := r.delete(cctx, spec.ID); derr != nil {
			r.log.Error("execrun: clean up after failed start", "run", spec.ID, "err", derr)
		}
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	for _, w := range st.Warnings {
		r.log.Warn("execrun: "+w, "run", spec.ID)
	}
	r.log.Info("execrun: job started", "run", spec.ID, "pid", st.PID, "shim", st.ShimPID, "cgroups", len(st.Cgroups))
	return nil
}

// start hands spec to a new shim in runDir and returns the state it
// recorded once the job runs.
func (r *Runtime) start(ctx context.Context, spec jobrun.Spec, runDir string) (state, error) {
	if err := writeJSONAtomic(runDir, specFile, shimSpec{Version: formatVersion, Spec: spec, Cgroup: r.cg}, false); err != nil {
		return state{}, err
	}
	if err := ctx.Err(); err != nil {
		return state{}, err
	}
	reply, err := r.startShim(spec.ID, runDir)
	if err != nil {
		return state{}, err
	}
	var res shimReply
	select {
	case res = <-reply:
	case <-ctx.Done():
		// The shim may be about to start the job: let it finish, within
		// limits, so that the clean-up knows what to kill.
		select {
		case <-reply:
		case <-time.After(killWait):
		}
		return state{}, ctx.Err()
	}
	switch {
	case res.err != nil:
		return state{}, res.err
	case res.msg == "ok":
		return r.readState(spec.ID)
	case strings.HasPrefix(res.msg, "error: "):
		return state{}, fmt.Errorf("%w: %s", ErrStartFailed, strings.TrimPrefix(res.msg, "error: "))
	default:
		return state{}, fmt.Errorf("%w: shim exited without a word (%q); its log: %s", ErrStartFailed, res.msg, tail(filepath.Join(runDir, shimLogFile)))
	}
}

// shimReply is the shim's one-line reply to Start.
type shimReply struct {
	msg string
	err error
}

// startShim starts the shim of the run in runDir, in a session of its own;
// its reply comes on the channel.
func (r *Runtime) startShim(id, runDir string) (<-chan shimReply, error) {
	logf, err := os.OpenFile(filepath.Join(runDir, shimLogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pw.Close()
	cmd := exec.Command(r.shimPath, append(slices.Clone(r.shimArgs), runDir)...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	// A session of its own: no signal to the node daemon's process group
	// or terminal reaches the shim, and it outlives the daemon.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return nil, fmt.Errorf("start shim: %w", err)
	}
	c := &child{proc: cmd.Process, done: make(chan struct{})}
	go func() {
		cmd.Wait() // reap it; its exit status says nothing about the job
		close(c.done)
	}()
	r.mu.Lock()
	r.children[id] = c
	r.mu.Unlock()
	// The reply ends when the shim closes the pipe: after its reply, or
	// when it dies. The job does not hold the pipe open.
	reply := make(chan shimReply, 1)
	go func() {
		defer pr.Close()
		b, err := io.ReadAll(io.LimitReader(pr, 64<<10))
		if err != nil {
			err = fmt.Errorf("read shim reply: %w", err)
		}
		reply <- shimReply{string(bytes.TrimSpace(b)), err}
	}()
	return reply, nil
}

// Wait waits for the run to exit and returns how it ended. It can be called
// any number of times, from any Runtime on the same StateDir, until Delete.
func (r *Runtime) Wait(ctx context.Context, id string) (jobrun.Exit, error) {
	if err := r.open(); err != nil {
		return jobrun.Exit{}, err
	}
	if err := validateID(id); err != nil {
		return jobrun.Exit{}, fmt.Errorf("wait: %w", err)
	}
	var done <-chan struct{}
	r.mu.Lock()
	if c := r.children[id]; c != nil {
		done = c.done
	}
	r.mu.Unlock()
	st, err := r.readState(id)
	if err != nil {
		return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	delay := min(firstPoll, r.poll)
	var timer *time.Timer
	for {
		ex, ok, err := r.readExit(id)
		if err != nil {
			return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
		}
		if ok {
			return ex, nil
		}
		if !fileExists(r.runDir(id)) {
			return jobrun.Exit{}, fmt.Errorf("wait %s: deleted: %w", id, ErrNotFound)
		}
		if !alive(st.ShimPID, st.ShimStart) && !alive(st.PID, st.PIDStart) {
			// The shim may have written exit.json just before it exited.
			if ex, ok, err := r.readExit(id); err != nil || ok {
				return ex, err
			}
			return jobrun.Exit{}, fmt.Errorf("wait %s: shim %d died: %w", id, st.ShimPID, ErrLost)
		}
		if timer == nil {
			timer = time.NewTimer(delay)
			defer timer.Stop()
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
		case <-done:
			done = nil // the shim is gone: look once more, at once
		case <-timer.C:
			delay = min(2*delay, r.poll)
		}
	}
}

// Signal sends sig to every process of the run: its process group and, with
// a cgroup, every process in it. A run that has exited is not signalled and
// gives no error; a pid that now names another process is never signalled.
func (r *Runtime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	if err := r.open(); err != nil {
		return err
	}
	if err := validateID(id); err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	st, err := r.readState(id)
	if err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	if fileExists(filepath.Join(r.runDir(id), exitFile)) {
		return nil
	}
	if err := signalRun(st, sig); err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	return nil
}

// signalRun sends sig to the run's process group while its leader is the
// process the shim started (it is, zombie or not, until the shim reaps it;
// until then its pgid cannot be reused), and to the processes of its
// cgroup that are not in that group.
func signalRun(st state, sig syscall.Signal) error {
	group := false
	if sameProcess(st.PID, st.PIDStart) {
		switch err := syscall.Kill(-st.PID, sig); {
		case err == nil:
			group = true
		case !errors.Is(err, syscall.ESRCH):
			return fmt.Errorf("kill process group %d: %w", st.PID, err)
		}
	}
	if len(st.Cgroups) == 0 {
		return nil
	}
	if st.CgroupV2 && sig == syscall.SIGKILL && writeCgroupFile(st.Cgroups[0], "cgroup.kill", "1") == nil {
		return nil
	}
	pids, err := cgroupPids(st.Cgroups[0])
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, pid := range pids {
		if pid == st.ShimPID {
			continue
		}
		if group {
			if ps, err := readProcStat(pid); err == nil && ps.Pgrp == st.PID {
				continue // already signalled with its group
			}
		}
		syscall.Kill(pid, sig)
	}
	return nil
}

// Delete kills what is left of the run, removes its cgroups and its state.
// Deleting a run that is not there is no error.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	if err := r.open(); err != nil {
		return err
	}
	if err := validateID(id); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := r.delete(ctx, id); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) delete(ctx context.Context, id string) error {
	runDir := r.runDir(id)
	r.mu.Lock()
	c := r.children[id]
	r.mu.Unlock()
	st, stErr := r.readState(id)
	if stErr != nil && !errors.Is(stErr, ErrNotFound) {
		return stErr
	}
	haveState := stErr == nil
	var cgroups []string
	if haveState {
		cgroups = st.Cgroups
	}
	for _, d := range r.cg.jobDirs(id) {
		if !slices.Contains(cgroups, d) {
			cgroups = append(cgroups, d)
		}
	}
	if !fileExists(filepath.Join(runDir, exitFile)) {
		if haveState {
			if err := signalRun(st, syscall.SIGKILL); err != nil {
				return err
			}
		}
		// Let the shim record the exit and go, so that it does not write
		// into a directory being removed; kill it when it does not.
		shimGone := func() bool {
			if fileExists(filepath.Join(runDir, exitFile)) {
				return true // all that is left for the shim is to exit
			}
			if c != nil {
				select {
				case <-c.done:
					return true
				default:
					return false
				}
			}
			return !haveState || !alive(st.ShimPID, st.ShimStart)
		}
		deadline := time.Now().Add(killWait)
		for delay := firstPoll; !shimGone() && time.Now().Before(deadline) && ctx.Err() == nil; delay = min(2*delay, 50*time.Millisecond) {
			time.Sleep(delay)
		}
		if !shimGone() {
			if c != nil {
				c.proc.Kill()
				select {
				case <-c.done:
				case <-ctx.Done():
				}
			} else if haveState && sameProcess(st.ShimPID, st.ShimStart) {
				syscall.Kill(st.ShimPID, syscall.SIGKILL)
			}
		}
	}
	var errs []error
	for _, d := range cgroups {
		drainCgroup(d, len(r.cg.Unified) > 0 || (haveState && st.CgroupV2), cgroupDrainTimeout)
		if err := removeCgroup(d, cgroupDrainTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(runDir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mu.Lock()
	if r.children[id] == c {
		delete(r.children, id)
	}
	r.mu.Unlock()
	return nil
}

// List returns the runs in the state directory, sorted by id: running, and
// exited but not yet deleted. A run whose start has not finished (no
// state.json yet) is left out; one whose shim died without recording the
// exit shows Exited nil, and Wait says ErrLost.
func (r *Runtime) List(ctx context.Context) ([]jobrun.Running, error) {
	if err := r.open(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var runs []jobrun.Running
	for _, e := range entries {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		id := e.Name()
		st, err := r.readState(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			// One unreadable run (a crash mid-write) must not hide the others.
			r.log.Error("execrun: list: run left out", "run", id, "err", err)
			continue
		}
		run := jobrun.Running{ID: id, Labels: st.Labels, Started: st.Started.UTC()}
		ex, ok, err := r.readExit(id)
		if err != nil {
			r.log.Error("execrun: list: exit unreadable", "run", id, "err", err)
		}
		if ok {
			run.Exited = &ex
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// Close makes the Runtime refuse further calls. Jobs and their shims run
// on; a new Runtime on the same StateDir takes them up.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *Runtime) open() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	return nil
}

func (r *Runtime) runDir(id string) string { return filepath.Join(r.dir, id) }

// readState reads the run's state.json; ErrNotFound when the run, or its
// state, is not there.
func (r *Runtime) readState(id string) (state, error) {
	var st state
	err := readJSON(filepath.Join(r.runDir(id), stateFile), &st)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, ErrNotFound
	case err != nil:
		return st, err
	case st.Version > formatVersion:
		return st, fmt.Errorf("%s: version %d is newer than this gpuq-node's %d", stateFile, st.Version, formatVersion)
	}
	return st, nil
}

// readExit reads the run's exit.json; ok is false while there is none.
func (r *Runtime) readExit(id string) (ex jobrun.Exit, ok bool, err error) {
	var rec exitRecord
	err = readJSON(filepath.Join(r.runDir(id), exitFile), &rec)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ex, false, nil
	case err != nil:
		return ex, false, err
	case rec.Version > formatVersion:
		return ex, false, fmt.Errorf("%s: version %d is newer than this gpuq-node's %d", exitFile, rec.Version, formatVersion)
	}
	return rec.exit(), true, nil
}

// validateID accepts ids that are safe as one file name: letters, digits,
// '_', '-' and '.', not starting with '.' or '-', at most 128 bytes.
func validateID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("run id %q: must be 1 to 128 bytes", id)
	}
	for i, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '-' || c == '.') && i > 0:
		default:
			return fmt.Errorf("run id %q: byte %d (%q) not allowed", id, i, c)
		}
	}
	return nil
}

// tail is the end of the file at path, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 2048
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}
