package sched

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// genOptions shape a generated snapshot.
type genOptions struct {
	nodes, gpusPerNode int
	pending            int
	busy               float64 // part of the GPUs running jobs hold
	fullPolicy         bool    // vary the policy too
}

var (
	zones = map[string]*time.Location{}
	pools = []struct{ name, gpuType, region string }{
		{"us-a100", "a100", "us-west1"}, {"eu-a100", "a100", "europe-west3"}, {"asia-a800", "a800", "asia-northeast1"},
	}
	teamZones = []struct{ name, zone, region string }{
		{"sf", "America/Los_Angeles", "us-west1"}, {"berlin", "Europe/Berlin", "europe-west3"}, {"tokyo", "Asia/Tokyo", "asia-northeast1"},
	}
)

func zone(t testing.TB, name string) *time.Location {
	if l, ok := zones[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	zones[name] = l
	return l
}

// generate builds a random but consistent snapshot from r: running jobs
// hold GPUs of their nodes, which are not free; refs are unique; a node's
// jobs in their grace all stop for the same job.
func generate(t testing.TB, r *rand.Rand, o genOptions) *Snapshot {
	s := &Snapshot{Now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24*4)) * 15 * time.Minute)}
	if o.fullPolicy && r.IntN(3) > 0 {
		p := DefaultPolicy()
		p.Backfill = r.IntN(4) > 0
		p.ReserveTop = r.IntN(4)
		p.Preemption.Enabled = r.IntN(4) > 0
		p.Preemption.OffHours = r.IntN(4) > 0
		p.Preemption.MinRuntime = time.Duration(r.IntN(30)) * time.Minute
		p.Preemption.Grace = time.Duration(r.IntN(600)) * time.Second
		p.Preemption.MaxPerDay = r.IntN(4)
		if r.IntN(3) == 0 {
			p.Preemption.Teams = []string{teamZones[r.IntN(3)].name}
		}
		if r.IntN(3) == 0 {
			p.Preemption.QOS = []string{"low"}
		}
		if r.IntN(3) == 0 {
			p.Preemption.PreemptorQOS = []string{"high"}
		}
		p.DefaultTimeLimit = time.Duration(r.IntN(4)) * time.Hour
		if r.IntN(2) == 0 {
			p.PoolTimeLimit = map[string]time.Duration{pools[r.IntN(3)].name: time.Duration(1+r.IntN(8)) * 30 * time.Minute}
		}
		if r.IntN(4) == 0 {
			p.Weights.TimeZone = float64(r.IntN(3)) * 1000
		}
		s.Policy = p
	}
	for _, tz := range teamZones {
		sp := calendar.Spec{Zone: zone(t, tz.zone), Start: time.Duration(6+r.IntN(6)) * time.Hour, Days: [7]bool{false, true, true, true, true, true, r.IntN(4) == 0}}
		sp.End = sp.Start + time.Duration(4+r.IntN(14))*time.Hour
		if sp.End >= 24*time.Hour {
			sp.End -= 24 * time.Hour
		}
		if r.IntN(3) == 0 {
			sp.Ramp = time.Duration(r.IntN(120)) * time.Minute
		}
		cal, err := calendar.New(sp)
		if err != nil {
			t.Fatal(err)
		}
		tm := Team{Name: tz.name, Shares: float64(r.IntN(4)), Calendar: cal, Usage: float64(r.IntN(1000000))}
		if r.IntN(3) > 0 {
			tm.PreferredRegion = tz.region
		}
		if r.IntN(3) == 0 {
			tm.Users = map[string]float64{tz.name + "-a": float64(r.IntN(1000)), tz.name + "-b": 0}
		}
		s.Teams = append(s.Teams, tm)
	}
	var free [][]string
	for i := range o.nodes {
		pl := pools[r.IntN(len(pools))]
		g := o.gpusPerNode
		if g == 0 {
			g = 1 + r.IntN(8)
		}
		n := Node{Name: fmt.Sprintf("n%04d", i), Pool: pl.name, GPUType: pl.gpuType, Region: pl.region, Total: g}
		if !o.fullPolicy && r.IntN(10) == 0 {
			n.Total = 0 // unknown
		}
		ids := make([]string, g)
		for k := range ids {
			ids[k] = fmt.Sprintf("%s-g%d", n.Name, k)
		}
		free = append(free, ids)
		s.Nodes = append(s.Nodes, n)
	}
	id := uint64(1)
	randJob := func() Job {
		tz := teamZones[r.IntN(len(teamZones))]
		j := Job{Ref: job.Ref{ID: id}, State: gpuqv1.JobState_JOB_STATE_PENDING, Team: tz.name, User: tz.name + "-" + string(rune('a'+r.IntN(3))),
			GPUs: []int{1, 1, 1, 2, 2, 4, 8, 0, 9}[r.IntN(9)], SubmitTime: s.Now.Add(-time.Duration(r.IntN(14*24*60)) * time.Minute)}
		id++
		if r.IntN(4) == 0 {
			j.GPUType = []string{"a100", "a800", "h100"}[r.IntN(3)]
		}
		if r.IntN(6) == 0 {
			j.Pool = pools[r.IntN(len(pools))].name
		}
		if r.IntN(2) == 0 {
			j.TimeLimit = time.Duration(1+r.IntN(16)) * 15 * time.Minute
		}
		if r.IntN(5) == 0 {
			j.QOS = []string{"low", "normal", "high", "weird"}[r.IntN(4)]
		}
		if r.IntN(8) == 0 {
			j.Nice = int32(r.IntN(2*MaxNice+1) - MaxNice)
		}
		if r.IntN(10) == 0 {
			j.Team = "unknown"
		}
		return j
	}
	// Ended jobs, for dependencies.
	var ended []job.Ref
	for range 1 + r.IntN(4) {
		j := randJob()
		j.State = []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_COMPLETED, gpuqv1.JobState_JOB_STATE_FAILED, gpuqv1.JobState_JOB_STATE_CANCELLED}[r.IntN(3)]
		if j.State == gpuqv1.JobState_JOB_STATE_FAILED {
			j.ExitCode = 1
		}
		ended = append(ended, j.Ref)
		s.Jobs = append(s.Jobs, j)
	}
	// Running jobs.
	var runningNodes []int
	for ni := range s.Nodes {
		for len(free[ni]) > 0 && r.Float64() < o.busy {
			j := randJob()
			j.GPUType, j.Pool = s.Nodes[ni].GPUType, s.Nodes[ni].Pool
			j.GPUs = min(max(j.GPUs, 1), len(free[ni]), 1+r.IntN(len(free[ni])))
			j.State = gpuqv1.JobState_JOB_STATE_RUNNING
			if r.IntN(20) == 0 {
				j.State = gpuqv1.JobState_JOB_STATE_COMPLETING
			}
			j.Node = s.Nodes[ni].Name
			j.GPUIDs = slices.Clone(free[ni][:j.GPUs])
			free[ni] = free[ni][j.GPUs:]
			j.StartTime = s.Now.Add(-time.Duration(r.IntN(600)) * time.Minute)
			if r.IntN(15) == 0 {
				j.StartTime = time.Time{}
			}
			j.Preemptions24h = r.IntN(4)
			j.Restarts = r.IntN(3)
			j.NoRequeue = r.IntN(5) == 0
			s.Jobs = append(s.Jobs, j)
			runningNodes = append(runningNodes, ni)
		}
		s.Nodes[ni].Free = free[ni]
	}
	// Pending jobs.
	var pendingRefs []job.Ref
	for range o.pending {
		j := randJob()
		switch r.IntN(12) {
		case 0:
			j.Held = true
			if r.IntN(2) == 0 {
				j.HoldReason = ReasonBudget
			}
		case 1:
			j.Begin = s.Now.Add(time.Duration(r.IntN(120)-60) * time.Minute)
		case 2:
			target := ended[r.IntN(len(ended))]
			if len(pendingRefs) > 0 && r.IntN(2) == 0 {
				target = pendingRefs[r.IntN(len(pendingRefs))]
			}
			j.Deps = []Dep{{Type: gpuqv1.DependencyType(1 + r.IntN(4)), Job: job.Ref{ID: target.ID}}}
		case 3:
			j.Singleton, j.Name = true, "single"
		case 4:
			// An array job of a few tasks.
			j.ArrayMax = uint32(r.IntN(3))
			j.Ref = job.Ref{ID: j.Ref.ID, Task: 0, HasTask: true}
			for k := range uint32(1 + r.IntN(3)) {
				x := j
				x.Ref.Task = k + 1
				s.Jobs = append(s.Jobs, x)
			}
		}
		pendingRefs = append(pendingRefs, j.Ref)
		s.Jobs = append(s.Jobs, j)
	}
	// Jobs in their grace, each node's for one pending job.
	if len(pendingRefs) > 0 {
		stopFor := map[string]job.Ref{}
		for i := range s.Jobs {
			j := &s.Jobs[i]
			if j.State != gpuqv1.JobState_JOB_STATE_RUNNING || r.IntN(6) != 0 {
				continue
			}
			f, ok := stopFor[j.Node]
			if !ok {
				f = pendingRefs[r.IntN(len(pendingRefs))]
				stopFor[j.Node] = f
			}
			j.Stopping, j.StoppingFor = true, f
		}
		// A job stops for only one node's worth of victims.
		seen := map[job.Ref]string{}
		for i := range s.Jobs {
			j := &s.Jobs[i]
			if !j.Stopping {
				continue
			}
			if n, ok := seen[j.StoppingFor]; ok && n != j.Node {
				j.Stopping, j.StoppingFor = false, job.Ref{}
				continue
			}
			seen[j.StoppingFor] = j.Node
		}
	}
	// Now and then a running job on a node that is not in the snapshot.
	if r.IntN(5) == 0 {
		j := randJob()
		j.State, j.Node, j.GPUIDs, j.StartTime = gpuqv1.JobState_JOB_STATE_RUNNING, "gone", []string{"gone-g0"}, s.Now.Add(-time.Hour)
		s.Jobs = append(s.Jobs, j)
	}
	return s
}

// effectivePolicy is the policy Decide uses for s.
func effectivePolicy(s *Snapshot) Policy {
	p := s.Policy
	if p.isZero() {
		p = DefaultPolicy()
	}
	return p
}

var validReasons = []string{ReasonPriority, ReasonResources, ReasonNodeNotAvail, ReasonHeld, ReasonBudget, ReasonBeginTime,
	ReasonDependency, ReasonArrayTaskLimit, ReasonPreempting}

// checkInvariants checks what every plan must satisfy.
func checkInvariants(t testing.TB, s *Snapshot, p Plan) {
	t.Helper()
	pol := effectivePolicy(s)
	jobs := map[job.Ref]*Job{}
	for i := range s.Jobs {
		jobs[s.Jobs[i].Ref] = &s.Jobs[i]
	}
	nodes := map[string]*Node{}
	for i := range s.Nodes {
		nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}

	// No GPU given twice: not one a running job holds, not twice in the plan.
	owner := map[string]string{}
	used := map[string]int{} // GPUs per node, running and started
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if j.holds() && nodes[j.Node] != nil {
			for _, g := range j.GPUIDs {
				owner[g] = "running " + j.Ref.String()
			}
			used[j.Node] += j.gpusHeld()
		}
	}
	startedOn := map[string]int{}
	started := map[job.Ref]Start{}
	for _, st := range p.Starts {
		j := jobs[st.Job]
		n := nodes[st.Node]
		switch {
		case j == nil || j.State != gpuqv1.JobState_JOB_STATE_PENDING:
			t.Errorf("start of %s, which is not pending", st.Job)
			continue
		case n == nil:
			t.Errorf("start of %s on unknown node %s", st.Job, st.Node)
			continue
		case len(st.GPUs) != max(j.GPUs, 0):
			t.Errorf("start of %s with %d GPUs, want %d", st.Job, len(st.GPUs), j.GPUs)
		case j.GPUType != "" && j.GPUType != n.GPUType || j.Pool != "" && j.Pool != n.Pool:
			t.Errorf("start of %s (%s/%s) on %s (%s/%s)", st.Job, j.GPUType, j.Pool, n.Name, n.GPUType, n.Pool)
		}
		if _, dup := started[st.Job]; dup {
			t.Errorf("%s started twice", st.Job)
		}
		started[st.Job] = st
		for _, g := range st.GPUs {
			if !slices.Contains(n.Free, g) {
				t.Errorf("start of %s on %s takes GPU %s, which is not free", st.Job, st.Node, g)
			}
			if o, ok := owner[g]; ok {
				t.Errorf("GPU %s given to %s and to %s", g, st.Job, o)
			}
			owner[g] = "start " + st.Job.String()
		}
		used[st.Node] += len(st.GPUs)
		startedOn[st.Node] += len(st.GPUs)
	}
	// Capacity never exceeded.
	for _, n := range s.Nodes {
		if n.Total > 0 && used[n.Name] > n.Total {
			t.Errorf("node %s: %d GPUs in use of %d", n.Name, used[n.Name], n.Total)
		}
		if startedOn[n.Name] > len(n.Free) {
			t.Errorf("node %s: %d GPUs started of %d free", n.Name, startedOn[n.Name], len(n.Free))
		}
	}
	// Every pending job started, cancelled or with a reason; nothing else.
	cancelled := map[job.Ref]bool{}
	for _, c := range p.Cancels {
		cancelled[c.Job] = true
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		reason, hasReason := p.Reasons[j.Ref]
		_, isStarted := started[j.Ref]
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			if hasReason {
				t.Errorf("%s is %v but has reason %q", j.Ref, j.State, reason)
			}
			continue
		}
		if _, ok := p.Factors[j.Ref]; s.Explain && !ok {
			t.Errorf("pending %s has no priority factors", j.Ref)
		}
		n := 0
		for _, b := range []bool{hasReason, isStarted, cancelled[j.Ref]} {
			if b {
				n++
			}
		}
		if n != 1 {
			t.Errorf("pending %s: reason %q, started %v, cancelled %v: want exactly one", j.Ref, reason, isStarted, cancelled[j.Ref])
		}
		if hasReason && !slices.Contains(validReasons, reason) {
			t.Errorf("pending %s has reason %q", j.Ref, reason)
		}
	}
	// Preemptions: allowed victims, a preemptor that waits for them, never
	// more than needed, and room for the preemptor afterwards.
	type target struct {
		job  job.Ref
		node string
	}
	victimsOf := map[target]int{}
	victimCount := map[target]int{}
	seenVictim := map[job.Ref]bool{}
	for _, pr := range p.Preemptions {
		v, f := jobs[pr.Victim], jobs[pr.For]
		switch {
		case v == nil || v.State != gpuqv1.JobState_JOB_STATE_RUNNING || v.Node != pr.Node || v.Stopping:
			t.Errorf("preemption of %s on %s: not a running job there", pr.Victim, pr.Node)
			continue
		case f == nil || f.State != gpuqv1.JobState_JOB_STATE_PENDING || p.Reasons[pr.For] != ReasonPreempting:
			t.Errorf("preemption of %s for %s, which does not wait Preempting (%q)", pr.Victim, pr.For, p.Reasons[pr.For])
		case v.StartTime.IsZero() || s.Now.Sub(v.StartTime) < pol.Preemption.MinRuntime:
			t.Errorf("preemption of %s inside its minimum runtime (started %v)", pr.Victim, v.StartTime)
		case pol.Preemption.MaxPerDay > 0 && v.Preemptions24h >= pol.Preemption.MaxPerDay:
			t.Errorf("preemption of %s, preempted %d times today", pr.Victim, v.Preemptions24h)
		case pr.Requeue == v.NoRequeue:
			t.Errorf("preemption of %s: requeue %v with no-requeue %v", pr.Victim, pr.Requeue, v.NoRequeue)
		}
		if seenVictim[pr.Victim] {
			t.Errorf("%s preempted twice", pr.Victim)
		}
		seenVictim[pr.Victim] = true
		if f != nil && p.Priority[pr.For] <= victimPriority(s, v) {
			t.Errorf("preemption of %s (priority %v) for %s (priority %v)", pr.Victim, victimPriority(s, v), pr.For, p.Priority[pr.For])
		}
		victimsOf[target{pr.For, pr.Node}] += v.gpusHeld()
		victimCount[target{pr.For, pr.Node}]++
	}
	nodesOf := map[job.Ref]int{}
	held := map[string]int{} // free GPUs held for preemptors, per node
	for tg, g := range victimsOf {
		nodesOf[tg.job]++
		f := jobs[tg.job]
		held[tg.node] += max(0, f.GPUs-g)
		n := nodes[tg.node]
		if len(n.Free)+g < f.GPUs {
			t.Errorf("preemptions on %s for %s free %d GPUs, with %d free it needs %d", tg.node, tg.job, g, len(n.Free), f.GPUs)
		}
	}
	for ref, k := range nodesOf {
		if k > 1 {
			t.Errorf("preemptions for %s on %d nodes", ref, k)
		}
	}
	// Jobs in their grace hold their GPUs for the job they stop for.
	stopping := map[target]int{}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if j.holds() && j.Stopping && nodes[j.Node] != nil {
			if f := jobs[j.StoppingFor]; f != nil && f.State == gpuqv1.JobState_JOB_STATE_PENDING && p.Reasons[f.Ref] == ReasonPreempting {
				stopping[target{f.Ref, j.Node}] += j.gpusHeld()
			}
		}
	}
	for tg, g := range stopping {
		if _, ok := victimsOf[tg]; ok {
			t.Errorf("%s preempts again while jobs stop for it", tg.job)
		}
		f, n := jobs[tg.job], nodes[tg.node]
		if (f.GPUType == "" || f.GPUType == n.GPUType) && (f.Pool == "" || f.Pool == n.Pool) && (n.Total == 0 || n.Total >= f.GPUs) &&
			len(n.Free)+g >= f.GPUs {
			held[tg.node] += max(0, f.GPUs-g)
		}
	}
	for name, h := range held {
		if startedOn[name]+h > len(nodes[name].Free) {
			t.Errorf("node %s: %d GPUs started and %d held for preemptors, of %d free", name, startedOn[name], h, len(nodes[name].Free))
		}
	}
	// Never more than needed: the GPUs still free at the end of the plan
	// were free when the job preempted, so without any one victim, those
	// and the free ones held for it would not have been enough.
	freeLeft := map[string]int{}
	for name, n := range nodes {
		freeLeft[name] = len(n.Free) - startedOn[name] - held[name]
	}
	for _, pr := range p.Preemptions {
		tg := target{pr.For, pr.Node}
		v, f := jobs[pr.Victim], jobs[pr.For]
		if v == nil || f == nil {
			continue
		}
		if victimsOf[tg]-v.gpusHeld()+freeLeft[pr.Node]+max(0, f.GPUs-victimsOf[tg]) >= f.GPUs {
			t.Errorf("preemption of %s for %s is not needed", pr.Victim, pr.For)
		}
	}
	// Reservations: for a waiting job, and kept free by every start.
	for _, r := range p.Reservations {
		if p.Reasons[r.Job] != ReasonResources {
			t.Errorf("reservation for %s, which waits with %q", r.Job, p.Reasons[r.Job])
		}
		if r.Start.Before(s.Now) {
			t.Errorf("reservation for %s starts in the past", r.Job)
		}
	}
	checkReservationsKept(t, s, p, &pol)
}

// checkReservationsKept replays the timeline of each node with
// reservations and no preemptions: at the start of every reservation, the
// GPUs free by then (free now, less the plan's starts still running, plus
// the running jobs ended by their time limits) cover every reservation
// active then.
func checkReservationsKept(t testing.TB, s *Snapshot, p Plan, pol *Policy) {
	t.Helper()
	if !pol.Backfill {
		return
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		var rs []Reservation
		for _, r := range p.Reservations {
			if r.Node == n.Name {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 || slices.ContainsFunc(p.Preemptions, func(x Preemption) bool { return x.Node == n.Name }) {
			continue
		}
		skip := false
		for k := range s.Jobs {
			if j := &s.Jobs[k]; j.holds() && j.Node == n.Name && j.Stopping {
				skip = true
			}
		}
		if skip {
			continue
		}
		ends := func(j *Job, start time.Time) time.Time {
			l := pol.limitIn(j, n.Pool)
			if l >= forever {
				return time.Time{}
			}
			return start.Add(l)
		}
		for _, r := range rs {
			at := r.Start
			avail := len(n.Free)
			for k := range s.Jobs {
				j := &s.Jobs[k]
				if !j.holds() || j.Node != n.Name {
					continue
				}
				var end time.Time
				switch {
				case j.State == gpuqv1.JobState_JOB_STATE_COMPLETING:
					end = s.Now
				case j.StartTime.IsZero():
					end = ends(j, s.Now)
				default:
					end = ends(j, j.StartTime)
				}
				if !end.IsZero() && !end.After(at) {
					avail += j.gpusHeld()
				}
			}
			for _, st := range p.Starts {
				if st.Node != n.Name {
					continue
				}
				end := ends(jobs(s)[st.Job], s.Now)
				if end.IsZero() || end.After(at) {
					avail -= len(st.GPUs)
				}
			}
			for _, o := range rs {
				if !o.Start.After(at) && (o.End.IsZero() || o.End.After(at)) {
					avail -= o.GPUs
				}
			}
			if avail < 0 {
				t.Errorf("node %s: at %v the reservations are %d GPUs short", n.Name, at, -avail)
			}
		}
	}
}

func jobs(s *Snapshot) map[job.Ref]*Job {
	m := map[job.Ref]*Job{}
	for i := range s.Jobs {
		m[s.Jobs[i].Ref] = &s.Jobs[i]
	}
	return m
}

// victimPriority is a running job's priority as Decide computes it.
func victimPriority(s *Snapshot, v *Job) float64 {
	d := &decider{s: s, now: s.Now, pol: effectivePolicy(s)}
	d.teams, d.teamIdx = buildTeams(s)
	d.buildNodes()
	return d.factors(v, d.team(v.Team)).Priority
}

// shuffled returns a copy of s with its jobs, nodes and teams in another
// order.
func shuffled(s *Snapshot, r *rand.Rand) *Snapshot {
	c := *s
	c.Jobs = slices.Clone(s.Jobs)
	c.Nodes = slices.Clone(s.Nodes)
	c.Teams = slices.Clone(s.Teams)
	r.Shuffle(len(c.Jobs), func(i, j int) { c.Jobs[i], c.Jobs[j] = c.Jobs[j], c.Jobs[i] })
	r.Shuffle(len(c.Nodes), func(i, j int) { c.Nodes[i], c.Nodes[j] = c.Nodes[j], c.Nodes[i] })
	r.Shuffle(len(c.Teams), func(i, j int) { c.Teams[i], c.Teams[j] = c.Teams[j], c.Teams[i] })
	return &c
}

func deepCopy(s *Snapshot) *Snapshot {
	c := *s
	c.Jobs = make([]Job, len(s.Jobs))
	for i, j := range s.Jobs {
		j.Deps = slices.Clone(j.Deps)
		j.GPUIDs = slices.Clone(j.GPUIDs)
		c.Jobs[i] = j
	}
	c.Nodes = make([]Node, len(s.Nodes))
	for i, n := range s.Nodes {
		n.Free = slices.Clone(n.Free)
		c.Nodes[i] = n
	}
	c.Teams = slices.Clone(s.Teams)
	return &c
}

func checkSnapshot(t testing.TB, seed uint64, s *Snapshot) {
	t.Helper()
	before := deepCopy(s)
	p := Decide(s)
	if !reflect.DeepEqual(before, s) {
		t.Fatalf("seed %d: Decide modified its snapshot", seed)
	}
	checkInvariants(t, s, p)
	if diff := cmp.Diff(p, Decide(s)); diff != "" {
		t.Fatalf("seed %d: a second decision differs:\n%s", seed, diff)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	if diff := cmp.Diff(p, Decide(shuffled(s, r))); diff != "" {
		t.Fatalf("seed %d: the same snapshot in another order decides otherwise:\n%s", seed, diff)
	}
	// Explaining adds the factors and changes nothing else.
	x := *s
	x.Explain = !s.Explain
	px := Decide(&x)
	if x.Explain && len(px.Factors) != len(px.Priority) || !x.Explain && px.Factors != nil {
		t.Fatalf("seed %d: Explain %v gave factors for %d of %d pending jobs", seed, x.Explain, len(px.Factors), len(px.Priority))
	}
	px.Factors = p.Factors
	if diff := cmp.Diff(p, px); diff != "" {
		t.Fatalf("seed %d: Explain changed the plan:\n%s", seed, diff)
	}
}

func FuzzDecide(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed, uint8(seed*7))
	}
	f.Fuzz(func(t *testing.T, seed uint64, size uint8) {
		r := rand.New(rand.NewPCG(seed, uint64(size)))
		o := genOptions{nodes: 1 + int(size%12), pending: int(size / 4), busy: r.Float64(), fullPolicy: size%2 == 0}
		checkSnapshot(t, seed, generate(t, r, o))
	})
}

// TestInvariants runs the fuzzer's checks over a fixed spread of seeds, so
// that plain `go test` covers them.
func TestInvariants(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, seed*31))
		o := genOptions{nodes: 1 + int(seed%12), pending: int(seed % 60), busy: r.Float64(), fullPolicy: seed%2 == 0}
		checkSnapshot(t, seed, generate(t, r, o))
	}
}
