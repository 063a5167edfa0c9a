package accounting

import (
	"cmp"
	"time"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Run is what the reports of usage and cost read of a record: whose run it
// was, where, on how many GPUs, from when to when. A store can decode it
// from a stored record without decoding the rest (see store.Runs), which
// makes a month's report several times faster than one of whole records.
type Run struct {
	Team, User, Pool, GPUType string
	// GPUs is the GPUs the run held.
	GPUs uint32
	// Start and End are the run, [Start, End); Start is End for a job that
	// ended without running.
	Start, End time.Time
}

// RunOf is the run of rec.
func RunOf(rec *gpuqv1.RunRecord) Run {
	start, end := span(rec)
	return Run{Team: rec.GetTeam(), User: rec.GetUser(), Pool: rec.GetPool(), GPUType: rec.GetGpuType(),
		GPUs: gpus(rec), Start: start, End: end}
}

// Normalize makes Start End when it is unset or after End, as RunOf does;
// a decoder of runs calls it.
func (r *Run) Normalize() {
	if r.Start.IsZero() || r.Start.After(r.End) {
		r.Start = r.End
	}
}

// Overlaps reports whether the run overlaps p (see the function Overlaps).
func (r *Run) Overlaps(p Range) bool {
	if r.Start.Equal(r.End) {
		return p.Contains(r.End)
	}
	return (p.End.IsZero() || r.Start.Before(p.End)) && (p.Start.IsZero() || r.End.After(p.Start))
}

// clip is how long the run lies inside p.
func (r *Run) clip(p Range) time.Duration {
	start, end := r.Start, r.End
	if !p.Start.IsZero() && start.Before(p.Start) {
		start = p.Start
	}
	if !p.End.IsZero() && end.After(p.End) {
		end = p.End
	}
	if !end.After(start) {
		return 0
	}
	return end.Sub(start)
}

// EncodedRecord is a stored record as it is encoded (a gpuq.v1.RunRecord),
// with the fields a listing filters and prices by decoded: a listing
// sends the bytes on as they are instead of decoding and encoding the
// whole record.
type EncodedRecord struct {
	Run   Run
	State gpuqv1.JobState
	// HasCost is whether the record carries a cost.
	HasCost bool
	// Bytes is the record's encoding; it is valid only during the call
	// it is given to.
	Bytes []byte
	// IDs is where the record's gpu_ids are in Bytes, where they come one
	// after the other; N is 0 where it has none, or they do not.
	IDs IDSpan
}

// IDSpan is a part of an encoded record that holds N gpu_ids (each its
// tag, length and value) and nothing else: Bytes[From:To].
type IDSpan struct{ From, To, N int }

// CompareListing orders records as gpuqctl acct lists them, like sacct: by
// job id, the job before its tasks, task id, and run. A listing sorts its
// records stably by it, so that records equal in these stay in order of
// their end.
func CompareListing(a, b *gpuqv1.RunRecord) int {
	ja, jb := a.GetJob(), b.GetJob()
	if c := cmp.Compare(ja.GetId(), jb.GetId()); c != 0 {
		return c
	}
	switch {
	case ja.ArrayTaskId == nil && jb.ArrayTaskId != nil:
		return -1
	case ja.ArrayTaskId != nil && jb.ArrayTaskId == nil:
		return 1
	}
	return cmp.Or(cmp.Compare(ja.GetArrayTaskId(), jb.GetArrayTaskId()), cmp.Compare(a.GetRun(), b.GetRun()))
}
