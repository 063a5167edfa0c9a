package sched

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

const (
	pending   = gpuqv1.JobState_JOB_STATE_PENDING
	running   = gpuqv1.JobState_JOB_STATE_RUNNING
	completed = gpuqv1.JobState_JOB_STATE_COMPLETED
	failed    = gpuqv1.JobState_JOB_STATE_FAILED
)

func pj(id uint64, mod ...func(*Job)) Job {
	j := Job{Ref: job.Ref{ID: id}, State: pending, User: "alice", Team: "sf", GPUType: "a100", GPUs: 1, SubmitTime: t0.Add(time.Duration(id) * time.Second)}
	for _, m := range mod {
		m(&j)
	}
	return j
}

func afterOK(id uint64) func(*Job) {
	return func(j *Job) {
		j.Deps = []Dep{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, Job: job.Ref{ID: id}}}
	}
}

func TestDecide(t *testing.T) {
	node := func(name string, free ...string) Node {
		return Node{Name: name, Pool: "p", GPUType: "a100", Free: free}
	}
	tests := []struct {
		name        string
		snap        Snapshot
		wantStarts  []Start
		wantCancels []Cancel
		wantReasons map[string]string
	}{{
		name:        "no nodes: every eligible job says so",
		snap:        Snapshot{Now: t0.Add(time.Hour), Jobs: []Job{pj(1), pj(2, func(j *Job) { j.Held = true })}},
		wantReasons: map[string]string{"1": ReasonNodeNotAvail, "2": ReasonHeld},
	}, {
		name: "held by a user or for the budget: not started, each with its reason",
		snap: Snapshot{Now: t0.Add(time.Hour), Nodes: []Node{node("n1", "g0", "g1")}, Jobs: []Job{
			pj(1, func(j *Job) { j.Held = true }),
			pj(2, func(j *Job) { j.Held, j.HoldReason = true, ReasonBudget }),
			pj(3),
		}},
		wantStarts:  []Start{{Job: job.Ref{ID: 3}, Node: "n1", GPUs: []string{"g0"}}},
		wantReasons: map[string]string{"1": ReasonHeld, "2": ReasonBudget},
	}, {
		name: "oldest first, best fit, then Resources and Priority",
		snap: Snapshot{Now: t0.Add(time.Hour), Nodes: []Node{node("n1", "g0", "g1", "g2", "g3"), node("n2", "h0")},
			Jobs: []Job{pj(1, func(j *Job) { j.GPUs = 4 }), pj(2), pj(3, func(j *Job) { j.GPUs = 2 }), pj(4)}},
		wantStarts:  []Start{{Job: job.Ref{ID: 1}, Node: "n1", GPUs: []string{"g0", "g1", "g2", "g3"}}, {Job: job.Ref{ID: 2}, Node: "n2", GPUs: []string{"h0"}}},
		wantReasons: map[string]string{"3": ReasonResources, "4": ReasonPriority},
	}, {
		name: "dependencies: waiting, met, never",
		snap: Snapshot{Now: t0.Add(time.Hour), Nodes: []Node{node("n1", "g0", "g1")}, Jobs: []Job{
			{Ref: job.Ref{ID: 1}, State: running}, {Ref: job.Ref{ID: 2}, State: completed}, {Ref: job.Ref{ID: 3}, State: failed, ExitCode: 1},
			pj(4, afterOK(1)), pj(5, afterOK(2)), pj(6, afterOK(3)),
			pj(7, func(j *Job) {
				j.Deps = []Dep{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_NOT_OK, Job: job.Ref{ID: 3}}}
			}),
		}},
		wantStarts:  []Start{{Job: job.Ref{ID: 5}, Node: "n1", GPUs: []string{"g0"}}, {Job: job.Ref{ID: 7}, Node: "n1", GPUs: []string{"g1"}}},
		wantCancels: []Cancel{{Job: job.Ref{ID: 6}, Reason: ReasonNeverSatisfied}},
		wantReasons: map[string]string{"4": ReasonDependency},
	}, {
		name: "begin time, array limit and singleton",
		snap: Snapshot{Now: t0.Add(time.Hour), Nodes: []Node{node("n1", "g0", "g1", "g2", "g3")}, Jobs: []Job{
			pj(1, func(j *Job) { j.Begin = t0.Add(2 * time.Hour) }),
			{Ref: job.Ref{ID: 2, Task: 0, HasTask: true}, State: running, ArrayMax: 2},
			pj(2, func(j *Job) { j.Ref = job.Ref{ID: 2, Task: 1, HasTask: true}; j.ArrayMax = 2 }),
			pj(2, func(j *Job) { j.Ref = job.Ref{ID: 2, Task: 2, HasTask: true}; j.ArrayMax = 2 }),
			pj(3, func(j *Job) { j.Singleton, j.Name = true, "s" }),
			pj(4, func(j *Job) { j.Singleton, j.Name = true, "s" }),
		}},
		wantStarts: []Start{
			{Job: job.Ref{ID: 2, Task: 1, HasTask: true}, Node: "n1", GPUs: []string{"g0"}},
			{Job: job.Ref{ID: 3}, Node: "n1", GPUs: []string{"g1"}},
		},
		wantReasons: map[string]string{"1": ReasonBeginTime, "2_2": ReasonArrayTaskLimit, "4": ReasonDependency},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(&tt.snap)
			reasons := map[string]string{}
			for r, s := range p.Reasons {
				reasons[r.String()] = s
			}
			// Why is tested by TestWhy.
			if diff := cmp.Diff(tt.wantStarts, p.Starts, cmpopts.IgnoreFields(Start{}, "Why")); diff != "" {
				t.Errorf("starts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCancels, p.Cancels); diff != "" {
				t.Errorf("cancels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantReasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			// Same input, same plan.
			if diff := cmp.Diff(p, Decide(&tt.snap)); diff != "" {
				t.Errorf("second decision differs:\n%s", diff)
			}
		})
	}
}

// TestWhy: every start says why it starts where it does, first or
// backfilled; the record of the job keeps it (gpuqctl show job).
func TestWhy(t *testing.T) {
	node := func(name string, free ...string) Node {
		return Node{Name: name, Pool: "p", GPUType: "a100", Free: free}
	}
	s := Snapshot{Now: t0.Add(time.Hour), Nodes: []Node{node("n1", "g0", "g1"), node("n2", "h0")}, Jobs: []Job{
		pj(1, func(j *Job) { j.GPUs = 2 }),
		pj(2, func(j *Job) { j.GPUs = 4 }), // fits nowhere now: waits, blocking what follows
		pj(3),
	}}
	p := Decide(&s)
	why := map[string]string{}
	for _, st := range p.Starts {
		why[st.Job.String()] = st.Why
	}
	want := map[string]string{
		"1": "priority 6006, 1 of 3 eligible: the highest-priority eligible job that fits; on n1 (2 of its GPUs free, best fit)",
		"3": "priority 5506, 3 of 3 eligible: backfilled: within its time limit (1h0m0s) it does not delay the higher-priority jobs that wait; on n2 (1 of its GPUs free, best fit)",
	}
	if diff := cmp.Diff(want, why); diff != "" {
		t.Errorf("why (-want +got):\n%s", diff)
	}
}
