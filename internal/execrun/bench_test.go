package execrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// BenchmarkRunTrivial starts, waits for and deletes /bin/true through the
// runtime and its supervisor, one after the other, and reports it beside a
// bare exec.Command("/bin/true").Run() measured in the same run:
//
//	ms/job      Start+Wait+Delete of one run
//	ms/bare     exec.Command("/bin/true").Run()
//	ratio       ms/job / ms/bare
//	ms/goexec   running the supervisor's binary to an immediate exit: what
//	            a job cost more when each had a shim process of its own
//
// The supervisor here is the test binary.
func BenchmarkRunTrivial(b *testing.B) {
	for _, mode := range []struct{ name, root string }{
		{"cgroup=off", ""},
		{"cgroup=on", testCgroupRoot()},
	} {
		b.Run(mode.name, func(b *testing.B) {
			opts := testOptions(b, b.TempDir())
			opts.CgroupRoot = mode.root
			opts.Logger = nil
			r, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if mode.root != "" && r.cg.Version == 0 {
				b.Skipf("no writable cgroup under %s", mode.root)
			}
			bare := bareRun(b, 50, "/bin/true")
			goexec := bareRun(b, 20, os.Args[0], SupervisorCommand) // usage error: exits at once
			ctx := b.Context()
			n := 0
			for b.Loop() {
				n++
				id := fmt.Sprintf("bench-%d", n)
				spec := jobrun.Spec{ID: id, Args: []string{"/bin/true"}, Dir: "/"}
				if err := r.Start(ctx, spec); err != nil {
					b.Fatal(err)
				}
				if ex, err := r.Wait(ctx, id); err != nil || ex.Code != 0 {
					b.Fatalf("wait: %+v, %v", ex, err)
				}
				if err := r.Delete(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			perJob := float64(b.Elapsed().Microseconds()) / 1000 / float64(n)
			b.ReportMetric(perJob, "ms/job")
			b.ReportMetric(bare, "ms/bare")
			b.ReportMetric(perJob/bare, "ratio")
			b.ReportMetric(goexec, "ms/goexec")
		})
	}
}

// bareRun is the mean time of exec.Command(args...).Run() over n runs, in
// milliseconds; the exit status does not matter.
func bareRun(b *testing.B, n int, args ...string) float64 {
	start := time.Now()
	for range n {
		err := exec.Command(args[0], args[1:]...).Run()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Microseconds()) / 1000 / float64(n)
}

// BenchmarkRunConcurrent runs trivial jobs (/bin/sh -c true, as nobody when
// root) through the runtime with the real gpuq-shim binary as the
// supervisor, 8 at a time as gpuq-node starts them, without and with
// cgroups (where they can be made). It reports CPU time per job (this
// process, the supervisor and the jobs it reaped) beside a bare
// exec.Command("/bin/sh", "-c", "true").Run() measured in the same run:
//
//	jobs/s        runs started, waited for and deleted per second
//	ms-cpu/job    CPU time per run, supervisor and job included
//	ms-cpu/bare   CPU time per bare exec of the same command
//	ratio         ms-cpu/job / ms-cpu/bare
func BenchmarkRunConcurrent(b *testing.B) {
	shim := filepath.Join(b.TempDir(), "gpuq-shim")
	build := exec.Command("go", "build", "-trimpath", "-o", shim, "github.com/gpuq/gpuq/node/shim")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build gpuq-shim: %v\n%s", err, out)
	}
	var uid, gid *uint32
	if os.Geteuid() == 0 {
		n := uint32(65534)
		uid, gid = &n, &n
	}
	for _, mode := range []struct{ name, root string }{
		{"cgroup=off", ""},
		{"cgroup=on", testCgroupRoot()},
	} {
		b.Run(mode.name, func(b *testing.B) {
			opts := testOptions(b, b.TempDir())
			opts.ShimPath, opts.ShimArgs, opts.Logger, opts.CgroupRoot = shim, nil, nil, mode.root
			r, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if mode.root != "" && r.cg.Version == 0 {
				b.Skipf("no writable cgroup under %s", mode.root)
			}
			ctx := b.Context()
			const n, par = 400, 8
			bareCPU := cpuPer(b, 100, 1, nil, func(int) {
				if err := exec.Command("/bin/sh", "-c", "true").Run(); err != nil {
					b.Fatal(err)
				}
			})
			var jobs, jobCPU float64
			for b.Loop() {
				start := time.Now()
				jobCPU = cpuPer(b, n, par, r, func(i int) {
					id := fmt.Sprintf("c%d-%d", os.Getpid(), i)
					spec := jobrun.Spec{ID: id, Args: []string{"/bin/sh", "-c", "true"}, Dir: "/", UID: uid, GID: gid, Groups: []uint32{}}
					if err := r.Start(ctx, spec); err != nil {
						b.Fatal(err)
					}
					if ex, err := r.Wait(ctx, id); err != nil || ex.Code != 0 {
						b.Fatalf("wait: %+v, %v", ex, err)
					}
					if err := r.Delete(ctx, id); err != nil {
						b.Fatal(err)
					}
				})
				jobs = n / time.Since(start).Seconds()
			}
			b.ReportMetric(jobs, "jobs/s")
			b.ReportMetric(jobCPU, "ms-cpu/job")
			b.ReportMetric(bareCPU, "ms-cpu/bare")
			b.ReportMetric(jobCPU/bareCPU, "ratio")
		})
	}
}

// cpuPer runs fn(0..n-1), par at a time, and returns the CPU time per call
// in milliseconds: this process's, its reaped children's and, with r, that
// of r's supervisor and the jobs it reaped. The supervisor must be the
// same before and after (it is while r holds its connection).
func cpuPer(b *testing.B, n, par int, r *Runtime, fn func(int)) float64 {
	if r != nil {
		fn(n) // a first run starts the supervisor
	}
	before := cpuNow(b, r)
	var wg sync.WaitGroup
	next := make(chan int)
	for range par {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return float64((cpuNow(b, r) - before).Microseconds()) / 1000 / float64(n)
}

// cpuNow is the CPU time of this process and its reaped children, and of
// r's supervisor and its reaped children.
func cpuNow(b *testing.B, r *Runtime) time.Duration {
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		b.Fatal(err)
	}
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	d := tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
	if r != nil {
		sc, err := r.supervisor(false)
		if err != nil || sc == nil {
			b.Fatalf("no supervisor: %v", err)
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", sc.pid))
		if err != nil {
			b.Fatal(err)
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			ticks, _ := strconv.Atoi(f[i])
			d += time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
		}
	}
	return d
}
