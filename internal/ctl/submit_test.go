package ctl

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/client/clienttest"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const trainScript = `#!/bin/bash
#SBATCH --job-name=train
#SBATCH -G a100:4
#SBATCH --time=2:00:00
#SBATCH --mail-type=END
#GPUQ --team=sf
#GPUQ --time=3:00:00
python train.py "$@"
`

var testEnviron = map[string]string{"HOME": "/home/alice", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

// lastSubmit returns the spec of the only submission, failing otherwise.
func lastSubmit(t *testing.T, srv *clienttest.Server) *gpuqv1.SubmitJobRequest {
	t.Helper()
	subs := srv.Submits()
	if len(subs) != 1 {
		t.Fatalf("%d submissions, want 1", len(subs))
	}
	return subs[0]
}

func TestSubmitScript(t *testing.T) {
	e := newEnv(t)
	path := writeFile(t, t.TempDir(), "train.sh", trainScript)
	e.run(t, "submit", path, "--lr", "3e-4").check(t, 0,
		"Submitted job 1\n",
		"gpuqctl: warning: line 5: #SBATCH --mail-type is not supported by gpuq; ignored\n")
	want := &gpuqv1.SubmitJobRequest{
		RequestId: "req-1",
		Spec: &gpuqv1.JobSpec{
			Name:        "train",
			Team:        "sf",
			User:        "alice",
			Gpus:        &gpuqv1.GPURequest{Type: "a100", Count: 4},
			TimeLimit:   durationpb.New(3 * time.Hour), // #GPUQ wins over #SBATCH
			Script:      []byte(trainScript),
			Args:        []string{"--lr", "3e-4"},
			Chdir:       "/home/alice/proj",
			Environment: testEnviron,
			ScriptPath:  path,
		},
	}
	if diff := cmp.Diff(want, lastSubmit(t, e.srv), protocmp.Transform()); diff != "" {
		t.Errorf("submission (-want +got):\n%s", diff)
	}
}

// Flags override directives, in sbatch's syntax: attached values, clusters
// of short flags, long and short names of one option (the last wins).
func TestSubmitFlagsOverride(t *testing.T) {
	e := newEnv(t)
	e.vars["GPUQ_TEAM"] = "ignored-because-the-script-sets-it"
	path := writeFile(t, t.TempDir(), "train.sh", trainScript)
	r := e.run(t, "submit", "-t10", "--time", "20", "-G", "2", "-HJ", "other", "--account=ml", "--nice",
		"-D", "runs", "--export=NONE,CUDA_VISIBLE=1", "--array=0-9%2", "-d", "afterok:7", "--begin=now+1hour",
		"--no-requeue", "-c8", "--mem=32G", "-p", "pool1", "-q", "high", "--comment", "note", "--image", "pytorch:2",
		"--signal=USR1@90", "-o", "out-%j.log", "-e", "err-%j.log", "--parsable", path)
	r.check(t, 0, "1\n", "gpuqctl: warning: line 5: #SBATCH --mail-type is not supported by gpuq; ignored\n")
	got := lastSubmit(t, e.srv).Spec
	want := &gpuqv1.JobSpec{
		Name:         "other",
		Team:         "ml",
		User:         "alice",
		Gpus:         &gpuqv1.GPURequest{Count: 2},
		TimeLimit:    durationpb.New(20 * time.Minute),
		Script:       []byte(trainScript),
		Output:       "out-%j.log",
		Error:        "err-%j.log",
		Chdir:        "/home/alice/proj/runs",
		Environment:  map[string]string{"CUDA_VISIBLE": "1"},
		Image:        "pytorch:2",
		Signal:       &gpuqv1.WarningSignal{Name: "USR1", Before: durationpb.New(90 * time.Second)},
		NoRequeue:    true,
		Array:        &gpuqv1.ArraySpec{Expr: "0-9%2", TaskIds: []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, MaxConcurrent: 2},
		Dependencies: []*gpuqv1.Dependency{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, JobId: 7}},
		Hold:         true,
		Nice:         100,
		Begin:        timestamppb.New(testNow.Add(time.Hour)),
		Qos:          "high",
		Pool:         "pool1",
		Cpus:         8,
		MemoryBytes:  32 << 30,
		ScriptPath:   path,
		Comment:      "note",
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestSubmitWrap(t *testing.T) {
	e := newEnv(t)
	e.vars["GPUQ_TEAM"] = "sf"
	e.run(t, "submit", "--wrap", "nvidia-smi -L", "-G", "1").check(t, 0, "Submitted job 1\n", "")
	got := lastSubmit(t, e.srv).Spec
	want := &gpuqv1.JobSpec{
		Name: "wrap", Team: "sf", User: "alice", Gpus: &gpuqv1.GPURequest{Count: 1},
		Script: []byte("#!/bin/sh\nnvidia-smi -L\n"), Chdir: "/home/alice/proj", Environment: testEnviron,
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestSubmitStdin(t *testing.T) {
	for _, args := range [][]string{{"submit"}, {"submit", "-"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			e := newEnv(t)
			e.cfg.stdin = strings.NewReader("#!/bin/sh\n#SBATCH -t 5\necho hi\n")
			e.run(t, args...).check(t, 0, "Submitted job 1\n", "")
			got := lastSubmit(t, e.srv).Spec
			if got.Name != "stdin" || got.ScriptPath != "" || got.TimeLimit.AsDuration() != 5*time.Minute {
				t.Errorf("spec = %v, want name stdin, no script path, 5 minutes", got)
			}
		})
	}
}

func TestSubmitBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.sh", "#!/bin/sh\ntrue\n")
	tests := []struct {
		name   string
		args   []string
		stdin  *string
		stderr string
	}{
		{
			name:   "not a script",
			args:   []string{"submit", writeFile(t, dir, "notes.txt", "train the model\n")},
			stderr: "gpuqctl: error: " + dir + "/notes.txt: this does not look like a batch script: the first line must start with #! followed by the path to an interpreter, such as #!/bin/bash (use --wrap to submit a single command)\n",
		},
		{
			name:   "bad directive",
			args:   []string{"submit", writeFile(t, dir, "bad.sh", "#!/bin/sh\n#SBATCH --gpus=x:y:z\ntrue\n")},
			stderr: "gpuqctl: error: line 2: --gpus: ",
		},
		{
			name:   "bad flag value",
			args:   []string{"submit", "--time", "forever", good},
			stderr: "gpuqctl: error: --time: ",
		},
		{
			name:   "unknown flag",
			args:   []string{"submit", "--frobnicate", good},
			stderr: "gpuqctl: error: flag provided but not defined: -frobnicate\nRun 'gpuqctl submit --help' for usage.\n",
		},
		{
			name:   "missing file",
			args:   []string{"submit", dir + "/none.sh"},
			stderr: "gpuqctl: error: open " + dir + "/none.sh: no such file or directory\n",
		},
		{
			name:   "no script",
			args:   []string{"submit"},
			stdin:  new(string),
			stderr: "gpuqctl: error: missing batch script: give a file, - to read standard input, or --wrap COMMAND\nRun 'gpuqctl submit --help' for usage.\n",
		},
		{
			name:   "wrap and script",
			args:   []string{"submit", "--wrap", "true", good},
			stderr: "gpuqctl: error: --wrap takes no script, got \"" + good + "\"\nRun 'gpuqctl submit --help' for usage.\n",
		},
		{
			name:   "requeue both ways",
			args:   []string{"submit", "--requeue", "--no-requeue", good},
			stderr: "gpuqctl: error: --requeue and --no-requeue contradict each other\nRun 'gpuqctl submit --help' for usage.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.stdin != nil {
				e.cfg.stdin = nil // a terminal
			}
			r := e.run(t, tt.args...)
			if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2, stderr starting:\n%s", r.code, r.stdout, r.stderr, tt.stderr)
			}
			if n := len(e.srv.Submits()); n != 0 {
				t.Errorf("%d submissions, want none", n)
			}
		})
	}
}

// gpuqd's InvalidArgument comes back field by field with exit status 2.
func TestSubmitRejected(t *testing.T) {
	e := newEnv(t)
	e.srv.Intercept = func(method string, _ proto.Message) error {
		return clienttest.InvalidArgument(
			job.FieldError{Field: "spec.team", Problem: `unknown team "sf"`},
			job.FieldError{Field: "spec.gpus.count", Problem: "16 GPUs; the largest node has 8"},
		)
	}
	e.run(t, "submit", "--wrap", "true").check(t, 2, "",
		"gpuqctl: error: spec.team: unknown team \"sf\"\ngpuqctl: error: spec.gpus.count: 16 GPUs; the largest node has 8\n")
}

func TestSubmitServerWarnings(t *testing.T) {
	e := newEnv(t)
	e.srv.Intercept = func(method string, _ proto.Message) error { return nil }
	// The fake returns no warnings; check the server error path instead.
	e.srv.Intercept = func(string, proto.Message) error { return status.Error(codes.Internal, "store: disk full") }
	e.run(t, "submit", "--wrap", "true").check(t, 1, "", "gpuqctl: error: gpuqd: store: disk full\n")
}

// A submission gpuqd did not answer is retried once with the same request id.
func TestSubmitRetry(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	e.srv.Intercept = func(method string, _ proto.Message) error {
		if method == "SubmitJob" && calls.Add(1) == 1 {
			return status.Error(codes.Unavailable, "leader changed")
		}
		return nil
	}
	e.cfg.requestID = func() string { return "random-per-run" }
	e.run(t, "submit", "--wrap", "true").check(t, 0, "Submitted job 1\n", "")
	subs := e.srv.Submits()
	if len(subs) != 2 || subs[0].RequestId != "random-per-run" || subs[1].RequestId != "random-per-run" {
		t.Errorf("submissions = %v, want two with request id random-per-run", subs)
	}
}

func TestSubmitRetryFails(t *testing.T) {
	e := newEnv(t)
	e.srv.Intercept = func(string, proto.Message) error { return status.Error(codes.Unavailable, "shutting down") }
	e.run(t, "submit", "--request-id", "mine", "--wrap", "true").check(t, 3, "", "gpuqctl: error: shutting down\n")
	if subs := e.srv.Submits(); len(subs) != 2 || subs[1].RequestId != "mine" {
		t.Errorf("submissions = %v, want two with request id mine", subs)
	}
}

func TestSubmitWait(t *testing.T) {
	ended := func(state gpuqv1.JobState, code, sig int32) func(*gpuqv1.Job) {
		return func(j *gpuqv1.Job) { j.State, j.ExitCode, j.ExitSignal = state, code, sig }
	}
	tests := []struct {
		name  string
		array string
		end   map[uint32]func(*gpuqv1.Job) // by task; 0 for a plain job
		code  int
	}{
		{name: "completed", end: map[uint32]func(*gpuqv1.Job){0: ended(gpuqv1.JobState_JOB_STATE_COMPLETED, 0, 0)}, code: 0},
		{name: "exit code", end: map[uint32]func(*gpuqv1.Job){0: ended(gpuqv1.JobState_JOB_STATE_FAILED, 42, 0)}, code: 42},
		{name: "failed with 0", end: map[uint32]func(*gpuqv1.Job){0: ended(gpuqv1.JobState_JOB_STATE_FAILED, 0, 0)}, code: 1},
		{name: "cancelled", end: map[uint32]func(*gpuqv1.Job){0: ended(gpuqv1.JobState_JOB_STATE_CANCELLED, 0, 0)}, code: 1},
		{name: "timeout", end: map[uint32]func(*gpuqv1.Job){0: ended(gpuqv1.JobState_JOB_STATE_TIMEOUT, 0, 15)}, code: 143},
		{name: "array", array: "1-3", end: map[uint32]func(*gpuqv1.Job){
			1: ended(gpuqv1.JobState_JOB_STATE_COMPLETED, 0, 0),
			2: ended(gpuqv1.JobState_JOB_STATE_FAILED, 5, 0),
			3: ended(gpuqv1.JobState_JOB_STATE_FAILED, 2, 0),
		}, code: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var polls atomic.Int32
			e.srv.Intercept = func(method string, _ proto.Message) error {
				if method != "GetJob" {
					return nil
				}
				// Run for two polls, then end one task per poll.
				n := polls.Add(1)
				e.srv.Update(job.Ref{ID: 1}, func(j *gpuqv1.Job) {
					if j.State == gpuqv1.JobState_JOB_STATE_PENDING && n >= 2 {
						j.State = gpuqv1.JobState_JOB_STATE_RUNNING
					}
				})
				if n >= 3 {
					task := uint32(n - 3)
					if tt.array != "" {
						task++
					}
					if fn, ok := tt.end[task]; ok {
						e.srv.Update(job.Ref{ID: 1, Task: task, HasTask: tt.array != ""}, fn)
					}
				}
				return nil
			}
			args := []string{"submit", "--wait", "--wrap", "true"}
			if tt.array != "" {
				args = append(args, "--array", tt.array)
			}
			e.run(t, args...).check(t, tt.code, "Submitted job 1\n", "")
			if n := polls.Load(); n < 3 {
				t.Errorf("%d polls, want at least 3", n)
			}
		})
	}
}

// While gpuqd is away, --wait keeps waiting.
func TestSubmitWaitSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	var polls atomic.Int32
	e.srv.Intercept = func(method string, _ proto.Message) error {
		if method != "GetJob" {
			return nil
		}
		switch polls.Add(1) {
		case 1, 2:
			return status.Error(codes.Unavailable, "restarting")
		case 3:
			e.srv.Update(job.Ref{ID: 1}, func(j *gpuqv1.Job) { j.State, j.ExitCode = gpuqv1.JobState_JOB_STATE_COMPLETED, 0 })
		}
		return nil
	}
	e.run(t, "submit", "-W", "--parsable", "--wrap", "true").check(t, 0, "1\n",
		"gpuqctl: warning: restarting; still waiting for job 1\n")
}

func TestFinished(t *testing.T) {
	j := func(state gpuqv1.JobState, code, sig int32) *gpuqv1.Job {
		return &gpuqv1.Job{State: state, ExitCode: code, ExitSignal: sig}
	}
	tests := []struct {
		jobs []*gpuqv1.Job
		done bool
		code int
	}{
		{nil, false, 0},
		{[]*gpuqv1.Job{j(gpuqv1.JobState_JOB_STATE_RUNNING, 0, 0)}, false, 0},
		{[]*gpuqv1.Job{j(gpuqv1.JobState_JOB_STATE_COMPLETED, 0, 0), j(gpuqv1.JobState_JOB_STATE_PENDING, 0, 0)}, false, 0},
		{[]*gpuqv1.Job{j(gpuqv1.JobState_JOB_STATE_COMPLETED, 0, 0)}, true, 0},
		{[]*gpuqv1.Job{j(gpuqv1.JobState_JOB_STATE_FAILED, 300, 0)}, true, 1},
		{[]*gpuqv1.Job{j(gpuqv1.JobState_JOB_STATE_OUT_OF_MEMORY, 0, 9)}, true, 137},
		{[]*gpuqv1.Job{j(gpuqv1.JobState_JOB_STATE_NODE_FAIL, 0, 0), j(gpuqv1.JobState_JOB_STATE_COMPLETED, 0, 0)}, true, 1},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			done, code := finished(tt.jobs)
			if done != tt.done || code != tt.code {
				t.Errorf("finished = %v, %d; want %v, %d", done, code, tt.done, tt.code)
			}
		})
	}
}

// BenchmarkSubmit measures one `gpuqctl submit script` inside the process:
// flag parsing, the script, dialing and the round trip to an in-memory
// gpuqd; gpuqctl's BenchmarkSubmitProcess adds process start-up.
func BenchmarkSubmit(b *testing.B) {
	e := &env{srv: &clienttest.Server{}, vars: map[string]string{}}
	e.target = e.srv.Start(b)
	e.cfg = defaultConfig()
	path := writeFileB(b, b.TempDir(), "train.sh", trainScript)
	args := []string{"gpuqctl", "--server", e.target, "submit", "--parsable", path}
	var out, errs strings.Builder
	for b.Loop() {
		out.Reset()
		if code := run(b.Context(), e.cfg, args, &out, &errs); code != 0 {
			b.Fatalf("exit %d: %s", code, errs.String())
		}
	}
}

func writeFileB(b *testing.B, dir, name, content string) string {
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

func TestSubmitWaitInterrupted(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e.srv.Intercept = func(method string, _ proto.Message) error {
		if method == "GetJob" {
			cancel() // the user presses ^C while the job runs
		}
		return nil
	}
	e.runCtx(t, ctx, "submit", "--wait", "--wrap", "true").check(t, 130, "Submitted job 1\n",
		"gpuqctl: warning: stopped waiting; job 1 goes on (gpuqctl cancel 1 stops it)\ngpuqctl: error: interrupted\n")
}

// TestSubmitUserNotInPasswd: a user /etc/passwd does not know (LDAP, SSSD:
// gpuqctl has no NSS) submits with no user name, and gpuqd names the
// caller; $USER is not trusted for it.
func TestSubmitUserNotInPasswd(t *testing.T) {
	e := newEnv(t)
	e.cfg.username = func() (string, error) { return "", fmt.Errorf("%w (uid 5001)", errNoLocalName) }
	e.vars["USER"] = "mallory"
	e.run(t, "submit", "--team", "sf", "--wrap", "true").check(t, 0, "Submitted job 1\n", "")
	if got := lastSubmit(t, e.srv).Spec.User; got != "" {
		t.Errorf("spec.user = %q, want empty for gpuqd to fill", got)
	}
}
