package accounting

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// The wire forms of groupings and bucketings, both ways: one table for
// gpuqd and gpuqctl. The unspecified values read as the defaults.
var (
	GroupingProto = map[Grouping]gpuqv1.UtilizationGroup{
		ByTeam: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM,
		ByUser: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER,
		ByPool: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_POOL,
	}
	BucketingProto = map[Bucketing]gpuqv1.UtilizationBucket{
		PerHour:      gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR,
		PerHourOfDay: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY,
	}
	GroupingFromProto = map[gpuqv1.UtilizationGroup]Grouping{
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_UNSPECIFIED: ByTeam,
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM:        ByTeam,
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER:        ByUser,
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_POOL:        ByPool,
	}
	BucketingFromProto = map[gpuqv1.UtilizationBucket]Bucketing{
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_UNSPECIFIED: PerHour,
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR:        PerHour,
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY: PerHourOfDay,
	}
)

// Proto is the report's wire form.
func (u Utilization) Proto() *gpuqv1.UtilizationResponse {
	out := &gpuqv1.UtilizationResponse{
		Start: timestamppb.New(u.Period.Start), End: timestamppb.New(u.Period.End), TimeZone: u.Location.String(),
		By: GroupingProto[u.By], Per: BucketingProto[u.Per], Groups: u.Groups, Total: u.Total.Hours(),
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
