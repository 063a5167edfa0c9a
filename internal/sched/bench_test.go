package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// benchSnapshot is a busy pool: nodes of 8 GPUs in three regions, about
// half of their GPUs held by running jobs of three teams, and pending jobs
// of 1, 2, 4 and 8 GPUs (some held, some with dependencies), at a time when
// San Francisco is in its working day and Berlin and Tokyo are not, so that
// preemption has work to do.
func benchSnapshot(tb testing.TB, nodes, pending int) *Snapshot {
	r := rand.New(rand.NewPCG(1, uint64(pending)))
	s := &Snapshot{Now: time.Date(2026, 3, 4, 17, 30, 0, 0, time.UTC)}
	for i, tz := range teamZones {
		cal, err := calendar.New(calendar.Spec{Zone: zone(tb, tz.zone), Start: 9 * time.Hour, End: 18 * time.Hour,
			Days: [7]bool{false, true, true, true, true, true, false}})
		if err != nil {
			tb.Fatal(err)
		}
		users := map[string]float64{}
		for u := range 20 {
			users[fmt.Sprintf("%s-%02d", tz.name, u)] = float64(r.IntN(1e6))
		}
		s.Teams = append(s.Teams, Team{Name: tz.name, Shares: float64(1 + i), Calendar: cal, PreferredRegion: tz.region,
			Usage: float64(1e6 * (i + 1)), Users: users})
	}
	id := uint64(1)
	newJob := func() Job {
		tz := teamZones[r.IntN(3)]
		j := Job{Ref: job.Ref{ID: id}, State: gpuqv1.JobState_JOB_STATE_PENDING, Team: tz.name,
			User: fmt.Sprintf("%s-%02d", tz.name, r.IntN(20)), GPUType: "a100",
			GPUs: []int{1, 1, 1, 1, 2, 2, 4, 8}[r.IntN(8)], SubmitTime: s.Now.Add(-time.Duration(r.IntN(3*24*60)) * time.Minute)}
		if r.IntN(3) > 0 {
			j.TimeLimit = time.Duration(1+r.IntN(24)) * 30 * time.Minute
		}
		id++
		return j
	}
	for i := range nodes {
		pl := pools[i%2] // the two a100 pools
		n := Node{Name: fmt.Sprintf("gpu-%04d", i), Pool: pl.name, GPUType: "a100", Region: pl.region, Total: 8}
		ids := make([]string, 8)
		for k := range ids {
			ids[k] = fmt.Sprintf("%s-g%d", n.Name, k)
		}
		busy := 0
		for busy < 4 {
			j := newJob()
			j.GPUs = min(j.GPUs, 4, 8-busy)
			j.State, j.Node, j.Pool = gpuqv1.JobState_JOB_STATE_RUNNING, n.Name, n.Pool
			j.GPUIDs = ids[busy : busy+j.GPUs]
			if j.TimeLimit == 0 {
				j.TimeLimit = 12 * time.Hour
			}
			// Within its time limit, as the queue enforces it.
			j.StartTime = s.Now.Add(-time.Duration(r.Int64N(int64(j.TimeLimit))))
			busy += j.GPUs
			s.Jobs = append(s.Jobs, j)
		}
		n.Free = ids[busy:]
		s.Nodes = append(s.Nodes, n)
	}
	first := id
	for range pending {
		j := newJob()
		switch r.IntN(100) {
		case 0:
			j.Held = true
		case 1:
			j.Deps = []Dep{{Type: gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK, Job: job.Ref{ID: first + uint64(r.IntN(pending))}}}
		}
		s.Jobs = append(s.Jobs, j)
	}
	return s
}

// BenchmarkDecide times a full decision (priorities, placement, backfill,
// preemption search) for 1,000, 10,000 and 100,000 pending jobs on 1,000
// nodes of 8 GPUs, half busy: the scaling curve is one line per size.
func BenchmarkDecide(b *testing.B) {
	for _, pending := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			s := benchSnapshot(b, 1000, pending)
			var p Plan
			n := 0
			start := time.Now()
			for b.Loop() {
				p = Decide(s)
				n++
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(n), "ms/decision")
			b.ReportMetric(float64(len(p.Starts)), "starts")
			b.ReportMetric(float64(len(p.Preemptions)), "preemptions")
			b.ReportMetric(float64(len(p.Reservations)), "reservations")
		})
	}
}

// TestBenchSnapshot keeps the benchmark's snapshot honest: it passes the
// invariants, and its decision does start, preempt and reserve.
func TestBenchSnapshot(t *testing.T) {
	s := benchSnapshot(t, 200, 3000)
	p := Decide(s)
	checkInvariants(t, s, p)
	if len(p.Starts) == 0 || len(p.Preemptions) == 0 || len(p.Reservations) == 0 {
		t.Errorf("starts %d, preemptions %d, reservations %d: want some of each", len(p.Starts), len(p.Preemptions), len(p.Reservations))
	}
}
