package queue

import (
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestShare: jobs with the same GPU request, time limit and strings hold
// the same messages and string bytes, with their values unchanged; others
// keep their own; a message with unknown fields is not shared.
func TestShare(t *testing.T) {
	q := newQueue(t, "")
	limit := func(s *gpuqv1.JobSpec) { s.TimeLimit = durationpb.New(2 * time.Hour) }
	a := submit(t, q, spec(limit))
	b := submit(t, q, spec(limit))
	c := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 2; s.TimeLimit = durationpb.New(time.Hour) }))
	// What lasts: a cycle gives eligible jobs new records (deep clones).
	register(t, q, "n1", 4)
	q.Cycle()
	q.Cycle()
	jobs := map[uint64]*gpuqv1.Job{}
	for _, j := range q.List(Filter{IncludeEnded: true}) {
		jobs[j.Id] = j
	}
	ja, jb, jc := jobs[a].Spec, jobs[b].Spec, jobs[c].Spec
	if ja == jb {
		t.Fatal("two submissions share one spec")
	}
	if ja.Gpus != jb.Gpus || ja.TimeLimit != jb.TimeLimit {
		t.Error("equal GPU requests or time limits are not shared")
	}
	if unsafe.StringData(ja.Team) != unsafe.StringData(jb.Team) || unsafe.StringData(ja.User) != unsafe.StringData(jb.User) {
		t.Error("equal team or user strings are not shared")
	}
	if jc.Gpus == ja.Gpus || jc.Gpus.GetCount() != 2 || ja.Gpus.GetCount() != 4 || jc.TimeLimit.AsDuration() != time.Hour || ja.TimeLimit.AsDuration() != 2*time.Hour {
		t.Errorf("different values: %v %v and %v %v", ja.Gpus, ja.TimeLimit, jc.Gpus, jc.TimeLimit)
	}

	odd := &gpuqv1.JobSpec{Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 4}}
	odd.Gpus.ProtoReflect().SetUnknown([]byte{0xb8, 0x3e, 0x01}) // field 999, varint 1
	q.mu.Lock()
	q.share(&gpuqv1.Job{Spec: odd}, true)
	q.mu.Unlock()
	if odd.Gpus == ja.Gpus || len(odd.Gpus.ProtoReflect().GetUnknown()) != 3 {
		t.Error("a GPU request with unknown fields was shared")
	}
}

// TestShareKeys: share keys a GPU request by its type and count, and a
// time limit by its seconds and nanos; a field added to either message
// must be added to the key.
func TestShareKeys(t *testing.T) {
	if n := (&gpuqv1.GPURequest{}).ProtoReflect().Descriptor().Fields().Len(); n != 2 {
		t.Errorf("GPURequest has %d fields; gpuRequest keys 2", n)
	}
	if n := (&durationpb.Duration{}).ProtoReflect().Descriptor().Fields().Len(); n != 2 {
		t.Errorf("Duration has %d fields; timeLimit keys 2", n)
	}
}

// TestShareTimes: a record read back from the store holds its update time
// as its submit time's message while the two are equal.
func TestShareTimes(t *testing.T) {
	dir := t.TempDir()
	q, stop := startQueue(t, dir, Options{Rules: testRules})
	id := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Hold = true }))
	stop()
	q = newQueue(t, dir)
	j := q.List(Filter{IncludeEnded: true})[0]
	if j.Id != id || j.UpdateTime != j.SubmitTime {
		t.Errorf("job %d after a restart: update time %p, submit time %p", j.Id, j.UpdateTime, j.SubmitTime)
	}
	x := &gpuqv1.Job{SubmitTime: timestamppb.New(time.Unix(1, 0)), UpdateTime: timestamppb.New(time.Unix(2, 0))}
	q.mu.Lock()
	q.share(x, true)
	q.mu.Unlock()
	if x.UpdateTime.AsTime() != time.Unix(2, 0).UTC() {
		t.Errorf("a later update time became %v", x.UpdateTime.AsTime())
	}
}
