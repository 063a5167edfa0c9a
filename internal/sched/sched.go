package sched

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Pending reasons, spelled as Slurm spells them where Slurm has one.
const (
	ReasonPriority           = "Priority"
	ReasonResources          = "Resources"
	ReasonNodeNotAvail       = "ReqNodeNotAvail"
	ReasonHeld               = "JobHeldUser"
	ReasonBeginTime          = "BeginTime"
	ReasonDependency         = "Dependency"
	ReasonNeverSatisfied     = "DependencyNeverSatisfied"
	ReasonArrayTaskLimit     = "JobArrayTaskLimit"
	ReasonSingletonDependent = "Dependency"
)

// Eligible reports whether a pending job with this reason is eligible to
// start, waiting only for resources or its turn.
func Eligible(reason string) bool {
	switch reason {
	case ReasonPriority, ReasonResources, ReasonNodeNotAvail, ReasonArrayTaskLimit:
		return true
	}
	return false
}

// Job is what the scheduler needs to know of one job or array task.
type Job struct {
	Ref        job.Ref
	State      gpuqv1.JobState
	ExitCode   int32
	Held       bool
	Name       string
	User       string
	Team       string
	GPUType    string // "" = any
	GPUs       int
	Pool       string // "" = any pool with the type
	Nice       int32
	SubmitTime time.Time
	Begin      time.Time
	Deps       []Dep
	Singleton  bool
	// ArrayMax is the job's --array %N limit; 0 means none.
	ArrayMax uint32
}

// Dep is one dependency of a job.
type Dep struct {
	Type gpuqv1.DependencyType
	Job  job.Ref // HasTask false: every task of the job
}

// Node is a node that can take jobs.
type Node struct {
	Name    string
	Pool    string
	GPUType string
	// Free GPU ids, in the order they should be handed out.
	Free []string
}

// Snapshot is the scheduler's whole input.
type Snapshot struct {
	Now   time.Time
	Jobs  []Job
	Nodes []Node
}

// Start places one job on a node.
type Start struct {
	Job  job.Ref
	Node string
	GPUs []string
}

// Cancel ends a pending job that can never run.
type Cancel struct {
	Job    job.Ref
	Reason string
}

// Plan is the scheduler's whole output.
type Plan struct {
	Starts  []Start
	Cancels []Cancel
	// Reasons holds a reason for every job that stays pending.
	Reasons map[job.Ref]string
	// Priority of every pending job, higher first.
	Priority map[job.Ref]float64
}

// Decide computes a plan. It does not modify s.
func Decide(s *Snapshot) Plan {
	p := Plan{Reasons: map[job.Ref]string{}, Priority: map[job.Ref]float64{}}
	byID := map[uint64][]*Job{}
	running := map[uint64]int{} // running tasks per job id, for %N limits
	singletonBusy := map[[2]string]bool{}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		byID[j.Ref.ID] = append(byID[j.Ref.ID], j)
		if j.State == gpuqv1.JobState_JOB_STATE_RUNNING || j.State == gpuqv1.JobState_JOB_STATE_COMPLETING {
			running[j.Ref.ID]++
			if j.Singleton {
				singletonBusy[[2]string{j.Name, j.User}] = true
			}
		}
	}

	var eligible []*Job
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			continue
		}
		p.Priority[j.Ref] = priority(j, s.Now)
		switch dep := dependencies(j, byID); {
		case j.Held:
			p.Reasons[j.Ref] = ReasonHeld
		case dep == depNever:
			p.Cancels = append(p.Cancels, Cancel{Job: j.Ref, Reason: ReasonNeverSatisfied})
		case dep == depWaiting:
			p.Reasons[j.Ref] = ReasonDependency
		case s.Now.Before(j.Begin):
			p.Reasons[j.Ref] = ReasonBeginTime
		case j.Singleton && singletonBusy[[2]string{j.Name, j.User}]:
			p.Reasons[j.Ref] = ReasonSingletonDependent
		default:
			eligible = append(eligible, j)
		}
	}

	slices.SortStableFunc(eligible, func(a, b *Job) int {
		return cmp.Or(
			cmp.Compare(p.Priority[b.Ref], p.Priority[a.Ref]),
			a.SubmitTime.Compare(b.SubmitTime),
			cmp.Compare(a.Ref.ID, b.Ref.ID),
			cmp.Compare(a.Ref.Task, b.Ref.Task),
		)
	})

	free := make([][]string, len(s.Nodes))
	for i, n := range s.Nodes {
		free[i] = slices.Clone(n.Free)
	}
	blocked := false // a higher-priority job is waiting for resources
	for _, j := range eligible {
		if j.ArrayMax > 0 && running[j.Ref.ID] >= int(j.ArrayMax) {
			p.Reasons[j.Ref] = ReasonArrayTaskLimit
			continue
		}
		if j.Singleton && singletonBusy[[2]string{j.Name, j.User}] {
			p.Reasons[j.Ref] = ReasonSingletonDependent
			continue
		}
		node, fits := place(j, s.Nodes, free)
		if node < 0 {
			switch {
			case !fits:
				p.Reasons[j.Ref] = ReasonNodeNotAvail
			case blocked:
				p.Reasons[j.Ref] = ReasonPriority
			default:
				p.Reasons[j.Ref] = ReasonResources
			}
			blocked = blocked || fits
			continue
		}
		gpus := free[node][:j.GPUs:j.GPUs]
		free[node] = free[node][j.GPUs:]
		p.Starts = append(p.Starts, Start{Job: j.Ref, Node: s.Nodes[node].Name, GPUs: slices.Clone(gpus)})
		running[j.Ref.ID]++
		if j.Singleton {
			singletonBusy[[2]string{j.Name, j.User}] = true
		}
	}
	return p
}

// place returns the index of the node with the fewest free GPUs that still
// fit j (best fit keeps large holes for large jobs), or -1. fits reports
// whether any node could hold j if it were empty.
func place(j *Job, nodes []Node, free [][]string) (best int, fits bool) {
	best = -1
	for i, n := range nodes {
		if j.GPUType != "" && n.GPUType != j.GPUType || j.Pool != "" && n.Pool != j.Pool {
			continue
		}
		fits = true
		if len(free[i]) < j.GPUs {
			continue
		}
		if best < 0 || len(free[i]) < len(free[best]) {
			best = i
		}
	}
	return best, fits
}

// priority is a placeholder until the multifactor priority of issue #4:
// a base, plus up to 1000 for age (reached after a week), minus nice. It is
// integral so that it changes rarely.
func priority(j *Job, now time.Time) float64 {
	const maxAge = 7 * 24 * time.Hour
	age := min(max(now.Sub(j.SubmitTime), 0), maxAge)
	return 10000 + math.Round(1000*age.Hours()/maxAge.Hours()) - float64(j.Nice)
}

type depState int

const (
	depMet depState = iota
	depWaiting
	depNever
)

// dependencies evaluates every dependency of j; all must be met.
func dependencies(j *Job, byID map[uint64][]*Job) depState {
	out := depMet
	for _, d := range j.Deps {
		var targets []*Job
		for _, t := range byID[d.Job.ID] {
			if !d.Job.HasTask || t.Ref == d.Job {
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
