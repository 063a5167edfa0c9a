package ctl

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestDecodeRows reads brief and full listings of the fixture jobs and
// checks that each row orders and loads as the job's brief view.
func TestDecodeRows(t *testing.T) {
	jobs := append(fixtureJobs(), &gpuqv1.Job{Id: 99}, &gpuqv1.Job{Id: 100, Spec: &gpuqv1.JobSpec{}})
	want := job.Brief(jobs)
	for _, tt := range []struct {
		name string
		jobs []*gpuqv1.Job
	}{{"brief", want}, {"full", jobs}} {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := proto.Marshal(&gpuqv1.ListJobsResponse{Jobs: tt.jobs})
			if err != nil {
				t.Fatal(err)
			}
			rows, err := decodeRows(wire)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(rows), len(want))
			}
			var s scratch
			for i := range rows {
				w := want[i]
				if w.Spec == nil { // a row always has a spec, as empty as the job's
					w = proto.CloneOf(w)
					w.Spec = &gpuqv1.JobSpec{}
				}
				got, err := s.load(rows[i].msg)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(jobOrder(w), rows[i].order, cmp.AllowUnexported(order{})); diff != "" {
					t.Errorf("row %d order (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(w, got, protocmp.Transform()); diff != "" {
					t.Errorf("row %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
	if _, err := decodeRows([]byte{0x0a, 0x05, 0x08}); err == nil {
		t.Error("decodeRows of a cut message: no error")
	}
}
