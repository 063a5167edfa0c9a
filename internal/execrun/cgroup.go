package execrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupParent is the directory under each hierarchy that holds the jobs'
// cgroups: <root>/<controller>/gpuq/<id> (v1), <root>/gpuq/<id> (v2).
const cgroupParent = "gpuq"

// cgroupConfig is where job cgroups go. New decides it once and hands it to
// the supervisor with every spec.
type cgroupConfig struct {
	// Version is 0 (no cgroups), 1 or 2.
	Version int `json:"version"`
	// Memory and CPU are the v1 parents, <root>/memory/gpuq and
	// <root>/cpu/gpuq; either may be empty when that controller cannot be used.
	Memory string `json:"memory,omitempty"`
	CPU    string `json:"cpu,omitempty"`
	// Unified is the v2 parent, <root>/gpuq.
	Unified string `json:"unified,omitempty"`
}

// jobDirs lists every cgroup directory the run id may have, whether it was
// made or not: for clean-up when state.json is missing.
func (c cgroupConfig) jobDirs(id string) []string {
	var dirs []string
	for _, p := range []string{c.Memory, c.CPU, c.Unified} {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, id))
		}
	}
	return dirs
}

// detectCgroups finds which cgroup version root holds and makes the gpuq
// parents. What cannot be used comes back as warnings; a config with
// Version 0 means no cgroups at all.
func detectCgroups(root string) (cgroupConfig, []string) {
	if root == "" {
		return cgroupConfig{}, nil
	}
	var warn []string
	if fileExists(filepath.Join(root, "cgroup.controllers")) {
		parent := filepath.Join(root, cgroupParent)
		if err := makeParent(parent); err != nil {
			return cgroupConfig{}, []string{fmt.Sprintf("cgroup v2 at %s not usable, jobs run without cgroups: %v", root, err)}
		}
		// Delegate memory and cpu to the jobs' cgroups where the root
		// offers them; a hybrid host's unified hierarchy offers neither.
		avail := strings.Fields(readString(filepath.Join(root, "cgroup.controllers")))
		for _, ctl := range []string{"memory", "cpu"} {
			if !slices.Contains(avail, ctl) {
				warn = append(warn, fmt.Sprintf("cgroup v2 at %s has no %s controller: %s limits are not applied", root, ctl, ctl))
				continue
			}
			for _, dir := range []string{root, parent} {
				if err := writeCgroupFile(dir, "cgroup.subtree_control", "+"+ctl); err != nil {
					warn = append(warn, fmt.Sprintf("cgroup v2: enable %s in %s: %v", ctl, dir, err))
					break
				}
			}
		}
		return cgroupConfig{Version: 2, Unified: parent}, warn
	}
	c := cgroupConfig{Version: 1}
	for _, ctl := range []string{"memory", "cpu"} {
		mnt := filepath.Join(root, ctl)
		if !fileExists(filepath.Join(mnt, "cgroup.procs")) {
			warn = append(warn, fmt.Sprintf("cgroup v1: no %s controller at %s", ctl, mnt))
			continue
		}
		parent := filepath.Join(mnt, cgroupParent)
		if err := makeParent(parent); err != nil {
			warn = append(warn, fmt.Sprintf("cgroup v1: %s controller not usable: %v", ctl, err))
			continue
		}
		if ctl == "memory" {
			c.Memory = parent
		} else {
			c.CPU = parent
		}
	}
	if c.Memory == "" && c.CPU == "" {
		warn = append(warn, fmt.Sprintf("no usable cgroup under %s: jobs run without cgroups, limits are not applied", root))
		return cgroupConfig{}, warn
	}
	return c, warn
}

// makeParent makes dir and checks that cgroups can be made in it.
func makeParent(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return &fs.PathError{Op: "access", Path: dir, Err: err}
	}
	return nil
}

// jobCgroup is one job's cgroups, as the shim made them.
type jobCgroup struct {
	v2 bool
	// dirs are the job's cgroup directories; processes are listed from the
	// first.
	dirs []string
	// mem is the directory of the memory controller, for OOM counts.
	mem string
}

// setupJobCgroup makes the cgroups of run id with its limits. What cannot
// be made or set is returned as warnings: the job then runs with less.
func setupJobCgroup(c cgroupConfig, id string, memBytes uint64, cpus float64) (jobCgroup, []string) {
	var warn []string
	j := jobCgroup{v2: c.Version == 2}
	mk := func(parent string) (string, bool) {
		dir := filepath.Join(parent, id)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			warn = append(warn, fmt.Sprintf("make cgroup: %v", err))
			return "", false
		}
		return dir, true
	}
	quota := int64(cpus * 100000)
	if cpus > 0 && quota < 1000 {
		quota = 1000 // the kernel's minimum quota is 1 ms
	}
	switch c.Version {
	case 1:
		if c.Memory != "" {
			if dir, ok := mk(c.Memory); ok {
				j.dirs, j.mem = append(j.dirs, dir), dir
				if memBytes > 0 {
					v := strconv.FormatUint(memBytes, 10)
					if err := writeCgroupFile(dir, "memory.limit_in_bytes", v); err != nil {
						warn = append(warn, fmt.Sprintf("memory limit not applied: %v", err))
					} else if fileExists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
						// Memory plus swap: the job cannot swap its way past the limit.
						if err := writeCgroupFile(dir, "memory.memsw.limit_in_bytes", v); err != nil {
							warn = append(warn, fmt.Sprintf("memory+swap limit not applied: %v", err))
						}
					}
				}
			}
		} else if memBytes > 0 {
			warn = append(warn, "memory limit not applied: no memory cgroup")
		}
		// A cpu cgroup only for a CPU limit: the memory cgroup is the one
		// that finds the job's processes.
		if c.CPU != "" && cpus > 0 {
			if dir, ok := mk(c.CPU); ok {
				j.dirs = append(j.dirs, dir)
				if cpus > 0 {
					err := writeCgroupFile(dir, "cpu.cfs_period_us", "100000")
					if err == nil {
						err = writeCgroupFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
					}
					if err != nil {
						warn = append(warn, fmt.Sprintf("cpu limit not applied: %v", err))
					}
				}
			}
		} else if cpus > 0 {
			warn = append(warn, "cpu limit not applied: no cpu cgroup")
		}
	case 2:
		dir, ok := mk(c.Unified)
		if !ok {
			break
		}
		j.dirs, j.mem = []string{dir}, dir
		if memBytes > 0 {
			if err := writeCgroupFile(dir, "memory.max", strconv.FormatUint(memBytes, 10)); err != nil {
				warn = append(warn, fmt.Sprintf("memory limit not applied: %v", err))
			} else if fileExists(filepath.Join(dir, "memory.swap.max")) {
				if err := writeCgroupFile(dir, "memory.swap.max", "0"); err != nil {
					warn = append(warn, fmt.Sprintf("swap limit not applied: %v", err))
				}
			}
		}
		if cpus > 0 {
			if err := writeCgroupFile(dir, "cpu.max", strconv.FormatInt(quota, 10)+" 100000"); err != nil {
				warn = append(warn, fmt.Sprintf("cpu limit not applied: %v", err))
			}
		}
	}
	return j, warn
}

// enterThread moves the calling thread, which must be locked to its
// goroutine and end with it, into the job's v1 cgroups (their tasks
// files), so that a child it forks next is born inside them. Cgroup v2
// uses CLONE_INTO_CGROUP instead.
func (j jobCgroup) enterThread() error {
	tid := strconv.Itoa(unix.Gettid())
	for _, dir := range j.dirs {
		if err := writeCgroupFile(dir, "tasks", tid); err != nil {
			return fmt.Errorf("enter cgroup: %w", err)
		}
	}
	return nil
}

// leaveThread moves the calling thread out of the job's v1 cgroups, back
// to where the process's main thread is, so that it can serve other
// goroutines again (a move costs ~25 us of CPU here, a thread made and
// ended ~100 us: measured by hand).
func (j jobCgroup) leaveThread() error {
	tid := []byte(strconv.Itoa(unix.Gettid()))
	for _, dir := range j.dirs {
		fd, err := homeTasks(dir)
		if err == nil {
			_, err = unix.Write(fd, tid)
		}
		if err != nil {
			return fmt.Errorf("leave cgroup: %w", err)
		}
	}
	return nil
}

// homeFDs holds the tasks files of the main thread's v1 cgroups open,
// written at every job's start (homeTasks).
var homeFDs sync.Map // mount -> fd

// homeTasks is an open descriptor of the tasks file of the main thread's
// cgroup in the v1 hierarchy that holds the job cgroup dir (threadHome).
func homeTasks(dir string) (int, error) {
	mount := filepath.Dir(filepath.Dir(dir))
	if fd, ok := homeFDs.Load(mount); ok {
		return fd.(int), nil
	}
	home, err := threadHome(dir)
	if err != nil {
		return -1, err
	}
	path := filepath.Join(home, "tasks")
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if prev, loaded := homeFDs.LoadOrStore(mount, fd); loaded {
		unix.Close(fd)
		return prev.(int), nil
	}
	return fd, nil
}

// threadHome is the main thread's cgroup in the v1 hierarchy that holds the
// job cgroup dir (<mount>/gpuq/<id>), from /proc/self/cgroup (homeTasks
// keeps what it finds).
func threadHome(dir string) (string, error) {
	mount := filepath.Dir(filepath.Dir(dir))
	b, err := readSmall("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	home, err := cgroupHome(b, mount)
	if err == nil {
		err = listsProcess(home, os.Getpid())
	}
	if err != nil {
		return "", err
	}
	return home, nil
}

// cgroupHome is the directory under mount of the cgroup that
// /proc/self/cgroup (b) names in mount's v1 hierarchy.
func cgroupHome(b []byte, mount string) (string, error) {
	ctrl := filepath.Base(mount)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), ctrl) {
			return filepath.Join(mount, f[2]), nil
		}
	}
	return "", fmt.Errorf("no %s hierarchy in /proc/self/cgroup", ctrl)
}

// listsProcess checks that the cgroup at dir holds process pid. The paths
// in /proc/self/cgroup are relative to the cgroup namespace's root: where
// that is not the root of the mount (a host's hierarchy mounted into a
// container with a cgroup namespace of its own), home would name another
// cgroup, and threads sent there would leave the process's.
func listsProcess(dir string, pid int) error {
	pids, err := cgroupPids(dir)
	if err != nil {
		return fmt.Errorf("the supervisor's cgroup: %w", err)
	}
	if !slices.Contains(pids, pid) {
		return fmt.Errorf("the supervisor's cgroup by /proc/self/cgroup, %s, does not list it (a cgroup namespace rooted elsewhere than the mount?)", dir)
	}
	return nil
}

// cgroupPids lists the processes in the cgroup at dir.
func cgroupPids(dir string) ([]int, error) {
	b, err := readSmall(filepath.Join(dir, "cgroup.procs"))
	if errors.Is(err, syscall.ENODEV) {
		// The cgroup was removed while we read it: as good as gone.
		return nil, fmt.Errorf("read %s: %w", dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// drainCgroup kills every process in the cgroup at dir, but the
// supervisor (spare: a v1 cgroup lists it while one of its threads forks a
// job into it), until none is left or timeout has passed; it reports
// whether the cgroup is empty (or gone).
func drainCgroup(dir string, v2 bool, timeout time.Duration, spare int) bool {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		pids, err := cgroupPids(dir)
		if err != nil {
			return errors.Is(err, fs.ErrNotExist)
		}
		if len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		if v2 && writeCgroupFile(dir, "cgroup.kill", "1") == nil {
			// The kernel kills every process, including those being forked.
		} else {
			for _, pid := range pids {
				if pid != spare {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// removeCgroup removes the (empty) cgroup at dir, retrying while the kernel
// still counts processes that are exiting. A missing cgroup is no error.
func removeCgroup(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return &fs.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// oomKills is how many processes the OOM killer ended in the job's memory
// cgroup: "oom_kill N" in memory.oom_control (v1) or memory.events (v2).
func (j jobCgroup) oomKills() int {
	if j.mem == "" {
		return 0
	}
	name := "memory.oom_control"
	if j.v2 {
		name = "memory.events"
	}
	for line := range strings.Lines(readString(filepath.Join(j.mem, name))) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// writeCgroupFile writes s to an existing control file dir/name.
func writeCgroupFile(dir, name, s string) error {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte(s))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", s, path, err)
	}
	return nil
}

// readSmall reads a small file (/proc, cgroup control files) with plain
// system calls: os.ReadFile costs several more on each open here.
func readSmall(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 1024)
	for {
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func readString(path string) string {
	b, _ := readSmall(path)
	return string(b)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
