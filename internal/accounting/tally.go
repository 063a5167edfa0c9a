package accounting

import (
	"cmp"
	"slices"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Key is what a Tally counts GPU time by.
type Key struct {
	Team    string
	Pool    string // "" for a run whose node's pool was not known
	GPUType string
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Team, b.Team), cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.GPUType, b.GPUType))
}

// Cell is the GPU time of one Key.
type Cell struct {
	Key
	Time GPUTime
}

// Tally adds up the GPU time of runs inside a period by team, pool and GPU
// type. Records may come in any order; the same records always give the
// same tally.
type Tally struct {
	period Range
	cells  map[Key]GPUTime
}

// NewTally returns an empty tally of period.
func NewTally(period Range) *Tally {
	return &Tally{period: period, cells: map[Key]GPUTime{}}
}

// Period is the period the tally counts.
func (t *Tally) Period() Range { return t.period }

// Add counts the part of rec's run inside the period, for each GPU it held.
func (t *Tally) Add(rec *gpuqv1.RunRecord) {
	r := RunOf(rec)
	t.AddRun(&r)
}

// AddRun counts the part of r inside the period, for each GPU it held.
func (t *Tally) AddRun(r *Run) {
	g := GPUTimeOf(r.clip(t.period), r.GPUs)
	if g.IsZero() {
		return
	}
	k := Key{Team: r.Team, Pool: r.Pool, GPUType: r.GPUType}
	t.cells[k] = t.cells[k].Add(g)
}

// Cells returns the GPU time counted, sorted by team, pool and type.
func (t *Tally) Cells() []Cell {
	out := make([]Cell, 0, len(t.cells))
	for k, g := range t.cells {
		out = append(out, Cell{k, g})
	}
	slices.SortFunc(out, func(a, b Cell) int { return compareKeys(a.Key, b.Key) })
	return out
}

// Merge adds o's counts, a tally of the same period, to t: a report cut
// into parts counted at once adds them up at the end.
func (t *Tally) Merge(o *Tally) {
	for k, g := range o.cells {
		t.cells[k] = t.cells[k].Add(g)
	}
}
