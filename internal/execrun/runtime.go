package execrun

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
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
	// ErrStartFailed: the supervisor could not start the job (command not
	// found, output file not writable, ...); nothing is left running.
	ErrStartFailed = errors.New("job did not start")
	// ErrLost: the supervisor died before it recorded the job's exit
	// (killed, or the machine rebooted), and the job is gone: its exit
	// status is lost.
	ErrLost = jobrun.ErrLost
	// ErrClosed: the Runtime was closed.
	ErrClosed = errors.New("runtime closed")
)

// Options configure a Runtime.
type Options struct {
	// StateDir is where per-run state lives, one directory per run, e.g.
	// /var/lib/gpuq-node/exec. Required; made when missing.
	StateDir string
	// ShimPath is the executable run as the supervisor of StateDir, which
	// starts and watches every job; default os.Executable(). It must call
	// SupervisorMain when given ShimArgs.
	ShimPath string
	// ShimArgs come before the state directory on the supervisor's command
	// line; default [SupervisorCommand].
	ShimArgs []string
	// CgroupRoot is where cgroup file systems are mounted, e.g.
	// /sys/fs/cgroup; empty: no cgroups. With cgroups each job gets its
	// memory and CPU limits, its OOM kills are reported and every one of
	// its processes can be found and killed. When they cannot be used
	// (not writable, not mounted) jobs run without, with a logged warning.
	CgroupRoot string
	// PollInterval is the longest pause between two looks for a run's exit
	// on disk. The supervisor tells its clients of each exit at once; without
	// a supervisor to ask (it died, or an older one watches the run) the
	// pauses start at a few milliseconds and double up to it. Default 500ms.
	PollInterval time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// Timing the runtime does not expose.
const (
	// killWait is how long Delete waits for the supervisor (or a shim of
	// an older version) to record the exit of a job it killed; a shim that
	// does not is killed too, the supervisor never.
	killWait = 5 * time.Second
	// firstPoll is the first pause when polling for an exit.
	firstPoll = 2 * time.Millisecond
)

// Runtime runs jobs as plain processes, children of the state directory's
// supervisor. It is safe for concurrent use.
type Runtime struct {
	dir      string
	shimPath string
	shimArgs []string
	cg       cgroupConfig
	poll     time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	closed bool

	supMu sync.Mutex      // held while connecting to the supervisor
	sup   *supervisorConn // nil until the first start or wait
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
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.poll <= 0 {
		r.poll = 500 * time.Millisecond
	}
	if r.shimArgs == nil {
		r.shimArgs = []string{SupervisorCommand}
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

// Start has the supervisor start the run spec.ID (starting the supervisor
// when none runs) and returns once the job is running, or with an error and
// nothing left behind. ctx bounds the start only: the job runs on after ctx
// is done, and after this process exits.
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
	r.log.Debug("execrun: job started", "run", spec.ID, "pid", st.PID, "supervisor", st.ShimPID, "cgroups", len(st.Cgroups))
	return nil
}

// start hands spec to the supervisor and returns the state it recorded
// once the job runs.
func (r *Runtime) start(ctx context.Context, spec jobrun.Spec, runDir string) (state, error) {
	if err := writeJSONAtomic(runDir, specFile, shimSpec{Version: formatVersion, Spec: spec, Cgroup: r.cg}, false); err != nil {
		return state{}, err
	}
	if err := ctx.Err(); err != nil {
		return state{}, err
	}
	var res shimReply
	for attempt := 0; ; attempt++ {
		sc, err := r.supervisor(true)
		if err != nil {
			return state{}, fmt.Errorf("%w: %w", ErrStartFailed, err)
		}
		reply, err := sc.start(spec.ID)
		if err == nil {
			select {
			case res = <-reply:
			case <-ctx.Done():
				// The supervisor may be about to start the job: let it
				// finish, within limits, so that the clean-up knows what
				// to kill.
				select {
				case <-reply:
				case <-time.After(killWait):
				}
				return state{}, ctx.Err()
			}
		} else {
			res.err = err
		}
		// A supervisor that went away before it took the run (it removes
		// spec.json when it does) never started it: ask again, a new one
		// if need be.
		if !errors.Is(res.err, errSupervisorLost) || attempt == 2 || !fileExists(filepath.Join(runDir, specFile)) {
			break
		}
		r.log.Warn("execrun: the supervisor went away before it took the run; asking again", "run", spec.ID)
	}
	switch {
	case res.err != nil:
		return state{}, fmt.Errorf("%w: %w; its log: %s", ErrStartFailed, res.err, tail(filepath.Join(r.dir, supervisorLog)))
	case res.msg == "ok":
		return r.readState(spec.ID)
	default:
		return state{}, fmt.Errorf("%w: %s", ErrStartFailed, strings.TrimPrefix(res.msg, "error: "))
	}
}

// shimReply is the supervisor's answer to a start.
type shimReply struct {
	msg string
	err error
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
	st, err := r.readState(id)
	if err != nil {
		return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	delay := min(firstPoll, r.poll)
	var timer *time.Timer
	for {
		// Watch before looking, so that an exit in between is not missed.
		var exited <-chan struct{}
		if st.Supervised {
			if sc, err := r.supervisor(false); err == nil && sc != nil && sc.pid == st.ShimPID {
				exited = sc.watch(id)
			}
		}
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
			// The supervisor may have written exit.json just before it exited.
			if ex, ok, err := r.readExit(id); err != nil || ok {
				return ex, err
			}
			return jobrun.Exit{}, fmt.Errorf("wait %s: supervisor %d died: %w", id, st.ShimPID, ErrLost)
		}
		next := delay
		if exited != nil {
			next = r.poll // the supervisor says when; looking is the fallback
		} else {
			delay = min(2*delay, r.poll)
		}
		if timer == nil {
			timer = time.NewTimer(next)
			defer timer.Stop()
		} else {
			timer.Reset(next)
		}
		select {
		case <-ctx.Done():
			return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
		case <-exited:
		case <-timer.C:
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
	// The supervisor's pid: while it starts a job on cgroup v1 the job's
	// cgroup lists it, and it must never be killed.
	spare := 0
	if haveState && st.Supervised {
		spare = st.ShimPID
	} else if sc, err := r.supervisor(false); err == nil && sc != nil {
		spare = sc.pid
	}
	if !fileExists(filepath.Join(runDir, exitFile)) {
		if haveState {
			if err := signalRun(st, syscall.SIGKILL); err != nil {
				return err
			}
		}
		// Let the supervisor record the exit, so that it does not write
		// into a directory being removed. A shim of an older version that
		// does not is killed; the supervisor watches other jobs and never is.
		recorded := func() bool {
			return fileExists(filepath.Join(runDir, exitFile)) || !haveState || !alive(st.ShimPID, st.ShimStart)
		}
		deadline := time.Now().Add(killWait)
		for delay := firstPoll; !recorded() && time.Now().Before(deadline) && ctx.Err() == nil; delay = min(2*delay, 50*time.Millisecond) {
			time.Sleep(delay)
		}
		if !recorded() && !st.Supervised && sameProcess(st.ShimPID, st.ShimStart) {
			syscall.Kill(st.ShimPID, syscall.SIGKILL)
		}
	}
	var errs []error
	for _, d := range cgroups {
		drainCgroup(d, len(r.cg.Unified) > 0 || (haveState && st.CgroupV2), cgroupDrainTimeout, spare)
		if err := removeCgroup(d, cgroupDrainTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(runDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// List returns the runs in the state directory, sorted by id: running, and
// exited but not yet deleted. A run whose start has not finished (no
// state.json yet) is left out; one whose supervisor died without recording
// the exit shows Exited nil, and Wait says ErrLost.
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

// Close makes the Runtime refuse further calls and lets go of the
// supervisor. Jobs and their supervisor run on; a new Runtime on the same
// StateDir takes them up.
func (r *Runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.supMu.Lock()
	defer r.supMu.Unlock()
	if r.sup != nil {
		r.sup.close()
		r.sup = nil
	}
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
