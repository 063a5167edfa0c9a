package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func nodeInfo(name string, gpus int) *gpuqv1.NodeInfo {
	n := &gpuqv1.NodeInfo{Name: name, Pool: "a100-us-west1", Simulated: true}
	for i := range gpus {
		n.Gpus = append(n.Gpus, &gpuqv1.GPU{Index: uint32(i), Uuid: fmt.Sprintf("GPU-%s-%d", name, i), Type: "a100"})
	}
	return n
}

// fakeNode registers with the queue and attaches a session.
type fakeNode struct {
	t       *testing.T
	q       *Queue
	name    string
	session string
	out     <-chan *gpuqv1.ControllerMessage
}

func register(t *testing.T, q *Queue, name string, gpus int, running ...*gpuqv1.RunningJob) (*fakeNode, *gpuqv1.RegisterNodeResponse) {
	t.Helper()
	resp, err := q.RegisterNode(nodeInfo(name, gpus), running, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, detach, err := q.AttachSession(name, resp.SessionId)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(detach)
	return &fakeNode{t: t, q: q, name: name, session: resp.SessionId, out: out}, resp
}

func (n *fakeNode) next() *gpuqv1.ControllerMessage {
	n.t.Helper()
	select {
	case m := <-n.out:
		return m
	case <-time.After(5 * time.Second):
		n.t.Fatalf("node %s got no message", n.name)
		return nil
	}
}

func (n *fakeNode) update(alloc string, s gpuqv1.JobState, code int32) {
	n.t.Helper()
	u := &gpuqv1.JobUpdate{AllocationId: alloc, State: s, ExitCode: code, EndTime: timestamppb.Now()}
	if err := n.q.JobUpdate(n.name, u); err != nil {
		n.t.Fatal(err)
	}
}

func jobState(q *Queue, id uint64) *gpuqv1.Job {
	jobs := q.List(Filter{Jobs: []job.Ref{{ID: id}}})
	return jobs[0]
}

func TestRunOnNode(t *testing.T) {
	q := newQueue(t, "")
	n, _ := register(t, q, "n1", 4)
	a := submit(t, q, spec())
	b := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 2 }))
	q.Cycle()
	as := n.next().GetAssignment()
	if as == nil || as.Job.Id != a || len(as.GpuIds) != 4 || string(as.Job.Spec.Script) == "" || as.Job.Spec.TimeLimit.AsDuration() != time.Hour {
		t.Fatalf("assignment = %v, want job %d on 4 GPUs with its script and a time limit", as, a)
	}
	if j := jobState(q, b); j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Reason != "Resources" {
		t.Errorf("job b = %s/%s, want PENDING/Resources", job.StateName(j.State), j.Reason)
	}
	n.update(as.AllocationId, gpuqv1.JobState_JOB_STATE_COMPLETED, 0)
	if ack := n.next().GetAck(); ack.GetAllocationId() != as.AllocationId {
		t.Errorf("ack = %v, want %s", ack, as.AllocationId)
	}
	if j := jobState(q, a); j.State != gpuqv1.JobState_JOB_STATE_COMPLETED {
		t.Errorf("job a = %s, want COMPLETED", job.StateName(j.State))
	}
	q.Cycle()
	bs := n.next().GetAssignment()
	if bs.GetJob().GetId() != b {
		t.Fatalf("second assignment = %v, want job %d", bs, b)
	}
	// Cancelling a running job asks the node to stop it; it ends CANCELLED.
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: b}}}, ""); err != nil {
		t.Fatal(err)
	}
	stop := n.next().GetStop()
	if stop.GetAllocationId() != bs.AllocationId || stop.Reason != gpuqv1.StopJob_REASON_CANCEL {
		t.Fatalf("stop = %v", stop)
	}
	n.update(bs.AllocationId, gpuqv1.JobState_JOB_STATE_FAILED, 143)
	if j := jobState(q, b); j.State != gpuqv1.JobState_JOB_STATE_CANCELLED {
		t.Errorf("job b = %s, want CANCELLED", job.StateName(j.State))
	}
}

// TestJobUpdatesBatch: a node's updates stored together, in order: the
// end of a run that reported no start (a short job: its start time comes
// with its end), another run's start, a
// run gpuqd does not know (fenced) and the end of one it no longer knows
// (acknowledged). Ends are acknowledged after the batch is stored.
func TestJobUpdatesBatch(t *testing.T) {
	q, clock := newQueueClock(t, "")
	n, _ := register(t, q, "n1", 4)
	one := func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }
	a, b := submit(t, q, spec(one)), submit(t, q, spec(one))
	q.Cycle()
	allocs := map[uint64]string{}
	for range 2 {
		as := n.next().GetAssignment()
		allocs[as.GetJob().GetId()] = as.GetAllocationId()
	}
	started := timestamppb.New(clock.Now().Add(time.Second))
	ended := timestamppb.New(clock.Now().Add(2 * time.Second))
	err := q.JobUpdates("n1", []*gpuqv1.JobUpdate{
		{AllocationId: allocs[a], State: gpuqv1.JobState_JOB_STATE_COMPLETED, StartTime: started, EndTime: ended},
		{AllocationId: allocs[b], State: gpuqv1.JobState_JOB_STATE_RUNNING, StartTime: started},
		{AllocationId: "99.0.unknown", State: gpuqv1.JobState_JOB_STATE_RUNNING, StartTime: started},
		{AllocationId: "98.0.gone", State: gpuqv1.JobState_JOB_STATE_COMPLETED, EndTime: ended},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		switch m := n.next(); {
		case m.GetStop() != nil:
			got = append(got, "stop "+m.GetStop().GetAllocationId()+" "+m.GetStop().GetReason().String())
		case m.GetAck() != nil:
			got = append(got, "ack "+m.GetAck().GetAllocationId())
		default:
			got = append(got, fmt.Sprint(m))
		}
	}
	want := []string{"stop 99.0.unknown REASON_FENCE", "ack " + allocs[a], "ack 98.0.gone"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages to the node (-want +got):\n%s", diff)
	}
	if j := jobState(q, a); j.State != gpuqv1.JobState_JOB_STATE_COMPLETED || !j.StartTime.AsTime().Equal(started.AsTime()) ||
		!j.EndTime.AsTime().Equal(ended.AsTime()) {
		t.Errorf("job a = %s started %v ended %v, want COMPLETED started %v ended %v", job.StateName(j.State),
			j.StartTime.AsTime(), j.EndTime.AsTime(), started.AsTime(), ended.AsTime())
	}
	if j := jobState(q, b); j.State != gpuqv1.JobState_JOB_STATE_RUNNING || !j.StartTime.AsTime().Equal(started.AsTime()) {
		t.Errorf("job b = %s started %v, want RUNNING started %v", job.StateName(j.State), j.StartTime.AsTime(), started.AsTime())
	}
	// Only a's end freed an allocation.
	if views := q.Nodes(); len(views) != 1 || len(views[0].Jobs) != 1 || views[0].Jobs[0].ID != b {
		t.Errorf("node's jobs = %+v, want only job %d", views, b)
	}
}

func TestNodeLostJobsRequeuedAndFenced(t *testing.T) {
	q, clock := newQueueClock(t, "")
	n1, _ := register(t, q, "n1", 1)
	a := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }))
	keep := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1; s.NoRequeue = true }))
	q.Cycle()
	first := n1.next().GetAssignment()
	if first.GetJob().GetId() != a {
		t.Fatalf("assignment %v, want job %d", first, a)
	}
	// n1 stops answering; n2 joins.
	clock.Add(2 * time.Minute)
	n2, _ := register(t, q, "n2", 1)
	q.checkNodes()
	j := jobState(q, a)
	if j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Restarts != 1 || j.Reason != "NodeFail" {
		t.Fatalf("job on the lost node = %s/%s restarts %d, want PENDING/NodeFail restarts 1", job.StateName(j.State), j.Reason, j.Restarts)
	}
	q.Cycle()
	second := n2.next().GetAssignment()
	if second.GetJob().GetId() != a || second.AllocationId == first.AllocationId {
		t.Fatalf("requeued job assignment %v", second)
	}
	// n1 comes back still running the first allocation: it is fenced.
	_, resp := register(t, q, "n1", 1, &gpuqv1.RunningJob{AllocationId: first.AllocationId, Job: job.RefOf(first.Job).Proto()})
	if len(resp.FencedAllocations) != 1 || resp.FencedAllocations[0] != first.AllocationId {
		t.Errorf("fenced = %v, want [%s]", resp.FencedAllocations, first.AllocationId)
	}
	q.Cycle()
	// The job that must not be requeued starts on n1, whose node is lost again.
	third := n1Next(t, q)
	if third.GetJob().GetId() != keep {
		t.Fatalf("assignment %v, want job %d", third, keep)
	}
	clock.Add(2 * time.Minute)
	_ = n2
	q.checkNodes()
	if j := jobState(q, keep); j.State != gpuqv1.JobState_JOB_STATE_NODE_FAIL {
		t.Errorf("--no-requeue job on a lost node = %s, want NODE_FAIL", job.StateName(j.State))
	}
}

// n1Next reads the next message of n1's current session.
func n1Next(t *testing.T, q *Queue) *gpuqv1.Assignment {
	t.Helper()
	q.mu.RLock()
	out := q.nodes["n1"].out
	q.mu.RUnlock()
	select {
	case m := <-out:
		return m.GetAssignment()
	case <-time.After(5 * time.Second):
		t.Fatal("n1 got no message")
		return nil
	}
}

func TestTeamGrace(t *testing.T) {
	q := &Queue{opts: Options{GracePeriod: 300 * time.Second, Rules: Rules{TeamGrace: map[string]time.Duration{"tokyo": time.Minute}}}}
	if g := q.grace("tokyo"); g != time.Minute {
		t.Errorf("tokyo grace = %s, want 1m", g)
	}
	if g := q.grace("sf"); g != 300*time.Second {
		t.Errorf("sf grace = %s, want the default 5m", g)
	}
}

// TestNodeFailuresAcrossRestarts: a cancel sent while the node is away is
// sent again when it reconnects, and a run the node lost is requeued.
func TestNodeFailuresAcrossRestarts(t *testing.T) {
	q := newQueue(t, "")
	n, _ := register(t, q, "n1", 2)
	a := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }))
	b := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }))
	q.Cycle()
	first, second := n.next().GetAssignment(), n.next().GetAssignment()
	if first.GetJob().GetId() != a || second.GetJob().GetId() != b {
		t.Fatalf("assignments %v %v", first, second)
	}
	// The node loses its session, then job a is cancelled: the stop cannot go out.
	q.mu.Lock()
	close(q.nodes["n1"].out)
	q.nodes["n1"].out = nil
	q.mu.Unlock()
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: a}}}, ""); err != nil {
		t.Fatal(err)
	}
	// It comes back still running both: the cancel is sent again.
	n2, _ := register(t, q, "n1", 2,
		&gpuqv1.RunningJob{AllocationId: first.AllocationId, Job: job.RefOf(first.Job).Proto()},
		&gpuqv1.RunningJob{AllocationId: second.AllocationId, Job: job.RefOf(second.Job).Proto()})
	if stop := n2.next().GetStop(); stop.GetAllocationId() != first.AllocationId {
		t.Fatalf("after reconnecting: %v, want the stop of %s", stop, first.AllocationId)
	}
	// The node lost job b's run (a reboot): requeued.
	n2.update(second.AllocationId, gpuqv1.JobState_JOB_STATE_NODE_FAIL, 1)
	if j := jobState(q, b); j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Restarts != 1 {
		t.Errorf("lost run: job = %s restarts %d, want PENDING restarts 1", job.StateName(j.State), j.Restarts)
	}
}

func TestNodeThatNeverReturnsGoesDown(t *testing.T) {
	dir := t.TempDir()
	q1, _ := newQueueClock(t, dir)
	n, _ := register(t, q1, "n1", 1)
	a := submit(t, q1, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 1 }))
	q1.Cycle()
	if as := n.next().GetAssignment(); as.GetJob().GetId() != a {
		t.Fatalf("assignment %v", as)
	}
	// gpuqd restarts: a new queue loads the same store. n1 never registers.
	q2, err := New(Options{Store: q1.store, Rules: testRules, Clock: q1.opts.Clock, NodeDownAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if nodes := q2.Nodes(); len(nodes) != 1 || nodes[0].Info.Name != "n1" || nodes[0].Connected {
		t.Fatalf("nodes after restart = %+v, want n1 waiting to register", nodes)
	}
	q1.opts.Clock.(*fakeClock).Add(2 * time.Minute)
	q2.checkNodes()
	if j := jobState(q2, a); j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Reason != "NodeFail" {
		t.Errorf("job of a node that never came back = %s/%s, want PENDING/NodeFail", job.StateName(j.State), j.Reason)
	}
}

func TestPoolMaxTimeLimit(t *testing.T) {
	r := testRules
	r.PoolMaxTimeLimit = map[string]time.Duration{"a100-us-west1": time.Hour}
	s := spec(func(s *gpuqv1.JobSpec) { s.Pool = "a100-us-west1"; s.TimeLimit = durationpb.New(2 * time.Hour) })
	err := r.validate(s)
	var inv *job.InvalidError
	if !errors.As(err, &inv) || inv.Fields[0].Field != "spec.time_limit" {
		t.Errorf("validate = %v, want a spec.time_limit error", err)
	}
}

// TestAccountingAndUsage: every run leaves a record written with the state
// change that ends it, billed usage adds up per team and user and decays
// with its half-life, and both survive a restart.
func TestAccountingAndUsage(t *testing.T) {
	dir := t.TempDir()
	q, clock := newQueueClock(t, dir)
	n, _ := register(t, q, "n1", 4)
	a := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 2 }))
	never := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count = 8; s.Hold = true; s.Team = "tokyo" }))
	q.Cycle()
	first := n.next().GetAssignment()
	clock.Add(30 * time.Minute)
	// Preempted and requeued after 30 minutes: the first run's record.
	n.update(first.AllocationId, gpuqv1.JobState_JOB_STATE_PREEMPTED, 143)
	if ack := n.next().GetAck(); ack.GetAllocationId() != first.AllocationId {
		t.Fatalf("want the ack of %s, got %v", first.AllocationId, ack)
	}
	q.Cycle()
	second := n.next().GetAssignment()
	clock.Add(60 * time.Minute)
	u := &gpuqv1.JobUpdate{AllocationId: second.AllocationId, State: gpuqv1.JobState_JOB_STATE_COMPLETED, EndTime: timestamppb.New(clock.Now())}
	if err := q.JobUpdate("n1", u); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(Filter{Jobs: []job.Ref{{ID: never}}}, ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := q.Records(time.Time{}, time.Time{}, func(r *gpuqv1.RunRecord) error {
		got = append(got, fmt.Sprintf("%s run %d %s %s %.0f", job.FromProto(r.Job), r.Run, job.StateName(r.State), r.Team, r.BilledGpuSeconds))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("%d run 0 PREEMPTED sf 3600", a), // 2 GPUs x 30 min
		fmt.Sprintf("%d run 1 COMPLETED sf 7200", a), // 2 GPUs x 60 min
		fmt.Sprintf("%d run 0 CANCELLED tokyo 0", never),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	usage := q.Usage(clock.Now())
	// 3600 GPU-s an hour ago and 7200 now, with a 7-day half-life.
	wantSF := 3600*math.Exp2(-1.0/(7*24)) + 7200
	if math.Abs(usage["sf"]-wantSF) > 0.01 || math.Abs(usage["sf/alice"]-wantSF) > 0.01 || usage["tokyo"] != 0 {
		t.Errorf("usage = %v, want sf and sf/alice %.2f", usage, wantSF)
	}
	if week := q.Usage(clock.Now().Add(7 * 24 * time.Hour)); math.Abs(week["sf"]-wantSF/2) > 0.01 {
		t.Errorf("usage a half-life later = %.2f, want %.2f", week["sf"], wantSF/2)
	}
}

// TestPreemptionWithGrace: Tokyo's job runs on the only GPU through the
// night in Tokyo; San Francisco's working day starts and its job preempts
// it: the node is told to stop Tokyo's job with the grace, nobody else gets
// the GPU meanwhile, Tokyo's job is requeued with its restart count raised,
// and San Francisco's job starts on the freed GPU.
func TestPreemptionWithGrace(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	sf, err := calendar.New(calendar.Spec{Zone: mustZone(t, "America/Los_Angeles"), Start: 9 * time.Hour, End: 18 * time.Hour,
		Days: [7]bool{false, true, true, true, true, true, false}})
	if err != nil {
		t.Fatal(err)
	}
	tokyo, err := calendar.New(calendar.Spec{Zone: mustZone(t, "Asia/Tokyo"), Start: 9 * time.Hour, End: 18 * time.Hour,
		Days: [7]bool{false, true, true, true, true, true, false}})
	if err != nil {
		t.Fatal(err)
	}
	// Thursday 2026-11-26 16:00 UTC: 08:00 in San Francisco, 01:00 Friday in Tokyo.
	clock := &fakeClock{t: time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)}
	q, err := New(Options{Store: st, Rules: testRules, Clock: clock, CycleInterval: time.Hour, GracePeriod: 5 * time.Minute,
		Teams: []sched.Team{{Name: "sf", Shares: 1, Calendar: sf}, {Name: "tokyo", Shares: 1, Calendar: tokyo}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = st.Close() })
	n, _ := register(t, q, "n1", 1)
	night := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Team, s.Gpus.Count, s.TimeLimit = "tokyo", 1, durationpb.New(8*time.Hour) }))
	q.Cycle()
	run := n.next().GetAssignment()
	if run.GetJob().GetId() != night {
		t.Fatalf("assignment %v, want Tokyo's job", run)
	}
	// An hour later San Francisco is at work and wants the GPU.
	clock.Add(time.Hour)
	day := submit(t, q, spec(func(s *gpuqv1.JobSpec) { s.Gpus.Count, s.TimeLimit = 1, durationpb.New(time.Hour) }))
	q.Cycle()
	stop := n.next().GetStop()
	if stop.GetAllocationId() != run.AllocationId || stop.Reason != gpuqv1.StopJob_REASON_PREEMPT || stop.Grace.AsDuration() != 5*time.Minute {
		t.Fatalf("stop = %v, want Tokyo's job preempted with a 5m grace", stop)
	}
	if j := jobState(q, day); j.Reason != sched.ReasonPreempting {
		t.Errorf("San Francisco's job waits with %q, want %q", j.Reason, sched.ReasonPreempting)
	}
	// During the grace another cycle neither preempts again nor gives the GPU away.
	q.Cycle()
	select {
	case m := <-n.out:
		t.Fatalf("message during the grace: %v", m)
	default:
	}
	clock.Add(2 * time.Minute)
	n.update(run.AllocationId, gpuqv1.JobState_JOB_STATE_PREEMPTED, 0)
	n.next() // ack
	q.Cycle()
	next := n.next().GetAssignment()
	if next.GetJob().GetId() != day {
		t.Fatalf("after the preemption: %v, want San Francisco's job", next)
	}
	if j := jobState(q, night); j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Restarts != 1 {
		t.Errorf("Tokyo's job = %s restarts %d, want PENDING with restarts 1", job.StateName(j.State), j.Restarts)
	}
	// The records say why: Tokyo's job started, then was preempted for
	// San Francisco's; San Francisco's started.
	kinds := func(r uint64) (out []string) {
		for _, d := range jobState(q, r).Decisions {
			out = append(out, d.Kind)
			if d.Detail == "" || d.Time == nil {
				t.Errorf("job %d: decision %v without a time or detail", r, d)
			}
		}
		return out
	}
	if got := kinds(night); !slices.Equal(got, []string{"start", "preempt"}) {
		t.Errorf("Tokyo's job's decisions = %v, want start, preempt", got)
	}
	if d := jobState(q, night).Decisions; len(d) == 2 && !strings.Contains(d[1].Detail, fmt.Sprintf("for job %d", day)) {
		t.Errorf("the preemption does not name the job it was for: %q", d[1].Detail)
	}
	if got := kinds(day); !slices.Equal(got, []string{"start"}) {
		t.Errorf("San Francisco's job's decisions = %v, want start", got)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A node that names no region is in its pool's; one that names its own
// keeps it.
func TestNodeRegionFromPool(t *testing.T) {
	q := newQueue(t, "")
	register(t, q, "n1", 1)
	other := nodeInfo("n2", 1)
	other.Region = "lab"
	if _, err := q.RegisterNode(other, nil, nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range q.Nodes() {
		got[n.Info.Name] = n.Info.Region
	}
	if want := map[string]string{"n1": "us-west1", "n2": "lab"}; !cmp.Equal(got, want) {
		t.Errorf("regions %v, want %v", got, want)
	}
}
