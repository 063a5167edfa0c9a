package queue

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Outcome says what an action did to one job.
type Outcome struct {
	Job job.Ref
	// Err is nil, or wraps job.ErrNotFound or job.ErrInvalidState.
	Err error
}

// change computes the new record of one job, or an error saying why the
// action does not apply to it.
type change func(j *gpuqv1.Job, now *timestamppb.Timestamp) (*gpuqv1.Job, error)

// Cancel ends every matching job that has not ended. Pending jobs end at
// once; running jobs are stopped by their node (issue #3).
func (q *Queue) Cancel(f Filter, reason string) ([]Outcome, error) {
	if reason == "" {
		reason = "CancelledByUser"
	}
	return q.apply(f, func(j *gpuqv1.Job, now *timestamppb.Timestamp) (*gpuqv1.Job, error) {
		switch j.State {
		case gpuqv1.JobState_JOB_STATE_PENDING:
			c := proto.CloneOf(j)
			c.State, c.Reason, c.EndTime, c.UpdateTime = gpuqv1.JobState_JOB_STATE_CANCELLED, reason, now, now
			return c, nil
		case gpuqv1.JobState_JOB_STATE_RUNNING:
			// The node stops it (signal, KillWait, SIGKILL) and reports
			// the end; the job is CANCELLED then.
			c := proto.CloneOf(j)
			c.State, c.Reason, c.UpdateTime = gpuqv1.JobState_JOB_STATE_COMPLETING, reasonCancelling, now
			return c, nil
		case gpuqv1.JobState_JOB_STATE_COMPLETING:
			return j, nil
		}
		return nil, fmt.Errorf("%w: job already ended (%s)", job.ErrInvalidState, job.StateName(j.State))
	})
}

// Hold keeps matching pending jobs from starting.
func (q *Queue) Hold(f Filter) ([]Outcome, error) {
	return q.apply(f, setHeld(true))
}

// Release lets matching held jobs start, whether a user held them or the
// budget's hard limit did.
func (q *Queue) Release(f Filter) ([]Outcome, error) {
	return q.apply(f, setHeld(false))
}

// ReleaseUserHolds releases matching jobs held by users, and refuses those
// held for their team's budget: only an operator (Release) may let those
// run past the hard limit. The check is inside the release's transaction,
// so a budget hold that lands meanwhile is not released either.
func (q *Queue) ReleaseUserHolds(f Filter) ([]Outcome, error) {
	release := setHeld(false)
	return q.apply(f, func(j *gpuqv1.Job, now *timestamppb.Timestamp) (*gpuqv1.Job, error) {
		if j.Held && j.HoldReason == sched.ReasonBudget {
			return nil, fmt.Errorf("%w: held because team %s is over its budget; an operator raises the budget (gpuqctl budget set) or releases the job",
				job.ErrPermissionDenied, j.Spec.GetTeam())
		}
		return release(j, now)
	})
}

// ReleaseBudgetHolds releases the team's jobs held for its budget (reason
// Budget) and returns how many it released. The budget watcher calls it
// when the team is under its budget again.
func (q *Queue) ReleaseBudgetHolds(team string) (int, error) {
	n := 0
	_, err := q.apply(Filter{Teams: []string{team}, States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PENDING}},
		func(j *gpuqv1.Job, now *timestamppb.Timestamp) (*gpuqv1.Job, error) {
			if !j.Held || j.HoldReason != sched.ReasonBudget {
				return j, nil
			}
			n++
			return setHeld(false)(j, now)
		})
	if err != nil {
		return 0, fmt.Errorf("release the budget holds of team %s: %w", team, err)
	}
	return n, nil
}

// setHeld holds or releases a pending job. Holding a job held for its
// budget changes nothing: the budget hold stays (it is not turned into a
// user's hold, which its owner could release).
func setHeld(held bool) change {
	return func(j *gpuqv1.Job, now *timestamppb.Timestamp) (*gpuqv1.Job, error) {
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			return nil, fmt.Errorf("%w: job is %s, not PENDING", job.ErrInvalidState, job.StateName(j.State))
		}
		if j.Held == held && (!held || j.HoldReason == "" || j.HoldReason == sched.ReasonBudget) {
			return j, nil
		}
		c := proto.CloneOf(j)
		c.Held, c.HoldReason, c.UpdateTime = held, "", now
		if held {
			c.Reason = sched.ReasonHeld
		} else {
			c.Reason = "None"
		}
		return c, nil
	}
}

// apply runs one change over the matching jobs in one transaction. Refs
// named explicitly that match nothing get a not-found outcome; jobs that match
// a filter without explicit refs are only those the change applies to.
func (q *Queue) apply(f Filter, fn change) ([]Outcome, error) {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	var out []Outcome
	now := timestamppb.New(q.now())
	targets, missing := q.targets(f)
	for _, r := range missing {
		out = append(out, Outcome{Job: r, Err: errJob(r, job.ErrNotFound)})
	}
	var changed []*gpuqv1.Job
	for _, j := range targets {
		c, err := fn(j, now)
		r := job.RefOf(j)
		if err != nil {
			out = append(out, Outcome{Job: r, Err: errJob(r, err)})
			continue
		}
		out = append(out, Outcome{Job: r})
		if c != j {
			changed = append(changed, c)
		}
	}
	if err := q.commitRecords(changed); err != nil {
		return nil, fmt.Errorf("store change: %w", err)
	}
	for _, c := range changed {
		if c.State == gpuqv1.JobState_JOB_STATE_COMPLETING && c.Reason == reasonCancelling {
			q.send(c.Node, stopMessage(c, gpuqv1.StopJob_REASON_CANCEL, q.opts.KillWait))
		}
	}
	q.Kick()
	return out, nil
}

// targets resolves a filter for an action. Explicit refs select their jobs
// whatever their state (so that acting on an ended job says so); the other
// fields narrow further. Runs as the only writer.
func (q *Queue) targets(f Filter) (found []*gpuqv1.Job, missing []job.Ref) {
	if len(f.Jobs) == 0 {
		for _, r := range q.order {
			if j := q.jobs[r]; f.match(j) {
				found = append(found, j)
			}
		}
		return found, nil
	}
	g := f
	g.IncludeEnded = true
	for _, r := range f.Jobs {
		refs := q.expand([]job.Ref{r})
		if len(refs) == 0 {
			missing = append(missing, r)
		}
		for _, x := range refs {
			if j := q.jobs[x]; g.match(j) {
				found = append(found, j)
			}
		}
	}
	return found, missing
}

// stopMessage asks a node to stop an allocation: the job's warning signal,
// the grace, then SIGKILL.
func stopMessage(j *gpuqv1.Job, why gpuqv1.StopJob_Reason, grace time.Duration) *gpuqv1.ControllerMessage {
	return &gpuqv1.ControllerMessage{Msg: &gpuqv1.ControllerMessage_Stop{Stop: &gpuqv1.StopJob{
		AllocationId: j.AllocationId, Reason: why, Signal: j.Spec.GetSignal().GetName(), Grace: durationpb.New(grace),
	}}}
}
