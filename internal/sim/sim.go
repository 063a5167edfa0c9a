package sim

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// NodeSpec is one node of the pool.
type NodeSpec struct {
	Name    string
	Region  string
	GPUType string
	GPUs    int
}

// Options describe one simulation.
type Options struct {
	Seed     uint64
	Start    time.Time
	Duration time.Duration
	// Tick is the scheduling interval; cycles also run when a job ends.
	Tick     time.Duration
	Teams    []TeamSpec
	Nodes    []NodeSpec
	Classes  []Class
	HalfLife time.Duration // of fair-share usage
	// Policy: the zero Policy is sched.DefaultPolicy().
	Policy sched.Policy
	// BillRunning counts running jobs' GPU-seconds so far in the teams'
	// usage. gpuqd does not: it bills a run when it ends, and so does the
	// simulation without this.
	BillRunning bool
}

// DefaultOptions is the 72 hours from start: 8 nodes of 8 A100s in
// three regions, three teams of equal shares working 09:00-18:00 Monday
// to Friday in San Francisco, Berlin and Tokyo.
func DefaultOptions(start time.Time) (Options, error) {
	o := Options{Seed: 4, Start: start, Duration: 72 * time.Hour, Tick: time.Minute,
		Classes: DefaultClasses(), HalfLife: 7 * 24 * time.Hour}
	for _, t := range []struct{ name, zone, region string }{
		{"sf", "America/Los_Angeles", "us-west1"},
		{"berlin", "Europe/Berlin", "europe-west3"},
		{"tokyo", "Asia/Tokyo", "asia-northeast1"},
	} {
		loc, err := time.LoadLocation(t.zone)
		if err != nil {
			return Options{}, fmt.Errorf("team %s: %w", t.name, err)
		}
		spec := calendar.Spec{Zone: loc, Start: 9 * time.Hour, End: 18 * time.Hour}
		for d := time.Monday; d <= time.Friday; d++ {
			spec.Days[d] = true
		}
		c, err := calendar.New(spec)
		if err != nil {
			return Options{}, fmt.Errorf("team %s: %w", t.name, err)
		}
		o.Teams = append(o.Teams, TeamSpec{Name: t.name, Zone: t.zone, Region: t.region, Shares: 1, Calendar: c})
	}
	regions := []string{"us-west1", "us-west1", "us-west1", "europe-west3", "europe-west3", "europe-west3", "asia-northeast1", "asia-northeast1"}
	for i, r := range regions {
		o.Nodes = append(o.Nodes, NodeSpec{Name: fmt.Sprintf("n%d", i+1), Region: r, GPUType: "a100", GPUs: 8})
	}
	return o, nil
}

// Run is the record of one job after the simulation.
type Run struct {
	Submission
	FirstStart time.Time // zero: never started
	End        time.Time // zero: not finished
	// GPUSeconds received inside the simulated span, every run counted,
	// including the work that preemptions threw away.
	GPUSeconds  float64
	LostSeconds float64 // GPU-seconds of work thrown away by preemptions
	Preempted   int
}

// Sample is the pool over one stretch of simulated time in which nothing
// changed.
type Sample struct {
	From, To time.Time
	Busy     int // GPUs held by jobs (stopping victims included)
	Waiting  int // pending jobs after the cycle
}

// Result is what Run returns.
type Result struct {
	Options  Options
	Jobs     []Run
	Samples  []Sample
	Capacity int // GPUs in the pool
	Cycles   int
	// Rejected counts plan items that did not match the simulation's state
	// (a start on a taken GPU, a victim not running): none is expected.
	Rejected int
}

type simJob struct {
	Run
	ref        job.Ref
	team       int
	pending    bool
	running    bool
	done       time.Duration // checkpointed work
	start      time.Time     // of the current run
	node       int
	gpuIDs     []string
	stopping   bool
	stopFor    job.Ref
	stopAt     time.Time
	preemptsAt []time.Time
	restarts   int
}

// finishAt is when the running job's work is done.
func (j *simJob) finishAt() time.Time { return j.start.Add(j.Runtime - j.done) }

type simNode struct {
	spec NodeSpec
	ids  []string
	used map[string]bool
}

type usage struct {
	v  float64
	at time.Time
}

func (u usage) at2(t time.Time, hl time.Duration) float64 {
	dt := t.Sub(u.at)
	if dt <= 0 || hl <= 0 {
		return u.v
	}
	return u.v * math.Exp2(-dt.Hours()/hl.Hours())
}

// add is gpuqd's addUsage: billed GPU-seconds spent at end, kept as of the
// later of the two times.
func (u usage) add(billed float64, end time.Time, hl time.Duration) usage {
	at := end
	if u.at.After(at) {
		at = u.at
	}
	return usage{v: u.at2(at, hl) + billed*math.Exp2(-at.Sub(end).Hours()/hl.Hours()), at: at}
}

// Simulate runs the simulation that o describes.
func Simulate(o Options) Result {
	end := o.Start.Add(o.Duration)
	subs := Generate(o.Seed, o.Teams, o.Classes, o.Start, end)
	teamIdx := map[string]int{}
	for i, t := range o.Teams {
		teamIdx[t.Name] = i
	}
	jobs := make([]*simJob, len(subs))
	byRef := make(map[job.Ref]*simJob, len(subs))
	for i, s := range subs {
		j := &simJob{Run: Run{Submission: s}, ref: job.Ref{ID: s.ID}, team: teamIdx[s.Team]}
		jobs[i] = j
		byRef[j.ref] = j
	}
	nodes := make([]*simNode, len(o.Nodes))
	nodeIdx := map[string]int{}
	res := Result{Options: o}
	for i, ns := range o.Nodes {
		n := &simNode{spec: ns, used: map[string]bool{}}
		for g := range ns.GPUs {
			n.ids = append(n.ids, fmt.Sprintf("GPU-%d", g))
		}
		nodes[i] = n
		nodeIdx[ns.Name] = i
		res.Capacity += ns.GPUs
	}
	use := make([]usage, len(o.Teams))
	grace := o.Policy.Preemption.Grace
	if o.Policy.Weights == (sched.Weights{}) {
		grace = sched.DefaultPolicy().Preemption.Grace
	}

	// endRun ends j's current run at t: GPUs back, usage billed.
	endRun := func(j *simJob, t time.Time) {
		ran := t.Sub(j.start)
		secs := ran.Seconds() * float64(len(j.gpuIDs))
		j.GPUSeconds += secs
		use[j.team] = use[j.team].add(secs, t, o.HalfLife)
		n := nodes[j.node]
		for _, g := range j.gpuIDs {
			delete(n.used, g)
		}
		j.running, j.stopping, j.gpuIDs = false, false, nil
	}

	next := 0 // next submission
	tick := o.Start
	for t := o.Start; t.Before(end); {
		// Runs that end by t: work done, or a grace run out.
		for _, j := range jobs[:next] {
			if !j.running {
				continue
			}
			switch f := j.finishAt(); {
			case !f.After(t) && (!j.stopping || !f.After(j.stopAt)):
				endRun(j, f)
				j.End = f
			case j.stopping && !j.stopAt.After(t):
				ran := j.stopAt.Sub(j.start)
				saved := time.Duration(0)
				if j.Checkpoint > 0 {
					saved = ran.Truncate(j.Checkpoint)
				}
				j.LostSeconds += (ran - saved).Seconds() * float64(len(j.gpuIDs))
				j.done += saved
				endRun(j, j.stopAt)
				j.pending = true
				j.restarts++
			}
		}
		for next < len(jobs) && !jobs[next].Submit.After(t) {
			jobs[next].pending = true
			next++
		}

		snap := &sched.Snapshot{Now: t, Policy: o.Policy}
		for i, tm := range o.Teams {
			snap.Teams = append(snap.Teams, sched.Team{Name: tm.Name, Shares: tm.Shares, Calendar: tm.Calendar,
				PreferredRegion: tm.Region, Usage: use[i].at2(t, o.HalfLife)})
		}
		if o.BillRunning {
			for _, j := range jobs[:next] {
				if j.running {
					snap.Teams[j.team].Usage += t.Sub(j.start).Seconds() * float64(len(j.gpuIDs))
				}
			}
		}
		for _, n := range nodes {
			sn := sched.Node{Name: n.spec.Name, Pool: "main", GPUType: n.spec.GPUType, Region: n.spec.Region, Total: len(n.ids)}
			for _, g := range n.ids {
				if !n.used[g] {
					sn.Free = append(sn.Free, g)
				}
			}
			snap.Nodes = append(snap.Nodes, sn)
		}
		for _, j := range jobs[:next] {
			if !j.pending && !j.running {
				continue
			}
			sj := sched.Job{Ref: j.ref, State: gpuqv1.JobState_JOB_STATE_PENDING, Name: j.Class, User: j.Team,
				Team: j.Team, GPUType: "a100", GPUs: j.GPUs, SubmitTime: j.Submit, TimeLimit: j.TimeLimit,
				Restarts: j.restarts}
			if j.running {
				sj.State = gpuqv1.JobState_JOB_STATE_RUNNING
				sj.StartTime, sj.Node, sj.GPUIDs = j.start, nodes[j.node].spec.Name, j.gpuIDs
				sj.Stopping, sj.StoppingFor = j.stopping, j.stopFor
				for _, p := range j.preemptsAt {
					if t.Sub(p) < 24*time.Hour {
						sj.Preemptions24h++
					}
				}
			}
			snap.Jobs = append(snap.Jobs, sj)
		}
		plan := sched.Decide(snap)
		res.Cycles++

		for _, c := range plan.Cancels {
			if j := byRef[c.Job]; j != nil && j.pending {
				j.pending = false
			} else {
				res.Rejected++
			}
		}
		for _, p := range plan.Preemptions {
			j := byRef[p.Victim]
			if j == nil || !j.running || j.stopping {
				res.Rejected++
				continue
			}
			j.stopping, j.stopFor, j.stopAt = true, p.For, t.Add(grace)
			j.preemptsAt = append(j.preemptsAt, t)
			j.Preempted++
		}
		for _, s := range plan.Starts {
			j := byRef[s.Job]
			ni, ok := nodeIdx[s.Node]
			if j == nil || !j.pending || !ok || len(s.GPUs) != j.GPUs {
				res.Rejected++
				continue
			}
			n := nodes[ni]
			if slices.ContainsFunc(s.GPUs, func(g string) bool { return n.used[g] || !slices.Contains(n.ids, g) }) {
				res.Rejected++
				continue
			}
			for _, g := range s.GPUs {
				n.used[g] = true
			}
			j.pending, j.running = false, true
			j.node, j.gpuIDs, j.start = ni, slices.Clone(s.GPUs), t
			if j.FirstStart.IsZero() {
				j.FirstStart = t
			}
		}

		// The next cycle: the next tick, or an earlier end of a run.
		for !tick.After(t) {
			tick = tick.Add(o.Tick)
		}
		nt := tick
		busy, waiting := 0, 0
		for _, j := range jobs[:next] {
			switch {
			case j.running:
				busy += len(j.gpuIDs)
				if f := j.finishAt(); f.Before(nt) {
					nt = f
				}
				if j.stopping && j.stopAt.Before(nt) {
					nt = j.stopAt
				}
			case j.pending:
				waiting++
			}
		}
		if nt.After(end) {
			nt = end
		}
		res.Samples = append(res.Samples, Sample{From: t, To: nt, Busy: busy, Waiting: waiting})
		t = nt
	}
	// Close the runs still going at the end; their GPU-seconds so far count.
	for _, j := range jobs {
		if j.running {
			j.GPUSeconds += end.Sub(j.start).Seconds() * float64(len(j.gpuIDs))
		}
		res.Jobs = append(res.Jobs, j.Run)
	}
	return res
}
