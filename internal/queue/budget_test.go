package queue

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fakeBudget holds the teams in over and keeps the records it is handed.
type fakeBudget struct {
	mu       sync.Mutex
	over     map[string]bool
	recorded []string
}

func (b *fakeBudget) OverBudget(team string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over[team]
}

func (b *fakeBudget) Recorded(recs []*gpuqv1.RunRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		b.recorded = append(b.recorded, fmt.Sprintf("%s %s %s", job.FromProto(r.Job), r.Team, job.StateName(r.State)))
	}
}

// startBudgetQueue runs a queue with a budget over the store in dir until
// the test ends or stop is called.
func startBudgetQueue(t *testing.T, dir string, b Budget) (q *Queue, stop func()) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	return startQueue(t, dir, Options{Rules: testRules, Clock: clock, CycleInterval: time.Hour, Budget: b})
}

func TestBudgetHolds(t *testing.T) {
	dir := t.TempDir()
	b := &fakeBudget{over: map[string]bool{"sf": true}}
	q, stop := startBudgetQueue(t, dir, b)
	over := submit(t, q, spec())
	arr := submit(t, q, spec(func(s *gpuqv1.JobSpec) {
		s.Array = &gpuqv1.ArraySpec{Expr: "0-1", TaskIds: []uint32{0, 1}}
	}))
	userHeld := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Hold = true })) // held for the budget too
	other := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Team = "tokyo" }))
	q.Cycle()
	// A user's hold of a job held for the budget leaves the budget's hold:
	// turned into the user's, its owner could release it past the budget.
	if _, err := q.Hold(Filter{Jobs: []job.Ref{{ID: userHeld}}}); err != nil {
		t.Fatal(err)
	}
	out, err := q.ReleaseUserHolds(Filter{Jobs: []job.Ref{{ID: userHeld}}})
	if err != nil || len(out) != 1 || !errors.Is(out[0].Err, job.ErrPermissionDenied) {
		t.Errorf("a user's release of a job held for the budget = %v, %v; want permission denied", out, err)
	}
	q.Cycle()
	want := map[string]string{
		fmt.Sprint(over):         "PENDING/Budget",
		fmt.Sprintf("%d_0", arr): "PENDING/Budget",
		fmt.Sprintf("%d_1", arr): "PENDING/Budget",
		fmt.Sprint(userHeld):     "PENDING/Budget",
		fmt.Sprint(other):        "PENDING/ReqNodeNotAvail",
	}
	if diff := cmp.Diff(want, states(q, Filter{})); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}

	// The holds and their reasons survive a restart.
	stop()
	q, _ = startBudgetQueue(t, dir, b)
	q.Cycle()
	if diff := cmp.Diff(want, states(q, Filter{})); diff != "" {
		t.Errorf("states after a restart (-want +got):\n%s", diff)
	}
	if got := jobState(q, over).HoldReason; got != "Budget" {
		t.Errorf("hold reason after a restart = %q, want Budget", got)
	}

	// The budget raised: the budget's holds are released.
	b.mu.Lock()
	b.over["sf"] = false
	b.mu.Unlock()
	n, err := q.ReleaseBudgetHolds("sf")
	if err != nil || n != 4 {
		t.Fatalf("ReleaseBudgetHolds = %d, %v; want 4", n, err)
	}
	if n, err := q.ReleaseBudgetHolds("sf"); err != nil || n != 0 {
		t.Errorf("ReleaseBudgetHolds again = %d, %v; want 0", n, err)
	}
	q.Cycle()
	want[fmt.Sprint(over)] = "PENDING/ReqNodeNotAvail"
	want[fmt.Sprintf("%d_0", arr)] = "PENDING/ReqNodeNotAvail"
	want[fmt.Sprintf("%d_1", arr)] = "PENDING/ReqNodeNotAvail"
	want[fmt.Sprint(userHeld)] = "PENDING/ReqNodeNotAvail"
	if diff := cmp.Diff(want, states(q, Filter{})); diff != "" {
		t.Errorf("states after the release (-want +got):\n%s", diff)
	}

	// An operator's release of a job held for the budget.
	b.mu.Lock()
	b.over["sf"] = true
	b.mu.Unlock()
	held := submit(t, q, spec())
	if _, err := q.Release(Filter{Jobs: []job.Ref{{ID: held}}}); err != nil {
		t.Fatal(err)
	}
	q.Cycle()
	if j := jobState(q, held); j.Held || j.HoldReason != "" || j.Reason != "ReqNodeNotAvail" {
		t.Errorf("released job: held %v, hold reason %q, reason %q", j.Held, j.HoldReason, j.Reason)
	}
}

func TestBudgetRecorded(t *testing.T) {
	b := &fakeBudget{}
	q, _ := startBudgetQueue(t, t.TempDir(), b)
	n, _ := register(t, q, "n1", 4)
	a := submit(t, q, spec())
	never := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Hold = true; s.Team = "tokyo" }))
	q.Cycle()
	n.update(n.next().GetAssignment().AllocationId, gpuqv1.JobState_JOB_STATE_COMPLETED, 0)
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: never}}}, ""); err != nil {
		t.Fatal(err)
	}
	var paused bool
	if err := q.Paused(func() error { paused = true; return nil }); err != nil || !paused {
		t.Fatalf("Paused = %v, ran %v", err, paused)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	want := []string{fmt.Sprintf("%d sf COMPLETED", a), fmt.Sprintf("%d tokyo CANCELLED", never)}
	if diff := cmp.Diff(want, b.recorded); diff != "" {
		t.Errorf("records handed to the budget (-want +got):\n%s", diff)
	}
}
