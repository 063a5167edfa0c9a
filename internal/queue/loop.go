package queue

import (
	"context"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// scheduleLoop runs a cycle when kicked and at least every CycleInterval.
// Kicks that come while a cycle runs, or soon after, are coalesced into
// the next one: after each cycle the loop rests MinCycleGap, or four times
// as long as the cycle took when that is longer. A cycle holds the
// writers' lock, so while submissions and ends keep kicking, deciding
// takes at most about a fifth of the time and writers get the rest (a
// cycle over 20,000 pending jobs takes tens of milliseconds here, over
// 100,000 a few hundred).
func (q *Queue) scheduleLoop(ctx context.Context) {
	// Ticks often enough to notice a silent node within a heartbeat.
	tick := time.NewTicker(min(q.opts.CycleInterval, q.opts.HeartbeatInterval))
	defer tick.Stop()
	last := time.Now()
	q.Cycle()
	// Loading the queue and the first cycle leave garbage several times
	// the size of the queue: give its memory back now rather than when the
	// scavenger gets to it (BenchmarkRestart100k).
	debug.FreeOSMemory()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			q.checkNodes()
			if n, err := q.Purge(); err != nil {
				q.log.Error("purge", "err", err)
			} else if n > 0 {
				q.log.Info("purged ended jobs", "jobs", n, "min_job_age", q.opts.MinJobAge)
			}
			if time.Since(last) < q.opts.CycleInterval {
				continue
			}
		case <-q.kick:
		}
		last = time.Now()
		q.Cycle()
		rest := max(q.opts.MinCycleGap, 4*time.Since(last))
		select {
		case <-ctx.Done():
			return
		case <-time.After(rest):
		}
	}
}

// Cycle runs one scheduling decision and applies it.
//
// The cycle holds the writers' lock from the snapshot to the end of the
// apply, so no change slips in between: a plan is never applied to a job
// that changed after it was decided (submissions wait for the decision).
func (q *Queue) Cycle() {
	start := time.Now()
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	snap := q.snapshot()
	plan := sched.Decide(snap)
	cancelled, err := q.applyPlan(plan)
	if err != nil {
		q.log.Error("apply plan", "err", err)
		return
	}
	q.log.Debug("scheduling cycle", "jobs", len(snap.Jobs), "pending", len(plan.Reasons),
		"starts", len(plan.Starts), "cancelled", cancelled, "took", time.Since(start))
}

// snapshot builds the scheduler's input from the jobs that have not ended
// and the ended jobs that pending jobs depend on, in ref order.
func (q *Queue) snapshot() *sched.Snapshot {
	q.mu.RLock()
	defer q.mu.RUnlock()
	now := q.now()
	s := &sched.Snapshot{Now: now, Nodes: q.schedNodes(), Teams: q.schedTeams(now), Policy: q.opts.Policy}
	needed := map[uint64]bool{}
	live := 0
	for _, r := range q.live {
		j := q.jobs[r]
		if job.Ended(j.State) {
			continue
		}
		live++
		if j.State == gpuqv1.JobState_JOB_STATE_PENDING {
			for _, d := range j.Spec.Dependencies {
				needed[d.JobId] = true
			}
		}
	}
	var ended []job.Ref
	for id := range needed {
		for _, r := range q.tasks[id] {
			if job.Ended(q.jobs[r].State) {
				ended = append(ended, r)
			}
		}
	}
	// Sized once: growing a slice of 100,000 jobs by appends allocates
	// five times its size each cycle, and that garbage set gpuqd's RSS.
	s.Jobs = make([]sched.Job, 0, live+len(ended))
	add := func(j *gpuqv1.Job) {
		sj := schedJob(j)
		if active(j) {
			for _, t := range q.preemptions[sj.Ref] {
				if now.Sub(t) < 24*time.Hour {
					sj.Preemptions24h++
				}
			}
			sj.StoppingFor, sj.Stopping = q.stopping[sj.Ref]
		}
		s.Jobs = append(s.Jobs, sj)
	}
	// Both in ref order, merged (live is kept sorted).
	slices.SortFunc(ended, job.Ref.Compare)
	i := 0
	for _, r := range q.live {
		j := q.jobs[r]
		if job.Ended(j.State) {
			continue
		}
		for ; i < len(ended) && ended[i].Compare(r) < 0; i++ {
			add(q.jobs[ended[i]])
		}
		add(j)
	}
	for ; i < len(ended); i++ {
		add(q.jobs[ended[i]])
	}
	return s
}

// schedTeams are the configured teams with their decayed usage at now. The
// caller holds mu (read).
func (q *Queue) schedTeams(now time.Time) []sched.Team {
	out := make([]sched.Team, len(q.opts.Teams))
	for i, t := range q.opts.Teams {
		t.Usage = decayed(q.usage[t.Name], now, q.opts.UsageHalfLife)
		users := map[string]float64{}
		for u := range t.Users {
			users[u] = 0
		}
		prefix := t.Name + "/"
		for k, u := range q.usage {
			if name, ok := strings.CutPrefix(k, prefix); ok {
				users[name] = decayed(u, now, q.opts.UsageHalfLife)
			}
		}
		t.Users = users
		out[i] = t
	}
	return out
}

func schedJob(j *gpuqv1.Job) sched.Job {
	sp := j.Spec
	sj := sched.Job{
		Ref:        job.RefOf(j),
		State:      j.State,
		ExitCode:   j.ExitCode,
		Held:       j.Held,
		HoldReason: j.HoldReason,
		Name:       sp.Name,
		User:       sp.User,
		Team:       sp.Team,
		GPUType:    sp.Gpus.GetType(),
		GPUs:       int(sp.Gpus.GetCount()),
		Pool:       sp.Pool,
		Nice:       sp.Nice,
		SubmitTime: j.SubmitTime.AsTime(),
		Singleton:  sp.Singleton,
		ArrayMax:   sp.Array.GetMaxConcurrent(),
		QOS:        sp.Qos,
		TimeLimit:  sp.TimeLimit.AsDuration(),
		Restarts:   int(j.Restarts),
		NoRequeue:  sp.NoRequeue,
	}
	if active(j) {
		sj.Node, sj.GPUIDs = j.Node, j.GpuIds
		sj.StartTime = j.StartTime.AsTime()
	}
	if sp.Begin != nil {
		sj.Begin = sp.Begin.AsTime()
	}
	for _, d := range sp.Dependencies {
		r := job.Ref{ID: d.JobId}
		if d.ArrayTaskId != nil {
			r.Task, r.HasTask = d.GetArrayTaskId(), true
		}
		sj.Deps = append(sj.Deps, sched.Dep{Type: d.Type, Job: r})
	}
	return sj
}

// applyPlan re-checks the plan against the current state and applies it:
// starts (assigned to their nodes once stored), cancellations, and the
// eligible time of jobs that became eligible are stored (see commitRecords);
// reasons and priorities are derived state, kept in memory only.
// The caller holds writeMu.
func (q *Queue) applyPlan(p sched.Plan) (int, error) {
	now := timestamppb.New(q.now())
	starts := q.checkStarts(p.Starts, now)
	changed := slices.Clone(starts)
	for _, c := range p.Cancels {
		j := q.jobs[c.Job]
		if j == nil || j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Held {
			continue // stale: the job changed since the snapshot
		}
		x := proto.CloneOf(j)
		x.State, x.Reason, x.EndTime, x.UpdateTime = gpuqv1.JobState_JOB_STATE_CANCELLED, c.Reason, now, now
		changed = append(changed, x)
	}
	cancelled := len(changed) - len(starts)
	for r, reason := range p.Reasons {
		j := q.jobs[r]
		if j != nil && j.State == gpuqv1.JobState_JOB_STATE_PENDING && j.EligibleTime == nil && sched.Eligible(reason) {
			x := proto.CloneOf(j)
			x.EligibleTime, x.Reason, x.Priority = now, reason, p.Priority[r]
			changed = append(changed, x)
		}
	}
	if err := q.commitRecords(changed); err != nil {
		return 0, err
	}
	for _, x := range starts {
		q.assign(x)
	}
	q.preempt(p.Preemptions)
	q.mu.Lock()
	defer q.mu.Unlock()
	for r, reason := range p.Reasons {
		j := q.jobs[r]
		if j == nil || j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			continue
		}
		if j.Reason != reason || j.Priority != p.Priority[r] {
			q.jobs[r] = withReason(j, reason, p.Priority[r])
		}
	}
	return cancelled, nil
}

// withReason returns a copy of j with its reason and priority set, which
// shares j's spec and its other messages and slices: the queue never
// changes a job's messages in place once it holds them (every change
// clones first), so they can be shared. Reasons and priorities live in
// memory only, so the first cycle after a start gives every pending job
// a new record, and later cycles those whose reason or (whole-number)
// priority moved: a deep clone of 100,000 pending jobs was ~95 MB of
// garbage in that first cycle, live until it ended (a heap profile taken
// by hand). TestWithReason fails
// when a field of Job is not copied here.
func withReason(j *gpuqv1.Job, reason string, priority float64) *gpuqv1.Job {
	x := &gpuqv1.Job{
		Id: j.Id, ArrayTaskId: j.ArrayTaskId, Spec: j.Spec, State: j.State, Reason: reason,
		SubmitTime: j.SubmitTime, EligibleTime: j.EligibleTime, StartTime: j.StartTime, EndTime: j.EndTime,
		Node: j.Node, GpuIds: j.GpuIds, ExitCode: j.ExitCode, ExitSignal: j.ExitSignal, Restarts: j.Restarts,
		AllocationId: j.AllocationId, Priority: priority, UpdateTime: j.UpdateTime, Held: j.Held,
		Usage: j.Usage, HoldReason: j.HoldReason, Decisions: j.Decisions,
	}
	// Fields of a newer gpuqd's records (after a downgrade) go on with the
	// record, as a clone would keep them.
	if u := j.ProtoReflect().GetUnknown(); len(u) > 0 {
		x.ProtoReflect().SetUnknown(u)
	}
	return x
}

// checkStarts keeps the starts that still hold: the job is pending and not
// held, the node is up with a session, and its GPUs are free. It returns the
// new records of those jobs. The caller holds writeMu.
func (q *Queue) checkStarts(starts []sched.Start, now *timestamppb.Timestamp) []*gpuqv1.Job {
	if len(starts) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, ref := range q.allocs {
		for _, g := range q.jobs[ref].GpuIds {
			used[g] = true
		}
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	var out []*gpuqv1.Job
	for _, st := range starts {
		j, n := q.jobs[st.Job], q.nodes[st.Node]
		if j == nil || j.State != gpuqv1.JobState_JOB_STATE_PENDING || j.Held || n == nil || n.state != NodeUp || n.out == nil {
			continue
		}
		ok := true
		for _, g := range st.GPUs {
			ok = ok && !used[g] && slices.ContainsFunc(n.info.Gpus, func(x *gpuqv1.GPU) bool { return x.Uuid == g })
		}
		if !ok {
			continue
		}
		for _, g := range st.GPUs {
			used[g] = true
		}
		x := proto.CloneOf(j)
		x.State, x.Reason, x.Node, x.GpuIds = gpuqv1.JobState_JOB_STATE_RUNNING, "", st.Node, st.GPUs
		x.AllocationId = newAllocationID(st.Job, j.Restarts)
		x.StartTime, x.UpdateTime = now, now
		addDecision(x, "start", st.Why, now)
		if x.EligibleTime == nil {
			x.EligibleTime = now
		}
		out = append(out, x)
	}
	return out
}

// assign sends a stored start to its node, with the script, environment and
// effective time limit. A node that cannot be reached registers again later
// without the job, which then fails over.
func (q *Queue) assign(x *gpuqv1.Job) {
	payload, err := q.store.Payload(x.Id)
	if err != nil {
		q.log.Error("read job payload", "job", job.RefOf(x).String(), "err", err)
		return
	}
	j := proto.CloneOf(x)
	j.Spec.Script, j.Spec.Environment = payload.Script, payload.Environment
	if j.Spec.TimeLimit.AsDuration() <= 0 {
		pool := ""
		q.mu.RLock()
		if n := q.nodes[x.Node]; n != nil {
			pool = n.info.Pool
		}
		q.mu.RUnlock()
		j.Spec.TimeLimit = durationpb.New(q.opts.Rules.timeLimit(j.Spec, pool))
	}
	q.send(x.Node, &gpuqv1.ControllerMessage{Msg: &gpuqv1.ControllerMessage_Assignment{Assignment: &gpuqv1.Assignment{
		AllocationId: x.AllocationId, Job: j, GpuIds: x.GpuIds, Grace: durationpb.New(q.grace(j.Spec.Team)),
	}}})
	q.log.Info("job started", "job", job.RefOf(x).String(), "node", x.Node, "gpus", len(x.GpuIds), "allocation", x.AllocationId)
}

// grace is the time between the warning signal and SIGKILL for a team's jobs.
func (q *Queue) grace(team string) time.Duration {
	if g, ok := q.opts.Rules.TeamGrace[team]; ok && g > 0 {
		return g
	}
	return q.opts.GracePeriod
}

// preempt starts the stop of each victim that still holds: it runs on that
// node, is not already stopping, and the job it makes room for still waits.
// The node sends the victim's warning signal, waits the grace and kills it;
// the victim is requeued (or ends PREEMPTED with --no-requeue) when the node
// reports it. The caller holds writeMu.
func (q *Queue) preempt(ps []sched.Preemption) {
	now := q.now()
	var recorded []*gpuqv1.Job
	defer func() {
		// The victims' records say why; their state changes when their
		// nodes report the end.
		if err := q.commitRecords(recorded); err != nil {
			q.log.Error("record preemption decisions", "err", err)
		}
	}()
	for _, p := range ps {
		v, w := q.jobs[p.Victim], q.jobs[p.For]
		if v == nil || w == nil || v.State != gpuqv1.JobState_JOB_STATE_RUNNING || v.Node != p.Node ||
			w.State != gpuqv1.JobState_JOB_STATE_PENDING {
			continue
		}
		q.mu.Lock()
		_, already := q.stopping[p.Victim]
		if !already {
			q.stopping[p.Victim] = p.For
			// Only the last day counts for the cap: forget older preemptions.
			recent := slices.DeleteFunc(q.preemptions[p.Victim], func(t time.Time) bool { return now.Sub(t) >= 24*time.Hour })
			q.preemptions[p.Victim] = append(recent, now)
		}
		q.mu.Unlock()
		if already {
			continue
		}
		q.log.Info("preempting", "job", p.Victim.String(), "node", p.Node, "for", p.For.String(), "grace", q.grace(v.Spec.Team))
		x := proto.CloneOf(v)
		addDecision(x, "preempt", p.Why, timestamppb.New(now))
		recorded = append(recorded, x)
		q.send(v.Node, stopMessage(v, gpuqv1.StopJob_REASON_PREEMPT, q.grace(v.Spec.Team)))
	}
}

// maxDecisions bounds the decisions a job's record keeps.
const maxDecisions = 8

// addDecision records a scheduling decision on x, keeping the newest
// maxDecisions.
func addDecision(x *gpuqv1.Job, kind, detail string, now *timestamppb.Timestamp) {
	if detail == "" {
		return
	}
	x.Decisions = append(x.Decisions, &gpuqv1.SchedulingDecision{Time: now, Kind: kind, Detail: detail})
	if n := len(x.Decisions); n > maxDecisions {
		x.Decisions = slices.Clone(x.Decisions[n-maxDecisions:])
	}
}

// Decision is the scheduler's view of pending jobs and teams.
type Decision struct {
	Factors      map[job.Ref]sched.Factors
	Shares       []sched.ShareRow
	Reservations []sched.Reservation
}

// LastDecision decides again on the current state, without applying
// anything, and returns its factors, shares and reservations: what the
// next cycle would see. Deciding on demand (the scheduler is a pure
// function) keeps gpuqd from holding a factor table for every pending job
// between cycles.
func (q *Queue) LastDecision(explain bool) Decision {
	s := q.snapshot()
	s.Explain = explain
	p := sched.Decide(s)
	return Decision{Factors: p.Factors, Shares: p.Shares, Reservations: p.Reservations}
}
