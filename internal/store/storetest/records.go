// Package storetest fills stores for tests and benchmarks.
package storetest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Record is the i-th of n records FillRecords writes: job i+1's one run,
// ending at the (i+1/2)-th n-th of [from, to), on 1 to 8 GPUs for 5 minutes
// to 8 hours, of teams sf, berlin and tokyo in turn and five users; a
// quarter in pool a800-us-east1, the rest in a100-us-west1. rng draws the
// durations, GPUs and nodes.
func Record(rng *rand.Rand, i, n int, from, to time.Time) *gpuqv1.RunRecord {
	teams := []string{"sf", "berlin", "tokyo"}
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	pool, gpuType := "a100-us-west1", "a100"
	if i%4 == 3 {
		pool, gpuType = "a800-us-east1", "a800"
	}
	end := from.Add(time.Duration(float64(to.Sub(from)) * (float64(i) + 0.5) / float64(n)))
	start := end.Add(-5*time.Minute - time.Duration(rng.Int64N(int64(8*time.Hour))))
	gpus := uint32(1 + rng.IntN(8))
	ids := make([]string, gpus)
	for g := range ids {
		ids[g] = fmt.Sprintf("GPU-%08x-0000-4000-8000-%012x", i, g)
	}
	secs := end.Sub(start).Seconds() * float64(gpus)
	return &gpuqv1.RunRecord{
		Job: job.Ref{ID: uint64(i + 1)}.Proto(), Name: fmt.Sprintf("train-%d", i%1000), Team: teams[i%3],
		User: users[i%5], Pool: pool, Region: strings.TrimPrefix(pool, gpuType+"-"), Node: fmt.Sprintf("%s-%03d", pool, rng.IntN(64)),
		GpuType: gpuType, GpuCount: gpus, GpuIds: ids,
		SubmitTime: timestamppb.New(start.Add(-time.Minute)), EligibleTime: timestamppb.New(start.Add(-time.Minute)),
		StartTime: timestamppb.New(start), EndTime: timestamppb.New(end), State: gpuqv1.JobState_JOB_STATE_COMPLETED,
		GpuSeconds: secs, BilledGpuSeconds: secs, AllocationId: fmt.Sprintf("%d.0.%08x", i+1, rng.Uint32()),
		Usage: &gpuqv1.GPUUsage{UtilizationMean: 40 + float64(i%50), UtilizationMax: 100, MemoryUsedMaxBytes: 40 << 30},
	}
}

// FillRecords writes n records (see Record) into st as gpuqd writes them,
// record and job-id index in one transaction, 5,000 to a transaction.
func FillRecords(st *store.Store, n int, from, to time.Time) error {
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 5000
	for first := 0; first < n; first += batch {
		err := st.Update(func(tx *store.Tx) error {
			for i := first; i < min(first+batch, n); i++ {
				if err := tx.PutRecord(Record(rng, i, n, from, to)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill records %d to %d: %w", first, first+batch, err)
		}
	}
	return nil
}
