package timerslack

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// Default is the daemons' timer slack unless EnvVar says otherwise.
	Default = time.Millisecond
	// Job is the slack jobs start with: the kernel's default, as on a
	// machine without gpuq.
	Job = 50 * time.Microsecond
	// Max bounds what EnvVar may ask for.
	Max = 100 * time.Millisecond
	// EnvVar chooses the daemons' slack: a Go duration, 0 for the one
	// they inherit.
	EnvVar = "GPUQ_TIMER_SLACK"
	// reexecVar marks the program executed again by Ensure (its value is
	// the process id), so that it never does so twice.
	reexecVar = "GPUQ_TIMER_SLACK_REEXEC"
)

// Want is the slack the environment asks for: Default when EnvVar is
// unset, 0 when it asks to leave the slack alone.
func Want() (time.Duration, error) {
	return parse(os.Getenv(EnvVar))
}

// parse reads EnvVar's value.
func parse(v string) (time.Duration, error) {
	if v == "" {
		return Default, nil
	}
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (like 1ms or 500us; 0 for none)", EnvVar, v)
	}
	if d < 0 || d > Max {
		return 0, fmt.Errorf("%s: %s is outside 0 to %s", EnvVar, d, Max)
	}
	return d, nil
}

// Setup is Ensure for a daemon's main: it reports to stderr, as prog, a
// bad EnvVar (and returns false: the daemon exits with status 2) or a
// slack it could not set (and goes on with the one it has).
func Setup(prog string, stderr io.Writer) bool {
	want, err := Want()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return false
	}
	if err := Ensure(want); err != nil {
		fmt.Fprintf(stderr, "%s: warning: %v\n", prog, err)
	}
	return true
}

// Ensure gives the process the slack want on every thread (0 leaves it
// alone): when the calling thread's differs, it sets it and executes the
// program again (same file, arguments, environment and process), so that
// the threads Go's runtime made before main have it too. Call it first
// thing in main, before anything else starts: it returns nil when the
// slack is as asked, and otherwise an error the caller reports before
// going on with the slack it has.
func Ensure(want time.Duration) error {
	pid, name, _ := strings.Cut(os.Getenv(reexecVar), " ")
	again := pid == strconv.Itoa(os.Getpid())
	os.Unsetenv(reexecVar) // not for the daemon's children
	runtime.LockOSThread() // the slack (and the name) are the thread's
	defer runtime.UnlockOSThread()
	if again {
		if name != "" {
			// Executed as /proc/self/exe: named "exe" but for this.
			_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(unsafe.StringData(name+"\x00"))), 0, 0, 0)
		}
		return nil
	}
	if want == 0 {
		return nil
	}
	cur, err := Thread()
	if err != nil {
		return err
	}
	if cur == want {
		return nil
	}
	if err := SetThread(want); err != nil {
		return err
	}
	if cur, err := Thread(); err != nil || cur != want {
		// Linux keeps real-time threads' slack at 0.
		return fmt.Errorf("timer slack: %v asked, the kernel keeps %v", want, cur)
	}
	env := append(os.Environ(), reexecVar+"="+strconv.Itoa(os.Getpid()))
	// The file by the name it was started by, so that the process keeps
	// its name (ps, pgrep) even through a symbolic link; else
	// /proc/self/exe, the program running even when its file was
	// removed since, named back after.
	if p := self(); p != "" {
		err = syscall.Exec(p, os.Args, env)
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	env[len(env)-1] += " " + strings.TrimSpace(string(comm))
	err = errors.Join(err, syscall.Exec("/proc/self/exe", os.Args, env))
	// Still here: the calling thread has the slack, and threads made from
	// it from now on.
	return fmt.Errorf("timer slack: execute the program again: %w", err)
}

// self is the path the program was started by (os.Args[0], looked up in
// PATH when it has no slash) when that is the file running, else "".
func self() string {
	var running, st unix.Stat_t
	if unix.Stat("/proc/self/exe", &running) != nil {
		return ""
	}
	p := os.Args[0]
	if !strings.Contains(p, "/") {
		lp, err := exec.LookPath(p)
		if err != nil {
			return ""
		}
		p = lp
	}
	if unix.Stat(p, &st) != nil || st.Dev != running.Dev || st.Ino != running.Ino {
		return ""
	}
	return p
}

// Thread is the calling thread's timer slack. Callers lock the goroutine
// to its thread.
func Thread() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("timer slack: %w", err)
	}
	return time.Duration(ns), nil
}

// SetThread sets the calling thread's timer slack; the threads and
// processes it then makes inherit it. Callers lock the goroutine to its
// thread.
func SetThread(d time.Duration) error {
	if d <= 0 {
		return errors.New("timer slack: must be positive")
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d.Nanoseconds()), 0, 0, 0); err != nil {
		return fmt.Errorf("timer slack: %w", err)
	}
	return nil
}

// ForJob runs fn, which starts a job's process, on a thread whose slack
// is Job's, so that the job inherits the kernel's default rather than
// the daemon's; the thread gets its slack back after.
func ForJob(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if prev, err := Thread(); err == nil && prev != Job && SetThread(Job) == nil {
		defer SetThread(prev)
	}
	fn()
}
