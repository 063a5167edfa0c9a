package ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// relay is a working day in each office, in Los Angeles time: Tokyo from
// 16:00 to 01:00, Berlin from 00:00 to 09:00, San Francisco from 09:00 to
// 18:00 and a little after, for days days from 2026-11-03 (and Tokyo's day
// that ends on its first morning).
func relay(t *testing.T, days int) []*gpuqv1.RunRecord {
	la := mustLoad(t, "America/Los_Angeles")
	var recs []*gpuqv1.RunRecord
	run := func(team string, gpus uint32, start, end time.Time) {
		recs = append(recs, &gpuqv1.RunRecord{Team: team, GpuCount: gpus, StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)})
	}
	for d := range days {
		at := func(h, m int) time.Time { return accounting.LocalTime(la, 2026, 11, 3+d, h, m, 0) }
		if d == 0 {
			run("tokyo", 8, at(-8, 0), at(1, 0))
		}
		run("berlin", 8, at(0, 0), at(9, 0))
		run("berlin", 1, at(9, 0), at(9, 45))
		run("sf", 8, at(9, 0), at(18, 0))
		run("sf", 2, at(18, 0), at(20, 30))
		run("tokyo", 6, at(16, 0), at(25, 0))
	}
	return recs
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utilization is the report gpuqd makes of recs.
func utilization(t *testing.T, recs []*gpuqv1.RunRecord, period accounting.Range, loc *time.Location, per accounting.Bucketing) *gpuqv1.UtilizationResponse {
	t.Helper()
	u, err := accounting.NewUtilization(period, loc, accounting.ByTeam, per, []string{"sf", "berlin", "tokyo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		u.Add(r)
	}
	return u.Result().Proto()
}

func TestUtilizationGolden(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	day := accounting.Range{Start: accounting.LocalTime(la, 2026, 11, 3, 0, 0, 0), End: accounting.LocalTime(la, 2026, 11, 4, 0, 0, 0)}
	week := accounting.Range{Start: day.Start, End: accounting.LocalTime(la, 2026, 11, 10, 0, 0, 0)}
	for _, tt := range []struct {
		golden, svg string
		resp        *gpuqv1.UtilizationResponse
		args        []string
	}{
		{"util_hour.golden", "util_hour.svg", utilization(t, relay(t, 1), day, la, accounting.PerHour),
			[]string{"report", "utilization", "--by", "team", "--per", "hour", "-S", "2026-11-03", "-E", "2026-11-04", "--tz", "America/Los_Angeles"}},
		{"util_hour_of_day.golden", "util_hour_of_day.svg", utilization(t, relay(t, 7), week, la, accounting.PerHourOfDay),
			[]string{"report", "util", "--per", "hour-of-day", "-S", "2026-11-03", "-E", "2026-11-10", "--tz", "America/Los_Angeles"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			e := newEnv(t)
			e.srv.SetUtilization(tt.resp)
			svg := filepath.Join(t.TempDir(), "chart.svg")
			r := e.run(t, append(tt.args, "--svg", svg)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden(t, tt.golden, r.stdout)
			data, err := os.ReadFile(svg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.svg, string(data))
			// --svg - writes the chart, and only it, to stdout.
			if r := e.run(t, append(tt.args, "--svg", "-")...); r.stdout != string(data) {
				t.Errorf("--svg - wrote %d bytes, want the %d of the file", len(r.stdout), len(data))
			}
		})
	}
}

func TestUtilizationRequest(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want *gpuqv1.UtilizationRequest
	}{
		// testNow is 2026-11-27 10:00 UTC: the 24 hours before this hour.
		{"default", []string{"report", "utilization"}, &gpuqv1.UtilizationRequest{
			Start: utcTS(t, "2026-11-26T10:00:00Z"), End: utcTS(t, "2026-11-27T10:00:00Z"), TimeZone: "UTC",
			By: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM, Per: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR}},
		// 02:00 in Los Angeles: from 02:00 yesterday.
		{"default in a zone", []string{"report", "utilization", "--tz", "America/Los_Angeles", "--by", "pool"}, &gpuqv1.UtilizationRequest{
			Start: utcTS(t, "2026-11-26T10:00:00Z"), End: utcTS(t, "2026-11-27T10:00:00Z"), TimeZone: "America/Los_Angeles",
			By: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_POOL, Per: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR}},
		{"start only", []string{"report", "utilization", "--start", "yesterday", "--by", "USER", "--per", "hour-of-day"}, &gpuqv1.UtilizationRequest{
			Start: utcTS(t, "2026-11-26T00:00:00Z"), End: utcTS(t, "2026-11-27T10:00:00Z"), TimeZone: "UTC",
			By: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER, Per: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY}},
		{"local", []string{"report", "utilization", "-S", "today", "--end", "now", "--tz", "local"}, &gpuqv1.UtilizationRequest{
			Start: utcTS(t, "2026-11-26T23:00:00Z"), End: utcTS(t, "2026-11-27T10:00:00Z"),
			By: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM, Per: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if r := e.run(t, tt.args...); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if diff := cmp.Diff([]proto.Message{tt.want}, e.srv.Calls(), protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUtilizationUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--by", "node"}, `--by: unknown grouping "node" (want team, user or pool)`},
		{[]string{"--per", "day"}, `--per: unknown bucketing "day" (want hour or hour-of-day)`},
		{[]string{"-E", "now"}, "--endtime needs --starttime"},
		{[]string{"--svg", "-", "--json"}, "--svg - and --json cannot be used together"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		e := newEnv(t)
		e.run(t, append([]string{"report", "utilization"}, tt.args...)...).
			check(t, 2, "", "gpuqctl: error: "+tt.err+"\nRun 'gpuqctl report utilization --help' for usage.\n")
	}
	e := newEnv(t)
	e.run(t, "report").check(t, 2, "", "gpuqctl: error: which report? (gpuqctl report utilization)\nRun 'gpuqctl report --help' for usage.\n")
}

// TestUtilizationClockChange: the rows of a day with a clock change say
// which of the two 01:00s they are.
func TestUtilizationClockChange(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	day := accounting.Range{Start: accounting.LocalTime(la, 2026, 11, 1, 0, 0, 0), End: accounting.LocalTime(la, 2026, 11, 2, 0, 0, 0)}
	e := newEnv(t)
	e.srv.SetUtilization(utilization(t, relay(t, 1), day, la, accounting.PerHour))
	r := e.run(t, "report", "utilization", "-S", "2026-11-01", "-E", "2026-11-02", "--tz", "America/Los_Angeles")
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < 6 || !strings.HasPrefix(lines[4], "2026-11-01 01:00 PDT") || !strings.HasPrefix(lines[5], "2026-11-01 01:00 PST") {
		t.Errorf("the clock change's hours are not told apart:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "\n2026-11-01 "); n != 25 {
		t.Errorf("%d hours, want 25", n)
	}
}
