package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestKill9DuringSubmitStorm kills gpuqd with SIGKILL while 16 clients submit
// as fast as they can, restarts it, and checks that every acknowledged job is
// there with its id, that no submission was stored twice, and that ids keep
// increasing. Unacknowledged submissions are retried with their request id,
// as a client would, and must then exist exactly once.
func TestKill9DuringSubmitStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills gpuqd several times")
	}
	c := newCluster(t)
	c.start()
	const clients, rounds = 16, 3
	acked := map[string]uint64{} // request id -> job id
	var unacked []string
	var maxID uint64
	for round := range rounds {
		cl := c.client()
		var mu sync.Mutex
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range clients {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					rid := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					res, err := cl.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{RequestId: rid, Spec: &gpuqv1.JobSpec{
						Name: rid, Team: "sf", User: "storm", Script: []byte("#!/bin/sh\ntrue\n"),
						Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1},
					}})
					cancel()
					mu.Lock()
					if err != nil {
						unacked = append(unacked, rid)
						mu.Unlock()
						return
					}
					if res.JobId <= maxID && round > 0 && i == 0 {
						t.Errorf("job id %d after restart is not above %d", res.JobId, maxID)
					}
					acked[rid] = res.JobId
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
		c.kill9()
		stop.Store(true)
		wg.Wait()
		c.start()
		for _, id := range acked {
			maxID = max(maxID, id)
		}
	}
	if len(acked) < 100 {
		t.Fatalf("only %d submissions acknowledged; the storm did not storm", len(acked))
	}

	cl := c.client()
	ctx := context.Background()
	// Clients retry what was never acknowledged, with the same request id.
	for _, rid := range unacked {
		res, err := cl.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{RequestId: rid, Spec: &gpuqv1.JobSpec{
			Name: rid, Team: "sf", User: "storm", Script: []byte("#!/bin/sh\ntrue\n"),
		}})
		if err != nil {
			t.Fatalf("retry %s: %v", rid, err)
		}
		acked[rid] = res.JobId
	}
	list, err := cl.ListJobs(ctx, &gpuqv1.ListJobsRequest{Filter: &gpuqv1.JobFilter{IncludeEnded: true}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]uint64{}
	ids := map[uint64]bool{}
	for _, j := range list.Jobs {
		byName[j.Spec.Name] = append(byName[j.Spec.Name], j.Id)
		if ids[j.Id] {
			t.Errorf("job id %d stored twice", j.Id)
		}
		ids[j.Id] = true
	}
	for rid, id := range acked {
		got := byName[rid]
		if len(got) != 1 || got[0] != id {
			t.Errorf("submission %s: stored as %v, acknowledged as %d", rid, got, id)
		}
	}
	if len(list.Jobs) != len(acked) {
		t.Errorf("%d jobs stored, %d submissions made", len(list.Jobs), len(acked))
	}
	t.Logf("%d acknowledged over %d kills, %d retried after a kill", len(acked)-len(unacked), rounds, len(unacked))
}
