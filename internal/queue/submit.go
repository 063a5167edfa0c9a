package queue

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// SubmitResult is what a submission returns.
type SubmitResult struct {
	ID        uint64
	Tasks     int
	Duplicate bool
}

type submitReq struct {
	spec      *gpuqv1.JobSpec
	requestID string
	done      chan submitReply
}

type submitReply struct {
	res SubmitResult
	err error
}

// Submit validates spec and stores it durably; it returns once the job is
// synced to disk. A request id seen before returns the job it created.
func (q *Queue) Submit(ctx context.Context, spec *gpuqv1.JobSpec, requestID string) (SubmitResult, error) {
	spec = proto.CloneOf(spec)
	if err := q.opts.Rules.validate(spec); err != nil {
		return SubmitResult{}, err
	}
	if requestID != "" {
		if res, ok := q.duplicate(requestID); ok {
			return res, nil
		}
	}
	req := &submitReq{spec: spec, requestID: requestID, done: make(chan submitReply, 1)}
	select {
	case q.submits <- req:
	case <-ctx.Done():
		return SubmitResult{}, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-ctx.Done():
		// The job may still be committed; a retry with the same request id finds it.
		return SubmitResult{}, ctx.Err()
	}
}

func (q *Queue) duplicate(requestID string) (SubmitResult, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	id, ok := q.requests[requestID]
	if !ok {
		return SubmitResult{}, false
	}
	return SubmitResult{ID: id, Tasks: q.arrayTasks(id), Duplicate: true}, true
}

func (q *Queue) arrayTasks(id uint64) int {
	refs := q.tasks[id]
	if len(refs) == 1 && !refs[0].HasTask {
		return 0
	}
	return len(refs)
}

// commitLoop takes whatever submissions are waiting and commits them in one
// transaction, so concurrent clients share one fsync. A batch stops at
// MaxBatch submissions or MaxBatchBytes; what does not fit waits for the next.
func (q *Queue) commitLoop(ctx context.Context) {
	batch := make([]*submitReq, 0, q.opts.MaxBatch)
	var next *submitReq // taken from the channel but over the last batch's budget
	for {
		if next == nil {
			select {
			case <-ctx.Done():
				q.drainSubmits(ctx.Err())
				return
			case next = <-q.submits:
			}
		}
		batch = append(batch[:0], next)
		size := estimate(next)
		next = nil
	fill:
		for len(batch) < q.opts.MaxBatch {
			select {
			case r := <-q.submits:
				if size += estimate(r); size > q.opts.MaxBatchBytes {
					next = r
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.commitBatch(batch)
		q.Kick()
	}
}

// estimate is about how many bytes a submission writes: its spec and one
// record per task.
func estimate(r *submitReq) int {
	const perRecord = 160
	n := proto.Size(r.spec) + len(r.requestID) + 64
	if r.spec.Array != nil {
		return n + len(r.spec.Array.TaskIds)*perRecord
	}
	return n + perRecord
}

func (q *Queue) drainSubmits(err error) {
	for {
		select {
		case r := <-q.submits:
			r.done <- submitReply{err: fmt.Errorf("%w: %w", job.ErrUnavailable, err)}
		default:
			return
		}
	}
}

type staged struct {
	req   *submitReq
	res   SubmitResult
	jobs  []*gpuqv1.Job
	err   error
	dupOf *staged
}

func (q *Queue) commitBatch(batch []*submitReq) {
	var st []*staged
	err := q.write(func(tx *store.Tx) (func(), error) {
		st = q.stage(batch)
		next := q.nextID
		for _, s := range st {
			if s.err != nil || s.dupOf != nil || s.res.Duplicate {
				continue
			}
			if err := tx.PutSpec(s.res.ID, s.req.spec); err != nil {
				return nil, err
			}
			for _, j := range s.jobs {
				if err := tx.PutJob(j); err != nil {
					return nil, err
				}
			}
			if s.req.requestID != "" {
				if err := tx.PutRequest(s.req.requestID, s.res.ID); err != nil {
					return nil, err
				}
			}
			next = s.res.ID + 1
		}
		if err := tx.SetNextID(next); err != nil {
			return nil, err
		}
		return func() {
			for _, s := range st {
				if s.err != nil || s.dupOf != nil || s.res.Duplicate {
					continue
				}
				for _, j := range s.jobs {
					q.insert(j)
				}
				if s.req.requestID != "" {
					q.requests[s.req.requestID] = s.res.ID
				}
			}
			q.nextID = next
		}, nil
	})
	for i, r := range batch {
		switch {
		case err != nil:
			r.done <- submitReply{err: fmt.Errorf("store submission: %w", err)}
		case st[i].dupOf != nil:
			res := st[i].dupOf.res
			res.Duplicate = true
			r.done <- submitReply{res: res, err: st[i].dupOf.err}
		default:
			r.done <- submitReply{res: st[i].res, err: st[i].err}
		}
	}
	if err != nil {
		q.log.Error("commit submissions", "count", len(batch), "err", err)
	}
}

// stage assigns ids and builds the records of a batch. It runs as the only
// writer, so it may read the index without the read lock.
func (q *Queue) stage(batch []*submitReq) []*staged {
	now := timestamppb.New(q.now())
	next := q.nextID
	byReq := map[string]*staged{}
	added := map[string]int{} // pending jobs this batch adds per user and team
	out := make([]*staged, len(batch))
	for i, r := range batch {
		s := &staged{req: r}
		out[i] = s
		if r.requestID != "" {
			if id, ok := q.requests[r.requestID]; ok {
				s.res = SubmitResult{ID: id, Tasks: q.arrayTasks(id), Duplicate: true}
				continue
			}
			if first, ok := byReq[r.requestID]; ok {
				s.dupOf = first
				continue
			}
			byReq[r.requestID] = s
		}
		if err := q.checkDependencies(r.spec, next); err != nil {
			s.err = err
			continue
		}
		jobs := newJobs(next, r.spec, now)
		if err := q.checkPendingLimits(r.spec, len(jobs), added); err != nil {
			s.err = err
			continue
		}
		s.res.ID = next
		next++
		s.jobs = jobs
		if q.opts.Budget != nil && q.opts.Budget.OverBudget(r.spec.Team) {
			for _, j := range s.jobs {
				j.Held, j.HoldReason, j.Reason = true, sched.ReasonBudget, sched.ReasonBudget
			}
		}
		if r.spec.Array != nil {
			s.res.Tasks = len(s.jobs)
		}
	}
	return out
}

// checkPendingLimits refuses a submission of n jobs that would take its
// user or team over the pending limits; added counts what earlier
// submissions of the same batch add, and grows by n when it passes.
func (q *Queue) checkPendingLimits(spec *gpuqv1.JobSpec, n int, added map[string]int) error {
	r := &q.opts.Rules
	user, team := "u:"+userKey(spec), "t:"+spec.GetTeam()
	if lim := r.MaxPendingPerUser; lim > 0 {
		if have := q.pendingUser[userKey(spec)] + added[user]; have+n > lim {
			return fmt.Errorf("%w: user %s has %d pending jobs in team %s and asks for %d more; the limit is %d (limits.max_pending_per_user)",
				job.ErrLimit, spec.GetUser(), have, spec.GetTeam(), n, lim)
		}
	}
	if lim := r.MaxPendingPerTeam; lim > 0 {
		if have := q.pendingTeam[spec.GetTeam()] + added[team]; have+n > lim {
			return fmt.Errorf("%w: team %s has %d pending jobs and this submission adds %d; the limit is %d (limits.max_pending_per_team)",
				job.ErrLimit, spec.GetTeam(), have, n, lim)
		}
	}
	added[user] += n
	added[team] += n
	return nil
}

// checkDependencies makes sure every dependency names a job that exists
// (ids below next were handed out in this batch and exist once it commits).
func (q *Queue) checkDependencies(spec *gpuqv1.JobSpec, next uint64) error {
	var bad job.InvalidError
	for i, d := range spec.Dependencies {
		_, known := q.tasks[d.JobId]
		if !known && d.JobId < next && d.JobId >= q.nextID {
			known = true
		}
		if !known {
			bad.Add(fmt.Sprintf("spec.dependencies[%d].job_id", i), "job %d does not exist", d.JobId)
			continue
		}
		if d.ArrayTaskId != nil && known {
			r := job.Ref{ID: d.JobId, Task: d.GetArrayTaskId(), HasTask: true}
			if _, ok := q.jobs[r]; !ok && d.JobId < q.nextID {
				bad.Add(fmt.Sprintf("spec.dependencies[%d].array_task_id", i), "job %s does not exist", r)
			}
		}
	}
	return bad.Err()
}

// newJobs builds the pending records of a new submission.
func newJobs(id uint64, spec *gpuqv1.JobSpec, now *timestamppb.Timestamp) []*gpuqv1.Job {
	slim, _ := store.SplitPayload(spec)
	mk := func() *gpuqv1.Job {
		return &gpuqv1.Job{
			Id:         id,
			Spec:       slim,
			State:      gpuqv1.JobState_JOB_STATE_PENDING,
			Reason:     "None",
			SubmitTime: now,
			UpdateTime: now,
			Held:       spec.Hold,
		}
	}
	if spec.Array == nil {
		return []*gpuqv1.Job{mk()}
	}
	out := make([]*gpuqv1.Job, len(spec.Array.TaskIds))
	for i, t := range spec.Array.TaskIds {
		j := mk()
		j.ArrayTaskId = &t
		out[i] = j
	}
	return out
}
