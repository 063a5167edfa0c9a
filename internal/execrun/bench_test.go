package execrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// BenchmarkRunTrivial starts, waits for and deletes /bin/true through the
// runtime, shim and all, and reports it beside a bare
// exec.Command("/bin/true").Run() measured in the same run:
//
//	ms/job      Start+Wait+Delete of one run
//	ms/bare     exec.Command("/bin/true").Run()
//	ratio       ms/job / ms/bare
//	ms/goexec   running the shim binary to an immediate exit: the part of
//	            ms/job that is a Go program starting
//
// The shim here is the test binary; gpuq-node is a bigger one.
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
			goexec := bareRun(b, 20, os.Args[0], ShimCommand) // usage error: exits at once
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
// root) through the runtime with the real gpuq-shim binary, 8 at a time,
// as gpuq-node starts them, with cgroups where they can be made. It
// reports CPU time per job (this process and every process it reaped:
// shims and jobs) beside a bare exec.Command("/bin/sh", "-c",
// "true").Run() measured in the same run:
//
//	jobs/s        runs started, waited for and deleted per second
//	ms-cpu/job    CPU time per run, shim and job included
//	ms-cpu/bare   CPU time per bare exec of the same command
//	ratio         ms-cpu/job / ms-cpu/bare
func BenchmarkRunConcurrent(b *testing.B) {
	shim := filepath.Join(b.TempDir(), "gpuq-shim")
	build := exec.Command("go", "build", "-trimpath", "-o", shim, "github.com/gpuq/gpuq/node/shim")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build gpuq-shim: %v\n%s", err, out)
	}
	opts := testOptions(b, b.TempDir())
	opts.ShimPath, opts.ShimArgs, opts.Logger = shim, nil, nil
	r, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var uid, gid *uint32
	if os.Geteuid() == 0 {
		n := uint32(65534)
		uid, gid = &n, &n
	}
	ctx := b.Context()
	const n, par = 400, 8
	bareCPU := cpuPer(b, 100, func(int) {
		if err := exec.Command("/bin/sh", "-c", "true").Run(); err != nil {
			b.Fatal(err)
		}
	})
	var jobs float64
	var jobCPU float64
	for b.Loop() {
		start := time.Now()
		jobCPU = cpuPer(b, n, func(i int) {
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
		}, par)
		jobs = n / time.Since(start).Seconds()
	}
	b.ReportMetric(jobs, "jobs/s")
	b.ReportMetric(jobCPU, "ms-cpu/job")
	b.ReportMetric(bareCPU, "ms-cpu/bare")
	b.ReportMetric(jobCPU/bareCPU, "ratio")
}

// cpuPer runs fn(0..n-1), par at a time (default 1), and returns the CPU
// time per call in milliseconds: this process's and its reaped children's.
func cpuPer(b *testing.B, n int, fn func(int), par ...int) float64 {
	p := 1
	if len(par) > 0 {
		p = par[0]
	}
	before := cpuNow(b)
	var wg sync.WaitGroup
	next := make(chan int)
	for range p {
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
	return float64((cpuNow(b) - before).Microseconds()) / 1000 / float64(n)
}

func cpuNow(b *testing.B) time.Duration {
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		b.Fatal(err)
	}
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}
