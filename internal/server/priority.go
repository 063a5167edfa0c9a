package server

import (
	"context"
	"slices"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/queue"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Priority serves the factors of the last scheduling decision for the
// pending jobs that match the filter, highest priority first.
func (s *QueueService) Priority(_ context.Context, req *gpuqv1.PriorityRequest) (*gpuqv1.PriorityResponse, error) {
	f := queue.FilterFromProto(req.Filter)
	f.States = []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PENDING}
	d := s.q.LastDecision(true)
	var out []*gpuqv1.PriorityFactors
	for _, j := range s.q.List(f) {
		r := job.RefOf(j)
		fa, ok := d.Factors[r]
		if !ok {
			continue // not eligible at the last decision (held, dependency, ...)
		}
		out = append(out, &gpuqv1.PriorityFactors{
			Job: r.Proto(), Team: j.Spec.Team, User: j.Spec.User, Priority: fa.Priority,
			FairShare: fa.FairShare, TimeZone: fa.TimeZone, Age: fa.Age, JobSize: fa.JobSize, Qos: fa.QOS,
			FairShareWeighted: fa.Weighted.FairShare, TimeZoneWeighted: fa.Weighted.TimeZone, AgeWeighted: fa.Weighted.Age,
			JobSizeWeighted: fa.Weighted.JobSize, QosWeighted: fa.Weighted.QOS, Nice: fa.Nice,
		})
	}
	slices.SortStableFunc(out, func(a, b *gpuqv1.PriorityFactors) int {
		switch {
		case a.Priority > b.Priority:
			return -1
		case a.Priority < b.Priority:
			return 1
		}
		return 0
	})
	return &gpuqv1.PriorityResponse{Jobs: out}, nil
}

// Shares serves each team's and user's fair-share standing at the last
// scheduling decision.
func (s *QueueService) Shares(context.Context, *gpuqv1.SharesRequest) (*gpuqv1.SharesResponse, error) {
	rows := s.q.LastDecision(false).Shares
	out := make([]*gpuqv1.ShareStanding, len(rows))
	for i, r := range rows {
		out[i] = &gpuqv1.ShareStanding{Team: r.Team, User: r.User, Shares: r.Shares, NormShares: r.NormShares,
			Usage: r.Usage, NormUsage: r.NormUsage, FairShare: r.FairShare, TimeZone: r.TimeZone}
	}
	return &gpuqv1.SharesResponse{Shares: out}, nil
}
