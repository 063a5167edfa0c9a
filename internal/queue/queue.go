package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/sched"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Clock tells the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure a Queue.
type Options struct {
	Store  *store.Store
	Rules  Rules
	Clock  Clock
	Logger *slog.Logger
	// MaxBatch bounds the submissions committed in one transaction.
	MaxBatch int
	// MaxBatchBytes bounds the estimated size of one submission transaction;
	// badger refuses transactions over 15% of its memtable. A single larger
	// submission is committed alone.
	MaxBatchBytes int
	// CycleInterval is the longest time between two scheduling cycles.
	CycleInterval time.Duration
	// MinCycleGap is the shortest rest between two cycles triggered by
	// changes (default 10ms); the rest is at least four times the last
	// cycle's duration.
	MinCycleGap time.Duration
	// HeartbeatInterval is how often nodes say they are alive.
	HeartbeatInterval time.Duration
	// NodeDownAfter without a heartbeat makes a node DOWN and fails over its jobs.
	NodeDownAfter time.Duration
	// Teams are the scheduler's teams (shares, calendar, preferred region);
	// their usage is filled in at each cycle.
	Teams []sched.Team
	// Policy is the scheduler's policy; the zero value is sched.DefaultPolicy().
	Policy sched.Policy
	// UsageHalfLife decays billed usage for fair share (default 7 days).
	UsageHalfLife time.Duration
	// GracePeriod is the time between the warning signal and SIGKILL when a
	// job is preempted or reaches its time limit; KillWait the same for cancel.
	GracePeriod, KillWait time.Duration
	// Budget watches the teams' budgets (internal/budget); nil for none.
	Budget Budget
	// MinJobAge is how long an ended job stays in the queue (listed by
	// gpuqctl queue --state, shown by show job) before Purge drops it;
	// its accounting records stay. 0 keeps ended jobs for good.
	MinJobAge time.Duration
}

// Budget is what the queue needs of gpuqd's budget watcher.
type Budget interface {
	// OverBudget reports whether a team's new jobs are to be held with
	// reason Budget.
	OverBudget(team string) bool
	// Recorded is handed the accounting records of runs once they are
	// committed, with the writers' lock held: it must not call the queue.
	Recorded(recs []*gpuqv1.RunRecord)
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.CycleInterval <= 0 {
		o.CycleInterval = 10 * time.Second
	}
	if o.MinCycleGap <= 0 {
		o.MinCycleGap = 10 * time.Millisecond
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	if o.NodeDownAfter <= 0 {
		o.NodeDownAfter = 60 * time.Second
	}
	if o.UsageHalfLife <= 0 {
		o.UsageHalfLife = 7 * 24 * time.Hour
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = 300 * time.Second
	}
	if o.KillWait <= 0 {
		o.KillWait = 30 * time.Second
	}
	if o.Rules.MaxArrayTasks <= 0 {
		o.Rules.MaxArrayTasks = 10_000
	}
}

// Queue is the job queue. Create it with New and run its loops with Run.
type Queue struct {
	opts  Options
	store *store.Store
	log   *slog.Logger

	// writeMu serialises writers (store first, then memory).
	writeMu sync.Mutex
	// mu guards the fields below for readers; writers take it only to apply.
	mu    sync.RWMutex
	jobs  map[job.Ref]*gpuqv1.Job
	tasks map[uint64][]job.Ref // refs of each job id, in task order
	order []job.Ref            // every ref, ascending
	// live holds the refs of the jobs that have not ended, ascending, and
	// of some that have ended since (liveEnded of them), dropped once they
	// are half of it: a cycle reads these rather than every job gpuqd
	// holds, ended ones included. liveUnsorted says a ref came back or
	// came late (a record that left an ended state), sorted at the drop.
	live         []job.Ref
	liveEnded    int
	liveUnsorted bool
	requests     map[string]uint64
	nextID       uint64
	nodes        map[string]*node
	allocs       map[string]job.Ref // allocation id -> job, for RUNNING and COMPLETING jobs
	// Pending jobs and array tasks per user ("team/user") and per team,
	// for the limits in Rules.
	pendingUser, pendingTeam map[string]int
	usage                    map[string]*gpuqv1.DecayedUsage
	// stopping maps a preempted job in its grace to the job it makes room for.
	stopping map[job.Ref]job.Ref
	// preemptions remembers when each job was preempted, for the daily cap.
	preemptions map[job.Ref][]time.Time
	// sharedGPUs and sharedLimits hold one message per distinct GPU
	// request and time limit, which the specs of the jobs in memory share
	// (see share).
	sharedGPUs    map[gpuRequest]*gpuqv1.GPURequest
	sharedLimits  map[timeLimit]*durationpb.Duration
	sharedStrings map[string]string

	submits chan *submitReq
	kick    chan struct{}
}

// New loads the queue from its store.
func New(opts Options) (*Queue, error) {
	opts.defaults()
	if opts.Store == nil {
		return nil, errors.New("queue: no store")
	}
	snap, err := opts.Store.Load()
	if err != nil {
		return nil, err
	}
	q := &Queue{
		opts:        opts,
		store:       opts.Store,
		log:         opts.Logger,
		jobs:        make(map[job.Ref]*gpuqv1.Job, len(snap.Jobs)),
		tasks:       make(map[uint64][]job.Ref, len(snap.Specs)),
		order:       make([]job.Ref, 0, len(snap.Jobs)),
		requests:    snap.Requests,
		nextID:      snap.NextID,
		nodes:       map[string]*node{},
		allocs:      map[string]job.Ref{},
		pendingUser: map[string]int{},
		pendingTeam: map[string]int{},
		usage:       snap.Usage,
		stopping:    map[job.Ref]job.Ref{},
		preemptions: map[job.Ref][]time.Time{},
		submits:     make(chan *submitReq, 4*opts.MaxBatch),
		kick:        make(chan struct{}, 1),
	}
	now := q.now()
	for _, j := range snap.Jobs {
		q.insert(j)
		if active(j) {
			q.allocs[j.AllocationId] = job.RefOf(j)
			// A node that ran jobs before a restart of gpuqd has
			// node_down_after to register again, or its jobs fail over.
			if _, ok := q.nodes[j.Node]; !ok {
				q.nodes[j.Node] = &node{info: &gpuqv1.NodeInfo{Name: j.Node}, state: NodeUp, reason: "not registered since gpuqd started", lastSeen: now}
			}
		}
		if j.Id >= q.nextID {
			q.nextID = j.Id + 1
		}
	}
	return q, nil
}

// insert adds a new job to the index; the caller holds mu or is New.
func (q *Queue) insert(j *gpuqv1.Job) {
	q.share(j, true)
	r := job.RefOf(j)
	q.jobs[r] = j
	q.tasks[r.ID] = append(q.tasks[r.ID], r)
	q.order = append(q.order, r)
	if !job.Ended(j.State) {
		q.live = append(q.live, r)
	}
	q.countPending(nil, j)
}

// trackLive keeps live right when a job's record goes from old (nil for
// none) to j; the caller holds mu.
func (q *Queue) trackLive(old, j *gpuqv1.Job) {
	was, is := old != nil && !job.Ended(old.State), !job.Ended(j.State)
	switch {
	case was && !is:
		q.liveEnded++
	case !was && is:
		q.live = append(q.live, job.RefOf(j))
		q.liveUnsorted = true
	}
	if q.liveEnded > len(q.live)/2 || q.liveUnsorted {
		q.dropEnded()
	}
}

// dropEnded drops the refs of ended and purged jobs from live (and any ref
// twice), sorted; the caller holds mu.
func (q *Queue) dropEnded() {
	if q.liveUnsorted {
		slices.SortFunc(q.live, job.Ref.Compare)
		q.live = slices.Compact(q.live)
	}
	q.live = slices.DeleteFunc(q.live, func(r job.Ref) bool {
		j := q.jobs[r]
		return j == nil || job.Ended(j.State) // nil: purged
	})
	q.liveEnded, q.liveUnsorted = 0, false
}

// countPending keeps the pending counts right when a job's record goes from
// old to j (old nil for a new job); the caller holds mu.
func (q *Queue) countPending(old, j *gpuqv1.Job) {
	if old != nil && old.State == gpuqv1.JobState_JOB_STATE_PENDING {
		q.pendingUser[userKey(old.Spec)]--
		q.pendingTeam[old.Spec.GetTeam()]--
	}
	if j.State == gpuqv1.JobState_JOB_STATE_PENDING {
		q.pendingUser[userKey(j.Spec)]++
		q.pendingTeam[j.Spec.GetTeam()]++
	}
}

func userKey(s *gpuqv1.JobSpec) string { return s.GetTeam() + "/" + s.GetUser() }

// Len is the number of jobs and array tasks in memory.
func (q *Queue) Len() int {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return len(q.order)
}

// Run commits submissions and runs the scheduling loop until ctx ends.
func (q *Queue) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { q.commitLoop(ctx) })
	wg.Go(func() { q.scheduleLoop(ctx) })
	wg.Wait()
	return nil
}

// Kick asks for a scheduling cycle soon.
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// write runs one serialised change: fn reads the current state (it may, as
// the only writer) and stages store writes; apply then runs under the memory
// lock, only when the store committed.
func (q *Queue) write(fn func(tx *store.Tx) (apply func(), err error)) error {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	var apply func()
	err := q.store.Update(func(tx *store.Tx) error {
		var err error
		apply, err = fn(tx)
		return err
	})
	if err != nil {
		return err
	}
	if apply != nil {
		q.mu.Lock()
		apply()
		q.mu.Unlock()
	}
	return nil
}

// maxTxnRecords bounds the job records changed in one transaction; larger
// changes (cancelling 100,000 jobs) are committed in several, each atomic.
const maxTxnRecords = 5000

// commitRecords stores changed job records, in transactions of at most
// maxTxnRecords, and swaps each part into memory once it has committed. Every
// record is a new value (copy on write). A change that ends a run writes the
// run's accounting record and adds its billed usage in the same transaction.
// The caller holds writeMu.
func (q *Queue) commitRecords(recs []*gpuqv1.Job) error {
	now := q.now()
	for len(recs) > 0 {
		part := recs[:min(len(recs), maxTxnRecords)]
		recs = recs[len(part):]
		usage := map[string]*gpuqv1.DecayedUsage{}
		var written []*gpuqv1.RunRecord
		err := q.store.Update(func(tx *store.Tx) error {
			clear(usage)
			written = written[:0]
			for _, r := range part {
				if err := tx.PutJob(r); err != nil {
					return err
				}
				rec := q.endedRun(q.jobs[job.RefOf(r)], r, now)
				if rec == nil {
					continue
				}
				if err := tx.PutRecord(rec); err != nil {
					return err
				}
				written = append(written, rec)
				if rec.BilledGpuSeconds <= 0 {
					continue
				}
				for _, key := range []string{rec.Team, rec.Team + "/" + rec.User} {
					cur, ok := usage[key]
					if !ok {
						cur = q.usage[key]
					}
					usage[key] = addUsage(cur, rec.BilledGpuSeconds, rec.EndTime.AsTime(), q.opts.UsageHalfLife)
				}
			}
			for key, u := range usage {
				if err := tx.PutUsage(key, u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		q.mu.Lock()
		for _, r := range part {
			ref := job.RefOf(r)
			old := q.jobs[ref]
			if old != nil && old.AllocationId != "" {
				delete(q.allocs, old.AllocationId)
			}
			if old != nil {
				q.countPending(old, r)
			}
			// A changed record is a deep clone (see withReason): share its
			// values again, but never change a spec a held record still has.
			q.share(r, old == nil || r.Spec != old.Spec)
			q.jobs[ref] = r
			q.trackLive(old, r)
			if active(r) {
				q.allocs[r.AllocationId] = ref
			} else {
				delete(q.stopping, ref)
			}
		}
		for key, u := range usage {
			q.usage[key] = u
		}
		q.mu.Unlock()
		if q.opts.Budget != nil && len(written) > 0 {
			q.opts.Budget.Recorded(written)
		}
	}
	return nil
}

// Paused runs fn while no writer runs: no job changes, and no accounting
// record is written, while it runs. fn must not change the queue.
func (q *Queue) Paused(fn func() error) error {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	return fn()
}

// active reports whether a record holds an allocation on a node.
func active(j *gpuqv1.Job) bool {
	return j.AllocationId != "" && (j.State == gpuqv1.JobState_JOB_STATE_RUNNING || j.State == gpuqv1.JobState_JOB_STATE_COMPLETING)
}

func (q *Queue) now() time.Time { return q.opts.Clock.Now().UTC() }

func errJob(r job.Ref, err error) error { return fmt.Errorf("job %s: %w", r, err) }
