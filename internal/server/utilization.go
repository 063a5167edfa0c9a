package server

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

var (
	groupingOf = map[gpuqv1.UtilizationGroup]accounting.Grouping{
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_UNSPECIFIED: accounting.ByTeam,
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM:        accounting.ByTeam,
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER:        accounting.ByUser,
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_POOL:        accounting.ByPool,
	}
	bucketingOf = map[gpuqv1.UtilizationBucket]accounting.Bucketing{
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_UNSPECIFIED: accounting.PerHour,
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR:        accounting.PerHour,
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY: accounting.PerHourOfDay,
	}
	groupingProto = map[accounting.Grouping]gpuqv1.UtilizationGroup{
		accounting.ByTeam: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM,
		accounting.ByUser: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER,
		accounting.ByPool: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_POOL,
	}
	bucketingProto = map[accounting.Bucketing]gpuqv1.UtilizationBucket{
		accounting.PerHour:      gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR,
		accounting.PerHourOfDay: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY,
	}
)

// UtilizationReport adds up GPU-hours per group and hour.
func (s *AccountingService) UtilizationReport(ctx context.Context, req *gpuqv1.UtilizationRequest) (*gpuqv1.UtilizationResponse, error) {
	var inv job.InvalidError
	loc, zoneErr := loadZone(req.TimeZone)
	if zoneErr != nil {
		inv.Add("time_zone", "%v", zoneErr)
	}
	period := timeRange(&inv, req.Start, req.End, true)
	by, okBy := groupingOf[req.By]
	if !okBy {
		inv.Add("by", "unknown grouping %d", req.By)
	}
	per, okPer := bucketingOf[req.Per]
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
	return utilizationProto(u.Result()), nil
}

func utilizationProto(u accounting.Utilization) *gpuqv1.UtilizationResponse {
	out := &gpuqv1.UtilizationResponse{
		Start: timestamppb.New(u.Period.Start), End: timestamppb.New(u.Period.End), TimeZone: u.Location.String(),
		By: groupingProto[u.By], Per: bucketingProto[u.Per], Groups: u.Groups, Total: u.Total.Hours(),
	}
	for _, g := range u.Totals {
		out.TotalGpuHours = append(out.TotalGpuHours, g.Hours())
	}
	for _, r := range u.Rows {
		row := &gpuqv1.UtilizationRow{Hour: uint32(r.Hour), ClockHours: r.Clock.Hours(), TotalGpuHours: r.Total.Hours()}
		if !r.Start.IsZero() {
			row.Start, row.End = timestamppb.New(r.Start), timestamppb.New(r.End)
		}
		for _, g := range r.Time {
			row.GpuHours = append(row.GpuHours, g.Hours())
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}
