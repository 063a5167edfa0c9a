package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestPurge: ended jobs leave the queue (memory and store) MinJobAge after
// their end, as in Slurm; an array job once all its tasks have, an ended
// job a pending job depends on once that one has its answer; their
// accounting records stay, and a restart does not bring them back.
func TestPurge(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	opts := Options{Rules: testRules, Clock: clock, CycleInterval: time.Hour, MinJobAge: 5 * time.Minute}
	q, stop := startQueue(t, dir, opts)
	n, _ := register(t, q, "n1", 4)
	one := func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }
	res, err := q.Submit(context.Background(), spec(one), "request-a")
	if err != nil {
		t.Fatal(err)
	}
	a := res.ID
	arr := submit(t, q, spec(one, func(s *gpuqv1.JobSpec) { s.Array = &gpuqv1.ArraySpec{Expr: "0-1", TaskIds: []uint32{0, 1}} }))
	c := submit(t, q, spec(one))
	d := submit(t, q, spec(one, func(s *gpuqv1.JobSpec) {
		s.Hold = true
		s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: c}}
	}))
	e := submit(t, q, spec(one, func(s *gpuqv1.JobSpec) { s.Hold = true }))
	// Held jobs enough that the index of live jobs keeps the ended ones'
	// refs until the purge.
	var others []uint64
	for range 10 {
		others = append(others, submit(t, q, spec(one, func(s *gpuqv1.JobSpec) { s.Hold = true })))
	}
	q.Cycle()
	allocs := map[job.Ref]string{}
	for range 4 {
		as := n.next().GetAssignment()
		allocs[job.RefOf(as.GetJob())] = as.GetAllocationId()
	}
	task := func(i uint32) job.Ref { return job.Ref{ID: arr, Task: i, HasTask: true} }
	// Ends at the queue's clock (fakeNode.update says now).
	end := func(r job.Ref) {
		t.Helper()
		u := &gpuqv1.JobUpdate{AllocationId: allocs[r], State: gpuqv1.JobState_JOB_STATE_COMPLETED, EndTime: timestamppb.New(clock.Now())}
		if err := q.JobUpdate("n1", u); err != nil {
			t.Fatal(err)
		}
		n.next() // ack
	}
	for _, r := range []job.Ref{{ID: a}, task(0), {ID: c}} {
		end(r)
	}
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: e}}}, ""); err != nil {
		t.Fatal(err)
	}
	held := func(q *Queue) (ids []uint64) {
		for _, j := range q.List(Filter{IncludeEnded: true}) {
			if !slices.Contains(ids, j.Id) {
				ids = append(ids, j.Id)
			}
		}
		return ids
	}
	purge := func(q *Queue, want int) {
		t.Helper()
		got, err := q.Purge()
		if err != nil || got != want {
			t.Fatalf("Purge = %d, %v; want %d", got, err, want)
		}
	}

	clock.Add(4 * time.Minute)
	purge(q, 0)
	clock.Add(2 * time.Minute)
	purge(q, 2) // a and e; the array's task 1 runs, d depends on c
	if got, want := held(q), append([]uint64{arr, c, d}, others...); !slices.Equal(got, want) {
		t.Errorf("jobs held after the purge: %v, want %v", got, want)
	}
	q.Cycle() // reads the index of live jobs, which held a's and e's refs
	if _, err := q.Get(job.Ref{ID: a}); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("Get of a purged job: %v, want ErrNotFound", err)
	}
	var recs int
	if err := q.store.JobRecords(a, nil, func(*gpuqv1.RunRecord) error { recs++; return nil }); err != nil || recs != 1 {
		t.Errorf("accounting records of the purged job: %d, %v; want 1", recs, err)
	}
	q.mu.RLock()
	_, kept := q.requests["request-a"]
	q.mu.RUnlock()
	if kept {
		t.Error("the purged job's request id is still held")
	}

	end(task(1))
	for _, id := range append([]uint64{d}, others...) {
		if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: id}}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(4 * time.Minute)
	purge(q, 1) // c: d has its answer; the array's last task and d ended 4 minutes ago
	clock.Add(2 * time.Minute)
	purge(q, 2+len(others))
	if got := held(q); len(got) != 0 {
		t.Errorf("jobs held: %v, want none", got)
	}

	// A restart finds none of them, and ids go on.
	stop()
	q2, _ := startQueue(t, dir, opts)
	if got := held(q2); len(got) != 0 {
		t.Errorf("jobs after a restart: %v, want none", got)
	}
	// Nor its request id: a retry so late makes a new job.
	last := others[len(others)-1]
	if res, err := q2.Submit(context.Background(), spec(one), "request-a"); err != nil || res.Duplicate || res.ID != last+1 {
		t.Errorf("submission with the purged job's request id: %+v, %v; want job %d, not a duplicate", res, err, last+1)
	}
}

func TestPurgeOff(t *testing.T) {
	q, clock := newQueueClock(t, "")
	a := submit(t, q, spec())
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: a}}}, ""); err != nil {
		t.Fatal(err)
	}
	clock.Add(365 * 24 * time.Hour)
	if n, err := q.Purge(); n != 0 || err != nil {
		t.Errorf("Purge with no MinJobAge = %d, %v; want nothing", n, err)
	}
	if _, err := q.Get(job.Ref{ID: a}); err != nil {
		t.Errorf("Get: %v", err)
	}
}

// TestPurgeKeepsWhatMayBeDecidedAgain: an ended job stays while a running
// job depends on it (that one may be requeued and its dependencies read
// again), and an end reported late stays min_job_age from when gpuqd
// heard of it.
func TestPurgeKeepsWhatMayBeDecidedAgain(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	q, _ := startQueue(t, "", Options{Rules: testRules, Clock: clock, CycleInterval: time.Hour, MinJobAge: 5 * time.Minute})
	n, _ := register(t, q, "n1", 4)
	one := func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }
	update := func(alloc string, st gpuqv1.JobState, end time.Time) {
		t.Helper()
		if err := q.JobUpdate("n1", &gpuqv1.JobUpdate{AllocationId: alloc, State: st, EndTime: timestamppb.New(end)}); err != nil {
			t.Fatal(err)
		}
		n.next() // ack
	}
	a := submit(t, q, spec(one))
	b := submit(t, q, spec(one, func(s *gpuqv1.JobSpec) {
		s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: a}}
	}))
	q.Cycle()
	ra := n.next().GetAssignment()
	// An end a node reports an hour late (its clock behind, or gpuqd was down).
	update(ra.GetAllocationId(), gpuqv1.JobState_JOB_STATE_COMPLETED, clock.Now().Add(-time.Hour))
	q.Cycle()
	rb := n.next().GetAssignment()
	if rb.GetJob().GetId() != b {
		t.Fatalf("assignment %v, want job %d", rb, b)
	}
	clock.Add(6 * time.Minute)
	if got, err := q.Purge(); got != 0 || err != nil {
		t.Fatalf("Purge = %d, %v; want nothing while job %d runs", got, err, b)
	}
	update(rb.GetAllocationId(), gpuqv1.JobState_JOB_STATE_PREEMPTED, clock.Now())
	q.Cycle()
	if again := n.next().GetAssignment(); again.GetJob().GetId() != b {
		t.Fatalf("after the requeue: %v, want job %d to run again", again, b)
	}
	if j := jobState(q, b); j.State != gpuqv1.JobState_JOB_STATE_RUNNING {
		t.Errorf("job %d = %s %s, want RUNNING", b, job.StateName(j.State), j.Reason)
	}
}

func TestEndedBefore(t *testing.T) {
	at := func(m int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2026, 11, 27, 9, m, 0, 0, time.UTC))
	}
	cutoff := at(10).AsTime()
	done := gpuqv1.JobState_JOB_STATE_COMPLETED
	for _, tc := range []struct {
		name string
		j    *gpuqv1.Job
		want bool
	}{
		{"ended and heard of before", &gpuqv1.Job{State: done, EndTime: at(1), UpdateTime: at(2)}, true},
		{"ended before, heard of after", &gpuqv1.Job{State: done, EndTime: at(1), UpdateTime: at(11)}, false},
		{"no end time", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_CANCELLED, UpdateTime: at(3)}, true},
		{"no times", &gpuqv1.Job{State: done}, false},
		{"running", &gpuqv1.Job{State: gpuqv1.JobState_JOB_STATE_RUNNING, UpdateTime: at(1)}, false},
	} {
		if got := endedBefore(tc.j, cutoff); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
