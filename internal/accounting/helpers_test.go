package accounting

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utc parses an RFC 3339 time.
func utc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func amount(t testing.TB, s string) money.Amount {
	t.Helper()
	a, err := money.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// rec builds a record of a run from start to end (RFC 3339; start "" for a
// job that ended without running).
func rec(t testing.TB, id uint64, team, pool, gpuType string, n uint32, start, end string) *gpuqv1.RunRecord {
	t.Helper()
	r := &gpuqv1.RunRecord{
		Job: job.Ref{ID: id}.Proto(), Name: "job", Team: team, User: team + "-user", Pool: pool, GpuType: gpuType,
		GpuCount: n, EndTime: timestamppb.New(utc(t, end)), State: gpuqv1.JobState_JOB_STATE_COMPLETED,
	}
	if start != "" {
		s := utc(t, start)
		r.StartTime = timestamppb.New(s)
		r.GpuSeconds = utc(t, end).Sub(s).Seconds() * float64(n)
		r.BilledGpuSeconds = r.GpuSeconds
	} else {
		r.GpuCount = 0
		r.State = gpuqv1.JobState_JOB_STATE_CANCELLED
	}
	return r
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
