package sched

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// MaxNice is the largest nice a job may have, either way (as in Slurm and
// the queue's submission rules). DefaultPolicy's weights assume it.
const MaxNice = 10000

// Weights are the weights of the priority factors, as Slurm's
// PriorityWeightFairshare, PriorityWeightAge and so on. A job's priority is
// the sum of each factor (in [0,1]) times its weight, rounded, minus its
// nice.
type Weights struct {
	FairShare float64
	TimeZone  float64
	Age       float64
	JobSize   float64
	QOS       float64
}

func (w Weights) sum() float64 { return w.FairShare + w.TimeZone + w.Age + w.JobSize + w.QOS }

// Policy is how Decide weighs and places jobs. The zero Policy stands for
// DefaultPolicy(); any other value is used as it is, so build one by
// changing the fields of DefaultPolicy(). Decide does not fail on a bad
// Policy: it reads a negative or NaN number as 0 (Validate reports them).
type Policy struct {
	Weights Weights
	// MaxAge is the age (since submission) at which the age factor
	// reaches 1. 0: no age factor.
	MaxAge time.Duration
	// QOS is the QOS factor, in [0,1], of each quality of service. A job
	// that names none is "normal"; one whose QOS is not here gets 0.
	QOS map[string]float64

	// Backfill turns on EASY backfill: a job that cannot start now and is
	// among the ReserveTop highest that cannot gets a reservation, the
	// earliest time enough GPUs free up on one node by the running jobs'
	// time limits; a lower job may start before it on that node only if,
	// by its own time limit, it leaves the reservation's GPUs free. With
	// Backfill off, a node that holds a reservation takes no new job.
	Backfill bool
	// ReserveTop is how many of the jobs that cannot start, highest
	// priority first, get a reservation (EASY backfill: 1).
	ReserveTop int

	// DefaultTimeLimit is the time limit of a job that sets none, in a
	// pool not in PoolTimeLimit. 0: unlimited (such a job never backfills).
	DefaultTimeLimit time.Duration
	// PoolTimeLimit is the default time limit of each pool.
	PoolTimeLimit map[string]time.Duration

	Preemption PreemptionRules
}

// PreemptionRules say who may preempt whom.
//
// A pending job may preempt when it cannot start and its time-zone factor
// is 1 (its team is inside its working hours and it was submitted inside
// them), or its QOS is in PreemptorQOS. Its
// victims are running jobs of strictly lower priority that the policy
// makes preemptible: of a team outside its working hours (OffHours), of a
// team in Teams, or with a QOS in QOS. A job inside MinRuntime, already
// being stopped, due to end within Grace by its time limit, or preempted
// MaxPerDay times in the last 24 hours is never a victim: that cap is how a
// job preempted again and again still makes progress. Nor is anything
// preempted for a job that some node will have room for within Grace
// anyway (jobs completing, stopping or past their time limit).
type PreemptionRules struct {
	Enabled bool
	// MinRuntime protects a job that has run for less (by its StartTime).
	MinRuntime time.Duration
	// OffHours makes the jobs of teams outside their working hours
	// preemptible.
	OffHours bool
	// Teams and QOS name more teams and QOS whose jobs are preemptible at
	// any hour.
	Teams []string
	QOS   []string
	// PreemptorQOS names QOS whose jobs may preempt at any hour.
	PreemptorQOS []string
	// MaxPerDay is how many times a job may be preempted in 24 hours
	// (Job.Preemptions24h); 0: no cap.
	MaxPerDay int
	// Grace is how long a victim takes to stop (signal, grace, kill). The
	// plan reckons that the preemptor starts after it, for reservations.
	Grace time.Duration
}

// DefaultPolicy returns the policy Decide uses for a zero Snapshot.Policy.
//
// Its weights make every job of time-zone factor 1 outrank every job of
// factor 0, whatever their other factors and nice: the time-zone weight
// (100000) is more than the other weights together (10000+10000+1000+1000)
// plus twice MaxNice. A job has factor 1 when its team is inside its
// working hours and the job was submitted inside them (that day or an
// earlier working day), 0 when its team is outside them or the job was
// submitted outside them. So the work a team submits at work goes first
// while it is at work; the rest, including the work it queued overnight,
// competes on fair share (10000), then QOS, age and size.
func DefaultPolicy() Policy {
	return Policy{
		Weights: Weights{
			FairShare: 10000,
			TimeZone:  100000,
			Age:       1000,
			JobSize:   1000,
			QOS:       10000,
		},
		MaxAge:           7 * 24 * time.Hour,
		QOS:              map[string]float64{"low": 0, "normal": 0.5, "high": 1},
		Backfill:         true,
		ReserveTop:       1,
		DefaultTimeLimit: time.Hour,
		Preemption: PreemptionRules{
			Enabled:    true,
			MinRuntime: 10 * time.Minute,
			OffHours:   true,
			MaxPerDay:  3,
			Grace:      300 * time.Second,
		},
	}
}

// isZero reports whether p is the zero Policy.
func (p *Policy) isZero() bool {
	return p.Weights == Weights{} && p.MaxAge == 0 && p.QOS == nil && !p.Backfill && p.ReserveTop == 0 &&
		p.DefaultTimeLimit == 0 && p.PoolTimeLimit == nil && p.Preemption.isZero()
}

func (p *PreemptionRules) isZero() bool {
	return !p.Enabled && p.MinRuntime == 0 && !p.OffHours && p.Teams == nil && p.QOS == nil &&
		p.PreemptorQOS == nil && p.MaxPerDay == 0 && p.Grace == 0
}

// PolicyError names a field of a Policy and what is wrong with it.
type PolicyError struct {
	Field string // as Go spells it: "Weights.Age", "QOS[high]"
	Err   error
}

func (e *PolicyError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *PolicyError) Unwrap() error { return e.Err }

// ErrOutOfRange is wrapped by every PolicyError.
var ErrOutOfRange = errors.New("out of range")

// Validate reports every problem of p, joined, each a *PolicyError. Decide
// does not need a valid Policy; the config that builds one does.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &PolicyError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrOutOfRange}, args...)...)})
	}
	for _, w := range []struct {
		name string
		v    float64
	}{{"FairShare", p.Weights.FairShare}, {"TimeZone", p.Weights.TimeZone}, {"Age", p.Weights.Age}, {"JobSize", p.Weights.JobSize}, {"QOS", p.Weights.QOS}} {
		if !(w.v >= 0) || math.IsInf(w.v, 0) {
			bad("Weights."+w.name, "%v (want a finite number >= 0)", w.v)
		}
	}
	durations := []struct {
		name string
		v    time.Duration
	}{{"MaxAge", p.MaxAge}, {"DefaultTimeLimit", p.DefaultTimeLimit}, {"Preemption.MinRuntime", p.Preemption.MinRuntime}, {"Preemption.Grace", p.Preemption.Grace}}
	for _, pool := range slices.Sorted(maps.Keys(p.PoolTimeLimit)) {
		durations = append(durations, struct {
			name string
			v    time.Duration
		}{"PoolTimeLimit[" + pool + "]", p.PoolTimeLimit[pool]})
	}
	for _, d := range durations {
		if d.v < 0 {
			bad(d.name, "%v is negative", d.v)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(p.QOS)) {
		if v := p.QOS[q]; !(v >= 0 && v <= 1) {
			bad("QOS["+q+"]", "%v (want 0 to 1)", v)
		}
	}
	if p.ReserveTop < 0 {
		bad("ReserveTop", "%d is negative", p.ReserveTop)
	}
	if p.Preemption.MaxPerDay < 0 {
		bad("Preemption.MaxPerDay", "%d is negative", p.Preemption.MaxPerDay)
	}
	return errors.Join(errs...)
}

// nonNeg reads a negative or NaN number as 0 and caps +Inf.
func nonNeg(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return min(v, math.MaxFloat64)
}

func clamp01(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return min(v, 1)
}

// forever stands for an unlimited time limit: about 146 years, far enough
// that adding two of them does not overflow.
const forever = time.Duration(math.MaxInt64 / 4)

// limitIn returns the time limit of j in pool: its own, the pool's default,
// or the policy's.
func (p *Policy) limitIn(j *Job, pool string) time.Duration {
	if j.TimeLimit > 0 {
		return min(j.TimeLimit, forever)
	}
	if l := p.PoolTimeLimit[pool]; l > 0 {
		return min(l, forever)
	}
	if p.DefaultTimeLimit > 0 {
		return min(p.DefaultTimeLimit, forever)
	}
	return forever
}
