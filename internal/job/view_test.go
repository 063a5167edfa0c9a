package job

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestBrief(t *testing.T) {
	ts := timestamppb.New(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	array := &gpuqv1.ArraySpec{Expr: "0-9%4", TaskIds: []uint32{0, 1, 2}, MaxConcurrent: 4}
	full := func(task uint32) *gpuqv1.Job {
		return &gpuqv1.Job{
			Id: 44, ArrayTaskId: proto.Uint32(task), State: gpuqv1.JobState_JOB_STATE_RUNNING, Reason: "None",
			SubmitTime: ts, EligibleTime: ts, StartTime: ts, EndTime: ts, UpdateTime: ts,
			Node: "gpu-a01", GpuIds: []string{"GPU-1"}, ExitCode: 1, Restarts: 2, AllocationId: "a", Priority: 7.5,
			Held: true, HoldReason: "Budget", Usage: &gpuqv1.GPUUsage{},
			Decisions: []*gpuqv1.SchedulingDecision{{Kind: "start"}},
			Spec: &gpuqv1.JobSpec{
				Name: "sweep", Team: "sf", User: "carol", Gpus: &gpuqv1.GPURequest{Type: "a800", Count: 1},
				TimeLimit: durationpb.New(time.Hour), Args: []string{"x"}, Output: "o", Chdir: "/d", Image: "i",
				Array: array, Dependencies: []*gpuqv1.Dependency{{JobId: 1}}, Nice: 3, Begin: ts, Qos: "q",
				Pool: "p", Cpus: 4, MemoryBytes: 1, ScriptPath: "/s", Comment: "c",
			},
		}
	}
	brief := func(task uint32) *gpuqv1.Job {
		return &gpuqv1.Job{
			Id: 44, ArrayTaskId: proto.Uint32(task), State: gpuqv1.JobState_JOB_STATE_RUNNING, Reason: "None",
			StartTime: ts, EndTime: ts, Node: "gpu-a01", Priority: 7.5,
			Spec: &gpuqv1.JobSpec{
				Name: "sweep", Team: "sf", User: "carol", Gpus: &gpuqv1.GPURequest{Type: "a800", Count: 1},
				TimeLimit: durationpb.New(time.Hour), Array: &gpuqv1.ArraySpec{Expr: "0-9%4", MaxConcurrent: 4},
			},
		}
	}
	jobs := []*gpuqv1.Job{full(0), full(1), {Id: 45}}
	got := Brief(jobs)
	want := []*gpuqv1.Job{brief(0), brief(1), {Id: 45}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Brief (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*gpuqv1.Job{full(0), full(1), {Id: 45}}, jobs, protocmp.Transform()); diff != "" {
		t.Errorf("Brief changed its input (-want +got):\n%s", diff)
	}
}
