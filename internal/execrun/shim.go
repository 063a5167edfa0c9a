package execrun

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpuq/gpuq/internal/fsuser"
	"github.com/gpuq/gpuq/internal/jobrun"
)

// ShimCommand is the first argument that makes the node daemon act as the
// shim. Its main starts with
//
//	if len(os.Args) > 1 && os.Args[1] == execrun.ShimCommand {
//		os.Exit(execrun.ShimMain(os.Args[2:]))
//	}
//
// before it parses flags or sets anything up.
const ShimCommand = "exec-shim"

// Signals the shim passes on to the job's process group instead of dying of
// them: killing the shim would lose the job's exit status.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// How long the shim waits for a job's cgroup to empty and to go.
const cgroupDrainTimeout = 5 * time.Second

// ShimMain is the shim of one run; args are the arguments after
// ShimCommand: the run's directory, StateDir/<id>. It returns the shim's
// exit status.
//
// The contract with Runtime.Start: the shim is started in a session of its
// own with fd 3 the write end of a pipe and stdout and stderr the run's
// shim.log. It reads spec.json, opens the job's output files, makes the
// job's cgroups, starts the job in a process group of its own, writes
// state.json, then writes "ok\n" to fd 3 and closes it; on failure it
// writes "error: <message>\n" instead, undoes what it made and exits 1.
// It then waits for the job, kills what is left of the job's process group
// and cgroup, writes exit.json, removes the cgroups and exits 0.
func ShimMain(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(args) != 1 {
		log.Error("usage: " + ShimCommand + " RUN-DIR")
		return 2
	}
	// fd 3 must not leak into the job, or Start would wait for the job to
	// close it.
	syscall.CloseOnExec(3)
	reply := os.NewFile(3, "reply")
	s := &shim{dir: args[0], log: log.With("run", filepath.Base(args[0]))}
	// Catch the forwarded signals before the job exists: from here on they
	// do not kill the shim.
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, forwarded...)
	if err := s.start(); err != nil {
		s.log.Error("start job", "err", err)
		fmt.Fprintf(reply, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		reply.Close()
		return 1
	}
	fmt.Fprintln(reply, "ok")
	reply.Close()
	return s.wait(sigc)
}

// shim is one run's shim.
type shim struct {
	dir string
	log *slog.Logger

	proc    *os.Process
	started time.Time
	cg      jobCgroup
}

// start starts the job and writes state.json.
func (s *shim) start() error {
	var ss shimSpec
	if err := readJSON(filepath.Join(s.dir, specFile), &ss); err != nil {
		return err
	}
	if ss.Version != formatVersion {
		return fmt.Errorf("%s: version %d, want %d", specFile, ss.Version, formatVersion)
	}
	sp := ss.Spec
	if len(sp.Args) == 0 {
		return errors.New("no command")
	}
	cred, err := credential(sp.UID, sp.GID, sp.Groups)
	if err != nil {
		return err
	}
	env := sp.Env
	if env == nil {
		env = []string{} // nil would hand the job the shim's environment
	}
	if sp.Dir != "" {
		// Checked here for a clear message: the kernel's chdir in the
		// child reports a missing directory as the command missing.
		fi, err := os.Stat(sp.Dir)
		if err != nil {
			return fmt.Errorf("job directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("job directory %s: not a directory", sp.Dir)
		}
	}
	path, err := lookPath(sp.Args[0], env, sp.Dir)
	if err != nil {
		return err
	}
	files, err := openFiles(sp, cred)
	if err != nil {
		return err
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
	var leave func() error
	switch {
	case len(s.cg.dirs) > 0 && s.cg.v2:
		// CLONE_INTO_CGROUP: the job is born in its cgroup.
		cgdir, oerr := os.Open(s.cg.dirs[0])
		if oerr != nil {
			s.removeCgroups()
			return fmt.Errorf("open cgroup: %w", oerr)
		}
		defer cgdir.Close()
		sys.UseCgroupFD, sys.CgroupFD = true, int(cgdir.Fd())
	case len(s.cg.dirs) > 0:
		// v1 has no CLONE_INTO_CGROUP: the shim steps into the job's
		// cgroups for the fork, so the job and all it forks are inside
		// from the start, and steps out again at once.
		if leave, err = s.cg.enter(); err != nil {
			warn = append(warn, fmt.Sprintf("job runs without cgroup: %v", err))
			s.removeCgroups()
			s.cg = jobCgroup{}
		}
	}
	for _, w := range warn {
		s.log.Warn(w)
	}
	attr := &os.ProcAttr{Dir: sp.Dir, Env: env, Files: files[:], Sys: sys}
	s.proc, err = os.StartProcess(path, sp.Args, attr)
	s.started = time.Now().UTC()
	if leave != nil {
		if lerr := leave(); lerr != nil {
			// The shim must not stay where the job's OOM kills and
			// clean-up would end it.
			if err == nil {
				syscall.Kill(-s.proc.Pid, syscall.SIGKILL)
				s.proc.Wait()
			}
			s.removeCgroups()
			return fmt.Errorf("leave the job's cgroup: %w", lerr)
		}
	}
	if err != nil {
		s.removeCgroups()
		return err
	}
	st := state{
		Version:  formatVersion,
		ID:       sp.ID,
		Labels:   sp.Labels,
		ShimPID:  os.Getpid(),
		PID:      s.proc.Pid,
		Started:  s.started,
		Cgroups:  s.cg.dirs,
		CgroupV2: s.cg.v2 && len(s.cg.dirs) > 0,
		Warnings: warn,
	}
	ps, err := readProcStat(st.PID)
	if err == nil {
		st.PIDStart = ps.Start
		ps, err = readProcStat(st.ShimPID)
		st.ShimStart = ps.Start
	}
	if err == nil {
		err = writeJSONAtomic(s.dir, stateFile, st, true)
	}
	if err != nil {
		syscall.Kill(-s.proc.Pid, syscall.SIGKILL)
		s.proc.Wait()
		s.drainCgroups()
		s.removeCgroups()
		return err
	}
	s.log.Info("job started", "pid", st.PID)
	return nil
}

// wait waits for the job, passing on the signals from sigc, and writes
// exit.json. It returns the shim's exit status.
func (s *shim) wait(sigc chan os.Signal) int {
	pid := s.proc.Pid
	var mu sync.Mutex
	exited := false
	go func() {
		for sig := range sigc {
			mu.Lock()
			if !exited {
				syscall.Kill(-pid, sig.(syscall.Signal))
			}
			mu.Unlock()
		}
	}()
	// Wait without reaping: while the job's first process is a zombie its
	// pid, and so its process group id, cannot be reused.
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil || !errors.Is(err, syscall.EINTR) {
			if err != nil {
				s.log.Error("wait for job", "err", err)
			}
			break
		}
	}
	mu.Lock()
	exited = true
	// A job ends with its first process: what it left behind goes too.
	syscall.Kill(-pid, syscall.SIGKILL)
	mu.Unlock()
	ps, err := s.proc.Wait()
	ended := time.Now().UTC()
	if err != nil {
		s.log.Error("reap job", "err", err)
		return 1
	}
	rec := exitRecord{Version: formatVersion, Started: s.started, Ended: ended}
	rec.Code, rec.Signal = exitFromStatus(ps.Sys().(syscall.WaitStatus))
	s.drainCgroups()
	rec.OOM = rec.Code != 0 && s.cg.oomKills() > 0
	s.removeCgroups()
	if err = writeJSONAtomic(s.dir, exitFile, rec, true); err != nil {
		s.log.Error("record exit", "err", err)
		return 1
	}
	s.log.Info("job exited", "code", rec.Code, "signal", rec.Signal, "oom", rec.OOM)
	return 0
}

func (s *shim) drainCgroups() {
	if len(s.cg.dirs) > 0 && !drainCgroup(s.cg.dirs[0], s.cg.v2, cgroupDrainTimeout) {
		s.log.Warn("processes left in the job's cgroup", "cgroup", s.cg.dirs[0])
	}
}

func (s *shim) removeCgroups() {
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
		if r.files[0], r.err = os.Open(os.DevNull); r.err != nil {
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
				r.files[i], r.err = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			} else {
				r.files[i], r.err = os.OpenFile(paths[i], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
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

func dup(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
