package config

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Scheduling is the scheduler's policy: the weights of the priority factors
// and the preemption rules. DefaultScheduling holds sched.DefaultPolicy's
// values (internal/daemon tests that they agree); the grace of a preempted
// job is defaults.grace_period, or its team's grace_period.
type Scheduling struct {
	Weights    Weights    `yaml:"weights"`
	Preemption Preemption `yaml:"preemption"`
}

// Weights are the weights of the priority factors, as Slurm's
// PriorityWeight*: a job's priority is the sum of each factor, in [0,1],
// times its weight, minus the job's nice (which has no weight: it counts
// as it is, from -10000 to 10000).
type Weights struct {
	FairShare float64 `yaml:"fair_share"`
	TimeZone  float64 `yaml:"time_zone"`
	Age       float64 `yaml:"age"`
	JobSize   float64 `yaml:"job_size"`
	QOS       float64 `yaml:"qos"`
}

// Preemption says whether running jobs of teams outside their working hours
// may be preempted for work submitted in a team's working hours, and how
// far they are protected.
type Preemption struct {
	Enabled bool `yaml:"enabled"`
	// MinRuntime protects a job that has run for less.
	MinRuntime Duration `yaml:"min_runtime"`
	// MaxPerDay is how many times one job may be preempted in 24 hours; 0:
	// no cap.
	MaxPerDay int `yaml:"max_per_day"`
	// OffHours makes the running jobs of teams outside their working hours
	// preemptible (the default). Teams and QOS name more teams and QOS
	// whose jobs are preemptible at any hour; PreemptorQOS names QOS whose
	// jobs may preempt at any hour, not only when submitted in working hours.
	OffHours     bool     `yaml:"off_hours"`
	Teams        []string `yaml:"teams,omitempty"`
	QOS          []string `yaml:"qos,omitempty"`
	PreemptorQOS []string `yaml:"preemptor_qos,omitempty"`
}

// QOSNames are the QOS a job may ask for (sched.DefaultPolicy's levels).
var QOSNames = []string{"low", "normal", "high"}

// DefaultScheduling returns the scheduling section's defaults: those of
// sched.DefaultPolicy.
func DefaultScheduling() Scheduling {
	return Scheduling{
		Weights:    Weights{FairShare: 10000, TimeZone: 100000, Age: 1000, JobSize: 1000, QOS: 10000},
		Preemption: Preemption{Enabled: true, MinRuntime: Duration(10 * time.Minute), MaxPerDay: 3, OffHours: true},
	}
}

func (s *Scheduling) validate(v *validator, teams []Team) {
	for i, t := range s.Preemption.Teams {
		if !slices.ContainsFunc(teams, func(x Team) bool { return x.Name == t }) {
			v.add(fmt.Sprintf("scheduling.preemption.teams[%d]", i), "unknown team %q", t)
		}
	}
	for _, l := range []struct {
		name string
		qos  []string
	}{{"qos", s.Preemption.QOS}, {"preemptor_qos", s.Preemption.PreemptorQOS}} {
		for i, q := range l.qos {
			if !slices.Contains(QOSNames, q) {
				v.add(fmt.Sprintf("scheduling.preemption.%s[%d]", l.name, i), "unknown QOS %q (want %s)", q, orList(QOSNames))
			}
		}
	}
	for _, w := range []struct {
		name string
		val  float64
	}{
		{"fair_share", s.Weights.FairShare},
		{"time_zone", s.Weights.TimeZone},
		{"age", s.Weights.Age},
		{"job_size", s.Weights.JobSize},
		{"qos", s.Weights.QOS},
	} {
		if !(w.val >= 0) || math.IsInf(w.val, 0) {
			v.add("scheduling.weights."+w.name, "must be a finite number >= 0, got %v", w.val)
		}
	}
	if s.Preemption.MinRuntime < 0 {
		v.add("scheduling.preemption.min_runtime", "must not be negative, got %s", s.Preemption.MinRuntime)
	}
	if s.Preemption.MaxPerDay < 0 {
		v.add("scheduling.preemption.max_per_day", "must not be negative, got %d (0: no cap)", s.Preemption.MaxPerDay)
	}
}
