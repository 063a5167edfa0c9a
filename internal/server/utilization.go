package server

import (
	"context"
	"errors"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// UtilizationReport adds up GPU-hours per group and hour.
func (s *AccountingService) UtilizationReport(ctx context.Context, req *gpuqv1.UtilizationRequest) (*gpuqv1.UtilizationResponse, error) {
	var inv job.InvalidError
	loc, zoneErr := loadZone(req.TimeZone)
	if zoneErr != nil {
		inv.Add("time_zone", "%v", zoneErr)
	}
	period := timeRange(&inv, req.Start, req.End, true)
	by, okBy := accounting.GroupingFromProto[req.By]
	if !okBy {
		inv.Add("by", "unknown grouping %d", req.By)
	}
	per, okPer := accounting.BucketingFromProto[req.Per]
	if !okPer {
		inv.Add("per", "unknown bucketing %d", req.Per)
	}
	if err := inv.Err(); err != nil {
		return nil, err
	}
	var first []string
	if by == accounting.ByTeam {
		for _, t := range s.opts.Pricing.Teams {
			first = append(first, t.Name)
		}
	}
	us := make([]*accounting.UtilizationTally, s.parts())
	for i := range us {
		var err error
		us[i], err = accounting.NewUtilization(period, loc, by, per, first)
		if errors.Is(err, accounting.ErrTooLong) {
			return nil, &job.FieldError{Field: "end", Problem: err.Error()}
		}
		if err != nil {
			return nil, err
		}
	}
	// Per team or pool the report is the cluster's picture, like sshare's
	// usage, for everyone; per user it counts only the runs the caller may
	// read (their own, their administered teams', all for operators).
	id := auth.FromContext(ctx)
	if err := auth.RequireUser(id); err != nil {
		return nil, err
	}
	readable := func(*accounting.Run) bool { return true }
	if by == accounting.ByUser && !id.Operator() {
		readable = func(r *accounting.Run) bool { return auth.CanReadRecord(id, r.Team, r.User) }
	}
	u := us[0]
	err := s.scanRuns(ctx, period, func(part int, run *accounting.Run) {
		if readable(run) {
			us[part].AddRun(run)
		}
	})
	for _, o := range us[1:] {
		u.Merge(o)
	}
	if err != nil {
		return nil, err
	}
	return u.Result().Proto(), nil
}
