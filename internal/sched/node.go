package sched

import (
	"slices"
	"time"
)

// node is Decide's working state of one node. Times are durations since
// Snapshot.Now.
//
// The timeline of a node is a count of its GPUs free at each time t >= 0:
//
//	avail(t) = free + (releases at or before t) - (reservations active at t)
//
// free is the count of GPU ids free now and not handed out or held in this
// plan; a release is the GPUs a running job (or a job started or held in
// this plan) gives back when its time limit ends; a reservation is a
// blocked job's claim on GPUs from its start to its start plus its time
// limit. A job may start now on a node when free covers it and avail stays
// covering it, with the job added, until its time limit: that is the
// backfill rule.
type node struct {
	name, pool, gpuType, region string
	total                       int // Node.Total as given; 0: unknown
	capacity                    int // total, or free plus the running jobs' GPUs

	ids   []string // free GPU ids, in hand-out order
	taken []bool   // ids handed out or held in this plan
	free  int      // ids not taken

	rels []release
	resv []span
	// soon bounds from above the GPUs that releases give back within the
	// preemption grace: the sum of those added so far.
	soon int

	// victims lists the running jobs on the node that the policy lets be
	// preempted (before priority), cheapest first; claimable is their GPUs
	// not yet claimed.
	victims   []int32
	claimable int
}

type release struct {
	t time.Duration
	c int
}

type span struct {
	s, e time.Duration
	c    int
}

// addSat adds two non-negative durations, capped at forever.
func addSat(a, b time.Duration) time.Duration {
	if a > forever-b {
		return forever
	}
	return a + b
}

// avail is the timeline at t, with the releases in moved counted at time at.
func (n *node) avail(t time.Duration, moved []int32, at time.Duration) int {
	a := n.free
	for i, r := range n.rels {
		rt := r.t
		if moved != nil && slices.Contains(moved, int32(i)) {
			rt = at
		}
		if rt <= t {
			a += r.c
		}
	}
	for _, r := range n.resv {
		if r.s <= t && t < r.e {
			a -= r.c
		}
	}
	return a
}

// minAvail is the least of avail over [from, to): it falls only where a
// reservation starts.
func (n *node) minAvail(from, to time.Duration, moved []int32, at time.Duration) int {
	m := n.avail(from, moved, at)
	for _, r := range n.resv {
		if from < r.s && r.s < to {
			m = min(m, n.avail(r.s, moved, at))
		}
	}
	return m
}

// canStart reports whether g GPUs for limit l can be handed out now.
func (n *node) canStart(g int, l time.Duration, backfill bool) bool {
	if n.free < g {
		return false
	}
	if len(n.resv) == 0 {
		return true // releases only add
	}
	if !backfill {
		return false
	}
	return n.minAvail(0, l, nil, 0) >= g
}

// take hands out (or holds) the first g free ids and returns their indices.
func (n *node) take(g int) []int {
	out := make([]int, 0, g)
	for i := range n.ids {
		if len(out) == g {
			break
		}
		if !n.taken[i] {
			n.taken[i] = true
			out = append(out, i)
		}
	}
	n.free -= len(out)
	return out
}

// give undoes take.
func (n *node) give(idx []int) {
	for _, i := range idx {
		n.taken[i] = false
	}
	n.free += len(idx)
}

// earliest returns the earliest time at which g GPUs stay free on n for l,
// by the timeline, or false when they never do.
func (n *node) earliest(g int, l time.Duration) (time.Duration, bool) {
	cands := make([]time.Duration, 0, 1+len(n.rels)+len(n.resv))
	cands = append(cands, 0)
	for _, r := range n.rels {
		if r.c > 0 {
			cands = append(cands, r.t)
		}
	}
	for _, r := range n.resv {
		cands = append(cands, r.e)
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	for _, t := range cands {
		if t >= forever {
			break
		}
		if n.minAvail(t, addSat(t, l), nil, 0) >= g {
			return t, true
		}
	}
	return 0, false
}

// suits reports whether j could run on n: its GPU type and pool, and not
// more GPUs than n has.
func (n *node) suits(j *Job) bool {
	return (j.GPUType == "" || j.GPUType == n.gpuType) && (j.Pool == "" || j.Pool == n.pool) &&
		(n.total == 0 || n.total >= j.GPUs)
}

// addRelease adds a release and returns its index.
func (n *node) addRelease(t time.Duration, c int, grace time.Duration) int32 {
	if t <= grace {
		n.soon += c
	}
	n.rels = append(n.rels, release{t: t, c: c})
	return int32(len(n.rels) - 1)
}
