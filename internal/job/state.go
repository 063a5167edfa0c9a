package job

import (
	"fmt"
	"strings"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

type stateName struct {
	long, short string
}

var stateNames = map[gpuqv1.JobState]stateName{
	gpuqv1.JobState_JOB_STATE_PENDING:       {"PENDING", "PD"},
	gpuqv1.JobState_JOB_STATE_RUNNING:       {"RUNNING", "R"},
	gpuqv1.JobState_JOB_STATE_COMPLETING:    {"COMPLETING", "CG"},
	gpuqv1.JobState_JOB_STATE_COMPLETED:     {"COMPLETED", "CD"},
	gpuqv1.JobState_JOB_STATE_FAILED:        {"FAILED", "F"},
	gpuqv1.JobState_JOB_STATE_CANCELLED:     {"CANCELLED", "CA"},
	gpuqv1.JobState_JOB_STATE_TIMEOUT:       {"TIMEOUT", "TO"},
	gpuqv1.JobState_JOB_STATE_PREEMPTED:     {"PREEMPTED", "PR"},
	gpuqv1.JobState_JOB_STATE_NODE_FAIL:     {"NODE_FAIL", "NF"},
	gpuqv1.JobState_JOB_STATE_OUT_OF_MEMORY: {"OUT_OF_MEMORY", "OOM"},
}

// States lists every valid state in declaration order.
func States() []gpuqv1.JobState {
	out := make([]gpuqv1.JobState, 0, len(stateNames))
	for s := gpuqv1.JobState_JOB_STATE_PENDING; s <= gpuqv1.JobState_JOB_STATE_OUT_OF_MEMORY; s++ {
		out = append(out, s)
	}
	return out
}

// StateName is Slurm's long name of a state ("PENDING").
func StateName(s gpuqv1.JobState) string {
	if n, ok := stateNames[s]; ok {
		return n.long
	}
	return "UNKNOWN"
}

// StateShort is Slurm's compact code of a state ("PD").
func StateShort(s gpuqv1.JobState) string {
	if n, ok := stateNames[s]; ok {
		return n.short
	}
	return "?"
}

// ParseState accepts a long name or a short code, in any case.
func ParseState(v string) (gpuqv1.JobState, error) {
	u := strings.ToUpper(strings.TrimSpace(v))
	for s, n := range stateNames {
		if u == n.long || u == n.short {
			return s, nil
		}
	}
	return gpuqv1.JobState_JOB_STATE_UNSPECIFIED, fmt.Errorf("unknown job state %q", v)
}

// Ended reports whether a state is final for the current run of a job.
func Ended(s gpuqv1.JobState) bool {
	switch s {
	case gpuqv1.JobState_JOB_STATE_PENDING, gpuqv1.JobState_JOB_STATE_RUNNING,
		gpuqv1.JobState_JOB_STATE_COMPLETING, gpuqv1.JobState_JOB_STATE_UNSPECIFIED:
		return false
	}
	return true
}
