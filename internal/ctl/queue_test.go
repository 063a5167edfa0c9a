package ctl

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func at(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(testNow.Add(d)) }

// fixtureJobs is a queue with every kind of line: running, completing,
// pending for several reasons, held, an array partly running, ended jobs.
func fixtureJobs() []*gpuqv1.Job {
	trainSpec := &gpuqv1.JobSpec{
		Name: "train", Team: "sf", User: "alice",
		Gpus:      &gpuqv1.GPURequest{Type: "a100", Count: 4},
		TimeLimit: durationpb.New(2 * time.Hour),
		Chdir:     "/home/alice/proj", ScriptPath: "/home/alice/proj/train.sh", Args: []string{"--lr", "3e-4"},
		Output: "logs/%x-%j.out", Qos: "normal", Pool: "a100-pool", Cpus: 16, MemoryBytes: 64 << 30,
		Comment: "baseline run", Signal: &gpuqv1.WarningSignal{Name: "USR1", Before: durationpb.New(90 * time.Second)},
		Image: "pytorch:2.5",
	}
	arraySpec := &gpuqv1.JobSpec{
		Name: "sweep", Team: "sf", User: "carol", Gpus: &gpuqv1.GPURequest{Type: "a800", Count: 1},
		TimeLimit: durationpb.New(30 * time.Minute), Chdir: "/home/carol",
		Array:        &gpuqv1.ArraySpec{Expr: "0-9%4", TaskIds: []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, MaxConcurrent: 4},
		Dependencies: []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: 40}},
	}
	jobs := []*gpuqv1.Job{
		{Id: 40, Spec: trainSpec, State: gpuqv1.JobState_JOB_STATE_RUNNING, Reason: "None", Node: "gpu-a01",
			GpuIds:     []string{"GPU-0aa1", "GPU-0aa2", "GPU-0aa3", "GPU-0aa4"},
			SubmitTime: at(-2 * time.Hour), EligibleTime: at(-2 * time.Hour), StartTime: at(-(89*time.Minute + 45*time.Second)),
			Priority: 100, AllocationId: "alloc-40-1", Restarts: 1,
			Decisions: []*gpuqv1.SchedulingDecision{
				{Time: at(-3 * time.Hour), Kind: "start", Detail: "priority 106006, 1 of 3 eligible: the highest-priority eligible job that fits; on gpu-a02 (8 of its GPUs free, best fit)"},
				{Time: at(-(2*time.Hour + 10*time.Minute)), Kind: "preempt", Detail: "preempted on gpu-a02 for job 39 (team sf, priority 111000, 8 GPUs) that could not start otherwise; this job had priority 6006 and ran 50m0s; 1 victim(s): the fewest and cheapest"},
				{Time: at(-(89*time.Minute + 45*time.Second)), Kind: "start", Detail: "priority 106010, 1 of 2 eligible: the highest-priority eligible job that fits; on gpu-a01 (4 of its GPUs free, best fit)"},
			}},
		{Id: 41, Spec: &gpuqv1.JobSpec{Name: "a-very-long-job-name", Team: "computer-vision", User: "bartholomew", Gpus: &gpuqv1.GPURequest{Count: 8}},
			State: gpuqv1.JobState_JOB_STATE_RUNNING, Node: "gpu-b02", SubmitTime: at(-75 * time.Hour), StartTime: at(-75 * time.Hour), Priority: 7},
		{Id: 42, Spec: &gpuqv1.JobSpec{Name: "eval", Team: "sf", User: "alice", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1}},
			State: gpuqv1.JobState_JOB_STATE_PENDING, Reason: "Priority", SubmitTime: at(-time.Minute), Priority: 50},
		{Id: 43, Spec: &gpuqv1.JobSpec{Name: "later", Team: "sf", User: "alice", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 2}, Hold: true},
			State: gpuqv1.JobState_JOB_STATE_PENDING, Reason: "JobHeldUser", Held: true, SubmitTime: at(-time.Minute), Priority: 10},
		{Id: 45, Spec: &gpuqv1.JobSpec{Name: "quick", Team: "nlp", User: "dave", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1}},
			State: gpuqv1.JobState_JOB_STATE_COMPLETING, Node: "gpu-a01", SubmitTime: at(-time.Minute), StartTime: at(-45 * time.Second)},
		{Id: 46, Spec: &gpuqv1.JobSpec{Name: "done", Team: "nlp", User: "dave", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1}},
			State: gpuqv1.JobState_JOB_STATE_COMPLETED, Reason: "None", Node: "gpu-a03", SubmitTime: at(-3 * time.Hour),
			StartTime: at(-3 * time.Hour), EndTime: at(-2*time.Hour - 30*time.Minute)},
	}
	for t := uint32(0); t < 10; t++ {
		j := &gpuqv1.Job{Id: 44, ArrayTaskId: proto.Uint32(t), Spec: arraySpec, SubmitTime: at(-10 * time.Minute), Priority: 80}
		switch {
		case t < 2:
			j.State, j.Node, j.StartTime = gpuqv1.JobState_JOB_STATE_RUNNING, "gpu-c0"+string(rune('1'+t)), at(-5*time.Minute)
		case t == 2:
			j.State, j.Node, j.StartTime, j.EndTime, j.ExitCode = gpuqv1.JobState_JOB_STATE_FAILED, "gpu-c03", at(-9*time.Minute), at(-6*time.Minute), 3
		case t < 8:
			j.State, j.Reason = gpuqv1.JobState_JOB_STATE_PENDING, "Resources"
		default:
			j.State, j.Reason = gpuqv1.JobState_JOB_STATE_PENDING, "JobArrayTaskLimit"
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func TestQueueGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"queue_default.golden", []string{"queue"}},
		{"queue_tasks.golden", []string{"queue", "-r"}},
		{"queue_all.golden", []string{"squeue", "--state=all"}},
		{"queue_fields.golden", []string{"queue", "-t", "all", "-o", "%i|%A|%K|%T|%t|%M|%l|%L|%b|%N|%r|%D|%V|%S|%e|%Q|%y|%P|%q|%C|%m|%E|%Z|%o|%k"}},
		{"queue_widths.golden", []string{"queue", "-rh", "-o", "%.5i %3t %10j|%.10a|%%%R"}},
		{"queue_json.golden", []string{"queue", "--json", "-j", "40,44_[0-1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddJobs(fixtureJobs()...)
			r := e.run(t, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

// TestQueueView checks that queue asks for the brief view only when the
// output needs nothing else; else the full one (unspecified).
func TestQueueView(t *testing.T) {
	tests := []struct {
		args []string
		want gpuqv1.JobView
	}{
		{[]string{"queue"}, gpuqv1.JobView_JOB_VIEW_BRIEF},
		{[]string{"queue", "-o", "%i %A %F %K %j %u %a %g %T %t %M %l %L %b %R %r %N %D %S %e %Q"}, gpuqv1.JobView_JOB_VIEW_BRIEF},
		{[]string{"queue", "--json"}, gpuqv1.JobView_JOB_VIEW_UNSPECIFIED},
		{[]string{"queue", "-o", "%i %E"}, gpuqv1.JobView_JOB_VIEW_UNSPECIFIED},
		{[]string{"queue", "-o", "%i %V"}, gpuqv1.JobView_JOB_VIEW_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(cmp.Diff(nil, tt.args), func(t *testing.T) {
			e := newEnv(t)
			e.run(t, tt.args...)
			calls := e.srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("calls = %v, want one ListJobs", calls)
			}
			if got := calls[0].(*gpuqv1.ListJobsRequest).GetView(); got != tt.want {
				t.Errorf("view = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueueFilter(t *testing.T) {
	ref := func(id uint64, task ...uint32) *gpuqv1.JobRef {
		r := job.Ref{ID: id}
		if len(task) > 0 {
			r.Task, r.HasTask = task[0], true
		}
		return r.Proto()
	}
	tests := []struct {
		args []string
		want *gpuqv1.JobFilter
	}{
		{[]string{"queue"}, &gpuqv1.JobFilter{}},
		{[]string{"queue", "--me", "-u", "bob,carol", "--user=erin", "-A", "sf", "--name", "train,eval", "-tPD,r"}, &gpuqv1.JobFilter{
			Users: []string{"bob", "carol", "erin", "alice"}, Teams: []string{"sf"}, Names: []string{"train", "eval"},
			States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PENDING, gpuqv1.JobState_JOB_STATE_RUNNING},
		}},
		{[]string{"queue", "-t", "all"}, &gpuqv1.JobFilter{IncludeEnded: true}},
		{[]string{"queue", "-j", "42,44_[1,3]", "-j", "45_2"}, &gpuqv1.JobFilter{
			Jobs: []*gpuqv1.JobRef{ref(42), ref(44, 1), ref(44, 3), ref(45, 2)}, IncludeEnded: true,
		}},
		{[]string{"queue", "-j", "42", "-t", "R"}, &gpuqv1.JobFilter{
			Jobs: []*gpuqv1.JobRef{ref(42)}, States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_RUNNING},
		}},
	}
	for _, tt := range tests {
		t.Run(cmp.Diff(nil, tt.args), func(t *testing.T) {
			e := newEnv(t)
			e.run(t, tt.args...).check(t, 0, "             JOBID      TEAM       NAME     USER ST       TIME      GPUS NODELIST(REASON)\n", "")
			calls := e.srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("calls = %v, want one ListJobs", calls)
			}
			want := &gpuqv1.ListJobsRequest{Filter: tt.want, View: gpuqv1.JobView_JOB_VIEW_BRIEF}
			if diff := cmp.Diff(want, calls[0], protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMeNotInPasswd: for a user /etc/passwd does not know, --me asks
// gpuqd whom it takes the caller for, not $USER (which may name someone
// else, and cancel --me acts on it).
func TestMeNotInPasswd(t *testing.T) {
	for _, cmd := range []string{"queue", "cancel"} {
		t.Run(cmd, func(t *testing.T) {
			e := newEnv(t)
			e.cfg.username = func() (string, error) { return "", fmt.Errorf("%w (uid 5001)", errNoLocalName) }
			e.vars["USER"] = "mallory"
			e.srv.Identity = &gpuqv1.WhoAmIResponse{Kind: "user", Name: "dave"}
			r := e.run(t, cmd, "--me")
			if r.code != 0 {
				t.Fatalf("gpuqctl %s --me: exit %d: %s", cmd, r.code, r.stderr)
			}
			var users []string
			for _, c := range e.srv.Calls() {
				switch c := c.(type) {
				case *gpuqv1.ListJobsRequest:
					users = c.GetFilter().GetUsers()
				case *gpuqv1.CancelJobsRequest:
					users = c.GetFilter().GetUsers()
				}
			}
			if !slices.Equal(users, []string{"dave"}) {
				t.Errorf("users = %v, want [dave] (calls %v)", users, e.srv.Calls())
			}
		})
	}
}
