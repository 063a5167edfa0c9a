package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExamplesSubmit starts gpuqd with examples/gpuqd.yaml and submits every
// batch script under examples/jobs with the real gpuqctl.
func TestExamplesSubmit(t *testing.T) {
	c := newCluster(t)
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	c.config = filepath.Join(examples, "gpuqd.yaml")
	c.start()
	scripts, err := filepath.Glob(filepath.Join(examples, "jobs", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no example scripts: %v", err)
	}
	for _, s := range scripts {
		out, errOut, code := c.ctl("submit", "--parsable", s)
		if code != 0 || !regexp.MustCompile(`^\d+\n$`).MatchString(out) {
			t.Errorf("submit %s: exit %d, stdout %q, stderr %q", filepath.Base(s), code, out, errOut)
		}
		if strings.Contains(filepath.Base(s), "berlin") && !strings.Contains(errOut, "--mail-user") {
			t.Errorf("submit %s: want a warning about --mail-user, stderr %q", filepath.Base(s), errOut)
		}
	}
}

// TestCLI drives the everyday commands through the real binaries and checks
// their output and exit codes.
func TestCLI(t *testing.T) {
	c := newCluster(t)
	c.start()
	script := filepath.Join(c.dir, "train.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n#GPUQ --team=sf --gpus=a100:4 -t 2:00:00\n#SBATCH -J train\npython train.py\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCtl := func(args ...string) string {
		t.Helper()
		out, errOut, code := c.ctl(args...)
		if code != 0 {
			t.Fatalf("gpuqctl %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	if out := mustCtl("submit", script); out != "Submitted job 1\n" {
		t.Errorf("submit = %q", out)
	}
	// Flags override directives.
	if out := mustCtl("submit", "--parsable", "--gpus=a800:2", "-J", "other", script); out != "2\n" {
		t.Errorf("submit --parsable = %q", out)
	}
	// A Slurm option gpuq cannot honour is accepted with a warning naming it.
	if out, errOut, code := c.ctl("submit", "--parsable", "--team=tokyo", "--array=0-9%2", "--mail-type=END", "--wrap", "echo hi"); code != 0 || out != "3\n" || !strings.Contains(errOut, "--mail-type") {
		t.Errorf("submit --mail-type: exit %d, stdout %q, stderr %q; want job 3 and a warning", code, out, errOut)
	}
	mustCtl("submit", "--team=berlin", "--hold", "--dependency=afterok:1", "--wrap", "true")

	// Bad input: exit 2, the field named, nothing stored.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "--team=paris", "--wrap", "true"}, "spec.team"},
		{[]string{"submit", "--team=sf", "--gpus=a100:9", "--wrap", "true"}, "spec.gpus.count"},
		{[]string{"submit", "--team=sf", "--gpus=h100:1", "--wrap", "true"}, "spec.gpus.type"},
		{[]string{"submit", "--team=sf", "--time=2:xx", "--wrap", "true"}, "--time"},
		{[]string{"submit", "--team=sf", "--array=5-1", "--wrap", "true"}, "--array"},
		{[]string{"submit", "--team=sf", "--dependency=afterok:999", "--wrap", "true"}, "spec.dependencies[0].job_id"},
	} {
		_, errOut, code := c.ctl(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("gpuqctl %v: exit %d, stderr %q; want exit 2 naming %s", tc.args, code, errOut, tc.want)
		}
	}

	// A scheduling cycle sets the reasons.
	c.waitFor(t, "reasons", func(o string) bool {
		return strings.Contains(o, "(JobHeldUser)") && strings.Contains(o, "(ReqNodeNotAvail)")
	})
	out := mustCtl("queue")
	for _, want := range []string{
		"JOBID", "NODELIST(REASON)",
		"1        sf      train",
		"2        sf      other",
		"3_[0-9%2]",
		"(JobHeldUser)",
		"(ReqNodeNotAvail)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("queue output lacks %q:\n%s", want, out)
		}
	}
	if out := mustCtl("queue", "--team", "tokyo", "-r", "-h", "--format", "%i %T %R"); strings.Count(out, "\n") != 10 {
		t.Errorf("queue -r for tokyo: want 10 tasks:\n%s", out)
	}
	var jobs []map[string]any
	if err := json.Unmarshal([]byte(mustCtl("queue", "--json")), &jobs); err != nil || len(jobs) != 13 {
		t.Errorf("queue --json: %d jobs, %v", len(jobs), err)
	}

	show := mustCtl("show", "job", "1")
	for _, want := range []string{"JobId=1 ", "JobName=train", "Team=sf", "JobState=PENDING", "NumGPUs=4", "GPUType=a100", "TimeLimit=02:00:00"} {
		if !strings.Contains(show, want) {
			t.Errorf("show job 1 lacks %q:\n%s", want, show)
		}
	}

	// cancel, hold, release: exit 1 when any job fails, the rest still done.
	if _, errOut, code := c.ctl("cancel", "3_[5-9]", "999"); code != 1 || !strings.Contains(errOut, "999") {
		t.Errorf("cancel 3_[5-9] 999: exit %d, stderr %q; want 1 naming 999", code, errOut)
	}
	mustCtl("release", "4")
	mustCtl("hold", "2")
	mustCtl("cancel", "1")
	c.waitFor(t, "job 4's dependency to fail", func(o string) bool { return strings.Contains(o, "4|CANCELLED|") })
	out = mustCtl("queue", "--state", "all", "-h", "--format", "%i|%T|%R")
	for _, want := range []string{"1|CANCELLED|", "2|PENDING|(JobHeldUser)", "3_5|CANCELLED|", "4|CANCELLED|(DependencyNeverSatisfied)"} {
		if !strings.Contains(out, want) {
			t.Errorf("after cancel/hold/release, queue lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := c.ctl("cancel"); code != 2 {
		t.Errorf("cancel with nothing named: exit %d, want 2", code)
	}
	if _, errOut, code := c.ctl("--server", "unix:///nonexistent.sock", "queue"); code != 3 {
		t.Errorf("unreachable gpuqd: exit %d, stderr %q; want 3", code, errOut)
	}

	// Everything acknowledged is still there after kill -9.
	before := mustCtl("queue", "--state", "all", "--json")
	c.kill9()
	c.start()
	if after := mustCtl("queue", "--state", "all", "--json"); !sameJobs(t, before, after) {
		t.Errorf("jobs changed across kill -9:\nbefore %s\nafter %s", before, after)
	}
	if out := mustCtl("submit", "--parsable", "--team=sf", "--wrap", "true"); out != "5\n" {
		t.Errorf("first id after restart = %q, want 5", out)
	}
}

// sameJobs compares two --json listings by job id and state.
func sameJobs(t *testing.T, a, b string) bool {
	t.Helper()
	key := func(s string) string {
		var jobs []map[string]any
		if err := json.Unmarshal([]byte(s), &jobs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, fmt.Sprint(j["id"], j["arrayTaskId"], j["state"]))
		}
		return strings.Join(out, ",")
	}
	return key(a) == key(b)
}

// TestSubmitWait: submit --wait returns when the job ends, with sbatch's exit
// code (1 for a job cancelled before it ran).
func TestSubmitWait(t *testing.T) {
	c := newCluster(t)
	c.start()
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := c.ctl("submit", "--wait", "--team=sf", "--wrap", "sleep 1")
		done <- result{out, errOut, code}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, code := c.ctl("cancel", "1"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job 1 never appeared")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.out, "Submitted job 1") {
			t.Errorf("submit --wait: exit %d, stdout %q, stderr %q; want exit 1", r.code, r.out, r.errOut)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("submit --wait did not return after the job was cancelled")
	}
}
