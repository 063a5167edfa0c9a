package config

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gpuq/gpuq/internal/ident"
)

// Scheduling is the scheduler's policy: the weights of the priority factors
// and the preemption rules. DefaultScheduling holds sched.DefaultPolicy's
// values (internal/daemon tests that they agree); the grace of a preempted
// job is defaults.grace_period, or its team's grace_period.
type Scheduling struct {
	Weights Weights `yaml:"weights"`
	// MaxAge is the time since submission at which a job's age factor
	// reaches 1 (Slurm's PriorityMaxAge); 0: no age factor.
	MaxAge Duration `yaml:"max_age"`
	// QOS are the qualities of service jobs may ask for (--qos), each with
	// its priority factor in [0,1]; "normal" is the QOS of jobs that name
	// none and must be there.
	QOS        QOSLevels  `yaml:"qos"`
	Backfill   Backfill   `yaml:"backfill"`
	Preemption Preemption `yaml:"preemption"`
}

// QOSLevels are QOS names and their priority factors. A config's qos:
// replaces the default levels rather than adding to them.
type QOSLevels map[string]float64

// UnmarshalYAML reads the levels into a new map.
func (q *QOSLevels) UnmarshalYAML(n *yaml.Node) error {
	m := map[string]float64{}
	if err := n.Decode(&m); err != nil {
		return err
	}
	*q = m
	return nil
}

// Backfill is EASY backfill: the ReserveTop highest jobs that cannot start
// get a reservation, and lower jobs may start first only where they leave
// the reservations' GPUs free by their time limits. Off, a node that holds
// a reservation takes no new job.
type Backfill struct {
	Enabled    bool `yaml:"enabled"`
	ReserveTop int  `yaml:"reserve_top"`
}

// MaxReserveTop bounds backfill.reserve_top: each reservation costs the
// scheduler a pass over the running jobs of its pool.
const MaxReserveTop = 100

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

// DefaultQOS is the QOS of a job that names none.
const DefaultQOS = "normal"

// QOSNames are the QOS jobs may ask for, sorted.
func (s *Scheduling) QOSNames() []string {
	return slices.Sorted(maps.Keys(s.QOS))
}

// DefaultScheduling returns the scheduling section's defaults: those of
// sched.DefaultPolicy.
func DefaultScheduling() Scheduling {
	return Scheduling{
		Weights:    Weights{FairShare: 10000, TimeZone: 100000, Age: 1000, JobSize: 1000, QOS: 10000},
		MaxAge:     Duration(7 * 24 * time.Hour),
		QOS:        QOSLevels{"low": 0, "normal": 0.5, "high": 1},
		Backfill:   Backfill{Enabled: true, ReserveTop: 1},
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
			if _, ok := s.QOS[q]; !ok {
				v.add(fmt.Sprintf("scheduling.preemption.%s[%d]", l.name, i), "unknown QOS %q (want %s)", q, orList(s.QOSNames()))
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
	if len(s.QOS) == 0 {
		v.add("scheduling.qos", "at least the QOS %q is required", DefaultQOS)
	} else if _, ok := s.QOS[DefaultQOS]; !ok {
		v.add("scheduling.qos", "no QOS %q: it is the QOS of jobs that name none", DefaultQOS)
	}
	for _, name := range s.QOSNames() {
		if !ident.QOS(name) {
			v.add("scheduling.qos."+name, "invalid QOS name: want letters, digits, '_' or '-', at most 32")
		}
		if f := s.QOS[name]; !(f >= 0 && f <= 1) {
			v.add("scheduling.qos."+name, "the QOS factor must be in [0,1], got %v", f)
		}
	}
	if s.MaxAge < 0 {
		v.add("scheduling.max_age", "must not be negative, got %s (0: no age factor)", s.MaxAge)
	}
	if r := s.Backfill.ReserveTop; r < 0 || r > MaxReserveTop {
		v.add("scheduling.backfill.reserve_top", "must be 0 to %d, got %d", MaxReserveTop, r)
	}
	if s.Preemption.MinRuntime < 0 {
		v.add("scheduling.preemption.min_runtime", "must not be negative, got %s", s.Preemption.MinRuntime)
	}
	if s.Preemption.MaxPerDay < 0 {
		v.add("scheduling.preemption.max_per_day", "must not be negative, got %d (0: no cap)", s.Preemption.MaxPerDay)
	}
}
