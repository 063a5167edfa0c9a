package queue

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fillAll sets every field of m to a value other than its zero: scalars to
// 1 (or "x", true, the second enum value), messages to an empty one, lists
// and maps to one such element.
func fillAll(t *testing.T, m protoreflect.Message) {
	t.Helper()
	scalar := func(fd protoreflect.FieldDescriptor) protoreflect.Value {
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(true)
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(fd.Enum().Values().Get(1).Number())
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(1)
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(1)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(1)
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(1)
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32(1)
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64(1)
		case protoreflect.StringKind:
			return protoreflect.ValueOfString("x")
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes([]byte("x"))
		}
		t.Fatalf("field %s: kind %v", fd.FullName(), fd.Kind())
		return protoreflect.Value{}
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Message() != nil {
				l.Append(l.NewElement())
			} else {
				l.Append(scalar(fd))
			}
		case fd.IsMap():
			t.Fatalf("field %s: maps are not filled", fd.FullName())
		case fd.Message() != nil:
			m.Mutable(fd)
		default:
			m.Set(fd, scalar(fd))
		}
	}
}

func TestWithReason(t *testing.T) {
	j := &gpuqv1.Job{}
	fillAll(t, j.ProtoReflect())
	// A field of a newer gpuqd's records: 999, varint 1.
	j.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1))
	got := withReason(j, j.Reason, j.Priority)
	if !proto.Equal(got, j) {
		t.Fatalf("withReason does not copy every field of Job (a field added to the message?):\ngot  %v\nwant %v", got, j)
	}
	if got.Spec != j.Spec || got.SubmitTime != j.SubmitTime || &got.Decisions[0] != &j.Decisions[0] {
		t.Error("withReason copied messages it should share")
	}
	x := withReason(j, "Priority", 2.5)
	if x.Reason != "Priority" || x.Priority != 2.5 || j.Reason != "x" || j.Priority != 1 {
		t.Errorf("withReason: copy %q %v, original %q %v", x.Reason, x.Priority, j.Reason, j.Priority)
	}
}

// TestSnapshotLiveJobs: a cycle's snapshot holds the jobs that have not
// ended and the ended ones pending jobs depend on, in ref order, as a
// scan of every job would find them, and the index of live jobs drops
// the ended ones.
func TestSnapshotLiveJobs(t *testing.T) {
	q, _ := newQueueClock(t, "")
	n, _ := register(t, q, "n1", 4)
	one := func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }
	a, b, c := submit(t, q, spec(one)), submit(t, q, spec(one)), submit(t, q, spec(one))
	// Held, so that it stays pending and a stays needed.
	d := submit(t, q, spec(one, func(s *gpuqv1.JobSpec) {
		s.Hold = true
		s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: a}}
	}))
	q.Cycle()
	allocs := map[uint64]string{}
	for range 3 {
		as := n.next().GetAssignment()
		allocs[as.GetJob().GetId()] = as.GetAllocationId()
	}
	n.update(allocs[a], gpuqv1.JobState_JOB_STATE_COMPLETED, 0)
	n.update(allocs[b], gpuqv1.JobState_JOB_STATE_FAILED, 1)
	n.update(allocs[c], gpuqv1.JobState_JOB_STATE_PREEMPTED, 0) // requeued
	var more []uint64
	for range 20 {
		more = append(more, submit(t, q, spec(one)))
	}
	// An ended job in the middle of the live ones that a held job needs.
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: more[5]}}}, ""); err != nil {
		t.Fatal(err)
	}
	waiter := submit(t, q, spec(one, func(s *gpuqv1.JobSpec) {
		s.Hold = true
		s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY, JobId: more[5]}}
	}))
	refs := func(s *sched.Snapshot) (out []job.Ref) {
		for _, j := range s.Jobs {
			out = append(out, j.Ref)
		}
		return out
	}
	// What the scan of every job found.
	scan := func() (out []job.Ref) {
		q.mu.RLock()
		defer q.mu.RUnlock()
		needed := map[uint64]bool{}
		for _, r := range q.order {
			if j := q.jobs[r]; j.State == gpuqv1.JobState_JOB_STATE_PENDING {
				for _, dep := range j.Spec.Dependencies {
					needed[dep.JobId] = true
				}
			}
		}
		for _, r := range q.order {
			if !job.Ended(q.jobs[r].State) || needed[r.ID] {
				out = append(out, r)
			}
		}
		return out
	}
	// Both under the writers' lock: the queue's loop may run a cycle.
	both := func() (scanned, got []job.Ref) {
		q.writeMu.Lock()
		defer q.writeMu.Unlock()
		return scan(), refs(q.snapshot())
	}
	scanned, got := both()
	if diff := cmp.Diff(scanned, got); diff != "" {
		t.Errorf("snapshot (-scan +got):\n%s", diff)
	}
	want := []job.Ref{{ID: a}, {ID: c}, {ID: d}}
	for _, id := range append(more, waiter) {
		want = append(want, job.Ref{ID: id})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	// Ending most of the jobs drops them from the index.
	for range 5 {
		q.Cycle()
		for {
			select {
			case m := <-n.out:
				if as := m.GetAssignment(); as != nil {
					n.update(as.GetAllocationId(), gpuqv1.JobState_JOB_STATE_COMPLETED, 0)
				}
				continue
			default:
			}
			break
		}
	}
	scanned, got = both()
	if diff := cmp.Diff(scanned, got); diff != "" {
		t.Errorf("snapshot after more ends (-scan +got):\n%s", diff)
	}
	q.writeMu.Lock()
	live := len(scan())
	q.mu.RLock()
	held := len(q.live)
	q.mu.RUnlock()
	q.writeMu.Unlock()
	if held > 2*live+1 {
		t.Errorf("index of live jobs holds %d refs for %d live jobs", held, live)
	}
}
