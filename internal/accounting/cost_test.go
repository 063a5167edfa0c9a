package accounting

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// pricing is the example config's teams and pools, with a fourth team that
// has no hourly rate and pays the pools' prices.
func pricing(t testing.TB) Pricing {
	return Pricing{
		Teams: []TeamPricing{
			{Name: "sf", HourlyRate: amount(t, "3.50"), MonthlyBudget: amount(t, "1000"), Shares: 1, Location: zone(t, "America/Los_Angeles")},
			{Name: "berlin", HourlyRate: amount(t, "3.20"), MonthlyBudget: amount(t, "100"), Shares: 1, Location: zone(t, "Europe/Berlin")},
			{Name: "tokyo", HourlyRate: amount(t, "3.80"), MonthlyBudget: amount(t, "20000"), Shares: 2, Location: zone(t, "Asia/Tokyo")},
			{Name: "ops", Shares: 1},
		},
		Pools: []PoolPricing{
			{Name: "a100-us-west1", GPUType: "a100", Region: "us-west1", PricePerGPUHour: amount(t, "2.90"), BillingWeight: 1},
			{Name: "a100-europe-west3", GPUType: "a100", Region: "europe-west3", PricePerGPUHour: amount(t, "2.90"), BillingWeight: 1},
			{Name: "a800-us-east1", GPUType: "a800", Region: "us-east1", PricePerGPUHour: amount(t, "2.40"), BillingWeight: 0.5},
		},
	}
}

// requeued is one job that ran three times: preempted, node failure,
// completed.
func requeued(t testing.TB) []*gpuqv1.RunRecord {
	runs := []*gpuqv1.RunRecord{
		rec(t, 201, "berlin", "a100-europe-west3", "a100", 2, "2026-11-03T08:00:00Z", "2026-11-03T13:00:00Z"),
		rec(t, 201, "berlin", "a100-europe-west3", "a100", 2, "2026-11-03T14:00:00Z", "2026-11-03T15:30:00Z"),
		rec(t, 201, "berlin", "a100-europe-west3", "a100", 2, "2026-11-04T00:00:00Z", "2026-11-04T10:00:00Z"),
	}
	states := []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PREEMPTED, gpuqv1.JobState_JOB_STATE_NODE_FAIL, gpuqv1.JobState_JOB_STATE_COMPLETED}
	for i, r := range runs {
		r.Run, r.State = uint32(i), states[i]
	}
	return runs
}

// known is usage with round numbers, all inside November 2026 in UTC.
func known(t testing.TB) []*gpuqv1.RunRecord {
	out := []*gpuqv1.RunRecord{
		rec(t, 101, "sf", "a100-us-west1", "a100", 4, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),    // 40 GPU-h
		rec(t, 102, "sf", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T01:30:00Z"),    // 1.5
		rec(t, 301, "tokyo", "a800-us-east1", "a800", 8, "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z"), // 192
		rec(t, 401, "ops", "a800-us-east1", "a800", 1, "2026-11-07T00:00:00Z", "2026-11-07T10:00:00Z"),   // 10 at 2.40
		rec(t, 402, "ops", "a100-us-west1", "a100", 3, "2026-11-07T00:00:00Z", "2026-11-07T00:20:00Z"),   // 1 at 2.90
		rec(t, 203, "berlin", "", "a100", 0, "", "2026-11-08T00:00:00Z"),                                 // cancelled while pending
	}
	return append(out, requeued(t)...) // 33 GPU-h
}

func tally(r Range, recs []*gpuqv1.RunRecord) *Tally {
	tl := NewTally(r)
	for _, x := range recs {
		tl.Add(x)
	}
	return tl
}

func utcMonth(t testing.TB, s string) Range {
	m, err := ParseMonth(s)
	if err != nil {
		t.Fatal(err)
	}
	return m.Range(time.UTC)
}

type costRow struct {
	Team              string
	Hours             string
	Usage, Idle, Cost string
	ShareBP           int64
}

func rowsOf(rep Report) []costRow {
	var out []costRow
	for _, r := range append(rep.Teams, rep.Total) {
		out = append(out, costRow{r.Team, r.Time.String(), r.Usage.String(), r.Idle.String(), r.Cost.String(), r.ShareBP})
	}
	return out
}

// TestChargebackKnownUsage: each team's cost is the sum of its durations
// times its rate, or the pool's price without one.
func TestChargebackKnownUsage(t *testing.T) {
	rep := Chargeback(tally(utcMonth(t, "2026-11"), known(t)), pricing(t))
	want := []costRow{
		{"sf", "41.50", "145.25", "0.00", "145.25", 1442},        // 41.5 h x 3.50
		{"berlin", "33.00", "105.60", "0.00", "105.60", 1048},    // (5 + 1.5 + 10) h x 2 GPUs x 3.20
		{"tokyo", "192.00", "729.60", "0.00", "729.60", 7243},    // 192 h x 3.80
		{"ops", "11.00", "26.90", "0.00", "26.90", 267},          // 10 h x 2.40 + 1 h x 2.90
		{"TOTAL", "277.50", "1007.35", "0.00", "1007.35", 10000}, // the sum of the rows
	}
	if diff := cmp.Diff(want, rowsOf(rep)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %q", rep.Warnings)
	}
}

// TestChargebackExact checks random usage against an independent exact
// computation: sum of clipped durations times GPUs times rate, rounded once.
func TestChargebackExact(t *testing.T) {
	p := pricing(t)
	rng := rand.New(rand.NewPCG(1, 2))
	period := utcMonth(t, "2026-11")
	for range 50 {
		var recs []*gpuqv1.RunRecord
		want := map[string]*big.Rat{}
		for range 1 + rng.IntN(200) {
			team := p.Teams[rng.IntN(len(p.Teams))]
			pool := p.Pools[rng.IntN(len(p.Pools))]
			start := period.Start.Add(time.Duration(rng.Int64N(int64(35*24*time.Hour))) - 48*time.Hour)
			end := start.Add(time.Duration(rng.Int64N(int64(3 * 24 * time.Hour))))
			n := uint32(1 + rng.IntN(8))
			r := rec(t, 1, team.Name, pool.Name, pool.GPUType, n, start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
			recs = append(recs, r)
			s, e := start, end
			if s.Before(period.Start) {
				s = period.Start
			}
			if e.After(period.End) {
				e = period.End
			}
			if e.Before(s) {
				continue
			}
			rate := team.HourlyRate
			if rate == 0 {
				rate = pool.PricePerGPUHour
			}
			num := new(big.Int).Mul(big.NewInt(int64(e.Sub(s))), big.NewInt(int64(n)))
			num.Mul(num, big.NewInt(int64(rate)))
			v := new(big.Rat).SetFrac(num, big.NewInt(int64(time.Hour)))
			if want[team.Name] == nil {
				want[team.Name] = new(big.Rat)
			}
			want[team.Name].Add(want[team.Name], v)
		}
		rep := Chargeback(tally(period, recs), p)
		var sum money.Amount
		for _, row := range rep.Teams {
			w := want[row.Team]
			if w == nil {
				w = new(big.Rat)
			}
			cents := new(big.Rat).Quo(w, big.NewRat(int64(money.Cent), 1))
			if got := new(big.Rat).SetInt64(int64(row.Cost / money.Cent)); new(big.Rat).Sub(got, cents).Abs(new(big.Rat).Sub(got, cents)).Cmp(big.NewRat(1, 2)) > 0 {
				t.Fatalf("team %s: cost %s, exact %s micro-units", row.Team, row.Cost, w.FloatString(3))
			}
			sum += row.Cost
		}
		if sum != rep.Total.Cost {
			t.Fatalf("rows add up to %s, total %s", sum, rep.Total.Cost)
		}
	}
}

func TestChargebackUnpriced(t *testing.T) {
	p := pricing(t)
	recs := []*gpuqv1.RunRecord{
		rec(t, 1, "ops", "gone-pool", "h100", 2, "2026-11-02T00:00:00Z", "2026-11-02T01:00:00Z"),         // no price anywhere
		rec(t, 2, "ops", "gone-pool", "a100", 1, "2026-11-02T00:00:00Z", "2026-11-02T01:00:00Z"),         // the a100 price
		rec(t, 3, "sf", "gone-pool", "h100", 1, "2026-11-02T00:00:00Z", "2026-11-02T01:00:00Z"),          // sf's rate
		rec(t, 4, "newteam", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T05:00:00Z"), // not in the config
	}
	rep := Chargeback(tally(utcMonth(t, "2026-11"), recs), p)
	want := []costRow{
		{"sf", "1.00", "3.50", "0.00", "3.50", 1902}, // sf's rate, whatever the pool
		{"berlin", "0.00", "0.00", "0.00", "0.00", 0},
		{"tokyo", "0.00", "0.00", "0.00", "0.00", 0},
		{"ops", "3.00", "2.90", "0.00", "2.90", 1576},       // the a100 price; the h100 hours uncharged
		{"newteam", "5.00", "12.00", "0.00", "12.00", 6522}, // not in the config: the pool's price
		{"TOTAL", "9.00", "18.40", "0.00", "18.40", 10000},
	}
	if diff := cmp.Diff(want, rowsOf(rep)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"team ops: 2.00 GPU-hours of h100 in pool gone-pool have no rate or price and are not charged"}, rep.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestSplitAwkwardBill divides 1000.00 among three teams with equal usage:
// the parts are 333.34, 333.33 and 333.33 and add up exactly.
func TestSplitAwkwardBill(t *testing.T) {
	p := pricing(t)
	p.Teams = p.Teams[:3]
	recs := []*gpuqv1.RunRecord{
		rec(t, 1, "sf", "a100-us-west1", "a100", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
		rec(t, 2, "berlin", "a100-us-west1", "a100", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
		rec(t, 3, "tokyo", "a100-us-west1", "a100", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
	}
	tests := []struct {
		bill string
		want []costRow
	}{
		{"1000.00", []costRow{ // worth 30 h x 2.90 = 87.00; idle 913.00
			{"sf", "10.00", "29.00", "304.34", "333.34", 3334},
			{"berlin", "10.00", "29.00", "304.33", "333.33", 3333},
			{"tokyo", "10.00", "29.00", "304.33", "333.33", 3333},
			{"TOTAL", "30.00", "87.00", "913.00", "1000.00", 10000},
		}},
		{"50.00", []costRow{ // less than the usage is worth: no idle cost
			{"sf", "10.00", "16.67", "0.00", "16.67", 3334},
			{"berlin", "10.00", "16.67", "0.00", "16.67", 3334},
			{"tokyo", "10.00", "16.66", "0.00", "16.66", 3332},
			{"TOTAL", "30.00", "50.00", "0.00", "50.00", 10000},
		}},
		{"0.01", []costRow{
			{"sf", "10.00", "0.01", "0.00", "0.01", 10000},
			{"berlin", "10.00", "0.00", "0.00", "0.00", 0},
			{"tokyo", "10.00", "0.00", "0.00", "0.00", 0},
			{"TOTAL", "30.00", "0.01", "0.00", "0.01", 10000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.bill, func(t *testing.T) {
			rep, err := Split(tally(utcMonth(t, "2026-11"), recs), p, map[string]money.Amount{"a100-us-west1": amount(t, tt.bill)}, IdleProportional)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rowsOf(rep)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitIdlePolicies(t *testing.T) {
	p := pricing(t)
	recs := []*gpuqv1.RunRecord{
		rec(t, 1, "sf", "a100-us-west1", "a100", 3, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),     // 30 h
		rec(t, 2, "berlin", "a100-us-west1", "a100", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"), // 10 h
	}
	// Worth 40 h x 2.90 = 116.00, split 3:1; idle 884.00.
	tests := []struct {
		policy IdlePolicy
		want   []costRow
	}{
		{IdleProportional, []costRow{
			{"sf", "30.00", "87.00", "663.00", "750.00", 7500},
			{"berlin", "10.00", "29.00", "221.00", "250.00", 2500},
			{"tokyo", "0.00", "0.00", "0.00", "0.00", 0},
			{"ops", "0.00", "0.00", "0.00", "0.00", 0},
			{"TOTAL", "40.00", "116.00", "884.00", "1000.00", 10000},
		}},
		{IdleShares, []costRow{ // shares 1, 1, 2, 1
			{"sf", "30.00", "87.00", "176.80", "263.80", 2638},
			{"berlin", "10.00", "29.00", "176.80", "205.80", 2058},
			{"tokyo", "0.00", "0.00", "353.60", "353.60", 3536},
			{"ops", "0.00", "0.00", "176.80", "176.80", 1768},
			{"TOTAL", "40.00", "116.00", "884.00", "1000.00", 10000},
		}},
		{IdleEven, []costRow{
			{"sf", "30.00", "87.00", "221.00", "308.00", 3080},
			{"berlin", "10.00", "29.00", "221.00", "250.00", 2500},
			{"tokyo", "0.00", "0.00", "221.00", "221.00", 2210},
			{"ops", "0.00", "0.00", "221.00", "221.00", 2210},
			{"TOTAL", "40.00", "116.00", "884.00", "1000.00", 10000},
		}},
		{IdlePlatform, []costRow{
			{"sf", "30.00", "87.00", "0.00", "87.00", 870},
			{"berlin", "10.00", "29.00", "0.00", "29.00", 290},
			{"tokyo", "0.00", "0.00", "0.00", "0.00", 0},
			{"ops", "0.00", "0.00", "0.00", "0.00", 0},
			{PlatformRow, "0.00", "0.00", "884.00", "884.00", 8840},
			{"TOTAL", "40.00", "116.00", "884.00", "1000.00", 10000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			rep, err := Split(tally(utcMonth(t, "2026-11"), recs), p, map[string]money.Amount{"a100-us-west1": amount(t, "1000")}, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rowsOf(rep)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSplitAddsUp: whatever the usage, bills and policy, every pool's parts
// add up to its bill and the total to the sum of the bills.
func TestSplitAddsUp(t *testing.T) {
	p := pricing(t)
	rng := rand.New(rand.NewPCG(3, 4))
	period := utcMonth(t, "2026-11")
	for i := range 300 {
		var recs []*gpuqv1.RunRecord
		for range rng.IntN(20) {
			team := p.Teams[rng.IntN(len(p.Teams))].Name
			if rng.IntN(10) == 0 {
				team = "other"
			}
			pool := p.Pools[rng.IntN(len(p.Pools))]
			start := period.Start.Add(time.Duration(rng.Int64N(int64(29 * 24 * time.Hour))))
			end := start.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
			recs = append(recs, rec(t, 1, team, pool.Name, pool.GPUType, uint32(1+rng.IntN(8)), start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano)))
		}
		bills := map[string]money.Amount{}
		var sum money.Amount
		for _, pl := range p.Pools {
			if rng.IntN(3) > 0 {
				bills[pl.Name] = money.Amount(rng.Int64N(100_000_00)) * money.Cent
			}
		}
		policy := IdlePolicy(1 + i%4)
		rep, err := Split(tally(period, recs), p, bills, policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, pc := range rep.Pools {
			sum += pc.Bill
			if pc.Usage+pc.Idle != pc.Bill || pc.Usage < 0 || pc.Idle < 0 {
				t.Fatalf("pool %s: usage %s + idle %s != bill %s", pc.Pool, pc.Usage, pc.Idle, pc.Bill)
			}
		}
		var rows, bp money.Amount
		for _, r := range rep.Teams {
			rows += r.Cost
			bp += money.Amount(r.ShareBP)
			if r.Cost%money.Cent != 0 || r.Cost < 0 {
				t.Fatalf("row %s: cost %s is not whole cents", r.Team, r.Cost)
			}
		}
		if rows != sum || rep.Total.Cost != sum {
			t.Fatalf("%v: rows add up to %s, total %s, bills %s", policy, rows, rep.Total.Cost, sum)
		}
		if sum > 0 && bp != 10000 {
			t.Fatalf("shares add up to %d basis points", bp)
		}
	}
}

func TestSplitBillErrors(t *testing.T) {
	p := pricing(t)
	tests := []struct {
		pool, bill string
		want       error
	}{
		{"nowhere", "10.00", ErrUnknownPool},
		{"a100-us-west1", "-1.00", ErrNegativeBill},
		{"a100-us-west1", "10.005", ErrFractionalCents},
	}
	for _, tt := range tests {
		t.Run(tt.pool+"="+tt.bill, func(t *testing.T) {
			_, err := Split(NewTally(utcMonth(t, "2026-11")), p, map[string]money.Amount{tt.pool: amount(t, tt.bill)}, IdleEven)
			var be *BillError
			if !errors.Is(err, tt.want) || !errors.As(err, &be) || be.Pool != tt.pool {
				t.Errorf("Split error = %v, want a *BillError for %s wrapping %v", err, tt.pool, tt.want)
			}
		})
	}
}

func TestApportion(t *testing.T) {
	rat := func(ws ...int64) []*big.Rat {
		out := make([]*big.Rat, len(ws))
		for i, w := range ws {
			out[i] = big.NewRat(w, 1)
		}
		return out
	}
	tests := []struct {
		total   int64
		weights []*big.Rat
		want    []int64
	}{
		{100000, rat(1, 1, 1), []int64{33334, 33333, 33333}},
		{2, rat(1, 1, 1), []int64{1, 1, 0}}, // ties go to the earlier part
		{10, rat(0, 1, 0), []int64{0, 10, 0}},
		{10, rat(0, 0), []int64{0, 0}},
		{0, rat(1, 2), []int64{0, 0}},
		{7, rat(1, 2, 4), []int64{1, 2, 4}},
		{10, rat(1, 2, 4), []int64{1, 3, 6}}, // quotas 1.43, 2.86, 5.71
		{10000, []*big.Rat{big.NewRat(1, 3), big.NewRat(1, 3), big.NewRat(1, 3)}, []int64{3334, 3333, 3333}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.total, tt.weights), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, apportion(tt.total, tt.weights)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestMonthBoundary splits a run that spans a month boundary at the
// boundary in the zone asked for: 20:00 PDT on 31 October to noon PST on
// 1 November is 4 hours of October and 13 of November in Los Angeles, and
// all November in UTC.
func TestMonthBoundary(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	r := rec(t, 1, "sf", "a100-us-west1", "a100", 4, "2026-11-01T03:00:00Z", "2026-11-01T20:00:00Z")
	oct, nov := Month{2026, time.October}, Month{2026, time.November}
	tests := []struct {
		name string
		r    Range
		want string
	}{
		{"October in Los Angeles", oct.Range(la), "16.00"},
		{"November in Los Angeles", nov.Range(la), "52.00"},
		{"October in UTC", oct.Range(time.UTC), "0.00"},
		{"November in UTC", nov.Range(time.UTC), "68.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Chargeback(tally(tt.r, []*gpuqv1.RunRecord{r}), pricing(t))
			if got := rep.Total.Time.String(); got != tt.want {
				t.Errorf("GPU-hours = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestDSTMonth: a run through the whole of a month with a clock change
// counts the month's real length, and a run across the repeated hour its
// elapsed time, not its wall-clock time.
func TestDSTMonth(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	berlin := zone(t, "Europe/Berlin")
	always := rec(t, 1, "sf", "a100-us-west1", "a100", 1, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
	// 00:30 PDT to 03:30 PST on 1 November: 3 hours on the clock, 4 elapsed.
	night := rec(t, 2, "sf", "a100-us-west1", "a100", 2, "2026-11-01T07:30:00Z", "2026-11-01T11:30:00Z")
	tests := []struct {
		name string
		r    Range
		recs []*gpuqv1.RunRecord
		want string
	}{
		{"November in Los Angeles", Month{2026, time.November}.Range(la), []*gpuqv1.RunRecord{always}, "721.00"},
		{"March in Los Angeles", Month{2026, time.March}.Range(la), []*gpuqv1.RunRecord{always}, "743.00"},
		{"October in Berlin", Month{2026, time.October}.Range(berlin), []*gpuqv1.RunRecord{always}, "745.00"},
		{"March in Berlin", Month{2026, time.March}.Range(berlin), []*gpuqv1.RunRecord{always}, "743.00"},
		{"the repeated hour", Month{2026, time.November}.Range(la), []*gpuqv1.RunRecord{night}, "8.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Chargeback(tally(tt.r, tt.recs), pricing(t))
			if got := rep.Total.Time.String(); got != tt.want {
				t.Errorf("GPU-hours = %s, want %s", got, tt.want)
			}
		})
	}
	// The twelve months of 2026 in Los Angeles add up to the year.
	var sum GPUTime
	for m := (Month{2026, time.January}); m.Year == 2026; m = m.Next() {
		sum = sum.Add(tally(m.Range(la), []*gpuqv1.RunRecord{always}).Cells()[0].Time)
	}
	year := Range{Month{2026, time.January}.Range(la).Start, Month{2027, time.January}.Range(la).Start}
	if want := GPUTimeOf(Clip(always, year), 1); sum != want {
		t.Errorf("months add up to %s GPU-hours, the year has %s", sum, want)
	}
}

// TestRequeuedJob counts each of the three runs of a requeued job once.
func TestRequeuedJob(t *testing.T) {
	rep := Chargeback(tally(utcMonth(t, "2026-11"), requeued(t)), pricing(t))
	if got := rowsOf(rep)[1]; got != (costRow{"berlin", "33.00", "105.60", "0.00", "105.60", 10000}) {
		t.Errorf("berlin = %+v, want 33 GPU-hours for 105.60", got)
	}
}

// TestTallyOrder: the same records in any order give the same tally.
func TestTallyOrder(t *testing.T) {
	recs := known(t)
	want := tally(Range{}, recs).Cells()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 10 {
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		if diff := cmp.Diff(want, tally(Range{}, recs).Cells(), cmp.AllowUnexported(GPUTime{})); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	}
}

func TestGPUTime(t *testing.T) {
	g := GPUTimeOf(1500*time.Millisecond, 3).Add(GPUTimeOf(time.Nanosecond, 1))
	if g.sec != 4 || g.nsec != 500_000_001 {
		t.Errorf("g = %+v", g)
	}
	if got := GPUTimeOf(90*time.Minute, 1).Cost(amount(t, "3.50")); got != amount(t, "5.25") {
		t.Errorf("1.5 GPU-hours at 3.50 = %s", got)
	}
	// 1 GPU-second at 0.000001 per hour is 1/3600 of a micro-unit: 0.
	if got := GPUTimeOf(time.Second, 1).Cost(1); got != 0 {
		t.Errorf("cost = %s", got)
	}
	// 1800 GPU-seconds at 0.000001: half a micro-unit rounds to even, 0;
	// 5400 s is 1.5, which rounds to 2.
	if a, b := GPUTimeOf(1800*time.Second, 1).Cost(1), GPUTimeOf(5400*time.Second, 1).Cost(1); a != 0 || b != 2 {
		t.Errorf("half to even: %d, %d; want 0, 2", a, b)
	}
	for in, want := range map[time.Duration]string{0: "0.00", 18 * time.Second: "0.01", 17 * time.Second: "0.00", 3600 * time.Hour: "3600.00"} {
		if got := GPUTimeOf(in, 1).String(); got != want {
			t.Errorf("GPUTimeOf(%v).String() = %s, want %s", in, got, want)
		}
	}
	if GPUTimeOf(-time.Hour, 4) != (GPUTime{}) {
		t.Error("a negative duration counts")
	}
}

func TestParseModelAndPolicy(t *testing.T) {
	if m, err := ParseModel("Split"); err != nil || m != ModelSplit {
		t.Errorf("ParseModel(Split) = %v, %v", m, err)
	}
	if _, err := ParseModel("fair"); err == nil {
		t.Error("ParseModel(fair) succeeded")
	}
	for _, p := range []IdlePolicy{IdleProportional, IdleShares, IdleEven, IdlePlatform} {
		if got, err := ParseIdlePolicy(strings.ToUpper(p.String())); err != nil || got != p {
			t.Errorf("ParseIdlePolicy(%s) = %v, %v", p, got, err)
		}
	}
	if _, err := ParseIdlePolicy("random"); err == nil {
		t.Error("ParseIdlePolicy(random) succeeded")
	}
}

func TestRecordCost(t *testing.T) {
	p := pricing(t)
	r := rec(t, 1, "ops", "a800-us-east1", "a800", 2, "2026-11-02T00:00:00Z", "2026-11-02T00:45:00Z")
	if c, ok := p.RecordCost(r); !ok || c != amount(t, "3.60") { // 1.5 GPU-hours at 2.40
		t.Errorf("RecordCost = %s, %v", c, ok)
	}
	r = proto.CloneOf(r)
	r.Pool, r.GpuType = "gone", "h100"
	if c, ok := p.RecordCost(r); ok {
		t.Errorf("RecordCost of an unpriced run = %s, want none", c)
	}
}
