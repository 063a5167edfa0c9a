package queue

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Purge drops the jobs that ended more than MinJobAge ago from memory and
// the store, as slurmctld drops a job's record MinJobAge after its end:
// gpuqctl queue and show no longer find them, their accounting records
// stay, their request ids do not. An array job goes once all its tasks
// have; an ended job that a job that has not ended depends on stays (a
// running one may be requeued and decided on again). Nothing goes when
// MinJobAge is 0. It returns how many job ids went.
func (q *Queue) Purge() (int, error) {
	if q.opts.MinJobAge <= 0 {
		return 0, nil
	}
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	cutoff := q.now().Add(-q.opts.MinJobAge)
	q.mu.RLock()
	// The dependencies of every job that has not ended: a running job may
	// be requeued, and is then decided on again.
	needed := map[uint64]bool{}
	for _, r := range q.live {
		if j := q.jobs[r]; !job.Ended(j.State) {
			for _, d := range j.Spec.Dependencies {
				needed[d.JobId] = true
			}
		}
	}
	var ids []uint64
	for id, refs := range q.tasks {
		if !needed[id] && !slices.ContainsFunc(refs, func(r job.Ref) bool { return !endedBefore(q.jobs[r], cutoff) }) {
			ids = append(ids, id)
		}
	}
	// Their request ids go too: a submission retried after its job left
	// the queue makes a new job.
	requests := make(map[uint64][]string, len(ids))
	for _, id := range ids {
		requests[id] = nil
	}
	if len(ids) > 0 {
		for rid, id := range q.requests {
			if rs, ok := requests[id]; ok {
				requests[id] = append(rs, rid)
			}
		}
	}
	q.mu.RUnlock()
	slices.Sort(ids)
	purged, records := 0, 0
	for len(ids) > 0 && records < maxPurge {
		// Transactions of at most maxTxnRecords task records.
		n, inTxn := 0, 0
		for n < len(ids) && (n == 0 || inTxn+len(q.tasks[ids[n]]) <= maxTxnRecords) {
			inTxn += len(q.tasks[ids[n]])
			n++
		}
		records += inTxn
		part := ids[:n]
		ids = ids[n:]
		err := q.store.Update(func(tx *store.Tx) error {
			for _, id := range part {
				if err := tx.DeleteJob(id, q.tasks[id], requests[id]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return purged, fmt.Errorf("purge ended jobs: %w", err)
		}
		q.mu.Lock()
		for _, id := range part {
			for _, r := range q.tasks[id] {
				delete(q.jobs, r)
				delete(q.preemptions, r)
			}
			for _, rid := range requests[id] {
				delete(q.requests, rid)
			}
			delete(q.tasks, id)
		}
		q.order = slices.DeleteFunc(q.order, func(r job.Ref) bool {
			_, gone := slices.BinarySearch(part, r.ID) // part is sorted
			return gone
		})
		q.dropEnded()
		q.mu.Unlock()
		purged += len(part)
	}
	return purged, nil
}

// maxPurge bounds the task records one Purge drops (the rest go at the
// next): it holds the writers' lock throughout, and the first purge after
// an upgrade may find millions.
const maxPurge = 4 * maxTxnRecords

// endedBefore reports whether j ended before cutoff: by gpuqd's clock (its
// last change), and by its end time, which a node reports (an end reported
// late, by a node whose clock is behind or after gpuqd was down, still
// stays its while).
func endedBefore(j *gpuqv1.Job, cutoff time.Time) bool {
	if !job.Ended(j.State) {
		return false
	}
	for _, t := range []*timestamppb.Timestamp{j.EndTime, j.UpdateTime} {
		if t != nil && !t.AsTime().Before(cutoff) {
			return false
		}
	}
	return j.EndTime != nil || j.UpdateTime != nil
}
