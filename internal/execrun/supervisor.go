package execrun

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpuq/gpuq/internal/fsuser"
	"github.com/gpuq/gpuq/internal/jobrun"
	"github.com/gpuq/gpuq/internal/timerslack"
)

// SupervisorCommand is the first argument that makes a binary the
// supervisor of a state directory. The mains of gpuq-shim and gpuq-node
// start with
//
//	if len(os.Args) > 1 && os.Args[1] == execrun.SupervisorCommand {
//		os.Exit(execrun.SupervisorMain(os.Args[2:]))
//	}
//
// before they parse flags or set anything up.
const SupervisorCommand = "exec-supervisor"

// The supervisor's files in the state directory, and its protocol.
const (
	supervisorSock = "supervisor3.sock"
	supervisorLock = "supervisor3.lock"
	supervisorLog  = "supervisor.log"
	// supervisorHello is the first line the supervisor sends a client,
	// followed by its pid; a change to the protocol changes it (and the
	// names of the socket and the lock, so that a supervisor of an older
	// version can finish its jobs beside a new one).
	supervisorHello = "gpuq-supervisor/2"
)

// Timing of the supervisor.
const (
	// supervisorLinger is how long a supervisor with no runs and no
	// clients stays before it exits.
	supervisorLinger = time.Second
	// supervisorLockWait is how long a new supervisor waits for an old one
	// that is exiting to let go of the lock.
	supervisorLockWait = 5 * time.Second
	// sendTimeout bounds a write to a client; one that does not read is
	// dropped.
	sendTimeout = 10 * time.Second
)

// Signals the supervisor notes in its log instead of dying of them:
// killing it would lose the exit status of every job it watches.
var ignored = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// How long the supervisor waits for a job's cgroup to empty and to go.
const cgroupDrainTimeout = 5 * time.Second

// errBusy: another supervisor holds the state directory.
var errBusy = errors.New("another supervisor holds the state directory")

// SupervisorMain is the supervisor of the state directory args[0]; it
// returns its exit status.
//
// The contract with Runtime: the supervisor is started in a session of its
// own with fd 3 the write end of a pipe and stdout and stderr the state
// directory's supervisor.log. It takes supervisor3.lock (waiting a little
// for a supervisor that is exiting), opens the journal runs.log, listens
// on supervisor3.sock, writes "ready\n" to fd 3 and closes it; when
// another supervisor holds the lock it writes "busy\n" instead and exits
// 0, and on failure "error: <message>\n" and exits 1.
//
// On each connection it first sends "gpuq-supervisor/2 <pid>\n", then reads
// requests, one a line, and answers each with a line:
//
//	start <id> <spec>   the run's spec.json of old as one line of JSON:
//	                    "started <id> <record>" once the job runs, with
//	                    the journal's record of the start,
//	                    "exists <id>" when the journal has the run, or
//	                    "failed <id> <message>" when it did not start
//	                    (nothing left behind)
//	forget <id>         "forgot <id>" once the journal has forgotten it
//
// When a job it started has ended and the journal's exit record is on
// disk, it sends "exited <id> <record>" with that record to every
// connection. Requests are served concurrently.
//
// For each job it records that it took the run, opens the job's output
// files, makes its cgroups, starts it in a process group of its own,
// records the start, waits for it, kills what is left of its process group
// and cgroup, removes the cgroups and records the exit. It exits once it
// has had no job and no connection for a second.
func SupervisorMain(args []string) int {
	// The main goroutine keeps the main thread: no job is forked from it
	// and no file-system identity is changed on it (see lockedThread).
	runtime.LockOSThread()
	// One processor: the supervisor waits for the kernel almost all the
	// time, and a second one only spins looking for work (on a small VM
	// ~90 sleeps and wake-ups a job).
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// Its log lives as long as the node: a line per job would grow it
	// without end, so jobs are logged only when something goes wrong
	// (gpuq-node logs each start and end).
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(args) != 1 {
		log.Error("usage: " + SupervisorCommand + " STATE-DIR")
		return 2
	}
	// fd 3 must not leak into jobs.
	syscall.CloseOnExec(3)
	ready := os.NewFile(3, "ready")
	say := func(msg string) {
		fmt.Fprintln(ready, msg)
		ready.Close()
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, ignored...)
	go func() {
		for sig := range sigc {
			log.Warn("signal ignored: the supervisor exits by itself when it has no jobs and no clients", "signal", sig)
		}
	}()
	s, err := newSupervisor(args[0], log)
	if errors.Is(err, errBusy) {
		say("busy")
		return 0
	}
	if err != nil {
		log.Error("supervisor", "err", err)
		say("error: " + oneLine(err.Error()))
		return 1
	}
	say("ready")
	log.Info("supervisor started", "dir", args[0], "pid", s.pid)
	s.serve()
	log.Info("supervisor exits: no jobs and no clients")
	return 0
}

// supervisor starts and watches the jobs of one state directory.
type supervisor struct {
	dir   string
	log   *slog.Logger
	pid   int
	start uint64 // the supervisor's start time in clock ticks
	ln    *net.UnixListener
	lock  *os.File
	jr    *journal

	mu      sync.Mutex
	clients map[*supervisorClientConn]bool
	runs    map[string]bool // started or starting, not yet exited
	// forgotten are runs forgotten while starting: killed once started.
	forgotten map[string]bool
	pids      map[string]int // the jobs of runs started, by run
	closing   bool
	idle      *time.Timer
}

// supervisorClientConn is one connection to the supervisor.
type supervisorClientConn struct {
	c   net.Conn
	wmu sync.Mutex
}

// send writes one line; a client that cannot take it is disconnected.
func (c *supervisorClientConn) send(line string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(sendTimeout))
	if _, err := io.WriteString(c.c, line+"\n"); err != nil {
		c.c.Close()
	}
}

func newSupervisor(dir string, log *slog.Logger) (*supervisor, error) {
	lock, err := os.OpenFile(filepath.Join(dir, supervisorLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	// Another supervisor holds the lock: it serves (its clients can
	// connect), or it is exiting and lets go soon.
	for deadline := time.Now().Add(supervisorLockWait); ; {
		err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			if sc, derr := dialSupervisor(dir, nil); derr == nil {
				sc.close()
				err = errBusy
			}
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			lock.Close()
			if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, errBusy) {
				return nil, errBusy
			}
			return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	jr, err := openJournal(dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	sock := filepath.Join(dir, supervisorSock)
	if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		jr.close()
		lock.Close()
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		jr.close()
		lock.Close()
		return nil, err
	}
	s := &supervisor{dir: dir, log: log, pid: os.Getpid(), ln: ln, lock: lock, jr: jr,
		clients: map[*supervisorClientConn]bool{}, runs: map[string]bool{}, forgotten: map[string]bool{}, pids: map[string]int{}}
	ps, err := readProcStat(s.pid)
	if err != nil {
		ln.Close()
		jr.close()
		lock.Close()
		return nil, err
	}
	s.start = ps.Start
	return s, nil
}

// serve accepts clients until the supervisor has been idle for
// supervisorLinger.
func (s *supervisor) serve() {
	defer s.lock.Close() // after the socket and the journal are gone
	defer s.jr.close()
	s.mu.Lock()
	s.idleLocked()
	s.mu.Unlock()
	for {
		c, err := s.ln.Accept()
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			s.mu.Unlock()
			s.log.Error("accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		cl := &supervisorClientConn{c: c}
		s.clients[cl] = true
		s.idleLocked()
		s.mu.Unlock()
		go s.serveClient(cl)
	}
}

// idleLocked arms the idle timer when there is nothing to do, and stops it
// otherwise. The caller holds mu.
func (s *supervisor) idleLocked() {
	busy := len(s.clients) > 0 || len(s.runs) > 0 || s.closing
	switch {
	case busy && s.idle != nil:
		s.idle.Stop()
		s.idle = nil
	case !busy && s.idle == nil:
		s.idle = time.AfterFunc(supervisorLinger, s.exitIfIdle)
	}
}

// exitIfIdle stops accepting (the socket goes) when there is still
// nothing to do; serve then returns.
func (s *supervisor) exitIfIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = nil
	if len(s.clients) > 0 || len(s.runs) > 0 || s.closing {
		return
	}
	s.closing = true
	s.ln.Close()
}

// serveClient reads one client's requests until it disconnects.
func (s *supervisor) serveClient(cl *supervisorClientConn) {
	defer func() {
		cl.c.Close()
		s.mu.Lock()
		delete(s.clients, cl)
		s.idleLocked()
		s.mu.Unlock()
	}()
	cl.send(fmt.Sprintf("%s %d", supervisorHello, s.pid))
	sc := bufio.NewScanner(cl.c)
	sc.Buffer(make([]byte, 0, 64<<10), maxRequest)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		id, arg, _ := strings.Cut(rest, " ")
		if kind != "start" && kind != "forget" {
			s.log.Warn("unknown request", "line", sc.Text())
			continue
		}
		if err := validateID(id); err != nil {
			cl.send(fmt.Sprintf("failed %s %s", strings.ReplaceAll(id, " ", "_"), oneLine(err.Error())))
			continue
		}
		if kind == "forget" {
			s.forget(cl, id)
			continue
		}
		s.mu.Lock()
		dup := s.runs[id] || s.jr.has(id)
		if !dup {
			s.runs[id] = true
			s.idleLocked()
		}
		s.mu.Unlock()
		if dup {
			cl.send("exists " + id)
			continue
		}
		go s.run(cl, id, arg)
	}
	if err := sc.Err(); err != nil {
		s.log.Warn("client dropped", "err", err)
	}
}

// maxRequest bounds a request line: a job's spec with its environment.
const maxRequest = 16 << 20

// forget has the journal forget run id, and answers cl. A run still
// starting (a Start given up on) or running is killed once it has started:
// its Runtime counts it as gone.
func (s *supervisor) forget(cl *supervisorClientConn, id string) {
	s.mu.Lock()
	if pid, ok := s.pids[id]; ok {
		s.log.Warn("killing a job whose run was forgotten while it ran", "run", id)
		syscall.Kill(-pid, syscall.SIGKILL)
	} else if s.runs[id] {
		s.forgotten[id] = true
	}
	s.mu.Unlock()
	if _, err := s.jr.append(journalRecord{Op: opForget, ID: id}, false); err != nil {
		s.log.Error("forget run", "run", id, "err", err)
		cl.send(fmt.Sprintf("failed %s %s", id, oneLine(err.Error())))
		return
	}
	if err := s.jr.compact(); err != nil {
		s.log.Error("compact the journal", "err", err)
	}
	cl.send("forgot " + id)
}

// run starts the job of run id from its spec (JSON), answers cl, waits for
// the job and tells every client that it exited.
func (s *supervisor) run(cl *supervisorClientConn, id, spec string) {
	defer func() {
		s.mu.Lock()
		delete(s.runs, id)
		delete(s.forgotten, id)
		delete(s.pids, id)
		s.idleLocked()
		s.mu.Unlock()
	}()
	j := &watchedJob{id: id, log: s.log.With("run", id), sup: s}
	st, started, err := j.start(spec)
	if err != nil {
		j.log.Error("start job", "err", err)
		if j.taken {
			if _, ferr := s.jr.append(journalRecord{Op: opForget, ID: id}, false); ferr != nil {
				j.log.Error("forget the run that did not start", "err", ferr)
			}
		}
		cl.send(fmt.Sprintf("failed %s %s", id, oneLine(err.Error())))
		return
	}
	s.mu.Lock()
	if s.forgotten[id] {
		j.log.Warn("killing a job whose run was forgotten while it started")
		syscall.Kill(-st.PID, syscall.SIGKILL)
	} else {
		s.pids[id] = st.PID
	}
	s.mu.Unlock()
	cl.send("started " + id + " " + string(started))
	if exited := j.wait(); exited != nil {
		s.broadcast("exited " + id + " " + string(exited))
	}
}

// broadcast sends a line to every client.
func (s *supervisor) broadcast(line string) {
	s.mu.Lock()
	clients := make([]*supervisorClientConn, 0, len(s.clients))
	for cl := range s.clients {
		clients = append(clients, cl)
	}
	s.mu.Unlock()
	for _, cl := range clients {
		cl.send(line)
	}
}

// oneLine makes a message fit on one line of the protocol.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// watchedJob is one job of the supervisor.
type watchedJob struct {
	id    string
	log   *slog.Logger
	sup   *supervisor
	taken bool // the journal says it was taken

	proc    *os.Process
	started time.Time
	cg      jobCgroup
}

// start starts the job from its spec (JSON) and records the start in the
// journal; it returns the job's state and the journal's record of it.
func (s *watchedJob) start(spec string) (state, []byte, error) {
	var ss shimSpec
	if err := json.Unmarshal([]byte(spec), &ss); err != nil {
		return state{}, nil, fmt.Errorf("spec: %w", err)
	}
	if ss.Version != formatVersion {
		return state{}, nil, fmt.Errorf("spec: version %d, want %d", ss.Version, formatVersion)
	}
	sp := ss.Spec
	if sp.ID != s.id {
		return state{}, nil, fmt.Errorf("spec: id %q, want %q", sp.ID, s.id)
	}
	// Taking the run: a Runtime that loses this supervisor now does not
	// ask another one to start it.
	if _, err := s.sup.jr.append(journalRecord{Op: opTake, ID: s.id}, false); err != nil {
		return state{}, nil, fmt.Errorf("take the run: %w", err)
	}
	s.taken = true
	st, err := s.startJob(ss)
	if err != nil {
		return state{}, nil, err
	}
	// Not synced: it outlives a killed gpuq-node or supervisor (the page
	// cache is the kernel's), and after a crash of the machine the job is
	// gone whether it was written or not.
	rec, err := s.sup.jr.append(journalRecord{Op: opStart, ID: s.id, State: &st}, false)
	if err != nil {
		syscall.Kill(-s.proc.Pid, syscall.SIGKILL)
		s.proc.Wait()
		s.drainCgroups()
		s.removeCgroups()
		return state{}, nil, err
	}
	s.log.Debug("job started", "pid", st.PID)
	return st, rec, nil
}

// startJob starts the job of ss and returns its state.
func (s *watchedJob) startJob(ss shimSpec) (state, error) {
	sp := ss.Spec
	if len(sp.Args) == 0 {
		return state{}, errors.New("no command")
	}
	cred, err := credential(sp.UID, sp.GID, sp.Groups)
	if err != nil {
		return state{}, err
	}
	env := sp.Env
	if env == nil {
		env = []string{} // nil would hand the job the supervisor's environment
	}
	if sp.Dir != "" {
		// Checked here for a clear message: the kernel's chdir in the
		// child reports a missing directory as the command missing.
		fi, err := os.Stat(sp.Dir)
		if err != nil {
			return state{}, fmt.Errorf("job directory: %w", err)
		}
		if !fi.IsDir() {
			return state{}, fmt.Errorf("job directory %s: not a directory", sp.Dir)
		}
	}
	path, err := lookPath(sp.Args[0], env, sp.Dir)
	if err != nil {
		return state{}, err
	}
	files, err := openFiles(sp, cred)
	if err != nil {
		return state{}, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()

	var warn []string
	if ss.Cgroup.Version != 0 {
		s.cg, warn = setupJobCgroup(ss.Cgroup, sp.ID, sp.MemoryBytes, sp.CPUs)
	}
	sys := &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if len(s.cg.dirs) > 0 && s.cg.v2 {
		// CLONE_INTO_CGROUP: the job is born in its cgroup.
		cgdir, oerr := os.Open(s.cg.dirs[0])
		if oerr != nil {
			s.removeCgroups()
			return state{}, fmt.Errorf("open cgroup: %w", oerr)
		}
		defer cgdir.Close()
		sys.UseCgroupFD, sys.CgroupFD = true, int(cgdir.Fd())
	}
	attr := &os.ProcAttr{Dir: sp.Dir, Env: env, Files: files[:], Sys: sys}
	// The job starts with the kernel's timer slack, not the supervisor's.
	start := func() {
		timerslack.ForJob(func() { s.proc, err = os.StartProcess(path, sp.Args, attr) })
	}
	if len(s.cg.dirs) > 0 && !s.cg.v2 {
		// v1 has no CLONE_INTO_CGROUP: a thread of its own steps into the
		// job's cgroups and forks the job there, so the job and all it
		// forks are inside from the start; the thread then steps back out,
		// or ends when it cannot. Only that thread: the supervisor's
		// memory stays charged where it was.
		lockedThread(func() bool {
			if eerr := s.cg.enterThread(); eerr != nil {
				warn = append(warn, fmt.Sprintf("job runs without cgroup: %v", eerr))
				s.cg = jobCgroup{}
				return false
			}
			start()
			if lerr := s.cg.leaveThread(); lerr != nil {
				s.log.Warn("a thread stays in a job's cgroup until it ends", "err", lerr)
				return false
			}
			return true
		})
		if len(s.cg.dirs) == 0 {
			// The thread that failed to enter may be in some of them.
			s.removeCgroupsAfter(ss.Cgroup, sp.ID)
			start()
		}
	} else {
		start()
	}
	s.started = time.Now().UTC()
	for _, w := range warn {
		s.log.Warn(w)
	}
	if err != nil {
		s.removeCgroups()
		return state{}, err
	}
	st := state{
		Version:    formatVersion,
		ID:         sp.ID,
		Labels:     sp.Labels,
		Supervised: true,
		ShimPID:    s.sup.pid,
		ShimStart:  s.sup.start,
		PID:        s.proc.Pid,
		Started:    s.started,
		Cgroups:    s.cg.dirs,
		CgroupV2:   s.cg.v2 && len(s.cg.dirs) > 0,
		Warnings:   warn,
	}
	ps, err := readProcStat(st.PID)
	if err != nil {
		syscall.Kill(-s.proc.Pid, syscall.SIGKILL)
		s.proc.Wait()
		s.drainCgroups()
		s.removeCgroups()
		return state{}, err
	}
	st.PIDStart = ps.Start
	return st, nil
}

// wait waits for the job and records its exit, on disk before it returns
// (unless the journal cannot be written); it returns the journal's record
// of the exit, nil when the job could not be reaped.
func (s *watchedJob) wait() []byte {
	pid := s.proc.Pid
	// Wait without reaping: while the job's first process is a zombie its
	// pid, and so its process group id, cannot be reused.
	if err := waitExit(pid); err != nil {
		s.log.Error("wait for job", "err", err)
	}
	// A job ends with its first process: what it left behind goes too.
	syscall.Kill(-pid, syscall.SIGKILL)
	// Its pid, and so its process group id, may be reused once reaped.
	s.sup.mu.Lock()
	delete(s.sup.pids, s.id)
	s.sup.mu.Unlock()
	ps, err := s.proc.Wait()
	ended := time.Now().UTC()
	if err != nil {
		s.log.Error("reap job", "err", err)
		return nil
	}
	rec := exitRecord{Version: formatVersion, Started: s.started, Ended: ended}
	rec.Code, rec.Signal = exitFromStatus(ps.Sys().(syscall.WaitStatus))
	// Most jobs leave nothing behind, and their cgroups go at the first
	// try (rmdir fails while a process is in one); else what is left is
	// killed before they go.
	if rec.Code != 0 || !s.removeEmptyCgroups() {
		s.drainCgroups()
		rec.OOM = rec.Code != 0 && s.cg.oomKills() > 0
		s.removeCgroups()
	}
	exited, err := s.sup.jr.append(journalRecord{Op: opExit, ID: s.id, Exit: &rec}, true)
	if err != nil {
		// Reported all the same: gpuq-node keeps it until gpuqd has it.
		// Only a restart of gpuq-node before then loses it (ErrLost).
		s.log.Error("record exit", "err", err)
	}
	s.log.Debug("job exited", "code", rec.Code, "signal", rec.Signal, "oom", rec.OOM)
	return exited
}

// waitExit waits, without reaping, until the child pid has exited: on a
// pidfd in the runtime's poller, so that jobs that run for days hold no
// thread each; where pidfds cannot be polled, in waitid.
func waitExit(pid int) error {
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil {
			var werr error
			err = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo
				werr = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
				if errors.Is(werr, unix.EINTR) || werr == nil && info.Signo == 0 {
					werr = nil
					return false // not yet: wait until the pidfd is readable
				}
				return true
			})
			if err == nil {
				return werr
			}
		}
	}
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// lockedThread runs fn on an operating-system thread of its own, never the
// main thread (whose cgroups, on v1, decide where the supervisor's memory
// is charged). The thread goes back to the runtime when fn returns true,
// and ends with fn when it returns false (a thread left where others must
// not be).
func lockedThread(fn func() bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread here, so the next goroutine gets another.
			lockedThread(fn)
			runtime.UnlockOSThread()
			return
		}
		if fn() {
			runtime.UnlockOSThread()
		}
	}()
	<-done
}

func (s *watchedJob) drainCgroups() {
	if len(s.cg.dirs) > 0 && !drainCgroup(s.cg.dirs[0], s.cg.v2, cgroupDrainTimeout, s.sup.pid) {
		s.log.Warn("processes left in the job's cgroup", "cgroup", s.cg.dirs[0])
	}
}

// removeCgroupsAfter removes the cgroups of run id that a job which
// could not enter them left (made, and perhaps briefly entered by the
// thread that then ended).
func (s *watchedJob) removeCgroupsAfter(c cgroupConfig, id string) {
	for _, dir := range c.jobDirs(id) {
		if err := removeCgroup(dir, cgroupDrainTimeout); err != nil {
			s.log.Warn("remove cgroup", "err", err)
		}
	}
}

// removeEmptyCgroups removes the job's cgroups if no process is left in
// them, and reports whether it did.
func (s *watchedJob) removeEmptyCgroups() bool {
	for _, dir := range s.cg.dirs {
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
			return false
		}
	}
	return true
}

func (s *watchedJob) removeCgroups() {
	for _, dir := range s.cg.dirs {
		if err := removeCgroup(dir, cgroupDrainTimeout); err != nil {
			s.log.Warn("remove cgroup", "err", err)
		}
	}
}

// credential is the identity the job runs as; nil keeps the shim's. As
// root the supplementary groups are groups, or without them (nil) the
// user's groups in the node's user database, as login would set them.
func credential(uid, gid *uint32, groups []uint32) (*syscall.Credential, error) {
	if uid == nil && gid == nil {
		return nil, nil
	}
	c := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	if uid != nil {
		c.Uid = *uid
	}
	if gid != nil {
		c.Gid = *gid
	}
	if os.Geteuid() != 0 {
		if c.Uid == uint32(os.Geteuid()) && c.Gid == uint32(os.Getegid()) {
			return nil, nil // nothing to change, and no right to drop groups
		}
		c.NoSetGroups = true // the kernel refuses the change itself
		return c, nil
	}
	if groups != nil && gid != nil {
		c.Groups = slices.Clone(groups)
		return c, nil
	}
	// The user's primary group when none is given, and the user's
	// supplementary groups unless given.
	u, err := user.LookupId(strconv.FormatUint(uint64(c.Uid), 10))
	if err != nil {
		if gid == nil {
			return nil, fmt.Errorf("uid %d without gid: %w", c.Uid, err)
		}
		c.Groups = slices.Clone(groups)
		return c, nil
	}
	if gid == nil {
		g, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("uid %d: primary group %q: %w", c.Uid, u.Gid, err)
		}
		c.Gid = uint32(g)
	}
	if groups != nil {
		c.Groups = slices.Clone(groups)
		return c, nil
	}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(g))
			}
		}
	}
	return c, nil
}

// lookPath finds the job's command: as given when it names a path
// (relative ones resolve in the job's directory when it is started), or in
// the PATH of the job's own environment.
func lookPath(name string, env []string, dir string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (the job's PATH=%s)", name, exec.ErrNotFound, pathEnv)
}

// openFiles opens the job's stdin (/dev/null), stdout and stderr. Output
// files are appended to and made when missing; equal paths share one file.
// When the job runs as another user, the files are opened as that user.
func openFiles(sp jobrun.Spec, cred *syscall.Credential) ([3]*os.File, error) {
	type result struct {
		files [3]*os.File
		err   error
	}
	open := func() (r result) {
		defer func() {
			if r.err != nil {
				for _, f := range r.files {
					if f != nil {
						f.Close()
					}
				}
				r.files = [3]*os.File{}
			}
		}()
		if r.files[0], r.err = openFile(os.DevNull, unix.O_RDONLY); r.err != nil {
			return r
		}
		paths := [3]string{1: resolve(sp.Stdout, sp.Dir), 2: resolve(sp.Stderr, sp.Dir)}
		for i := 1; i <= 2; i++ {
			if i == 2 && paths[2] == paths[1] && paths[1] != "" {
				if r.files[2], r.err = dup(r.files[1]); r.err != nil {
					return r
				}
				break
			}
			if paths[i] == "" {
				r.files[i], r.err = openFile(os.DevNull, unix.O_WRONLY)
			} else {
				r.files[i], r.err = openFile(paths[i], unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT)
			}
			if r.err != nil {
				return r
			}
		}
		return r
	}
	if cred == nil || os.Geteuid() != 0 {
		r := open()
		return r.files, r.err
	}
	// As the job's user: the kernel checks that user's rights, through
	// any symbolic link on the way, and new files are the user's.
	var r result
	err := fsuser.Do(fsuser.ID{UID: cred.Uid, GID: cred.Gid, Groups: cred.Groups}, func() error {
		r = open()
		return r.err
	})
	if err != nil && r.err == nil {
		return [3]*os.File{}, fmt.Errorf("open output as uid %d: %w", cred.Uid, err)
	}
	return r.files, r.err
}

// resolve makes an output path absolute, taking a relative one from the
// job's directory.
func resolve(path, dir string) string {
	switch {
	case path == "":
		return ""
	case filepath.IsAbs(path):
		return filepath.Clean(path)
	}
	if dir == "" {
		dir = "/"
	}
	return filepath.Join(dir, path)
}

// openFile opens path (made 0644 with O_CREAT) with plain system calls:
// os.OpenFile costs several more here.
func openFile(path string, flags int) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// dup opens f again (a new descriptor of the same open file).
func dup(f *os.File) (*os.File, error) {
	nfd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}
