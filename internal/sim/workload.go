package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/calendar"
)

// Class is one kind of job a team submits, arriving as a Poisson process
// whose rate depends on whether the team is inside its working hours.
type Class struct {
	Name string
	// GPUs is drawn uniformly from [MinGPUs, MaxGPUs].
	MinGPUs, MaxGPUs int
	// Runtime (the work, without preemptions) is drawn uniformly from
	// [MinRuntime, MaxRuntime], rounded to the minute.
	MinRuntime, MaxRuntime time.Duration
	// Checkpoint is how often a job saves its progress: when preempted it
	// loses only the work since its last checkpoint. 0: it loses all.
	Checkpoint time.Duration
	// InHours and OffHours are the arrival rates per hour while the team
	// is inside and outside its working hours.
	InHours, OffHours float64
}

// Submission is one generated job.
type Submission struct {
	ID         uint64
	Team       string
	Class      string
	GPUs       int
	Runtime    time.Duration
	TimeLimit  time.Duration
	Checkpoint time.Duration
	Submit     time.Time
	// InHours: the team was inside its working hours at Submit.
	InHours bool
}

// DefaultClasses is the mix each team submits: many short 1-GPU jobs and
// some 8-GPU jobs in working hours, a few hours-long checkpointing training
// runs, and batch work off hours. Per team that is about 46 GPU-hours an
// hour of demand in working hours and 15 outside them: about 640 GPU-hours
// a day, more than a third of a 64-GPU pool (512).
func DefaultClasses() []Class {
	return []Class{
		{Name: "small", MinGPUs: 1, MaxGPUs: 1, MinRuntime: 10 * time.Minute, MaxRuntime: 60 * time.Minute, InHours: 24, OffHours: 3},
		{Name: "node", MinGPUs: 8, MaxGPUs: 8, MinRuntime: time.Hour, MaxRuntime: 3 * time.Hour, InHours: 0.6, OffHours: 0.1},
		{Name: "train", MinGPUs: 2, MaxGPUs: 4, MinRuntime: 3 * time.Hour, MaxRuntime: 8 * time.Hour, Checkpoint: 30 * time.Minute, InHours: 0.3, OffHours: 0.1},
		{Name: "batch", MinGPUs: 1, MaxGPUs: 2, MinRuntime: 2 * time.Hour, MaxRuntime: 6 * time.Hour, Checkpoint: 30 * time.Minute, InHours: 0, OffHours: 2.5},
	}
}

// TeamSpec is one team of the simulation.
type TeamSpec struct {
	Name     string
	Zone     string // IANA
	Region   string // preferred region
	Shares   float64
	Calendar calendar.Calendar
}

// timeLimit is a bit above the runtime: 20% more plus 10 minutes, rounded
// up to 5 minutes, as users who know their jobs ask.
func timeLimit(rt time.Duration) time.Duration {
	l := rt + rt/5 + 10*time.Minute
	return (l + 5*time.Minute - 1).Truncate(5 * time.Minute)
}

// Generate draws every team's submissions in [start, end) from seed, by
// thinning a Poisson process at each class's larger rate. The result is
// sorted by submit time, then team, and numbered from 1 in that order.
func Generate(seed uint64, teams []TeamSpec, classes []Class, start, end time.Time) []Submission {
	var out []Submission
	for ti, t := range teams {
		for ci, c := range classes {
			// One stream per team and class, so that changing one class
			// leaves the others' draws alone.
			rng := rand.New(rand.NewPCG(seed, uint64(ti)<<32|uint64(ci)))
			peak := max(c.InHours, c.OffHours)
			if peak <= 0 {
				continue
			}
			at := start
			for {
				gap := rng.ExpFloat64() / peak // hours
				at = at.Add(time.Duration(gap * float64(time.Hour)))
				if !at.Before(end) {
					break
				}
				in := t.Calendar.InHours(at)
				rate := c.OffHours
				if in {
					rate = c.InHours
				}
				if rng.Float64()*peak >= rate {
					continue
				}
				g := c.MinGPUs + rng.IntN(c.MaxGPUs-c.MinGPUs+1)
				span := (c.MaxRuntime - c.MinRuntime).Minutes()
				rt := c.MinRuntime + time.Duration(math.Round(rng.Float64()*span))*time.Minute
				out = append(out, Submission{Team: t.Name, Class: c.Name, GPUs: g, Runtime: rt,
					TimeLimit: timeLimit(rt), Checkpoint: c.Checkpoint, Submit: at.Truncate(time.Second), InHours: in})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Submission) int {
		if c := a.Submit.Compare(b.Submit); c != 0 {
			return c
		}
		if a.Team != b.Team {
			if a.Team < b.Team {
				return -1
			}
			return 1
		}
		return 0
	})
	for i := range out {
		out[i].ID = uint64(i + 1)
	}
	return out
}
