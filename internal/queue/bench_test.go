package queue

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// BenchmarkSnapshot times a scheduling cycle's snapshot of 200 pending jobs
// in a queue that also holds many ended jobs (gpuqd keeps ended jobs in
// memory): with the index of live jobs it does not grow with them.
func BenchmarkSnapshot(b *testing.B) {
	for _, ended := range []int{0, 50_000} {
		b.Run(fmt.Sprintf("ended=%d", ended), func(b *testing.B) {
			st, err := store.Open(store.Options{InMemory: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			sp := spec()
			now := timestamppb.Now()
			const pending = 200
			for first := 1; first <= ended+pending; first += maxTxnRecords {
				err := st.Update(func(tx *store.Tx) error {
					for id := first; id < first+maxTxnRecords && id <= ended+pending; id++ {
						j := &gpuqv1.Job{Id: uint64(id), Spec: sp, State: gpuqv1.JobState_JOB_STATE_PENDING, SubmitTime: now}
						if id <= ended {
							j.State, j.EndTime = gpuqv1.JobState_JOB_STATE_COMPLETED, now
						}
						if err := tx.PutSpec(j.Id, sp); err != nil {
							return err
						}
						if err := tx.PutJob(j); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			q, err := New(Options{Store: st, Rules: testRules})
			if err != nil {
				b.Fatal(err)
			}
			if n := len(q.snapshot().Jobs); n != pending {
				b.Fatalf("snapshot of %d jobs, want %d", n, pending)
			}
			for b.Loop() {
				q.snapshot()
			}
		})
	}
}
