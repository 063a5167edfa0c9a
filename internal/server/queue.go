package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/queue"
	"github.com/gpuq/gpuq/internal/sched"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Queue is what the QueueService needs of the job queue.
type Queue interface {
	Submit(ctx context.Context, spec *gpuqv1.JobSpec, requestID string) (queue.SubmitResult, error)
	List(f queue.Filter) []*gpuqv1.Job
	Get(r job.Ref) ([]*gpuqv1.Job, error)
	Cancel(f queue.Filter, reason string) ([]queue.Outcome, error)
	Hold(f queue.Filter) ([]queue.Outcome, error)
	Release(f queue.Filter) ([]queue.Outcome, error)
	ReleaseUserHolds(f queue.Filter) ([]queue.Outcome, error)
	LastDecision(explain bool) queue.Decision
}

var _ Queue = (*queue.Queue)(nil)

// QueueService implements gpuqv1.QueueServiceServer. Every request must
// carry the caller's identity (auth.NewContext; the Guard puts it there).
type QueueService struct {
	gpuqv1.UnimplementedQueueServiceServer
	q     Queue
	nodes Nodes
	opts  QueueOptions
}

// QueueOptions are the QueueService's rules beyond the queue's own.
type QueueOptions struct {
	// DefaultTeam is the team of submissions that name none (the config's
	// defaults.team); a user of exactly one team gets that team instead.
	DefaultTeam string
	// SubmitRate limits each user's submissions; nil: no limit.
	SubmitRate *auth.RateLimiter
	// Now is the clock of the rate limit; default time.Now.
	Now func() time.Time
}

// NewQueueService serves q and its nodes.
func NewQueueService(q Queue, nodes Nodes, opts QueueOptions) *QueueService {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &QueueService{q: q, nodes: nodes, opts: opts}
}

// MaxRequestIDLength bounds idempotency keys.
const MaxRequestIDLength = 128

func (s *QueueService) SubmitJob(ctx context.Context, req *gpuqv1.SubmitJobRequest) (*gpuqv1.SubmitJobResponse, error) {
	if len(req.RequestId) > MaxRequestIDLength {
		return nil, &job.FieldError{Field: "request_id", Problem: "longer than 128 characters"}
	}
	if req.Spec == nil {
		return nil, &job.FieldError{Field: "spec", Problem: "required"}
	}
	id := auth.FromContext(ctx)
	spec, err := s.submitter(id, req.Spec)
	if err != nil {
		return nil, err
	}
	if ok, wait := s.opts.SubmitRate.Allow(id.Name, s.opts.Now()); !ok && !id.Operator() {
		return nil, fmt.Errorf("%w: user %s submits faster than limits.submit_rate allows; retry in %s",
			job.ErrLimit, id.Name, wait.Round(time.Millisecond))
	}
	res, err := s.q.Submit(ctx, spec, req.RequestId)
	if err != nil {
		return nil, err
	}
	return &gpuqv1.SubmitJobResponse{JobId: res.ID, ArrayTaskCount: uint32(res.Tasks), Duplicate: res.Duplicate}, nil
}

func (s *QueueService) ListJobs(_ context.Context, req *gpuqv1.ListJobsRequest) (*gpuqv1.ListJobsResponse, error) {
	jobs := s.q.List(queue.FilterFromProto(req.Filter))
	if req.View == gpuqv1.JobView_JOB_VIEW_BRIEF {
		jobs = job.Brief(jobs)
	}
	return &gpuqv1.ListJobsResponse{Jobs: jobs}, nil
}

// GetJob returns a job in detail. Its script and environment, which may
// hold secrets, only go to those who may act on the job.
func (s *QueueService) GetJob(ctx context.Context, req *gpuqv1.GetJobRequest) (*gpuqv1.GetJobResponse, error) {
	if req.Job == nil || req.Job.Id == 0 {
		return nil, &job.FieldError{Field: "job.id", Problem: "required"}
	}
	jobs, err := s.q.Get(job.FromProto(req.Job))
	if err != nil {
		return nil, err
	}
	id := auth.FromContext(ctx)
	for _, j := range jobs {
		if auth.CanActOn(id, j.Spec.GetTeam(), j.Spec.GetUser()) != nil {
			j.Spec.Script, j.Spec.Environment = nil, nil
		}
	}
	return &gpuqv1.GetJobResponse{Jobs: jobs}, nil
}

// submitter returns spec as id submits it: with id's name as the user and
// a team id belongs to, or an error that says why id may not.
func (s *QueueService) submitter(id *auth.Identity, spec *gpuqv1.JobSpec) (*gpuqv1.JobSpec, error) {
	if err := auth.RequireUser(id); err != nil {
		return nil, err
	}
	team, user := spec.Team, spec.User
	if user == "" || !id.Operator() {
		if user != "" && user != id.Name {
			return nil, fmt.Errorf("%w: %s may not submit as user %s", job.ErrPermissionDenied, id, user)
		}
		user = id.Name
	}
	if team == "" && !id.Operator() {
		switch {
		case s.opts.DefaultTeam != "" && id.Member(s.opts.DefaultTeam):
			team = s.opts.DefaultTeam
		case len(id.Teams) == 1:
			team = id.Teams[0]
		case len(id.Teams) == 0:
			return nil, fmt.Errorf("%w: %s belongs to no team; an operator adds users to teams[].users or issues a token with --team", job.ErrPermissionDenied, id)
		default:
			return nil, &job.FieldError{Field: "spec.team", Problem: fmt.Sprintf("required: you belong to %v", id.Teams)}
		}
	}
	if team != "" {
		if err := auth.CanSubmit(id, team, user); err != nil {
			return nil, err
		}
	}
	if team == spec.Team && user == spec.User {
		return spec, nil
	}
	c := proto.CloneOf(spec)
	c.Team, c.User = team, user
	return c, nil
}

// scope limits an action's filter to the jobs the caller may act on. Jobs,
// users or teams named outright that the caller may not touch refuse the
// whole request, so nothing is half done.
func (s *QueueService) scope(ctx context.Context, f queue.Filter) (queue.Filter, error) {
	id := auth.FromContext(ctx)
	if err := auth.RequireUser(id); err != nil {
		return f, err
	}
	if id.Operator() {
		return f, nil
	}
	for _, u := range f.Users {
		if u != id.Name && len(id.AdminOf) == 0 {
			return f, fmt.Errorf("%w: %s may not act on jobs of user %s", job.ErrPermissionDenied, id, u)
		}
	}
	for _, t := range f.Teams {
		if !id.Member(t) && !id.Admin(t) {
			return f, fmt.Errorf("%w: %s may not act on jobs of team %s", job.ErrPermissionDenied, id, t)
		}
	}
	if len(f.Jobs) > 0 {
		named := f
		named.States, named.Names, named.Users, named.Teams, named.IncludeEnded = nil, nil, nil, nil, true
		var denied []string
		for _, j := range s.q.List(named) {
			if auth.CanActOn(id, j.Spec.GetTeam(), j.Spec.GetUser()) != nil {
				denied = append(denied, job.RefOf(j).String())
			}
		}
		if len(denied) > 0 {
			slices.Sort(denied)
			return f, fmt.Errorf("%w: %s may not act on job %s: not theirs and not of a team they administer",
				job.ErrPermissionDenied, id, joinMax(slices.Compact(denied), 10))
		}
	}
	f.Allow = func(team, user string) bool { return auth.CanActOn(id, team, user) == nil }
	return f, nil
}

func joinMax(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:n], ", "), len(s)-n)
}

func (s *QueueService) CancelJobs(ctx context.Context, req *gpuqv1.CancelJobsRequest) (*gpuqv1.CancelJobsResponse, error) {
	f, err := s.actionFilter(ctx, req.Filter)
	if err != nil {
		return nil, err
	}
	out, err := s.q.Cancel(f, req.Reason)
	return &gpuqv1.CancelJobsResponse{Outcomes: outcomes(out)}, err
}

func (s *QueueService) HoldJobs(ctx context.Context, req *gpuqv1.HoldJobsRequest) (*gpuqv1.HoldJobsResponse, error) {
	f, err := s.actionFilter(ctx, req.Filter)
	if err != nil {
		return nil, err
	}
	out, err := s.q.Hold(f)
	return &gpuqv1.HoldJobsResponse{Outcomes: outcomes(out)}, err
}

// ReleaseJobs releases held jobs. A job held for its team's budget (hard
// limit) is an operator's to release: its owner may not spend past it.
func (s *QueueService) ReleaseJobs(ctx context.Context, req *gpuqv1.ReleaseJobsRequest) (*gpuqv1.ReleaseJobsResponse, error) {
	f, err := s.actionFilter(ctx, req.Filter)
	if err != nil {
		return nil, err
	}
	release := s.q.Release
	if id := auth.FromContext(ctx); !id.Operator() {
		for _, j := range s.q.List(f) {
			if j.Held && j.HoldReason == sched.ReasonBudget {
				return nil, fmt.Errorf("%w: job %s is held because team %s is over its budget; an operator raises the budget (gpuqctl budget set) or releases the job",
					job.ErrPermissionDenied, job.RefOf(j), j.Spec.GetTeam())
			}
		}
		release = s.q.ReleaseUserHolds // and again inside the release, against a race
	}
	out, err := release(f)
	return &gpuqv1.ReleaseJobsResponse{Outcomes: outcomes(out)}, err
}

// actionFilter refuses an empty filter (an action on every job must be
// asked for by naming at least one selector) and scopes it to the caller.
func (s *QueueService) actionFilter(ctx context.Context, f *gpuqv1.JobFilter) (queue.Filter, error) {
	qf := queue.FilterFromProto(f)
	if len(qf.Jobs)+len(qf.Teams)+len(qf.Users)+len(qf.States)+len(qf.Names) == 0 {
		return qf, &job.FieldError{Field: "filter", Problem: "name at least one job, team, user, state or job name"}
	}
	return s.scope(ctx, qf)
}

func outcomes(in []queue.Outcome) []*gpuqv1.JobOutcome {
	out := make([]*gpuqv1.JobOutcome, len(in))
	for i, o := range in {
		r := &gpuqv1.JobOutcome{Job: o.Job.Proto(), Result: gpuqv1.JobOutcome_RESULT_DONE}
		switch {
		case o.Err == nil:
		case errors.Is(o.Err, job.ErrNotFound):
			r.Result, r.Message = gpuqv1.JobOutcome_RESULT_NOT_FOUND, o.Err.Error()
		default:
			r.Result, r.Message = gpuqv1.JobOutcome_RESULT_INVALID_STATE, o.Err.Error()
		}
		out[i] = r
	}
	return out
}
