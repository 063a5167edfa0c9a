package queue

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// decayed is u's value at t: it halves every half-life. Usage recorded after
// t (a clock step back) counts in full.
func decayed(u *gpuqv1.DecayedUsage, t time.Time, halfLife time.Duration) float64 {
	if u == nil {
		return 0
	}
	dt := t.Sub(u.At.AsTime())
	if dt <= 0 || halfLife <= 0 {
		return u.BilledGpuSeconds
	}
	return u.BilledGpuSeconds * math.Exp2(-dt.Hours()/halfLife.Hours())
}

// addUsage returns u plus billed GPU-seconds spent at end, as of the later
// of the two times, so that the order in which runs are recorded does not
// matter.
func addUsage(u *gpuqv1.DecayedUsage, billed float64, end time.Time, halfLife time.Duration) *gpuqv1.DecayedUsage {
	at := end
	if u != nil && u.At.AsTime().After(at) {
		at = u.At.AsTime()
	}
	v := decayed(u, at, halfLife) + billed*math.Exp2(-at.Sub(end).Hours()/halfLife.Hours())
	return &gpuqv1.DecayedUsage{BilledGpuSeconds: v, At: timestamppb.New(at)}
}

// endedRun returns the accounting record of the run that old held and next
// ends (next is the job's new record: ended, or requeued), or nil when next
// does not end a run. The caller holds writeMu.
func (q *Queue) endedRun(old, next *gpuqv1.Job, now time.Time) *gpuqv1.RunRecord {
	if old == nil || job.Ended(old.State) {
		return nil
	}
	if !active(old) {
		// A job that ends without ever running (cancelled while pending,
		// or its dependency never met) leaves a record too, with no usage.
		if !job.Ended(next.State) {
			return nil
		}
		end := now
		if next.EndTime != nil {
			end = next.EndTime.AsTime()
		}
		return &gpuqv1.RunRecord{Job: job.RefOf(old).Proto(), Run: old.Restarts, Name: old.Spec.Name, Team: old.Spec.Team,
			User: old.Spec.User, GpuType: old.Spec.Gpus.GetType(), SubmitTime: old.SubmitTime, EligibleTime: old.EligibleTime,
			EndTime: timestamppb.New(end), State: next.State}
	}
	if active(next) && next.AllocationId == old.AllocationId {
		return nil
	}
	state := next.State
	switch {
	case !job.Ended(state) && next.Reason == "Preempted":
		state = gpuqv1.JobState_JOB_STATE_PREEMPTED
	case !job.Ended(state):
		state = gpuqv1.JobState_JOB_STATE_NODE_FAIL
	}
	end := now
	if job.Ended(next.State) && next.EndTime != nil {
		end = next.EndTime.AsTime()
	}
	start := old.StartTime.AsTime()
	if old.StartTime == nil || end.Before(start) {
		start = end
	}
	pool, region, gpuType := "", "", old.Spec.Gpus.GetType()
	q.mu.RLock()
	if n := q.nodes[old.Node]; n != nil && n.info != nil {
		pool, region = n.info.Pool, n.info.Region
		if n.gpuType != "" {
			gpuType = n.gpuType
		}
	}
	q.mu.RUnlock()
	gpuSeconds := end.Sub(start).Seconds() * float64(len(old.GpuIds))
	weight := 1.0
	if w, ok := q.opts.Rules.BillingWeight[pool]; ok && w > 0 {
		weight = w
	}
	return &gpuqv1.RunRecord{
		Job: job.RefOf(old).Proto(), Run: old.Restarts, Name: old.Spec.Name, Team: old.Spec.Team, User: old.Spec.User,
		Pool: pool, Region: region, Node: old.Node, GpuType: gpuType, GpuCount: uint32(len(old.GpuIds)), GpuIds: old.GpuIds,
		SubmitTime: old.SubmitTime, EligibleTime: old.EligibleTime, StartTime: timestamppb.New(start), EndTime: timestamppb.New(end),
		State: state, ExitCode: next.ExitCode, ExitSignal: next.ExitSignal,
		GpuSeconds: gpuSeconds, BilledGpuSeconds: gpuSeconds * weight, Usage: next.Usage, AllocationId: old.AllocationId,
	}
}

// Usage is the decayed billed GPU-seconds at t by team ("sf") and by user
// within a team ("sf/alice"): what fair share counts.
func (q *Queue) Usage(t time.Time) map[string]float64 {
	q.mu.RLock()
	defer q.mu.RUnlock()
	out := make(map[string]float64, len(q.usage))
	for k, u := range q.usage {
		out[k] = decayed(u, t, q.opts.UsageHalfLife)
	}
	return out
}

// Records calls fn for the accounting record of every run that ended in
// [from, to); a zero to means no upper bound.
func (q *Queue) Records(from, to time.Time, fn func(*gpuqv1.RunRecord) error) error {
	return q.store.Records(from, to, fn)
}

// JobRecords calls fn for the accounting record of every run of job id (or
// of its task when task is set), through the store's job-id index.
func (q *Queue) JobRecords(id uint64, task *uint32, fn func(*gpuqv1.RunRecord) error) error {
	return q.store.JobRecords(id, task, fn)
}

// Runs calls fn for the run of every accounting record that ended in
// [from, to), decoding only the run (see store.Runs).
func (q *Queue) Runs(from, to time.Time, fn func(*accounting.Run) error) error {
	return q.store.Runs(from, to, fn)
}

// EncodedRecords calls fn for every accounting record that ended in
// [from, to), as it is stored (see store.EncodedRecords).
func (q *Queue) EncodedRecords(from, to time.Time, fn func(*accounting.EncodedRecord) error) error {
	return q.store.EncodedRecords(from, to, fn)
}

// EncodedRecordsOrdered is EncodedRecords in the order gpuqctl acct
// lists the records, when it can (see store.EncodedRecordsOrdered).
func (q *Queue) EncodedRecordsOrdered(from, to time.Time, parts, hold int, keep func(team, user string) bool, fn func(e *accounting.EncodedRecord, ordered bool) error) error {
	return q.store.EncodedRecordsOrdered(from, to, parts, hold, keep, fn)
}

// MaxRun is the longest run of any accounting record.
func (q *Queue) MaxRun() time.Duration { return q.store.MaxRun() }

// RunsParallel is Runs with the span cut into parts scanned at once (see
// store.RunsParallel).
func (q *Queue) RunsParallel(from, to time.Time, parts int, fn func(part int, r *accounting.Run) error) error {
	return q.store.RunsParallel(from, to, parts, fn)
}
