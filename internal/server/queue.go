package server

import (
	"context"
	"errors"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/queue"
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
	LastDecision() queue.Decision
}

var _ Queue = (*queue.Queue)(nil)

// QueueService implements gpuqv1.QueueServiceServer.
type QueueService struct {
	gpuqv1.UnimplementedQueueServiceServer
	q     Queue
	nodes Nodes
}

// NewQueueService serves q and its nodes.
func NewQueueService(q Queue, nodes Nodes) *QueueService { return &QueueService{q: q, nodes: nodes} }

// MaxRequestIDLength bounds idempotency keys.
const MaxRequestIDLength = 128

func (s *QueueService) SubmitJob(ctx context.Context, req *gpuqv1.SubmitJobRequest) (*gpuqv1.SubmitJobResponse, error) {
	if len(req.RequestId) > MaxRequestIDLength {
		return nil, &job.FieldError{Field: "request_id", Problem: "longer than 128 characters"}
	}
	res, err := s.q.Submit(ctx, req.Spec, req.RequestId)
	if err != nil {
		return nil, err
	}
	return &gpuqv1.SubmitJobResponse{JobId: res.ID, ArrayTaskCount: uint32(res.Tasks), Duplicate: res.Duplicate}, nil
}

func (s *QueueService) ListJobs(_ context.Context, req *gpuqv1.ListJobsRequest) (*gpuqv1.ListJobsResponse, error) {
	return &gpuqv1.ListJobsResponse{Jobs: s.q.List(queue.FilterFromProto(req.Filter))}, nil
}

func (s *QueueService) GetJob(_ context.Context, req *gpuqv1.GetJobRequest) (*gpuqv1.GetJobResponse, error) {
	if req.Job == nil || req.Job.Id == 0 {
		return nil, &job.FieldError{Field: "job.id", Problem: "required"}
	}
	jobs, err := s.q.Get(job.FromProto(req.Job))
	if err != nil {
		return nil, err
	}
	return &gpuqv1.GetJobResponse{Jobs: jobs}, nil
}

func (s *QueueService) CancelJobs(_ context.Context, req *gpuqv1.CancelJobsRequest) (*gpuqv1.CancelJobsResponse, error) {
	f, err := actionFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	out, err := s.q.Cancel(f, req.Reason)
	return &gpuqv1.CancelJobsResponse{Outcomes: outcomes(out)}, err
}

func (s *QueueService) HoldJobs(_ context.Context, req *gpuqv1.HoldJobsRequest) (*gpuqv1.HoldJobsResponse, error) {
	f, err := actionFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	out, err := s.q.Hold(f)
	return &gpuqv1.HoldJobsResponse{Outcomes: outcomes(out)}, err
}

func (s *QueueService) ReleaseJobs(_ context.Context, req *gpuqv1.ReleaseJobsRequest) (*gpuqv1.ReleaseJobsResponse, error) {
	f, err := actionFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	out, err := s.q.Release(f)
	return &gpuqv1.ReleaseJobsResponse{Outcomes: outcomes(out)}, err
}

// actionFilter refuses an empty filter: an action on every job must be asked
// for by naming at least one selector.
func actionFilter(f *gpuqv1.JobFilter) (queue.Filter, error) {
	qf := queue.FilterFromProto(f)
	if len(qf.Jobs)+len(qf.Teams)+len(qf.Users)+len(qf.States)+len(qf.Names) == 0 {
		return qf, &job.FieldError{Field: "filter", Problem: "name at least one job, team, user, state or job name"}
	}
	return qf, nil
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
