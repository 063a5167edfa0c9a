package sched

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/job"
)

// holdStopping holds, for each eligible job that running jobs are being
// stopped for (Job.StoppingFor), their GPUs and the free ones it needs
// beside them, on the node where most of them are being stopped, if the
// job can run there at all. No one else gets them in this plan; the job
// itself may start elsewhere if it can, and then lets them go. Free GPUs
// are held only if, with the victims', they make room for the job.
func (d *decider) holdStopping(eligible []int32) {
	type stop struct {
		ji   int32 // the job they stop for
		node int32
		run  int32
	}
	var stops []stop
	var byRef map[job.Ref]int32
	for ri := range d.runs {
		r := &d.runs[ri]
		j := &d.s.Jobs[r.ji]
		if !j.Stopping {
			continue
		}
		if byRef == nil {
			byRef = make(map[job.Ref]int32, len(eligible))
			for _, ji := range eligible {
				byRef[d.s.Jobs[ji].Ref] = ji
			}
		}
		if ji, ok := byRef[j.StoppingFor]; ok {
			stops = append(stops, stop{ji: ji, node: r.node, run: int32(ri)})
		}
	}
	if len(stops) == 0 {
		return
	}
	slices.SortFunc(stops, func(a, b stop) int {
		return cmp.Or(compareRefs(d.s.Jobs[a.ji].Ref, d.s.Jobs[b.ji].Ref), cmp.Compare(a.node, b.node),
			compareRefs(d.s.Jobs[d.runs[a.run].ji].Ref, d.s.Jobs[d.runs[b.run].ji].Ref))
	})
	d.holds = map[int32]*hold{}
	for i := 0; i < len(stops); {
		ji := stops[i].ji
		// The node with the most GPUs being stopped for ji, then the first.
		bestNode, bestGPUs := int32(-1), -1
		var bestRuns []int32
		for i < len(stops) && stops[i].ji == ji {
			ni := stops[i].node
			var rs []int32
			g := 0
			for ; i < len(stops) && stops[i].ji == ji && stops[i].node == ni; i++ {
				rs = append(rs, stops[i].run)
				g += d.runs[stops[i].run].gpus
			}
			if g > bestGPUs {
				bestNode, bestGPUs, bestRuns = ni, g, rs
			}
		}
		j := &d.s.Jobs[ji]
		n := &d.nodes[bestNode]
		if !n.suits(j) {
			continue // it cannot run there: the victims' GPUs are anyone's
		}
		h := &hold{node: bestNode}
		for _, ri := range bestRuns {
			h.rels = append(h.rels, d.runs[ri].rel)
		}
		// The free GPUs it needs beside the victims', if they are there;
		// if not, it will not fit even when they are gone: none.
		ids := max(0, j.GPUs-bestGPUs)
		if ids > n.free {
			ids = 0
		}
		h.own = n.addRelease(d.pol.limitIn(j, n.pool), ids+bestGPUs, d.pol.Preemption.Grace)
		h.cnts = make([]int, len(h.rels))
		for k, rel := range h.rels {
			h.cnts[k] = n.rels[rel].c
		}
		h.ids = make([]int, 0, ids)
		d.holds[ji] = h
		d.apply(h, ids)
	}
}

// apply holds ids free GPUs and the victims' releases for h's job.
func (d *decider) apply(h *hold, ids int) {
	n := &d.nodes[h.node]
	h.ids = append(h.ids[:0], n.take(ids)...)
	for _, rel := range h.rels {
		n.rels[rel].c = 0
	}
	n.rels[h.own].c = len(h.ids)
	for _, c := range h.cnts {
		n.rels[h.own].c += c
	}
}

// undo lets h's GPUs go, for its job's own turn.
func (d *decider) undo(h *hold) {
	n := &d.nodes[h.node]
	n.give(h.ids)
	for k, rel := range h.rels {
		n.rels[rel].c = h.cnts[k]
	}
	n.rels[h.own].c = 0
	d.forget()
}

// redo holds h's GPUs again: its job could not start elsewhere.
func (d *decider) redo(h *hold) {
	d.apply(h, len(h.ids))
}

// choice is a candidate set of victims on one node.
type choice struct {
	node    int32
	set     []int32 // runs, cheapest first
	gpus    int
	inHours int
	prio    float64
	lost    float64
	pref    bool
}

// better orders choices: fewest victims, fewest of teams in their working
// hours, lowest priorities, least progress lost (GPU-seconds run), the
// preferred region, then the first node.
func (c *choice) better(o *choice) bool {
	if x := cmp.Or(cmp.Compare(len(c.set), len(o.set)), cmp.Compare(c.inHours, o.inHours),
		cmp.Compare(c.prio, o.prio), cmp.Compare(c.lost, o.lost)); x != 0 {
		return x < 0
	}
	return c.pref && !o.pref
}

// preempt looks for the fewest and cheapest victims on one node whose GPUs,
// with the node's free ones, let j (of priority prio) start there. It
// records the preemptions and holds the GPUs for j. If some node has room
// for j within the grace anyway, it gives j a reservation there instead.
// It reports what it did, or none.
func (d *decider) preempt(j *Job, ns []int32, prio float64) outcome {
	g := j.GPUs
	k := failKey{matchKey{j.GPUType, j.Pool}, j.TimeLimit}
	if knownToFail(d.failPreempt, k, g) {
		return none
	}
	region := ""
	if ti := d.team(j.Team); ti >= 0 {
		region = d.teams[ti].region
	}
	grace := d.pol.Preemption.Grace
	// No preemption if GPUs free up for j within the grace anyway: it
	// reserves them instead, so that the next job does not count on them.
	soon := int32(-1)
	for _, ni := range ns {
		n := &d.nodes[ni]
		if n.free+n.soon >= g && n.suits(j) && n.minAvail(grace, addSat(grace, d.pol.limitIn(j, n.pool)), nil, 0) >= g {
			if soon < 0 || region != "" && d.nodes[ni].region == region && d.nodes[soon].region != region {
				soon = ni
			}
		}
	}
	if soon >= 0 {
		n := &d.nodes[soon]
		if t, ok := n.earliest(g, d.pol.limitIn(j, n.pool)); ok {
			d.reserveOn(j, soon, t)
			return reserved
		}
	}
	var best choice
	found := false
	var cand, moved []int32
	for _, ni := range ns {
		n := &d.nodes[ni]
		need := g - n.free
		if n.total > 0 && n.total < g || need <= 0 || n.claimable < need {
			continue
		}
		cand = cand[:0]
		for _, ri := range n.victims {
			if r := &d.runs[ri]; !r.claimed && r.prio < prio {
				cand = append(cand, ri)
			}
		}
		set := d.minSet(cand, need)
		if set == nil {
			continue
		}
		c := choice{node: ni, set: set, pref: region != "" && n.region == region}
		for _, ri := range set {
			r := &d.runs[ri]
			c.gpus += r.gpus
			if r.inHours {
				c.inHours++
			}
			c.prio += r.prio
			c.lost += r.lost
		}
		if found && !c.better(&best) {
			continue
		}
		if len(n.resv) > 0 {
			// Reservations of higher jobs on the node must still hold:
			// the victims go after the grace, then j runs its limit.
			moved = moved[:0]
			for _, ri := range set {
				moved = append(moved, d.runs[ri].rel)
			}
			l := d.pol.limitIn(j, n.pool)
			if grace > 0 && n.minAvail(0, grace, moved, grace) < max(0, g-c.gpus) ||
				n.minAvail(grace, addSat(grace, l), moved, grace) < g {
				continue
			}
		}
		c.set = slices.Clone(set)
		best, found = c, true
	}
	if !found {
		noteFail(&d.failPreempt, k, g)
		return none
	}
	n := &d.nodes[best.node]
	for _, ri := range best.set {
		r := &d.runs[ri]
		r.claimed = true
		n.claimable -= r.gpus
		n.rels[r.rel].c = 0
		v := &d.s.Jobs[r.ji]
		why := fmt.Sprintf("preempted on %s for job %s (team %s, priority %.0f, %d GPUs) that could not start otherwise; this job had priority %.0f and ran %s; %d victim(s): the fewest and cheapest",
			n.name, j.Ref, j.Team, prio, j.GPUs, r.prio, d.now.Sub(v.StartTime).Round(time.Second), len(best.set))
		d.plan.Preemptions = append(d.plan.Preemptions, Preemption{Victim: v.Ref, Node: n.name, For: j.Ref, Requeue: !v.NoRequeue, Why: why})
	}
	ids := max(0, g-best.gpus)
	n.take(ids)
	l := d.pol.limitIn(j, n.pool)
	n.addRelease(addSat(grace, l), g, grace)
	extra := ids + best.gpus - g
	if extra > 0 {
		n.addRelease(grace, extra, grace)
	}
	// Where the node's timeline matters (reservations) or GPUs come back
	// sooner, what failed before may work now.
	if len(n.resv) > 0 || extra > 0 {
		d.forget()
	}
	return preempting
}

type outcome int

const (
	none outcome = iota
	preempting
	reserved
)

// minSet returns the fewest runs of cand (cheapest first) whose GPUs add up
// to need; among sets that small, the one that takes the cheapest runs
// first. nil: cand cannot make need. The result is reused by the next call.
func (d *decider) minSet(cand []int32, need int) []int32 {
	m, ok := d.fewest(cand, need)
	if !ok {
		return nil
	}
	out := d.setBuf[:0]
	rem, slots := need, m
	for i, ri := range cand {
		if rem <= 0 {
			break
		}
		g := d.runs[ri].gpus
		if rem-g > 0 && d.topGPUs(cand[i+1:], slots-1) < rem-g {
			continue
		}
		out = append(out, ri)
		rem -= g
		slots--
	}
	d.setBuf = out
	return out
}

// fewest returns how many runs of cand, at least, make need GPUs.
func (d *decider) fewest(cand []int32, need int) (int, bool) {
	gs := d.sortedGPUs(cand)
	sum := 0
	for m, g := range gs {
		sum += g
		if sum >= need {
			return m + 1, true
		}
	}
	return 0, false
}

// topGPUs returns the GPUs of the k largest runs of cand.
func (d *decider) topGPUs(cand []int32, k int) int {
	if k <= 0 {
		return 0
	}
	sum := 0
	for i, g := range d.sortedGPUs(cand) {
		if i == k {
			break
		}
		sum += g
	}
	return sum
}

// sortedGPUs returns the GPUs of cand's runs, most first, in a reused
// buffer.
func (d *decider) sortedGPUs(cand []int32) []int {
	gs := d.scratch[:0]
	for _, ri := range cand {
		gs = append(gs, d.runs[ri].gpus)
	}
	slices.SortFunc(gs, func(a, b int) int { return b - a })
	d.scratch = gs
	return gs
}
