package sched

import (
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

type depState int

const (
	depMet depState = iota
	depWaiting
	depNever
)

// dependencies evaluates every dependency of j; all must be met. byID
// holds, for every job id that some pending job depends on, the indices of
// its jobs (tasks) in jobs.
func dependencies(j *Job, jobs []Job, byID map[uint64][]int32) depState {
	out := depMet
	var targets []*Job
	for _, d := range j.Deps {
		targets = targets[:0]
		for _, i := range byID[d.Job.ID] {
			if t := &jobs[i]; !d.Job.HasTask || t.Ref == d.Job {
				targets = append(targets, t)
			}
		}
		st := depOne(d.Type, targets)
		if st == depNever {
			return depNever
		}
		if st == depWaiting {
			out = depWaiting
		}
	}
	return out
}

func depOne(t gpuqv1.DependencyType, targets []*Job) depState {
	if len(targets) == 0 {
		// The job is gone from the queue (purged): treat as ended unknown.
		if t == gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER || t == gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY {
			return depMet
		}
		return depNever
	}
	out := depMet
	for _, x := range targets {
		ended := job.Ended(x.State)
		ok := x.State == gpuqv1.JobState_JOB_STATE_COMPLETED && x.ExitCode == 0
		switch t {
		case gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER:
			if x.State == gpuqv1.JobState_JOB_STATE_PENDING {
				out = depWaiting
			}
		case gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY:
			if !ended {
				out = depWaiting
			}
		case gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK:
			if ended && !ok {
				return depNever
			}
			if !ended {
				out = depWaiting
			}
		case gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_NOT_OK:
			if ok {
				return depNever
			}
			if !ended {
				out = depWaiting
			}
		}
	}
	return out
}
