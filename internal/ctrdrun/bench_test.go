package ctrdrun_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/gpuq/gpuq/internal/ctrdrun"
	"github.com/gpuq/gpuq/internal/ctrdrun/ctrdtest"
	"github.com/gpuq/gpuq/internal/jobrun"
)

// BenchmarkRunTrivial runs `true` both ways, alternately, on the same
// containerd and image: a bare create, wait, start, delete with the client
// (the floor), and Runtime.Start+Wait+Delete. Both write the output to a
// file. It reports the median ms/job of each and their ratio (target: at
// most 1.5).
func BenchmarkRunTrivial(b *testing.B) {
	const ns = ctrdtest.Namespace + "-bench"
	addr := ctrdtest.Start(b)
	ref := ctrdtest.ImageIn(b, addr, ns)
	ctx := namespaces.WithNamespace(context.Background(), ns)
	client, err := containerd.New(addr, containerd.WithDefaultNamespace(ns))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	img, err := client.GetImage(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	r, err := ctrdrun.New(ctx, ctrdrun.Options{
		Address: addr, Namespace: ns, DefaultImage: ref,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	dir := b.TempDir()

	bare := func(id string) error {
		ctr, err := client.NewContainer(ctx, id,
			containerd.WithImage(img),
			containerd.WithSnapshotter("overlayfs"),
			containerd.WithNewSnapshot(id, img),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("true")))
		if err != nil {
			return err
		}
		task, err := ctr.NewTask(ctx, cio.LogFile(filepath.Join(dir, id+".log")))
		if err != nil {
			return err
		}
		exitC, err := task.Wait(ctx)
		if err != nil {
			return err
		}
		if err := task.Start(ctx); err != nil {
			return err
		}
		if st := <-exitC; st.ExitCode() != 0 {
			return fmt.Errorf("exit %d", st.ExitCode())
		}
		if _, err := task.Delete(ctx); err != nil {
			return err
		}
		return ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	gpuq := func(id string) error {
		log := filepath.Join(dir, id+".log")
		if err := r.Start(ctx, jobrun.Spec{ID: id, Args: []string{"true"}, Stdout: log, Stderr: log}); err != nil {
			return err
		}
		e, err := r.Wait(ctx, id)
		if err != nil {
			return err
		}
		if e.Code != 0 {
			return fmt.Errorf("exit %d", e.Code)
		}
		return r.Delete(ctx, id)
	}

	// One of each to warm up (shim binary, page cache).
	if err := bare("warm-bare"); err != nil {
		b.Fatal(err)
	}
	if err := gpuq("warm-gpuq"); err != nil {
		b.Fatal(err)
	}
	var bareT, gpuqT []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		if err := bare(fmt.Sprintf("bare-%d", i)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := gpuq(fmt.Sprintf("gpuq-%d", i)); err != nil {
			b.Fatal(err)
		}
		bareT = append(bareT, t1.Sub(t0))
		gpuqT = append(gpuqT, time.Since(t1))
	}
	mb, mg := median(bareT), median(gpuqT)
	b.ReportMetric(ms(mb), "bare-ms/job")
	b.ReportMetric(ms(mg), "gpuq-ms/job")
	b.ReportMetric(ms(mg)/ms(mb), "ratio")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
