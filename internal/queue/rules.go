package queue

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Limits of a submission that do not depend on the site's config.
const (
	MaxScriptSize = 1 << 20
	MaxNameLength = 256
	MaxNice       = 10000
)

// Rules are the site's rules for submissions, taken from the daemon config.
type Rules struct {
	// Teams that may submit.
	Teams []string
	// DefaultTeam is used when a submission names none; "" means required.
	DefaultTeam string
	// GPUsPerNode is the largest node of each GPU type.
	GPUsPerNode map[string]int
	// PoolTypes maps each pool name to its GPU type.
	PoolTypes map[string]string
	// MaxTimeLimit bounds --time; 0 means no bound. PoolMaxTimeLimit bounds
	// it further for jobs that name a pool.
	MaxTimeLimit     time.Duration
	PoolMaxTimeLimit map[string]time.Duration
	// PoolRegion is each pool's region.
	PoolRegion map[string]string
	// BillingWeight of each pool's GPU-hours in fair-share usage (default 1).
	BillingWeight map[string]float64
	// TeamGrace overrides the grace period for a team's jobs.
	TeamGrace map[string]time.Duration
	// DefaultTimeLimit applies to jobs that set none, per pool; "" keys the
	// site-wide default.
	DefaultTimeLimit map[string]time.Duration
	// QOS are the QOS a job may name (--qos); nil: any.
	QOS []string
	// MaxArrayTasks bounds the tasks of one array job.
	MaxArrayTasks int
	// MaxPendingPerUser and MaxPendingPerTeam bound the pending jobs (array
	// tasks count one each) of one user or team; 0: no bound.
	MaxPendingPerUser, MaxPendingPerTeam int
}

// validate checks a submission against the rules and fills defaults. It
// returns every problem at once.
func (r *Rules) validate(spec *gpuqv1.JobSpec) error {
	var bad job.InvalidError
	if spec == nil {
		bad.Add("spec", "required")
		return bad.Err()
	}
	if len(spec.Script) == 0 || len(strings.TrimSpace(string(spec.Script))) == 0 {
		bad.Add("spec.script", "empty script")
	} else if len(spec.Script) > MaxScriptSize {
		bad.Add("spec.script", "script is %d bytes; the limit is %d (1 MiB)", len(spec.Script), MaxScriptSize)
	}
	if spec.Team == "" {
		spec.Team = r.DefaultTeam
	}
	switch {
	case spec.Team == "":
		bad.Add("spec.team", "required: name a team with --team or #GPUQ --team (teams: %s)", strings.Join(r.Teams, ", "))
	case !slices.Contains(r.Teams, spec.Team):
		bad.Add("spec.team", "unknown team %q (teams: %s)", spec.Team, strings.Join(r.Teams, ", "))
	}
	if spec.User == "" {
		bad.Add("spec.user", "required")
	}
	if len(spec.Name) > MaxNameLength {
		bad.Add("spec.name", "longer than %d characters", MaxNameLength)
	}
	r.validateGPUs(spec, &bad)
	if d := spec.TimeLimit.AsDuration(); d < 0 {
		bad.Add("spec.time_limit", "negative")
	} else if r.MaxTimeLimit > 0 && d > r.MaxTimeLimit {
		bad.Add("spec.time_limit", "%s is over the maximum of %s", d, r.MaxTimeLimit)
	} else if m := r.PoolMaxTimeLimit[spec.Pool]; spec.Pool != "" && m > 0 && d > m {
		bad.Add("spec.time_limit", "%s is over pool %s's maximum of %s", d, spec.Pool, m)
	}
	if spec.Qos != "" && r.QOS != nil && !slices.Contains(r.QOS, spec.Qos) {
		bad.Add("spec.qos", "unknown QOS %q (QOS: %s)", spec.Qos, strings.Join(r.QOS, ", "))
	}
	if spec.Nice < -MaxNice || spec.Nice > MaxNice {
		bad.Add("spec.nice", "%d is outside -%d..%d", spec.Nice, MaxNice, MaxNice)
	}
	if a := spec.Array; a != nil {
		switch {
		case len(a.TaskIds) == 0:
			bad.Add("spec.array", "no task ids")
		case r.MaxArrayTasks > 0 && len(a.TaskIds) > r.MaxArrayTasks:
			bad.Add("spec.array", "%d tasks; the limit is %d", len(a.TaskIds), r.MaxArrayTasks)
		case !slices.IsSorted(a.TaskIds) || len(slices.Compact(slices.Clone(a.TaskIds))) != len(a.TaskIds):
			bad.Add("spec.array", "task ids must be ascending and unique")
		}
	}
	for i, d := range spec.Dependencies {
		if d.JobId == 0 {
			bad.Add(fmt.Sprintf("spec.dependencies[%d].job_id", i), "required")
		}
		if d.Type == gpuqv1.DependencyType_DEPENDENCY_TYPE_UNSPECIFIED {
			bad.Add(fmt.Sprintf("spec.dependencies[%d].type", i), "required")
		}
	}
	if s := spec.Signal; s != nil && s.Before.AsDuration() < 0 {
		bad.Add("spec.signal.before", "negative")
	}
	return bad.Err()
}

func (r *Rules) validateGPUs(spec *gpuqv1.JobSpec, bad *job.InvalidError) {
	g := spec.Gpus
	if g == nil {
		return
	}
	types := make([]string, 0, len(r.GPUsPerNode))
	for t := range r.GPUsPerNode {
		types = append(types, t)
	}
	slices.Sort(types)
	if spec.Pool != "" {
		pt, ok := r.PoolTypes[spec.Pool]
		switch {
		case !ok:
			bad.Add("spec.pool", "unknown pool %q", spec.Pool)
			return
		case g.Type != "" && g.Type != pt:
			bad.Add("spec.gpus.type", "pool %q has %s GPUs, not %s", spec.Pool, pt, g.Type)
			return
		}
	}
	maxPer := 0
	if g.Type == "" {
		for _, n := range r.GPUsPerNode {
			maxPer = max(maxPer, n)
		}
	} else if n, ok := r.GPUsPerNode[g.Type]; ok {
		maxPer = n
	} else {
		bad.Add("spec.gpus.type", "unknown GPU type %q (types: %s)", g.Type, strings.Join(types, ", "))
		return
	}
	if int(g.Count) > maxPer {
		what := "any node"
		if g.Type != "" {
			what = "any " + g.Type + " node"
		}
		bad.Add("spec.gpus.count", "%d GPUs is more than %s can hold (%d)", g.Count, what, maxPer)
	}
}

// timeLimit is the limit a job runs under on a node of pool.
func (r *Rules) timeLimit(spec *gpuqv1.JobSpec, pool string) time.Duration {
	if d := spec.TimeLimit.AsDuration(); d > 0 {
		return d
	}
	if d, ok := r.DefaultTimeLimit[pool]; ok && d > 0 {
		return d
	}
	if d := r.DefaultTimeLimit[""]; d > 0 {
		return d
	}
	return time.Hour
}
