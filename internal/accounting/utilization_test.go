package accounting

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// hoursOf writes a report's rows as "label: group=hours ... total".
func hoursOf(u Utilization) []string {
	var out []string
	for _, r := range u.Rows {
		label := fmt.Sprintf("%02d", r.Hour)
		if !r.Start.IsZero() {
			label = r.Start.In(u.Location).Format("01-02 15:04 MST")
		}
		line := fmt.Sprintf("%s (%s):", label, r.Clock)
		for i, g := range u.Groups {
			if !r.Time[i].IsZero() {
				line += fmt.Sprintf(" %s=%s", g, r.Time[i])
			}
		}
		out = append(out, line+" total="+r.Total.String())
	}
	return out
}

func TestUtilizationPerHour(t *testing.T) {
	period := Range{utc(t, "2026-11-03T08:00:00Z"), utc(t, "2026-11-03T13:00:00Z")}
	u, err := NewUtilization(period, time.UTC, ByTeam, PerHour, []string{"sf", "berlin", "tokyo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*gpuqv1.RunRecord{
		rec(t, 1, "sf", "a100-us-west1", "a100", 2, "2026-11-03T09:30:00Z", "2026-11-03T11:15:00Z"),
		// From before the period: only its part inside counts.
		rec(t, 2, "tokyo", "a800-us-east1", "a800", 4, "2026-11-03T06:00:00Z", "2026-11-03T08:30:00Z"),
		// Past the period's end: likewise.
		rec(t, 3, "berlin", "a100-europe-west3", "a100", 1, "2026-11-03T12:45:00Z", "2026-11-03T15:00:00Z"),
		// Not a team given: after them.
		rec(t, 4, "ops", "a800-us-east1", "a800", 3, "2026-11-03T10:00:00Z", "2026-11-03T10:20:00Z"),
		// A job that never ran, and a run outside the period: nothing.
		rec(t, 5, "sf", "", "", 0, "", "2026-11-03T10:00:00Z"),
		rec(t, 6, "sf", "a100-us-west1", "a100", 8, "2026-11-03T13:00:00Z", "2026-11-03T14:00:00Z"),
	} {
		u.Add(r)
	}
	got := u.Result()
	want := []string{
		"11-03 08:00 UTC (1h0m0s): tokyo=2.00 total=2.00",
		"11-03 09:00 UTC (1h0m0s): sf=1.00 total=1.00",
		"11-03 10:00 UTC (1h0m0s): sf=2.00 ops=1.00 total=3.00",
		"11-03 11:00 UTC (1h0m0s): sf=0.50 total=0.50",
		"11-03 12:00 UTC (1h0m0s): berlin=0.25 total=0.25",
	}
	if diff := cmp.Diff(want, hoursOf(got)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sf", "berlin", "tokyo", "ops"}, got.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	var totals []string
	for _, g := range got.Totals {
		totals = append(totals, g.String())
	}
	if diff := cmp.Diff([]string{"3.50", "0.25", "2.00", "1.00"}, totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if got.Total.String() != "6.75" {
		t.Errorf("total = %s, want 6.75", got.Total)
	}
}

// TestUtilizationExact: runs with awkward ends split over the hours add up,
// to the nanosecond, to their part in the period, hour by hour and in
// total, whatever the zone and bucketing.
func TestUtilizationExact(t *testing.T) {
	base := utc(t, "2026-03-07T23:17:00Z")
	var recs []*gpuqv1.RunRecord
	for i := range 40 {
		start := base.Add(time.Duration(i) * 47 * time.Minute).Add(time.Duration(i*7919) * time.Nanosecond)
		end := start.Add(time.Duration(i%9+1)*time.Hour + time.Duration(i*104729)*time.Microsecond + 1)
		r := &gpuqv1.RunRecord{Team: []string{"sf", "berlin", "tokyo"}[i%3], GpuCount: uint32(i%8 + 1),
			StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)}
		recs = append(recs, r)
	}
	period := Range{utc(t, "2026-03-08T00:00:00Z"), utc(t, "2026-03-09T13:45:30Z")}
	for _, zname := range []string{"UTC", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe"} {
		for _, per := range []Bucketing{PerHour, PerHourOfDay} {
			u, err := NewUtilization(period, zone(t, zname), ByTeam, per, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]GPUTime{}
			var total GPUTime
			for _, r := range recs {
				u.Add(r)
				g := GPUTimeOf(Clip(r, period), r.GpuCount)
				want[r.Team] = want[r.Team].Add(g)
				total = total.Add(g)
			}
			got := u.Result()
			var clock time.Duration
			sums := make([]GPUTime, len(got.Groups))
			for _, row := range got.Rows {
				clock += row.Clock
				var rowSum GPUTime
				for i, g := range row.Time {
					sums[i] = sums[i].Add(g)
					rowSum = rowSum.Add(g)
				}
				if rowSum != row.Total {
					t.Errorf("%s %s: a row's total %v is not the sum of its times %v", zname, per, row.Total, rowSum)
				}
			}
			for i, g := range got.Groups {
				if sums[i] != want[g] || got.Totals[i] != want[g] {
					t.Errorf("%s %s: %s has %v in the rows and %v in total, want %v", zname, per, g, sums[i], got.Totals[i], want[g])
				}
			}
			if got.Total != total || clock != period.Duration() {
				t.Errorf("%s %s: total %v, clock %v; want %v, %v", zname, per, got.Total, clock, total, period.Duration())
			}
		}
	}
}

// TestUtilizationClockChanges: the days the clocks change in Los Angeles
// have 25 and 23 hours; folded into hours of the day, 01:00 counts twice on
// the first and 02:00 not at all on the second.
func TestUtilizationClockChanges(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	for _, tc := range []struct {
		name        string
		day         Range
		rows        int
		repeated    int // the hour of day whose row covers two hours, -1 for none
		skipped     int // the hour of day whose row covers none, -1 for none
		firstLabels []string
	}{
		{"fall back", Month{2026, 11}.Range(la), 0, -1, -1, nil},
		{"fall back day", Range{LocalTime(la, 2026, 11, 1, 0, 0, 0), LocalTime(la, 2026, 11, 2, 0, 0, 0)}, 25, 1, -1,
			[]string{"11-01 00:00 PDT", "11-01 01:00 PDT", "11-01 01:00 PST", "11-01 02:00 PST"}},
		{"spring forward day", Range{LocalTime(la, 2026, 3, 8, 0, 0, 0), LocalTime(la, 2026, 3, 9, 0, 0, 0)}, 23, -1, 2,
			[]string{"03-08 00:00 PST", "03-08 01:00 PST", "03-08 03:00 PDT", "03-08 04:00 PDT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := NewUtilization(tc.day, la, ByTeam, PerHour, []string{"sf"})
			if err != nil {
				t.Fatal(err)
			}
			// One GPU all day.
			u.Add(&gpuqv1.RunRecord{Team: "sf", GpuCount: 1, StartTime: timestamppb.New(tc.day.Start), EndTime: timestamppb.New(tc.day.End)})
			got := u.Result()
			if tc.rows == 0 {
				if len(got.Rows) != int(tc.day.Duration()/time.Hour) || got.Total.String() != "721.00" {
					t.Errorf("November: %d rows and %s GPU-hours, want 721 of each", len(got.Rows), got.Total)
				}
				return
			}
			if len(got.Rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(got.Rows), tc.rows)
			}
			var labels []string
			for _, r := range got.Rows[:4] {
				labels = append(labels, r.Start.In(la).Format("01-02 15:04 MST"))
				if r.Time[0].String() != "1.00" {
					t.Errorf("%s: %s GPU-hours, want 1.00", r.Start, r.Time[0])
				}
			}
			if diff := cmp.Diff(tc.firstLabels, labels); diff != "" {
				t.Errorf("first hours (-want +got):\n%s", diff)
			}

			u, _ = NewUtilization(tc.day, la, ByTeam, PerHourOfDay, []string{"sf"})
			u.Add(&gpuqv1.RunRecord{Team: "sf", GpuCount: 1, StartTime: timestamppb.New(tc.day.Start), EndTime: timestamppb.New(tc.day.End)})
			folded := u.Result()
			if len(folded.Rows) != 24 {
				t.Fatalf("%d rows of hours of the day, want 24", len(folded.Rows))
			}
			for _, r := range folded.Rows {
				want := time.Hour
				switch r.Hour {
				case tc.repeated:
					want = 2 * time.Hour
				case tc.skipped:
					want = 0
				}
				if r.Clock != want || r.Total != GPUTimeOf(want, 1) {
					t.Errorf("%02d:00: clock %v, %s GPU-hours; want %v of each", r.Hour, r.Clock, r.Total, want)
				}
			}
		})
	}
}

func TestUtilizationGroupings(t *testing.T) {
	period := Range{utc(t, "2026-11-03T00:00:00Z"), utc(t, "2026-11-03T02:00:00Z")}
	recs := []*gpuqv1.RunRecord{
		rec(t, 1, "sf", "a100-us-west1", "a100", 1, "2026-11-03T00:00:00Z", "2026-11-03T01:00:00Z"),
		rec(t, 2, "berlin", "", "a100", 2, "2026-11-03T00:00:00Z", "2026-11-03T01:00:00Z"),
	}
	for _, tc := range []struct {
		by   Grouping
		want []string
	}{
		{ByTeam, []string{"berlin", "sf"}},
		{ByUser, []string{"berlin-user", "sf-user"}},
		{ByPool, []string{NoGroup, "a100-us-west1"}},
	} {
		u, err := NewUtilization(period, nil, tc.by, PerHour, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			u.Add(r)
		}
		if got := u.Result(); !cmp.Equal(tc.want, got.Groups) || got.Location != time.UTC {
			t.Errorf("%s: groups %v in %v, want %v in UTC", tc.by, got.Groups, got.Location, tc.want)
		}
	}
}

func TestUtilizationErrors(t *testing.T) {
	t0 := utc(t, "2026-11-03T00:00:00Z")
	for _, tc := range []struct {
		period Range
		by     Grouping
		per    Bucketing
		want   error
	}{
		{Range{Start: t0}, ByTeam, PerHour, ErrUnbounded},
		{Range{End: t0}, ByTeam, PerHour, ErrUnbounded},
		{Range{t0, t0}, ByTeam, PerHour, ErrEmptyPeriod},
		{Range{t0, t0.Add(MaxUtilizationHours*time.Hour + 1)}, ByTeam, PerHour, ErrTooLong},
		{Range{t0, t0.Add(time.Hour)}, 0, PerHour, ErrBadGrouping},
		{Range{t0, t0.Add(time.Hour)}, ByTeam, 7, ErrBadGrouping},
	} {
		if _, err := NewUtilization(tc.period, time.UTC, tc.by, tc.per, nil); !errors.Is(err, tc.want) {
			t.Errorf("NewUtilization(%v, %v, %v) = %v, want %v", tc.period, tc.by, tc.per, err, tc.want)
		}
	}
	for _, s := range []string{"team", "USER", "Pool"} {
		if _, err := ParseGrouping(s); err != nil {
			t.Errorf("ParseGrouping(%q): %v", s, err)
		}
	}
	for _, s := range []string{"hour", "Hour-Of-Day"} {
		if _, err := ParseBucketing(s); err != nil {
			t.Errorf("ParseBucketing(%q): %v", s, err)
		}
	}
	if _, err := ParseGrouping("node"); err == nil {
		t.Error("ParseGrouping(node): no error")
	}
	if _, err := ParseBucketing("day"); err == nil {
		t.Error("ParseBucketing(day): no error")
	}
}
