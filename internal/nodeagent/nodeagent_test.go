package nodeagent

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/jobrun"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func testJob(task *uint32) *gpuqv1.Job {
	return &gpuqv1.Job{Id: 42, ArrayTaskId: task, Restarts: 2, Spec: &gpuqv1.JobSpec{
		Name: "train", Team: "sf", User: "alice", Chdir: "/home/alice/run", Pool: "a100-us-west1",
		Environment: map[string]string{"PATH": "/usr/bin", "SLURM_JOB_ID": "stale", "GPUQ_TEAM": "forged"},
	}}
}

func TestOutputPath(t *testing.T) {
	task := uint32(3)
	tests := []struct {
		pattern string
		task    *uint32
		want    string
	}{
		{"", nil, "/home/alice/run/gpuq-42.out"},
		{"", &task, "/home/alice/run/gpuq-42_3.out"},
		{"logs/%x-%j.out", nil, "/home/alice/run/logs/train-42.out"},
		{"/scratch/%u/%A_%a.%N.log", &task, "/scratch/alice/42_3.n1.log"},
		{"100%%-%q", nil, "/home/alice/run/100%-%q"},
		{"trailing%", nil, "/home/alice/run/trailing%"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := outputPath(tt.pattern, testJob(tt.task), "n1"); got != tt.want {
				t.Errorf("outputPath(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestJobEnv(t *testing.T) {
	task := uint32(3)
	as := &gpuqv1.Assignment{AllocationId: "42_3.2.ab", Job: testJob(&task), GpuIds: []string{"GPU-a", "GPU-b"}}
	env := map[string]string{}
	home := t.TempDir()
	user := userEnv(Identity{Name: "alice", UID: 1000, GID: 1000, Home: home})
	for _, kv := range jobEnv(as, "n1", "/ckpt/42_3", map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b"}, user) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"PATH": "/usr/bin", "GPUQ_JOB_ID": "42_3", "GPUQ_ARRAY_JOB_ID": "42", "GPUQ_ARRAY_TASK_ID": "3",
		"GPUQ_TEAM": "sf", "GPUQ_RESTART_COUNT": "2", "GPUQ_CHECKPOINT_DIR": "/ckpt/42_3", "GPUQ_GPUS": "GPU-a,GPU-b",
		"SLURM_JOB_ID": "42_3", "SLURM_ARRAY_JOB_ID": "42", "SLURM_ARRAY_TASK_ID": "3", "SLURM_RESTART_COUNT": "2",
		"SLURM_JOB_NUM_NODES": "1", "SLURM_PROCID": "0", "SLURM_GPUS_ON_NODE": "2", "CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b",
		"USER": "alice", "LOGNAME": "alice", "HOME": home, "GPUQ_USER": "alice", "SLURM_JOB_USER": "alice",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["SLURM_CPUS_PER_TASK"]; ok {
		t.Error("SLURM_CPUS_PER_TASK set though the job asked for no CPUs")
	}
	// A home that does not exist on the node is not set.
	if got := userEnv(Identity{Name: "nobody", Home: "/nonexistent/gpuq"}); got["HOME"] != "" || got["USER"] != "nobody" {
		t.Errorf("userEnv without a home = %v", got)
	}
	// Sorted, and each variable once.
	list := jobEnv(as, "n1", "/ckpt", nil, nil)
	if !slices.IsSorted(list) {
		t.Error("environment not sorted")
	}
}

func TestEndUpdate(t *testing.T) {
	r := &run{alloc: "a", ref: job.Ref{ID: 1}, started: time.Unix(100, 0)}
	ended := time.Unix(200, 0)
	tests := []struct {
		name string
		why  gpuqv1.StopJob_Reason
		exit jobrun.Exit
		want gpuqv1.JobState
	}{
		{"exit 0", 0, jobrun.Exit{Code: 0}, gpuqv1.JobState_JOB_STATE_COMPLETED},
		{"exit 3", 0, jobrun.Exit{Code: 3}, gpuqv1.JobState_JOB_STATE_FAILED},
		{"killed by the OOM killer", 0, jobrun.Exit{Code: 137, Signal: syscall.SIGKILL, OOM: true}, gpuqv1.JobState_JOB_STATE_OUT_OF_MEMORY},
		{"time limit, checkpointed and exited 0", gpuqv1.StopJob_REASON_TIME_LIMIT, jobrun.Exit{Code: 0}, gpuqv1.JobState_JOB_STATE_TIMEOUT},
		{"cancelled, killed after the kill wait", gpuqv1.StopJob_REASON_CANCEL, jobrun.Exit{Code: 137, Signal: syscall.SIGKILL}, gpuqv1.JobState_JOB_STATE_CANCELLED},
		{"preempted", gpuqv1.StopJob_REASON_PREEMPT, jobrun.Exit{Code: 143, Signal: syscall.SIGTERM}, gpuqv1.JobState_JOB_STATE_PREEMPTED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.exit.Ended = ended
			u := endUpdate(r, tt.why, tt.exit)
			if u.State != tt.want || u.ExitCode != int32(tt.exit.Code) || u.ExitSignal != int32(tt.exit.Signal) || !u.EndTime.AsTime().Equal(ended) {
				t.Errorf("endUpdate = %v, want state %v", u, tt.want)
			}
		})
	}
}

func TestSignalByName(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "SIGUSR1": syscall.SIGUSR1, "usr2": syscall.SIGUSR2, "10": syscall.Signal(10)} {
		if got, ok := signalByName(in); !ok || got != want {
			t.Errorf("signalByName(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "BOGUS", "0", "99"} {
		if _, ok := signalByName(bad); ok {
			t.Errorf("signalByName(%q) accepted", bad)
		}
	}
}

func TestRunFromLabels(t *testing.T) {
	deadline := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f := jobrun.Running{ID: "7_1.0.ab", Started: time.Unix(5, 0), Labels: map[string]string{
		labelAllocation: "7_1.0.ab", labelJob: "7_1", labelDeadline: deadline.Format(time.RFC3339Nano),
		labelSignalAt: deadline.Add(-time.Minute).Format(time.RFC3339Nano), labelGrace: "5m0s", labelSignal: "USR1",
	}}
	r, err := runFromLabels(f)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{r.ref.String(), r.deadline, r.warnAt, r.grace, r.signal}
	want := []any{"7_1", deadline, deadline.Add(-time.Minute), 5 * time.Minute, syscall.SIGUSR1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := runFromLabels(jobrun.Running{ID: "x", Labels: map[string]string{}}); err == nil {
		t.Error("a run without gpuq's labels was accepted")
	}
}
