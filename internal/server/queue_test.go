package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestListJobsView lists the same jobs in each view: unspecified and FULL
// are the same, BRIEF is job.Brief of them.
func TestListJobsView(t *testing.T) {
	qc, _, _ := benchServer(t)
	ctx := context.Background()
	for _, spec := range []*gpuqv1.JobSpec{
		{Name: "one", Team: "sf", User: "alice", Script: []byte("#!/bin/sh\ntrue\n"), Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 2},
			TimeLimit: durationpb.New(time.Hour), Environment: map[string]string{"A": "1"}, Chdir: "/tmp", Comment: "c"},
		{Name: "sweep", Team: "sf", User: "bob", Script: []byte("#!/bin/sh\ntrue\n"), Array: &gpuqv1.ArraySpec{Expr: "0-2%2", TaskIds: []uint32{0, 1, 2}, MaxConcurrent: 2}},
	} {
		if _, err := qc.SubmitJob(ctx, &gpuqv1.SubmitJobRequest{Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(v gpuqv1.JobView) []*gpuqv1.Job {
		res, err := qc.ListJobs(ctx, &gpuqv1.ListJobsRequest{View: v})
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs
	}
	// A scheduling cycle may change reasons and priorities between two
	// listings: compare only listings taken while nothing changed.
	for range 50 {
		full := list(gpuqv1.JobView_JOB_VIEW_UNSPECIFIED)
		fullView, brief := list(gpuqv1.JobView_JOB_VIEW_FULL), list(gpuqv1.JobView_JOB_VIEW_BRIEF)
		if !cmp.Equal(full, list(gpuqv1.JobView_JOB_VIEW_UNSPECIFIED), protocmp.Transform()) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if len(full) != 4 {
			t.Fatalf("%d jobs, want 4", len(full))
		}
		if diff := cmp.Diff(full, fullView, protocmp.Transform()); diff != "" {
			t.Errorf("FULL (-unspecified +full):\n%s", diff)
		}
		if diff := cmp.Diff(job.Brief(full), brief, protocmp.Transform()); diff != "" {
			t.Errorf("BRIEF (-want +got):\n%s", diff)
		}
		return
	}
	t.Fatal("the jobs kept changing")
}
