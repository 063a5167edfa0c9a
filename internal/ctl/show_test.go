package ctl

import (
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestShowGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"show_job.golden", []string{"show", "job", "40"}},
		{"show_array.golden", []string{"show", "job", "44"}},
		{"show_task.golden", []string{"show", "job", "44_2"}},
		{"show_pending.golden", []string{"show", "job", "43"}},
		{"show_json.golden", []string{"show", "job", "--json", "42"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			e := newEnv(t)
			jobs := fixtureJobs()
			jobs[0].Spec.Script = []byte("#!/bin/sh\npython train.py\n")
			jobs[2].Spec.Begin = timestamppb.New(testNow.Add(6 * 3600e9))
			e.srv.AddJobs(jobs...)
			r := e.run(t, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

func TestShowNotFound(t *testing.T) {
	e := newEnv(t)
	e.srv.AddJobs(fixtureJobs()...)
	hint := func(id string) string {
		return " (an ended job leaves the queue defaults.min_job_age after its end; gpuqctl acct -j " + id + " has its record)\n"
	}
	e.run(t, "show", "job", "999").check(t, 1, "", "gpuqctl: error: job 999: not found"+hint("999"))
	e.run(t, "show", "job", "44_77").check(t, 1, "", "gpuqctl: error: job 44_77: not found"+hint("44_77"))
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	e.srv.AddJobs(fixtureJobs()...)
	// 42 is pending; 40 runs; 999 does not exist; 44_[3-4] are pending tasks.
	e.run(t, "cancel", "42", "999", "40", "44_[3-4]", "-v").check(t, 1,
		"job 42 cancelled\njob 44_3 cancelled\njob 44_4 cancelled\n",
		"gpuqctl: error: job 999: not found\ngpuqctl: error: job 40: invalid state for this action: job is RUNNING\n")
	for _, j := range e.srv.Jobs() {
		if j.Id == 42 && j.State != gpuqv1.JobState_JOB_STATE_CANCELLED {
			t.Errorf("job 42 is %v, want CANCELLED", j.State)
		}
	}
	// Filters alone select jobs; flags may follow arguments.
	e.run(t, "scancel", "--me", "-t", "PD", "--reason", "rebalancing").check(t, 0, "", "")
	for _, j := range e.srv.Jobs() {
		if j.Id == 43 && (j.State != gpuqv1.JobState_JOB_STATE_CANCELLED || j.Reason != "rebalancing") {
			t.Errorf("job 43 is %v (%s), want CANCELLED (rebalancing)", j.State, j.Reason)
		}
	}
	e.run(t, "cancel", "45", "-u", "nobody").check(t, 0, "", "")
}

func TestHoldRelease(t *testing.T) {
	e := newEnv(t)
	e.srv.AddJobs(fixtureJobs()...)
	e.run(t, "hold", "42,44_[5-6]").check(t, 0, "", "")
	e.run(t, "queue", "-h", "-r", "-o", "%i %r", "-j", "42,44_5,44_6").check(t, 0,
		"44_5 JobHeldUser\n44_6 JobHeldUser\n42 JobHeldUser\n", "")
	e.run(t, "release", "-v", "42", "40").check(t, 1, "job 42 released\n",
		"gpuqctl: error: job 40: invalid state for this action: job is RUNNING, not PENDING\n")
}
