package execrun

import (
	"context"
	"encoding/json"
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

	kmu    sync.Mutex
	known  map[string]*runInfo    // runs of the journal started or looked up here, until deleted
	unkept map[string]*exitRecord // exits reported of runs not in known
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
		known:    map[string]*runInfo{},
		unkept:   map[string]*exitRecord{},
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
	if fileExists(r.runDir(spec.ID)) {
		return fmt.Errorf("start %s: %w", spec.ID, ErrExists) // a run of an older version
	}
	st, err := r.start(ctx, spec)
	if errors.Is(err, ErrExists) {
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
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
func (r *Runtime) start(ctx context.Context, spec jobrun.Spec) (state, error) {
	line, err := json.Marshal(shimSpec{Version: formatVersion, Spec: spec, Cgroup: r.cg})
	if err != nil {
		return state{}, err
	}
	var res shimReply
	lost := false // a supervisor went away before it answered
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return state{}, err
		}
		sc, err := r.supervisor(true)
		if err != nil {
			return state{}, fmt.Errorf("%w: %w", ErrStartFailed, err)
		}
		reply, err := sc.start(spec.ID, line)
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
		if !errors.Is(res.err, errSupervisorLost) || attempt == 2 {
			break
		}
		lost = true
		// A supervisor that went away before it took the run (the journal
		// says when it does) never started it: ask again, a new one if
		// need be. One that took it may still be starting it.
		runs, jerr := readJournal(r.dir)
		if jerr != nil {
			break
		}
		if runs[spec.ID] != nil {
			return r.awaitStart(ctx, spec.ID)
		}
		r.log.Warn("execrun: the supervisor went away before it took the run; asking again", "run", spec.ID)
	}
	switch {
	case res.err != nil:
		return state{}, fmt.Errorf("%w: %w; its log: %s", ErrStartFailed, res.err, tail(filepath.Join(r.dir, supervisorLog)))
	case res.kind == "started":
		return *res.state, nil
	case res.kind == "exists" && lost:
		// Asked again after a lost connection: the supervisor (alive after
		// all) had taken the first request. What it starts is ours.
		return r.awaitStart(ctx, spec.ID)
	case res.kind == "exists":
		return state{}, ErrExists
	default:
		return state{}, fmt.Errorf("%w: %s", ErrStartFailed, res.msg)
	}
}

// awaitStart waits, up to killWait, for the journal to record the start of
// run id, which a supervisor has taken but whose answer was lost.
func (r *Runtime) awaitStart(ctx context.Context, id string) (state, error) {
	deadline := time.NewTimer(killWait)
	defer deadline.Stop()
	for {
		runs, err := readJournal(r.dir)
		if err != nil {
			return state{}, fmt.Errorf("%w: %w", ErrStartFailed, err)
		}
		run := runs[id]
		if run != nil && run.state != nil {
			r.keep(id, run)
			return *run.state, nil
		}
		if run == nil {
			return state{}, fmt.Errorf("%w: the supervisor was lost and did not start the run", ErrStartFailed)
		}
		select {
		case <-ctx.Done():
			return state{}, ctx.Err()
		case <-deadline.C:
			return state{}, fmt.Errorf("%w: the supervisor was lost and has the run, but no record of its start", ErrStartFailed)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// shimReply is the supervisor's answer to a request: its kind (started,
// exists, failed, forgot) and the rest of its line, or err when the
// supervisor went away first.
type shimReply struct {
	kind  string
	msg   string
	state *state // started
	err   error
}

// runInfo is what the Runtime knows of a run.
type runInfo struct {
	// st is how to find the job; zero for a run that was taken by a
	// supervisor but never recorded as started.
	st   state
	exit *exitRecord // nil while running
	// dir: a run directory of format version 1 or 2, not in the journal.
	dir bool
	// kept: from what the Runtime keeps, which the supervisor's reports
	// update; else read from disk.
	kept bool
}

func (ri runInfo) started() bool { return ri.st.PID > 0 }

// noteStart and noteExit keep what the supervisor reports.
func (r *Runtime) noteStart(id string, st state) {
	r.kmu.Lock()
	defer r.kmu.Unlock()
	r.known[id] = &runInfo{st: st}
}

// noteExit keeps the exit of a run kept here, or, of one not kept (yet: a
// List or lookup may be reading an older journal), in unkept.
func (r *Runtime) noteExit(id string, rec exitRecord) {
	r.kmu.Lock()
	defer r.kmu.Unlock()
	if k := r.known[id]; k != nil {
		k.exit = &rec
		return
	}
	if len(r.unkept) >= maxUnkept {
		clear(r.unkept) // other Runtimes' runs, mostly; the journal has them
	}
	r.unkept[id] = &rec
}

// maxUnkept bounds the exits kept of runs not kept.
const maxUnkept = 4096

// lookup finds run id: in what this Runtime keeps (unless fresh), in a
// run directory of an older version, or in the journal. ErrNotFound when
// it is in none; a run taken but never started is found, without state.
func (r *Runtime) lookup(id string, fresh bool) (runInfo, error) {
	if !fresh {
		r.kmu.Lock()
		k := r.known[id]
		var ri runInfo
		if k != nil {
			ri = *k
			ri.kept = true
		}
		r.kmu.Unlock()
		if k != nil {
			return ri, nil
		}
	}
	if fileExists(r.runDir(id)) {
		st, err := r.readDirState(id)
		if err != nil {
			return runInfo{}, err
		}
		ri := runInfo{st: st, dir: true}
		if ex, ok, err := r.readDirExit(id); err != nil {
			return runInfo{}, err
		} else if ok {
			ri.exit = &ex
		}
		return ri, nil
	}
	runs, err := readJournal(r.dir)
	if err != nil {
		return runInfo{}, err
	}
	run := runs[id]
	if run == nil {
		return runInfo{}, ErrNotFound
	}
	ri := runInfo{exit: run.exit}
	if run.state != nil {
		ri.st = *run.state
		r.keep(id, run)
	}
	return ri, nil
}

// refreshKept takes the exits of the kept runs from the journal.
func (r *Runtime) refreshKept() {
	r.kmu.Lock()
	empty := len(r.known) == 0
	r.kmu.Unlock()
	if empty {
		return
	}
	runs, err := readJournal(r.dir)
	if err != nil {
		r.log.Warn("execrun: read the journal", "err", err)
		return
	}
	r.kmu.Lock()
	defer r.kmu.Unlock()
	for id, k := range r.known {
		if run := runs[id]; run != nil && k.exit == nil {
			k.exit = run.exit
		}
	}
}

// keep keeps a started run read from the journal. What the supervisor
// reported meanwhile stays: the journal may have been read before.
func (r *Runtime) keep(id string, run *journalRun) {
	r.kmu.Lock()
	defer r.kmu.Unlock()
	k := r.known[id]
	if k == nil {
		k = &runInfo{st: *run.state, exit: run.exit}
		r.known[id] = k
	}
	if k.exit == nil {
		k.exit = run.exit
	}
	if k.exit == nil {
		k.exit = r.unkept[id]
	}
	delete(r.unkept, id)
}

// startedRun is lookup of a run that has started; ErrNotFound when it is
// not there or has not started.
func (r *Runtime) startedRun(id string) (runInfo, error) {
	ri, err := r.lookup(id, false)
	if err == nil && !ri.started() {
		err = ErrNotFound
	}
	return ri, err
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
	ri, err := r.startedRun(id)
	if err != nil {
		return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	st := ri.st
	delay := min(firstPoll, r.poll)
	var timer *time.Timer
	// Read the journal, not only what the supervisor reported: at first
	// when the run was not kept (an exit reported before it was is not),
	// then after each report or loss of the supervisor.
	look := !ri.kept
	// The run's supervisor is gone and the journal was read since: it has
	// said all it will, and only the job's end is left to wait for.
	said := false
	for {
		// Watch before looking, so that an exit in between is not missed.
		var exited <-chan struct{}
		if st.Supervised && !ri.dir {
			if sc, err := r.supervisor(false); err == nil && sc != nil && sc.pid == st.ShimPID {
				exited = sc.watch(id)
			}
		}
		ri, err = r.lookup(id, false)
		if (exited == nil && !said || look) && (err != nil || ri.exit == nil) {
			ri, err = r.lookup(id, true)
		}
		if errors.Is(err, ErrNotFound) {
			return jobrun.Exit{}, fmt.Errorf("wait %s: deleted: %w", id, ErrNotFound)
		}
		if err != nil {
			return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
		}
		if ri.exit != nil {
			return ri.exit.exit(), nil
		}
		if exited == nil && !said && !alive(st.ShimPID, st.ShimStart) {
			// The supervisor may have recorded the exit just before it
			// exited; none can be recorded after. (Reading the journal on
			// every poll would cost each orphan's Wait a parse of it.)
			if ri, err := r.lookup(id, true); err == nil && ri.exit != nil {
				return ri.exit.exit(), nil
			}
			said = true
		}
		if said && !alive(st.PID, st.PIDStart) {
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
			// An exit that came before this Runtime knew the run, or the
			// connection's end: the journal says.
			look = true
		case <-timer.C:
			look = false
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
	ri, err := r.startedRun(id)
	if err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	if ri.exit != nil {
		return nil
	}
	if err := signalRun(ri.st, sig); err != nil {
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
	ri, err := r.lookup(id, false)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	found := err == nil
	haveState := found && ri.started()
	var cgroups []string
	if haveState {
		cgroups = ri.st.Cgroups
	}
	for _, d := range r.cg.jobDirs(id) {
		if !slices.Contains(cgroups, d) {
			cgroups = append(cgroups, d)
		}
	}
	st := ri.st
	// The supervisor's pid: while it starts a job on cgroup v1 the job's
	// cgroup lists it, and it must never be killed.
	spare := 0
	if haveState && st.Supervised {
		spare = st.ShimPID
	} else if sc, err := r.supervisor(false); err == nil && sc != nil {
		spare = sc.pid
	}
	// recorded: the run's end is on disk, or nobody is left to write it.
	recorded := func() bool {
		if ri2, err := r.lookup(id, true); err == nil {
			ri.exit = ri2.exit
		}
		return ri.exit != nil || !alive(st.ShimPID, st.ShimStart)
	}
	if haveState && ri.exit == nil && !recorded() {
		if err := signalRun(st, syscall.SIGKILL); err != nil {
			return err
		}
		// Let the supervisor record the exit, so that it does not write
		// after the run is gone. A shim of version 1 that does not is
		// killed; the supervisor watches other jobs and never is.
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
		if err := syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
			continue // empty, or the supervisor removed it
		}
		drainCgroup(d, len(r.cg.Unified) > 0 || (haveState && st.CgroupV2), cgroupDrainTimeout, spare)
		if err := removeCgroup(d, cgroupDrainTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case ri.dir:
		if err := os.RemoveAll(r.runDir(id)); err != nil {
			errs = append(errs, err)
		}
	case found:
		if err := r.forget(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	r.kmu.Lock()
	delete(r.known, id)
	delete(r.unkept, id)
	r.kmu.Unlock()
	return errors.Join(errs...)
}

// forget has the supervisor (a new one if none runs) remove run id from
// the journal.
func (r *Runtime) forget(ctx context.Context, id string) error {
	var res shimReply
	for attempt := 0; attempt < 3; attempt++ {
		sc, err := r.supervisor(true)
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		reply, err := sc.forget(id)
		if err != nil {
			res.err = err
			continue
		}
		select {
		case res = <-reply:
		case <-ctx.Done():
			return fmt.Errorf("forget: %w", ctx.Err())
		}
		if !errors.Is(res.err, errSupervisorLost) {
			break
		}
	}
	switch {
	case res.err != nil:
		return fmt.Errorf("forget: %w", res.err)
	case res.kind != "forgot":
		return fmt.Errorf("forget: %s", res.msg)
	}
	return nil
}

// List returns the runs in the state directory, sorted by id: running, and
// exited but not yet deleted. A run whose start has not finished is left
// out; one whose supervisor died without recording the exit shows Exited
// nil, and Wait says ErrLost.
func (r *Runtime) List(ctx context.Context) ([]jobrun.Running, error) {
	if err := r.open(); err != nil {
		return nil, err
	}
	var runs []jobrun.Running
	add := func(id string, st state, exit *exitRecord) {
		run := jobrun.Running{ID: id, Labels: st.Labels, Started: st.Started.UTC()}
		if exit != nil {
			ex := exit.exit()
			run.Exited = &ex
		}
		runs = append(runs, run)
	}
	journal, err := readJournal(r.dir)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	for id, run := range journal {
		if run.state == nil {
			continue
		}
		add(id, *run.state, run.exit)
		r.keep(id, run)
	}
	// Runs of format versions 1 and 2, a directory each.
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		id := e.Name()
		st, err := r.readDirState(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			// One unreadable run (a crash mid-write) must not hide the others.
			r.log.Error("execrun: list: run left out", "run", id, "err", err)
			continue
		}
		ex, ok, err := r.readDirExit(id)
		if err != nil {
			r.log.Error("execrun: list: exit unreadable", "run", id, "err", err)
		}
		var exit *exitRecord
		if ok {
			exit = &ex
		}
		add(id, st, exit)
	}
	slices.SortFunc(runs, func(a, b jobrun.Running) int { return strings.Compare(a.ID, b.ID) })
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

// readDirState reads the state.json of a run directory (format versions
// 1 and 2); ErrNotFound when the run, or its state, is not there.
func (r *Runtime) readDirState(id string) (state, error) {
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

// readDirExit reads the exit.json of a run directory (format versions 1
// and 2); ok is false while there is none.
func (r *Runtime) readDirExit(id string) (rec exitRecord, ok bool, err error) {
	err = readJSON(filepath.Join(r.runDir(id), exitFile), &rec)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return rec, false, nil
	case err != nil:
		return rec, false, err
	case rec.Version > formatVersion:
		return rec, false, fmt.Errorf("%s: version %d is newer than this gpuq-node's %d", exitFile, rec.Version, formatVersion)
	}
	return rec, true, nil
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
