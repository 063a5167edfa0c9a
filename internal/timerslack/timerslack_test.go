package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childVar makes the test binary act as a daemon that calls Ensure and
// prints what it then has (see TestMain).
const childVar = "GPUQ_TIMERSLACK_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childVar) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child calls Ensure and prints its pid, its arguments, the marker
// variable and the slack of its main thread and of threads made after.
func child() int {
	if !Setup("child", os.Stdout) {
		return 2
	}
	main, err := os.ReadFile("/proc/self/timerslack_ns")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	// Threads the runtime makes from now on, each held by a goroutine.
	var others []string
	hold := make(chan struct{})
	for range 3 {
		got := make(chan string)
		go func() {
			runtime.LockOSThread()
			d, err := Thread()
			if err != nil {
				got <- "error"
			} else {
				got <- strconv.FormatInt(d.Nanoseconds(), 10)
			}
			<-hold
		}()
		others = append(others, <-got)
	}
	close(hold)
	_, marked := os.LookupEnv(reexecVar)
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("pid=%d args=%s marker=%t main=%s threads=%s comm=%s\n", os.Getpid(), strings.Join(os.Args[1:], ","),
		marked, strings.TrimSpace(string(main)), strings.Join(others, ","), strings.TrimSpace(string(comm)))
	return 0
}

func runChild(t *testing.T, env ...string) map[string]string {
	t.Helper()
	return runChildAs(t, os.Args[0], os.Args[0], env...)
}

// runChildAs runs the child from the file path with argv[0] arg0.
func runChildAs(t *testing.T, path, arg0 string, env ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(path, "-test.run=^$", "extra")
	cmd.Args[0] = arg0
	cmd.Env = append(os.Environ(), append(env, childVar+"=1")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, f := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(f, "=")
		got[k] = v
	}
	got["started"] = strconv.Itoa(cmd.Process.Pid)
	return got
}

func TestEnsure(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		want      time.Duration // 0: the inherited one
	}{
		{"default", "", Default},
		{"chosen", EnvVar + "=3ms", 3 * time.Millisecond},
		{"none", EnvVar + "=0", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runChild(t, tc.env)
			if got["pid"] != got["started"] {
				t.Errorf("pid %s, want the process started (%s): executed again in place", got["pid"], got["started"])
			}
			if got["args"] != "-test.run=^$,extra" {
				t.Errorf("arguments %q lost", got["args"])
			}
			if got["comm"] != comm(os.Args[0]) {
				t.Errorf("process name %q, want %q", got["comm"], comm(os.Args[0]))
			}
			if got["marker"] != "false" {
				t.Errorf("%s left in the environment", reexecVar)
			}
			want := tc.want
			if want == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				d, err := Thread()
				if err != nil {
					t.Fatal(err)
				}
				want = d // inherited from this thread
			}
			ns := strconv.FormatInt(want.Nanoseconds(), 10)
			if got["main"] != ns {
				t.Errorf("main thread's slack %s ns, want %s", got["main"], ns)
			}
			for _, th := range strings.Split(got["threads"], ",") {
				if th != ns {
					t.Errorf("a later thread's slack %q, want %s", th, ns)
				}
			}
		})
	}
}

func TestWant(t *testing.T) {
	for _, tc := range []struct {
		env  string
		set  bool
		want time.Duration
		err  bool
	}{
		{set: false, want: Default},
		{env: "", set: true, want: Default},
		{env: "0", set: true, want: 0},
		{env: "250us", set: true, want: 250 * time.Microsecond},
		{env: "100ms", set: true, want: Max},
		{env: "101ms", set: true, err: true},
		{env: "-1ms", set: true, err: true},
		{env: "1", set: true, err: true},
		{env: "fast", set: true, err: true},
	} {
		if tc.set {
			t.Setenv(EnvVar, tc.env)
		} else {
			t.Setenv(EnvVar, "x")
			os.Unsetenv(EnvVar)
		}
		got, err := Want()
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), EnvVar) {
				t.Errorf("%q: error %v, want one naming %s", tc.env, err, EnvVar)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.env, got, err, tc.want)
		}
	}
}

func TestForJob(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := Thread()
	if err != nil {
		t.Fatal(err)
	}
	if err := SetThread(2 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	defer SetThread(prev)
	var cmd *exec.Cmd
	ForJob(func() {
		cmd = exec.Command("sleep", "1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	})
	defer cmd.Wait()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(Job.Nanoseconds(), 10) {
		t.Errorf("job's slack %s ns, want %d", got, Job.Nanoseconds())
	}
	if d, _ := Thread(); d != 2*time.Millisecond {
		t.Errorf("thread's slack %v after ForJob, want it back (2ms)", d)
	}
}

func FuzzWant(f *testing.F) {
	for _, s := range []string{"", "0", "1ms", "250us", "1h", "-1s", "1e3ms", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parse(s)
		if err == nil && (d < 0 || d > Max) {
			t.Fatalf("%q: %v accepted", s, d)
		}
		if err != nil && !strings.Contains(err.Error(), EnvVar) {
			t.Fatalf("%q: error %v does not name %s", s, err, EnvVar)
		}
	})
}

func TestSetupBadEnv(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvVar+"=fast", childVar+"=1")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("child: %v, want exit status 2: %s", err, out)
	}
	if want := "child: " + EnvVar + `: "fast" is not a duration`; !strings.HasPrefix(string(out), want) {
		t.Errorf("output %q, want it to start %q", out, want)
	}
}

// comm is the process name Linux gives a program started from path.
func comm(path string) string {
	b := filepath.Base(path)
	return b[:min(len(b), 15)]
}

// TestEnsureKeepsName: the process executed again keeps the name it was
// started by, through a symbolic link, and when its argv[0] names no file
// of it (executed as /proc/self/exe, then named back).
func TestEnsureKeepsName(t *testing.T) {
	link := filepath.Join(t.TempDir(), "gpuqd-link")
	if err := os.Symlink(os.Args[0], link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, arg0, want string }{
		{"link", link, link, "gpuqd-link"},
		{"argv0 elsewhere", os.Args[0], "no-such-program", comm(os.Args[0])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runChildAs(t, tc.path, tc.arg0)
			if got["comm"] != tc.want {
				t.Errorf("process name %q, want %q", got["comm"], tc.want)
			}
			if got["main"] != strconv.FormatInt(Default.Nanoseconds(), 10) {
				t.Errorf("slack %s ns, want %d", got["main"], Default.Nanoseconds())
			}
		})
	}
}
