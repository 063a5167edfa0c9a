package sched

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/job"
)

// TestDefaultPolicyInHoursFirst proves DefaultPolicy's rule: every job of
// time-zone factor 1 (its team is inside its working hours and it was
// submitted inside them, today or on an earlier working day) outranks every
// job of factor 0 (its team is outside its working hours, or it was
// submitted outside them), whatever their other factors and nice.
func TestDefaultPolicyInHoursFirst(t *testing.T) {
	w := DefaultPolicy().Weights
	// The lowest in-hours priority against the highest off-hours one.
	if low, high := w.TimeZone-MaxNice, w.FairShare+w.Age+w.JobSize+w.QOS+MaxNice; low <= high {
		t.Fatalf("in-hours jobs reach down to %v, off-hours up to %v", low, high)
	}
	// The same through Decide, at the extremes of every other factor. SF
	// is at work (09:30 PST), Tokyo is not (02:30 JST).
	sc, err := parseScenario(`
now 2026-03-04T17:30:00Z
team sf    zone=America/Los_Angeles shares=1 usage=1000000000
team tokyo zone=Asia/Tokyo          shares=1000 usage=0
node a1 pool=p type=a100 gpus=8
job 1 team=sf gpus=1 qos=low nice=10000 submit=-0s
job 2 team=tokyo gpus=8 qos=high nice=-10000 submit=-720h
job 3 team=sf gpus=8 qos=high nice=-10000 submit=-12h
job 4 team=sf gpus=1 qos=low nice=10000 submit=-24h
`)
	if err != nil {
		t.Fatal(err)
	}
	p := Decide(&sc.snap)
	f1, f2 := p.Factors[ref(t, "1")], p.Factors[ref(t, "2")]
	if f1.Priority <= f2.Priority {
		t.Errorf("in-hours %+v\nbelow off-hours %+v", f1, f2)
	}
	if f2.FairShare != 1 || f2.Age != 1 || f2.JobSize != 1 || f2.QOS != 1 || f1.QOS != 0 || f1.TimeZone != 1 || f2.TimeZone != 0 {
		t.Errorf("factors not at their extremes: %+v %+v", f1, f2)
	}
	// Job 3 was submitted at 21:30 PST yesterday, outside SF's hours: no
	// boost, though SF is at work now. Job 4, submitted at 09:30 PST
	// yesterday, keeps it.
	f3, f4 := p.Factors[ref(t, "3")], p.Factors[ref(t, "4")]
	if f3.TimeZone != 0 || f4.TimeZone != 1 {
		t.Errorf("time-zone factors of jobs submitted off and in hours: %v and %v, want 0 and 1", f3.TimeZone, f4.TimeZone)
	}
	if f4.Priority <= f3.Priority {
		t.Errorf("submitted in hours %+v\nbelow submitted off hours %+v", f4, f3)
	}
}

func TestFairShare(t *testing.T) {
	tests := []struct {
		u, s, want float64
	}{
		{0, 0.5, 1},
		{0.5, 0.5, 0.5},
		{1, 0.5, 0.25},
		{0.25, 0.5, math.Sqrt2 / 2},
		{0.5, 0, 0}, // no shares
		{0, 0, 0},
		{math.NaN(), 0.5, 1},
	}
	for _, tt := range tests {
		if got := fairShare(tt.u, tt.s); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("fairShare(%v, %v) = %v, want %v", tt.u, tt.s, got, tt.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	p.Weights.Age = -1
	p.Weights.QOS = math.NaN()
	p.QOS = map[string]float64{"high": 2, "normal": 0.5}
	p.ReserveTop = -1
	p.PoolTimeLimit = map[string]time.Duration{"us-a100": -time.Hour}
	p.Preemption.MinRuntime = -time.Minute
	err := p.Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *PolicyError
		if !errors.As(e, &pe) || !errors.Is(e, ErrOutOfRange) {
			t.Errorf("%v is not a *PolicyError wrapping ErrOutOfRange", e)
			continue
		}
		fields = append(fields, pe.Field)
	}
	want := []string{"Weights.Age", "Weights.QOS", "Preemption.MinRuntime", "PoolTimeLimit[us-a100]", "QOS[high]", "ReserveTop"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestZeroPolicyIsDefault(t *testing.T) {
	sc, err := parseScenario(`
now 2026-03-04T17:30:00Z
team sf    zone=America/Los_Angeles usage=10
team tokyo zone=Asia/Tokyo usage=20
node a1 pool=p type=a100 gpus=8
job 1 team=tokyo state=running node=a1 gpus=6 start=-2h
job 2 team=sf gpus=4
job 3 team=tokyo gpus=2
`)
	if err != nil {
		t.Fatal(err)
	}
	zero := Decide(&sc.snap)
	sc.snap.Policy = DefaultPolicy()
	if diff := cmp.Diff(Decide(&sc.snap), zero); diff != "" {
		t.Errorf("zero policy (-default +zero):\n%s", diff)
	}
}

func ref(t *testing.T, s string) job.Ref {
	t.Helper()
	sc, err := parseScenario("now 2026-01-01T00:00:00Z\njob " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	return sc.snap.Jobs[0].Ref
}

// TestPolicies runs small scenarios under policies other than the default.
func TestPolicies(t *testing.T) {
	// SF is in hours (10:30 PST, so jobs submitted an hour ago, by
	// default, were submitted in hours too), Tokyo not. c1 frees 4 GPUs at
	// +1h.
	const base = `
now 2026-03-04T18:30:00Z
team sf    zone=America/Los_Angeles region=us-west1
team tokyo zone=Asia/Tokyo
node c1 pool=p type=a100 gpus=8
`
	tests := []struct {
		name, scenario string
	}{{
		name: "backfill off: a node with a reservation takes no other job",
		scenario: `policy backfill=off preempt=off
job 1 team=tokyo state=running node=c1 gpus=4 start=-1h limit=2h
job 2 team=tokyo state=running node=c1 gpus=1 start=-1h limit=5h
job 40 team=tokyo gpus=5 limit=2h submit=-4h
job 43 team=tokyo gpus=1 limit=30m submit=-1h
check reserve 40 c1
check reason 43 Priority
`,
	}, {
		name: "two reservations",
		scenario: `policy reserve=2 preempt=off
job 1 team=tokyo state=running node=c1 gpus=4 start=-1h limit=2h
job 2 team=tokyo state=running node=c1 gpus=4 start=-1h limit=5h
job 40 team=tokyo gpus=6 limit=2h submit=-4h
job 41 team=tokyo gpus=4 limit=2h submit=-3h
job 42 team=tokyo gpus=4 limit=2h submit=-2h
check reserve 40 c1
check reserve 41 c1
check reason 41 Resources
check reason 42 Priority
`,
	}, {
		name: "a pool's default time limit decides backfill",
		scenario: `policy preempt=off pool-time-limit=p:30m
job 1 team=tokyo state=running node=c1 gpus=4 start=-1h limit=2h
job 2 team=tokyo state=running node=c1 gpus=1 start=-1h limit=5h
job 40 team=tokyo gpus=5 limit=2h submit=-4h
job 41 team=tokyo gpus=3 submit=-3h
check reserve 40 c1
check start 41 c1
`,
	}, {
		name: "preemption off",
		scenario: `policy preempt=off
job 1 team=tokyo state=running node=c1 gpus=8 start=-2h limit=8h
job 10 team=sf gpus=2
check no-preempt
check reason 10 Resources
`,
	}, {
		name: "off-hours rule off, preemptible QOS on",
		scenario: `policy off-hours=off preemptible-qos=low
job 1 team=tokyo state=running node=c1 gpus=4 start=-2h limit=8h
job 2 team=tokyo state=running node=c1 gpus=4 start=-2h limit=8h qos=low
job 10 team=sf gpus=2
check preempt 2 for 10
check spared 1
`,
	}, {
		name: "a preemptible team is preempted in its working hours too",
		scenario: `policy preemptible-teams=sf
job 1 team=sf state=running node=c1 gpus=8 start=-2h limit=8h nice=5000
job 10 team=sf gpus=2
check preempt 1 for 10
`,
	}, {
		name: "never a victim of equal or higher priority",
		scenario: `policy preemptible-teams=sf
job 1 team=sf state=running node=c1 gpus=8 start=-1h20m limit=8h submit=-1h20m
job 10 team=sf gpus=2 submit=-1h
check no-preempt
`,
	}, {
		name: "a job submitted outside its team's working hours does not preempt",
		scenario: `
job 1 team=tokyo state=running node=c1 gpus=8 start=-2h limit=8h nice=5000
job 10 team=sf gpus=2 submit=-3h nice=-5000
check no-preempt
check reason 10 Resources
`,
	}, {
		name: "a preemptor QOS preempts off hours",
		scenario: `policy preemptor-qos=high
job 1 team=tokyo state=running node=c1 gpus=8 start=-2h limit=8h
job 10 team=tokyo gpus=2 qos=high
job 11 team=tokyo gpus=2
check preempt 1 for 10
check reason 10 Preempting
check reason 11 Resources
`,
	}, {
		name: "the daily cap",
		scenario: `policy max-per-day=2
job 1 team=tokyo state=running node=c1 gpus=4 start=-2h limit=8h preemptions=2
job 2 team=tokyo state=running node=c1 gpus=4 start=-2h limit=8h preemptions=1
job 10 team=sf gpus=4
check preempt 2 for 10
check spared 1
`,
	}, {
		name: "no cap",
		scenario: `policy max-per-day=0
job 1 team=tokyo state=running node=c1 gpus=8 start=-2h limit=8h preemptions=9
job 10 team=sf gpus=4
check preempt 1 for 10
`,
	}, {
		name: "fewest victims beat cheaper ones",
		scenario: `
job 1 team=tokyo state=running node=c1 gpus=1 start=-20m limit=8h
job 2 team=tokyo state=running node=c1 gpus=1 start=-20m limit=8h
job 3 team=tokyo state=running node=c1 gpus=2 start=-7h limit=8h
job 4 team=tokyo state=running node=c1 gpus=4 start=-7h limit=8h
job 10 team=sf gpus=2
check preempt 3 for 10
check spared 1
check spared 2
`,
	}, {
		name: "among as few, the least progress lost",
		scenario: `
job 1 team=tokyo state=running node=c1 gpus=2 start=-3h limit=8h
job 2 team=tokyo state=running node=c1 gpus=2 start=-20m limit=8h
job 3 team=tokyo state=running node=c1 gpus=4 start=-7h limit=8h
job 10 team=sf gpus=2
check preempt 2 for 10
check spared 1
`,
	}, {
		name: "no preemption when a completing job makes room within the grace",
		scenario: `
job 1 team=tokyo state=completing node=c1 gpus=2 start=-2h limit=8h
job 2 team=tokyo state=running node=c1 gpus=6 start=-2h limit=8h
job 10 team=sf gpus=2
job 11 team=sf gpus=2
check reserve 10 c1
check reason 10 Resources
check preempt 2 for 11
`,
	}, {
		name: "a victim due to end within the grace is left to end",
		scenario: `
job 1 team=tokyo state=running node=c1 gpus=8 start=-1h57m limit=2h
job 10 team=sf gpus=2
check no-preempt
check reserve 10 c1
`,
	}, {
		name: "a job without working hours is never in hours",
		scenario: `
team nozone shares=1
job 1 team=nozone state=running node=c1 gpus=8 start=-2h limit=8h
job 10 team=sf gpus=2
job 11 team=nozone gpus=1
check preempt 1 for 10
check above 10 11
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := parseScenario(base + tt.scenario)
			if err != nil {
				t.Fatal(err)
			}
			p := Decide(&sc.snap)
			runChecks(t, sc, p)
			checkInvariants(t, &sc.snap, p)
		})
	}
}
