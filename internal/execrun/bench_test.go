package execrun

import (
	"fmt"
	"os"
	"os/exec"
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
