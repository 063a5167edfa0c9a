package sched

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Pending reasons, spelled as Slurm spells them where Slurm has one.
const (
	ReasonPriority     = "Priority"
	ReasonResources    = "Resources"
	ReasonNodeNotAvail = "ReqNodeNotAvail"
	ReasonHeld         = "JobHeldUser"
	// ReasonBudget: held because its team was over a hard budget limit
	// when it was submitted.
	ReasonBudget         = "Budget"
	ReasonBeginTime      = "BeginTime"
	ReasonDependency     = "Dependency"
	ReasonNeverSatisfied = "DependencyNeverSatisfied"
	ReasonArrayTaskLimit = "JobArrayTaskLimit"
	// ReasonPreempting: running jobs are being preempted for this one; their
	// GPUs, and the free ones it needs beside them, are held for it.
	ReasonPreempting = "Preempting"
)

// Eligible reports whether a pending job with this reason is eligible to
// start, waiting only for resources or its turn.
func Eligible(reason string) bool {
	switch reason {
	case ReasonPriority, ReasonResources, ReasonNodeNotAvail, ReasonArrayTaskLimit, ReasonPreempting:
		return true
	}
	return false
}

// Job is what the scheduler needs to know of one job or array task.
type Job struct {
	Ref      job.Ref
	State    gpuqv1.JobState
	ExitCode int32
	Held     bool
	// HoldReason is why a held job is held: ReasonBudget, or "" for a
	// user's hold (ReasonHeld).
	HoldReason string
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
	// QOS is the job's quality of service; "" is "normal".
	QOS string
	// TimeLimit is the job's --time; 0: its pool's default (Policy).
	TimeLimit time.Duration

	// For a running (or completing) job: when it started, on which node,
	// holding which GPUs. A running job whose Node is not in the snapshot
	// is left out of placement. GPUIDs empty: GPUs counts its GPUs.
	StartTime time.Time
	Node      string
	GPUIDs    []string
	// Restarts counts the job's requeues; the cheapest victims are those
	// restarted least, other things equal.
	Restarts int
	// Preemptions24h counts the job's preemptions in the 24 hours before
	// Now (Policy.Preemption.MaxPerDay caps them).
	Preemptions24h int
	// NoRequeue: a preempted job is cancelled, not requeued.
	NoRequeue bool
	// Stopping marks a running job in its grace after a preemption, for
	// StoppingFor (if that is still pending). Its GPUs are held for that job.
	Stopping    bool
	StoppingFor job.Ref
}

// holds reports whether j holds GPUs.
func (j *Job) holds() bool {
	return j.State == gpuqv1.JobState_JOB_STATE_RUNNING || j.State == gpuqv1.JobState_JOB_STATE_COMPLETING
}

func (j *Job) holdsOrWants() bool {
	return j.State == gpuqv1.JobState_JOB_STATE_PENDING || j.holds()
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
	Region  string
	// Total is the node's GPUs; 0: unknown (then no job is too big for it).
	Total int
	// Free GPU ids, in the order they should be handed out.
	Free []string
}

// Team is one team's fair-share and calendar input.
type Team struct {
	Name   string
	Shares float64
	// Calendar gives the time-zone factor at Now; the zero Calendar is
	// never in working hours.
	Calendar        calendar.Calendar
	PreferredRegion string
	// Usage is the team's billed GPU-seconds, decayed (by the caller)
	// with the fair-share half-life.
	Usage float64
	// Users holds the same per user. When set, it should name every user
	// of the team (0 for none): users share the team's shares equally.
	Users map[string]float64
}

// Snapshot is the scheduler's whole input.
type Snapshot struct {
	Now   time.Time
	Jobs  []Job
	Nodes []Node
	Teams []Team
	// Policy: the zero Policy is DefaultPolicy().
	Policy Policy
	// Explain asks for Plan.Factors (gpuqctl priority). A scheduling cycle
	// leaves it off: a table of factors for 100,000 pending jobs is ~34 MB
	// more garbage each cycle (a heap profile taken by hand), and it is
	// live while the cycle runs.
	Explain bool
}

// Start places one job on a node.
type Start struct {
	Job  job.Ref
	Node string
	GPUs []string
	// Why says, for the job's record, why it starts there and now.
	Why string
}

// Cancel ends a pending job that can never run.
type Cancel struct {
	Job    job.Ref
	Reason string
}

// Reservation is where and when a blocked top job is expected to start;
// lower jobs backfill around it.
type Reservation struct {
	Job        job.Ref
	Node       string
	Start, End time.Time // End is zero for a job without a time limit
	GPUs       int
}

// Preemption stops Victim on Node so that For can start there.
type Preemption struct {
	Victim job.Ref
	Node   string
	For    job.Ref
	// Requeue: the victim goes back to the queue; false (--no-requeue):
	// it is cancelled.
	Requeue bool
	// Why says, for the victim's record, why it was chosen.
	Why string
}

// Plan is the scheduler's whole output.
type Plan struct {
	Starts  []Start
	Cancels []Cancel
	// Reasons holds a reason for every job that stays pending.
	Reasons map[job.Ref]string
	// Priority of every pending job, higher first.
	Priority map[job.Ref]float64
	// Factors of every pending job's priority, when Snapshot.Explain
	// asked for them; nil otherwise.
	Factors map[job.Ref]Factors
	// Shares has a row per team, each followed by its users.
	Shares       []ShareRow
	Reservations []Reservation
	Preemptions  []Preemption
}

// decider holds one decision's working state.
type decider struct {
	s       *Snapshot
	pol     Policy
	now     time.Time
	teams   []team
	teamIdx map[string]int32
	largest int // GPUs of the largest node
	nodes   []node
	nodeIdx map[string]int32
	runs    []run
	plan    Plan

	matches     map[matchKey][]int32
	failStart   map[failKey]int // fewest GPUs that could not start now
	failPreempt map[failKey]int // fewest GPUs that no preemption could make room for
	holds       map[int32]*hold // by job index
	scratch     []int
	setBuf      []int32
}

// run is a running job on a node of the snapshot.
type run struct {
	ji      int32 // index in Snapshot.Jobs
	node    int32
	rel     int32 // its release in the node's timeline
	gpus    int
	prio    float64
	inHours bool
	lost    float64 // GPU-seconds run so far
	claimed bool    // a victim of this plan
}

type matchKey struct{ gpuType, pool string }

type failKey struct {
	matchKey
	limit time.Duration
}

// hold keeps a preemptor's GPUs on one node: free ids it takes, and the
// victims' releases, which become its own.
type hold struct {
	node int32
	ids  []int
	rels []int32
	cnts []int
	own  int32 // its own release
}

// Decide computes a plan. It does not modify s.
//
// Pending jobs first pass the eligibility checks (held, dependencies, begin
// time, singleton); eligible ones are taken in priority order (priority,
// submit time, job id, task) and each one, in turn:
//
//  1. starts now on the best node: one in its team's preferred region if
//     any can take it, else any; among those the one with the fewest free
//     GPUs (best fit), then by name. A node can take it when enough GPUs
//     are free and, by its time limit, it leaves the GPUs of every
//     reservation on the node free (backfill);
//  2. or, if it may preempt (Policy.Preemption), preempts the fewest and
//     cheapest victims on one node that make room for it: reason
//     Preempting; but if some node has room for it within the grace anyway,
//     it reserves that instead: reason Resources;
//  3. or, among the first ReserveTop that got this far, gets a reservation
//     on the node where it can start earliest: reason Resources;
//  4. or waits: Resources if nothing above it waits, else Priority.
//
// A job that no node could ever hold waits with ReqNodeNotAvail.
func Decide(s *Snapshot) Plan {
	d := &decider{s: s, now: s.Now, pol: s.Policy}
	if d.pol.isZero() {
		d.pol = DefaultPolicy()
	}
	d.pol.Weights = Weights{FairShare: nonNeg(d.pol.Weights.FairShare), TimeZone: nonNeg(d.pol.Weights.TimeZone),
		Age: nonNeg(d.pol.Weights.Age), JobSize: nonNeg(d.pol.Weights.JobSize), QOS: nonNeg(d.pol.Weights.QOS)}
	d.pol.Preemption.Grace = max(d.pol.Preemption.Grace, 0)
	return d.decide()
}

func (d *decider) decide() Plan {
	s := d.s
	d.teams, d.teamIdx = buildTeams(s)
	d.buildNodes()

	pending := 0
	for i := range s.Jobs {
		if s.Jobs[i].State == gpuqv1.JobState_JOB_STATE_PENDING {
			pending++
		}
	}
	d.plan = Plan{Reasons: make(map[job.Ref]string, pending), Priority: make(map[job.Ref]float64, pending)}
	if s.Explain {
		d.plan.Factors = make(map[job.Ref]Factors, pending)
	}
	p := &d.plan

	// What eligibility and the array and singleton limits need.
	var byID map[uint64][]int32
	arrayIDs := map[uint64]int{} // running tasks of array jobs with a %N limit
	singletonBusy := map[[2]string]bool{}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			continue
		}
		if len(j.Deps) > 0 && byID == nil {
			byID = map[uint64][]int32{}
		}
		for _, dep := range j.Deps {
			byID[dep.Job.ID] = nil
		}
		if j.ArrayMax > 0 {
			arrayIDs[j.Ref.ID] = 0
		}
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if ids, ok := byID[j.Ref.ID]; ok {
			byID[j.Ref.ID] = append(ids, int32(i))
		}
		if j.holds() {
			if n, ok := arrayIDs[j.Ref.ID]; ok {
				arrayIDs[j.Ref.ID] = n + 1
			}
			if j.Singleton {
				singletonBusy[[2]string{j.Name, j.User}] = true
			}
		}
	}

	type item struct {
		prio   float64
		tz     float64 // its time-zone factor
		submit time.Time
		ref    job.Ref
		ji     int32
	}
	eligible := make([]item, 0, pending)
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			continue
		}
		f := d.factors(j, d.team(j.Team))
		p.Priority[j.Ref] = f.Priority
		if p.Factors != nil {
			p.Factors[j.Ref] = f
		}
		switch dep := dependencies(j, s.Jobs, byID); {
		case j.Held:
			p.Reasons[j.Ref] = cmp.Or(j.HoldReason, ReasonHeld)
		case dep == depNever:
			p.Cancels = append(p.Cancels, Cancel{Job: j.Ref, Reason: ReasonNeverSatisfied})
		case dep == depWaiting:
			p.Reasons[j.Ref] = ReasonDependency
		case s.Now.Before(j.Begin):
			p.Reasons[j.Ref] = ReasonBeginTime
		case j.Singleton && singletonBusy[[2]string{j.Name, j.User}]:
			p.Reasons[j.Ref] = ReasonDependency
		default:
			eligible = append(eligible, item{prio: f.Priority, tz: f.TimeZone, submit: j.SubmitTime, ref: j.Ref, ji: int32(i)})
		}
	}
	slices.SortFunc(p.Cancels, func(a, b Cancel) int { return compareRefs(a.Job, b.Job) })
	slices.SortFunc(eligible, func(a, b item) int {
		return cmp.Or(
			cmp.Compare(b.prio, a.prio),
			a.submit.Compare(b.submit),
			compareRefs(a.ref, b.ref),
		)
	})

	d.buildRuns()
	jis := make([]int32, len(eligible))
	for i, e := range eligible {
		jis[i] = e.ji
	}
	d.holdStopping(jis)

	blocked := false // a higher-priority job is waiting for resources
	reserveLeft := d.pol.ReserveTop
	for rank, e := range eligible {
		ji := e.ji
		j := &s.Jobs[ji]
		h := d.holds[ji]
		if h != nil {
			d.undo(h)
		}
		if j.ArrayMax > 0 && arrayIDs[j.Ref.ID] >= int(j.ArrayMax) {
			p.Reasons[j.Ref] = ReasonArrayTaskLimit
			continue
		}
		if j.Singleton && singletonBusy[[2]string{j.Name, j.User}] {
			p.Reasons[j.Ref] = ReasonDependency
			continue
		}
		ns := d.match(j)
		if ni := d.placeNow(j, ns); ni >= 0 {
			d.start(j, ni, d.whyStart(j, ni, e.prio, rank, len(eligible), blocked))
			if _, ok := arrayIDs[j.Ref.ID]; ok {
				arrayIDs[j.Ref.ID]++
			}
			if j.Singleton {
				singletonBusy[[2]string{j.Name, j.User}] = true
			}
			continue
		}
		if !d.fitsEver(j, ns) {
			p.Reasons[j.Ref] = ReasonNodeNotAvail
			continue
		}
		reason := ReasonResources
		pre := none
		if h == nil && d.mayPreempt(j, e.tz) {
			pre = d.preempt(j, ns, e.prio)
		}
		switch {
		case h != nil:
			d.redo(h)
			reason = ReasonPreempting
		case pre == preempting:
			reason = ReasonPreempting
		case pre == reserved: // room within the grace: Resources
		default:
			got := false
			if reserveLeft > 0 {
				reserveLeft--
				got = d.reserve(j, ns)
			}
			if !got && blocked {
				reason = ReasonPriority
			}
		}
		p.Reasons[j.Ref] = reason
		blocked = true
	}
	p.Shares = shareRows(d.teams)
	return d.plan
}

func compareRefs(a, b job.Ref) int {
	return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Task, b.Task), compareBools(a.HasTask, b.HasTask))
}

func compareBools(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// team returns the index of the team called name, or -1.
func (d *decider) team(name string) int32 {
	if i, ok := d.teamIdx[name]; ok {
		return i
	}
	return -1
}

func (d *decider) inHours(teamName string) bool {
	ti := d.team(teamName)
	return ti >= 0 && d.teams[ti].inHours
}

// buildNodes sorts the nodes by name (the first of a name wins), drops
// duplicate free ids and ids that running jobs hold, and builds each
// node's timeline from its running jobs' expected ends.
func (d *decider) buildNodes() {
	s := d.s
	order := make([]int, len(s.Nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return compareStrings(s.Nodes[a].Name, s.Nodes[b].Name) })
	d.nodeIdx = make(map[string]int32, len(s.Nodes))
	d.nodes = make([]node, 0, len(s.Nodes))
	for _, i := range order {
		sn := &s.Nodes[i]
		if _, dup := d.nodeIdx[sn.Name]; dup {
			continue
		}
		d.nodeIdx[sn.Name] = int32(len(d.nodes))
		d.nodes = append(d.nodes, node{name: sn.Name, pool: sn.Pool, gpuType: sn.GPUType, region: sn.Region, total: max(sn.Total, 0)})
	}
	// GPUs that running jobs hold, per node.
	busy := make([][]string, len(d.nodes))
	busyN := make([]int, len(d.nodes))
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if !j.holds() {
			continue
		}
		if ni, ok := d.nodeIdx[j.Node]; ok {
			busy[ni] = append(busy[ni], j.GPUIDs...)
			busyN[ni] += j.gpusHeld()
		}
	}
	for _, i := range order {
		sn := &s.Nodes[i]
		ni := d.nodeIdx[sn.Name]
		n := &d.nodes[ni]
		if n.ids != nil || n.taken != nil {
			continue // a duplicate name
		}
		n.ids = make([]string, 0, len(sn.Free))
		var seen map[string]bool
		if len(sn.Free) > 16 || len(busy[ni]) > 16 {
			seen = make(map[string]bool, len(sn.Free)+len(busy[ni]))
			for _, g := range busy[ni] {
				seen[g] = true
			}
		}
		for _, g := range sn.Free {
			if seen != nil {
				if seen[g] {
					continue
				}
				seen[g] = true
			} else if slices.Contains(n.ids, g) || slices.Contains(busy[ni], g) {
				continue
			}
			n.ids = append(n.ids, g)
		}
		n.taken = make([]bool, len(n.ids))
		n.free = len(n.ids)
		n.capacity = n.total
		if n.capacity == 0 {
			n.capacity = n.free + busyN[ni]
		}
		d.largest = max(d.largest, n.capacity)
	}
}

// gpusHeld is the count of GPUs a running job holds.
func (j *Job) gpusHeld() int {
	if len(j.GPUIDs) > 0 {
		return len(j.GPUIDs)
	}
	return max(j.GPUs, 0)
}

// buildRuns records the running jobs on the snapshot's nodes, their
// releases, and which of them the policy lets be preempted.
func (d *decider) buildRuns() {
	s := d.s
	pp := &d.pol.Preemption
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if !j.holds() {
			continue
		}
		ni, ok := d.nodeIdx[j.Node]
		if !ok {
			continue
		}
		n := &d.nodes[ni]
		var t time.Duration // imminent: completing, stopping or overdue
		if j.State == gpuqv1.JobState_JOB_STATE_RUNNING && !j.Stopping {
			l := d.pol.limitIn(j, n.pool)
			t = l
			if l < forever {
				t = max(l-max(durationSince(d.now, j.StartTime), 0), 0)
			}
		}
		r := run{ji: int32(i), node: ni, gpus: j.gpusHeld(), inHours: d.inHours(j.Team)}
		r.rel = n.addRelease(t, r.gpus, pp.Grace)
		ran := durationSince(d.now, j.StartTime)
		r.lost = max(ran.Seconds(), 0) * float64(r.gpus)
		ri := int32(len(d.runs))
		if pp.Enabled && t > pp.Grace && d.preemptible(j, ran) && r.gpus > 0 {
			r.prio = d.factors(j, d.team(j.Team)).Priority
			n.victims = append(n.victims, ri)
			n.claimable += r.gpus
		}
		d.runs = append(d.runs, r)
	}
	// Cheapest victims first: off-hours teams, lowest priority, least
	// progress lost, fewest restarts, then by job.
	for ni := range d.nodes {
		slices.SortFunc(d.nodes[ni].victims, func(a, b int32) int {
			ra, rb := &d.runs[a], &d.runs[b]
			ja, jb := &s.Jobs[ra.ji], &s.Jobs[rb.ji]
			return cmp.Or(compareBools(ra.inHours, rb.inHours), cmp.Compare(ra.prio, rb.prio),
				cmp.Compare(ra.lost, rb.lost), cmp.Compare(ja.Restarts, jb.Restarts), compareRefs(ja.Ref, jb.Ref))
		})
	}
}

// preemptible reports whether the policy lets running job j, which has run
// for ran, be preempted by some job of higher priority.
func (d *decider) preemptible(j *Job, ran time.Duration) bool {
	pp := &d.pol.Preemption
	if j.State != gpuqv1.JobState_JOB_STATE_RUNNING || j.Stopping || j.StartTime.IsZero() || ran < pp.MinRuntime {
		return false
	}
	if pp.MaxPerDay > 0 && j.Preemptions24h >= pp.MaxPerDay {
		return false
	}
	return pp.OffHours && !d.inHours(j.Team) || slices.Contains(pp.Teams, j.Team) || slices.Contains(pp.QOS, qosName(j.QOS))
}

func qosName(q string) string {
	if q == "" {
		return "normal"
	}
	return q
}

// mayPreempt reports whether pending job j, of time-zone factor tz, may
// preempt: tz is 1 (its team is in its working hours and it was submitted
// in them), or its QOS may preempt at any hour.
func (d *decider) mayPreempt(j *Job, tz float64) bool {
	pp := &d.pol.Preemption
	return pp.Enabled && j.GPUs > 0 && (tz == 1 || slices.Contains(pp.PreemptorQOS, qosName(j.QOS)))
}

// match returns the nodes of j's GPU type and pool.
func (d *decider) match(j *Job) []int32 {
	k := matchKey{j.GPUType, j.Pool}
	if ns, ok := d.matches[k]; ok {
		return ns
	}
	var ns []int32
	for i := range d.nodes {
		n := &d.nodes[i]
		if (k.gpuType == "" || n.gpuType == k.gpuType) && (k.pool == "" || n.pool == k.pool) {
			ns = append(ns, int32(i))
		}
	}
	if d.matches == nil {
		d.matches = map[matchKey][]int32{}
	}
	d.matches[k] = ns
	return ns
}

// fitsEver reports whether some node of ns could hold j were it empty.
func (d *decider) fitsEver(j *Job, ns []int32) bool {
	for _, ni := range ns {
		if d.nodes[ni].suits(j) {
			return true
		}
	}
	return false
}

// forget drops what was learnt of failed placements, after something that
// can make room.
func (d *decider) forget() {
	clear(d.failStart)
	clear(d.failPreempt)
}

func knownToFail(m map[failKey]int, k failKey, g int) bool {
	f, ok := m[k]
	return ok && g >= f
}

func noteFail(m *map[failKey]int, k failKey, g int) {
	if *m == nil {
		*m = map[failKey]int{}
	}
	if f, ok := (*m)[k]; !ok || g < f {
		(*m)[k] = g
	}
}

// placeNow returns the node j should start on now, or -1.
func (d *decider) placeNow(j *Job, ns []int32) int32 {
	g := max(j.GPUs, 0)
	k := failKey{matchKey{j.GPUType, j.Pool}, j.TimeLimit}
	if knownToFail(d.failStart, k, g) {
		return -1
	}
	region := ""
	if ti := d.team(j.Team); ti >= 0 {
		region = d.teams[ti].region
	}
	best, bestPref := int32(-1), int32(-1)
	for _, ni := range ns {
		n := &d.nodes[ni]
		if n.free < g || !n.canStart(g, d.pol.limitIn(j, n.pool), d.pol.Backfill) {
			continue
		}
		if region != "" && n.region == region && (bestPref < 0 || n.free < d.nodes[bestPref].free) {
			bestPref = ni
		}
		if best < 0 || n.free < d.nodes[best].free {
			best = ni
		}
	}
	if bestPref >= 0 {
		return bestPref
	}
	if best < 0 {
		noteFail(&d.failStart, k, g)
	}
	return best
}

// whyStart explains a start: the job's rank, and whether it went first or
// was backfilled past a higher-priority job that waits.
func (d *decider) whyStart(j *Job, ni int32, prio float64, rank, eligible int, backfill bool) string {
	n := &d.nodes[ni]
	how := "the highest-priority eligible job that fits"
	if backfill {
		how = fmt.Sprintf("backfilled: within its time limit (%s) it does not delay the higher-priority jobs that wait", d.pol.limitIn(j, n.pool))
	}
	where := fmt.Sprintf("on %s (%d of its GPUs free, best fit)", n.name, n.free)
	if ti := d.team(j.Team); ti >= 0 && d.teams[ti].region != "" && d.teams[ti].region == n.region {
		where += " in the team's preferred region " + n.region
	}
	return fmt.Sprintf("priority %.0f, %d of %d eligible: %s; %s", prio, rank+1, eligible, how, where)
}

// start hands j GPUs on node ni.
func (d *decider) start(j *Job, ni int32, why string) {
	n := &d.nodes[ni]
	g := max(j.GPUs, 0)
	idx := n.take(g)
	gpus := make([]string, len(idx))
	for i, x := range idx {
		gpus[i] = n.ids[x]
	}
	n.addRelease(d.pol.limitIn(j, n.pool), g, d.pol.Preemption.Grace)
	d.plan.Starts = append(d.plan.Starts, Start{Job: j.Ref, Node: n.name, GPUs: gpus, Why: why})
}

// reserve gives j a reservation on the node where it can start earliest
// (then in its preferred region, then by name).
func (d *decider) reserve(j *Job, ns []int32) bool {
	g := max(j.GPUs, 0)
	region := ""
	if ti := d.team(j.Team); ti >= 0 {
		region = d.teams[ti].region
	}
	best, bestT, bestPref := int32(-1), time.Duration(0), false
	for _, ni := range ns {
		n := &d.nodes[ni]
		if n.total > 0 && n.total < g {
			continue
		}
		t, ok := n.earliest(g, d.pol.limitIn(j, n.pool))
		if !ok {
			continue
		}
		pref := region != "" && n.region == region
		if best < 0 || t < bestT || t == bestT && pref && !bestPref {
			best, bestT, bestPref = ni, t, pref
		}
	}
	if best < 0 {
		return false
	}
	d.reserveOn(j, best, bestT)
	return true
}

// reserveOn reserves j's GPUs on node ni from t for its time limit.
func (d *decider) reserveOn(j *Job, ni int32, t time.Duration) {
	n := &d.nodes[ni]
	g := max(j.GPUs, 0)
	end := addSat(t, d.pol.limitIn(j, n.pool))
	n.resv = append(n.resv, span{s: t, e: end, c: g})
	r := Reservation{Job: j.Ref, Node: n.name, Start: d.now.Add(t), GPUs: g}
	if end < forever {
		r.End = d.now.Add(end)
	}
	d.plan.Reservations = append(d.plan.Reservations, r)
}
