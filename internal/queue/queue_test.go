package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testRules = Rules{
	QOS:          []string{"high", "low", "normal"},
	Teams:        []string{"berlin", "sf", "tokyo"},
	GPUsPerNode:  map[string]int{"a100": 8, "a800": 4},
	PoolTypes:    map[string]string{"a100-us-west1": "a100", "a800-us-east1": "a800"},
	PoolRegion:   map[string]string{"a100-us-west1": "us-west1", "a800-us-east1": "us-east1"},
	MaxTimeLimit: 7 * 24 * time.Hour,
}

// newQueue starts a queue over a store in dir ("" = in memory) and stops it
// when the test ends.
func newQueue(t *testing.T, dir string) *Queue {
	t.Helper()
	q, _ := newQueueClock(t, dir)
	return q
}

func newQueueClock(t *testing.T, dir string) (*Queue, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	q, _ := startQueue(t, dir, Options{Rules: testRules, Clock: clock, CycleInterval: time.Hour})
	return q, clock
}

// startQueue opens the store in dir (in memory for "") and runs a queue on
// it with opts until stop, or the end of the test: stop ends the queue's
// loops and closes the store, so that the directory can be opened again.
func startQueue(t *testing.T, dir string, opts Options) (q *Queue, stop func()) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, InMemory: dir == ""})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	q, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(stop)
	return q, stop
}

func spec(mod ...func(*gpuqv1.JobSpec)) *gpuqv1.JobSpec {
	s := &gpuqv1.JobSpec{
		Name: "train", Team: "sf", User: "alice",
		Gpus:   &gpuqv1.GPURequest{Type: "a100", Count: 4},
		Script: []byte("#!/bin/sh\necho hi\n"),
	}
	for _, m := range mod {
		m(s)
	}
	return s
}

func submit(t *testing.T, q *Queue, s *gpuqv1.JobSpec) uint64 {
	t.Helper()
	res, err := q.Submit(context.Background(), s, "")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res.ID
}

func TestSubmitValidation(t *testing.T) {
	q := newQueue(t, "")
	big := make([]byte, MaxScriptSize+1)
	tests := []struct {
		name  string
		spec  *gpuqv1.JobSpec
		field string
	}{
		{"unknown team", spec(func(s *gpuqv1.JobSpec) { s.Team = "paris" }), "spec.team"},
		{"unknown QOS", spec(func(s *gpuqv1.JobSpec) { s.Qos = "urgent" }), "spec.qos"},
		{"no team", spec(func(s *gpuqv1.JobSpec) { s.Team = "" }), "spec.team"},
		{"unknown GPU type", spec(func(s *gpuqv1.JobSpec) { s.Gpus.Type = "h100" }), "spec.gpus.type"},
		{"more GPUs than a node", spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 9 }), "spec.gpus.count"},
		{"more a800 than a node", spec(func(s *gpuqv1.JobSpec) { s.Gpus = &gpuqv1.GPURequest{Type: "a800", Count: 5} }), "spec.gpus.count"},
		{"pool of another type", spec(func(s *gpuqv1.JobSpec) { s.Pool = "a800-us-east1" }), "spec.gpus.type"},
		{"unknown pool", spec(func(s *gpuqv1.JobSpec) { s.Pool = "mars" }), "spec.pool"},
		{"empty script", spec(func(s *gpuqv1.JobSpec) { s.Script = []byte(" \n") }), "spec.script"},
		{"script over 1 MiB", spec(func(s *gpuqv1.JobSpec) { s.Script = big }), "spec.script"},
		{"time over the maximum", spec(func(s *gpuqv1.JobSpec) { s.TimeLimit = durationpb.New(8 * 24 * time.Hour) }), "spec.time_limit"},
		{"no user", spec(func(s *gpuqv1.JobSpec) { s.User = "" }), "spec.user"},
		{"nice out of range", spec(func(s *gpuqv1.JobSpec) { s.Nice = 20000 }), "spec.nice"},
		{"dependency on nothing", spec(func(s *gpuqv1.JobSpec) {
			s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: 999}}
		}), "spec.dependencies[0].job_id"},
		{"array with unsorted tasks", spec(func(s *gpuqv1.JobSpec) { s.Array = &gpuqv1.ArraySpec{TaskIds: []uint32{3, 1}} }), "spec.array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := q.Submit(context.Background(), tt.spec, "")
			var inv *job.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want *job.InvalidError", err)
			}
			if got := inv.Fields[0].Field; got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
	if n := q.Len(); n != 0 {
		t.Errorf("%d jobs stored after bad submissions, want 0", n)
	}
}

func TestSubmitSurvivesRestartWithIncreasingIDs(t *testing.T) {
	dir := t.TempDir()
	q, stop := startQueue(t, dir, Options{Rules: testRules})
	ctx := context.Background()
	first, err := q.Submit(ctx, spec(), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	arr, err := q.Submit(ctx, spec(func(s *gpuqv1.JobSpec) { s.Array = &gpuqv1.ArraySpec{Expr: "0-2", TaskIds: []uint32{0, 1, 2}} }), "")
	if err != nil {
		t.Fatal(err)
	}
	stop()

	q2 := newQueue(t, dir)
	if got := q2.Len(); got != 4 {
		t.Errorf("after restart %d records, want 4", got)
	}
	again, err := q2.Submit(context.Background(), spec(), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.ID != first.ID {
		t.Errorf("retried request = %+v, want duplicate of job %d", again, first.ID)
	}
	third := submit(t, q2, spec())
	if third <= arr.ID {
		t.Errorf("id after restart %d, want > %d", third, arr.ID)
	}
	got, err := q2.Get(job.Ref{ID: first.ID})
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].Spec.Script) != "#!/bin/sh\necho hi\n" {
		t.Errorf("script after restart = %q", got[0].Spec.Script)
	}
}

func TestConcurrentSubmitsGetUniqueIDs(t *testing.T) {
	q := newQueue(t, t.TempDir())
	const clients, each = 16, 50
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				// Every request id is sent twice: the second must not create a job.
				rid := fmt.Sprintf("c%d-%d", c, i)
				a, err := q.Submit(context.Background(), spec(), rid)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := q.Submit(context.Background(), spec(), rid)
				if err != nil || b.ID != a.ID || !b.Duplicate {
					t.Errorf("retry of %s = %+v, %v; want duplicate of %d", rid, b, err, a.ID)
				}
				mu.Lock()
				if seen[a.ID] {
					t.Errorf("id %d handed out twice", a.ID)
				}
				seen[a.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := q.Len(); got != clients*each {
		t.Errorf("%d jobs, want %d", got, clients*each)
	}
}

func TestSameRequestIDInOneBatch(t *testing.T) {
	q := newQueue(t, "")
	var wg sync.WaitGroup
	ids := make([]uint64, 8)
	for i := range ids {
		wg.Go(func() {
			res, err := q.Submit(context.Background(), spec(), "same")
			if err != nil {
				t.Error(err)
			}
			ids[i] = res.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids %v, want all equal", ids)
		}
	}
	if q.Len() != 1 {
		t.Errorf("%d jobs, want 1", q.Len())
	}
}

func states(q *Queue, f Filter) map[string]string {
	f.IncludeEnded = true
	out := map[string]string{}
	for _, j := range q.List(f) {
		out[job.RefOf(j).String()] = job.StateName(j.State) + "/" + j.Reason
	}
	return out
}

func TestCancelHoldRelease(t *testing.T) {
	q := newQueue(t, "")
	a := submit(t, q, spec())
	arr := submit(t, q, spec(func(s *gpuqv1.JobSpec) {
		s.Name = "sweep"
		s.Array = &gpuqv1.ArraySpec{Expr: "0-4%2", TaskIds: []uint32{0, 1, 2, 3, 4}, MaxConcurrent: 2}
	}))
	refs, err := job.ParseRefs(fmt.Sprintf("%d_[1-2]", arr))
	if err != nil {
		t.Fatal(err)
	}
	out, err := q.Cancel(Filter{Jobs: append(refs, job.Ref{ID: 999})}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || !errors.Is(out[0].Err, job.ErrNotFound) || out[1].Err != nil || out[2].Err != nil {
		t.Errorf("cancel outcomes = %+v", out)
	}
	if _, err := q.Hold(Filter{Jobs: []job.Ref{{ID: a}}}); err != nil {
		t.Fatal(err)
	}
	q.Cycle()
	want := map[string]string{
		fmt.Sprint(a):            "PENDING/JobHeldUser",
		fmt.Sprintf("%d_0", arr): "PENDING/ReqNodeNotAvail",
		fmt.Sprintf("%d_1", arr): "CANCELLED/CancelledByUser",
		fmt.Sprintf("%d_2", arr): "CANCELLED/CancelledByUser",
		fmt.Sprintf("%d_3", arr): "PENDING/ReqNodeNotAvail",
		fmt.Sprintf("%d_4", arr): "PENDING/ReqNodeNotAvail",
	}
	if diff := cmp.Diff(want, states(q, Filter{})); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	// Cancelling an ended task again says it has ended.
	out, _ = q.Cancel(Filter{Jobs: refs[:1]}, "")
	if !errors.Is(out[0].Err, job.ErrInvalidState) {
		t.Errorf("second cancel = %v, want ErrInvalidState", out[0].Err)
	}
	if _, err := q.Release(Filter{Users: []string{"alice"}, States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PENDING}}); err != nil {
		t.Fatal(err)
	}
	q.Cycle()
	if got := states(q, Filter{Jobs: []job.Ref{{ID: a}}})[fmt.Sprint(a)]; got != "PENDING/ReqNodeNotAvail" {
		t.Errorf("after release: %s", got)
	}
	// Cancel by name only touches that name.
	if _, err := q.Cancel(Filter{Names: []string{"sweep"}}, ""); err != nil {
		t.Fatal(err)
	}
	if got := len(q.List(Filter{})); got != 1 {
		t.Errorf("%d active jobs after cancelling the sweep, want 1", got)
	}
}

func TestDependencyNeverSatisfiedIsCancelled(t *testing.T) {
	q := newQueue(t, "")
	a := submit(t, q, spec())
	b := submit(t, q, spec(func(s *gpuqv1.JobSpec) {
		s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: a}}
	}))
	c := submit(t, q, spec(func(s *gpuqv1.JobSpec) {
		s.Dependencies = []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY, JobId: a}}
	}))
	q.Cycle()
	if got := states(q, Filter{})[fmt.Sprint(b)]; got != "PENDING/Dependency" {
		t.Errorf("b = %s, want PENDING/Dependency", got)
	}
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: a}}}, ""); err != nil {
		t.Fatal(err)
	}
	q.Cycle()
	got := states(q, Filter{})
	if got[fmt.Sprint(b)] != "CANCELLED/DependencyNeverSatisfied" {
		t.Errorf("b = %s, want CANCELLED/DependencyNeverSatisfied", got[fmt.Sprint(b)])
	}
	if got[fmt.Sprint(c)] != "PENDING/ReqNodeNotAvail" {
		t.Errorf("c = %s, want its afterany met", got[fmt.Sprint(c)])
	}
}

// TestLargeChanges: a burst of submissions with real environments, and one
// cancel of 30,000 tasks, are each more than badger takes in one
// transaction; both must go through.
func TestLargeChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("30,000 jobs")
	}
	q := newQueue(t, "")
	env := map[string]string{}
	for i := range 60 {
		env[fmt.Sprintf("VAR_%d", i)] = strings.Repeat("x", 50)
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 40 {
				if _, err := q.Submit(context.Background(), spec(func(s *gpuqv1.JobSpec) { s.Environment = env }), ""); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ids := make([]uint32, 10_000)
	for i := range ids {
		ids[i] = uint32(i)
	}
	for range 3 {
		submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Array = &gpuqv1.ArraySpec{Expr: "0-9999", TaskIds: ids} }))
	}
	q.Cycle() // 31,280 jobs become eligible at once
	out, err := q.Cancel(Filter{Users: []string{"alice"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 32*40+30_000 {
		t.Errorf("%d outcomes, want %d", len(out), 32*40+30_000)
	}
	if n := len(q.List(Filter{})); n != 0 {
		t.Errorf("%d jobs still active after cancelling all", n)
	}
}
