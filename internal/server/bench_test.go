package server_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gpuq/gpuq/internal/queue"
	"github.com/gpuq/gpuq/internal/server"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// benchServer serves a real queue over a real, synced store on a unix socket.
func benchServer(b testing.TB) (gpuqv1.QueueServiceClient, healthpb.HealthClient, *store.Store) {
	b.Helper()
	dir := b.TempDir()
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.New(queue.Options{Store: st, Rules: queue.Rules{Teams: []string{"sf"}, GPUsPerNode: map[string]int{"a100": 8}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	gs := grpc.NewServer(localOperator()...)
	gpuqv1.RegisterQueueServiceServer(gs, server.NewQueueService(q, q, server.QueueOptions{}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		gs.Stop()
		cancel()
		<-done
		_ = st.Close()
	})
	return gpuqv1.NewQueueServiceClient(conn), healthpb.NewHealthClient(conn), st
}

var benchSpec = &gpuqv1.JobSpec{
	Name: "bench", Team: "sf", User: "alice", Script: []byte("#!/bin/sh\ntrue\n"),
	Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1},
}

// rate runs fn n times on each of c goroutines and returns operations per second.
func rate(c, n int, fn func()) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for range n {
				fn()
			}
		})
	}
	wg.Wait()
	return float64(c*n) / time.Since(start).Seconds()
}

// BenchmarkSubmit measures durable submissions through the real gRPC path,
// from one client sending one at a time and from 16 concurrent clients, each
// beside the bare baselines measured in the same run: an empty gRPC call
// (health check) and one synced badger write.
func BenchmarkSubmit(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(map[int]string{1: "clients=1", 16: "clients=16"}[clients], func(b *testing.B) {
			qc, hc, st := benchServer(b)
			ctx := context.Background()
			const baseN = 500
			emptyCall := rate(clients, baseN, func() {
				if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					b.Fatal(err)
				}
			})
			syncedWrite := rate(1, baseN, func() {
				if err := st.Update(func(tx *store.Tx) error { return tx.SetNextID(1) }); err != nil {
					b.Fatal(err)
				}
			})
			per := max(b.N/clients, 1)
			b.ResetTimer()
			jobs := rate(clients, per, func() {
				if _, err := qc.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: benchSpec}); err != nil {
					b.Fatal(err)
				}
			})
			b.StopTimer()
			b.ReportMetric(jobs, "jobs/s")
			b.ReportMetric(emptyCall, "emptycall/s")
			b.ReportMetric(syncedWrite, "syncedwrite/s")
			b.ReportMetric(jobs/emptyCall, "ratio-vs-emptycall")
			b.ReportMetric(jobs/syncedWrite, "ratio-vs-syncedwrite")
		})
	}
}

// BenchmarkSubmitArray1000 measures one 1,000-task array submission.
func BenchmarkSubmitArray1000(b *testing.B) {
	qc, _, _ := benchServer(b)
	ids := make([]uint32, 1000)
	for i := range ids {
		ids[i] = uint32(i)
	}
	spec := &gpuqv1.JobSpec{Name: "sweep", Team: "sf", User: "alice", Script: benchSpec.Script,
		Array: &gpuqv1.ArraySpec{Expr: "0-999%8", TaskIds: ids, MaxConcurrent: 8}}
	ctx := context.Background()
	for b.Loop() {
		if _, err := qc.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: spec}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/array")
}

// BenchmarkListJobs10k lists 10,000 pending jobs through the real gRPC path,
// beside an empty gRPC call measured in the same run.
func BenchmarkListJobs10k(b *testing.B) {
	qc, hc, _ := benchServer(b)
	ctx := context.Background()
	rate(16, 10_000/16, func() {
		if _, err := qc.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: benchSpec}); err != nil {
			b.Fatal(err)
		}
	})
	emptyCall := rate(1, 500, func() {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			b.Fatal(err)
		}
	})
	b.ResetTimer()
	for b.Loop() {
		res, err := qc.ListJobs(ctx, &gpuqv1.ListJobsRequest{}, grpc.MaxCallRecvMsgSize(256<<20))
		if err != nil || len(res.Jobs) < 9_984 {
			b.Fatal(len(res.GetJobs()), err)
		}
	}
	perList := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perList*1000, "ms/list")
	b.ReportMetric(1000/emptyCall, "ms/emptycall")
	b.ReportMetric(perList*emptyCall, "ratio")
}
