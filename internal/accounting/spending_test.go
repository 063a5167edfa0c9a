package accounting

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestSpendingMatchesBudgets feeds the same records to a Spending, one at a
// time and in any order, and to a BudgetTally: the budgets agree.
func TestSpendingMatchesBudgets(t *testing.T) {
	p := pricing(t)
	at := utc(t, "2026-11-16T00:00:00Z")
	recs := []*gpuqv1.RunRecord{
		rec(t, 1, "sf", "a100-us-west1", "a100", 4, "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"),
		rec(t, 2, "sf", "a100-us-west1", "a100", 8, "2026-11-02T00:00:00Z", "2026-11-03T01:00:00Z"),
		rec(t, 3, "berlin", "a100-europe-west3", "a100", 2, "2026-10-31T23:00:00Z", "2026-11-01T14:00:00Z"),
		rec(t, 5, "ops", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
		rec(t, 6, "other", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
	}
	bt, err := NewBudgetTally(at, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSpending(p, at)
	if s.From() != bt.Span().Start {
		t.Errorf("From = %v, want %v", s.From(), bt.Span().Start)
	}
	for i := range recs {
		bt.Add(recs[i])
		s.Add(recs[len(recs)-1-i])
	}
	zones := cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })
	if diff := cmp.Diff(bt.Budgets(), s.Budgets(at), zones); diff != "" {
		t.Errorf("Spending.Budgets (-BudgetTally +Spending):\n%s", diff)
	}
}

func TestSpendingRoll(t *testing.T) {
	p := pricing(t)
	s := NewSpending(p, utc(t, "2026-11-30T12:00:00Z"))
	// 10 GPU-hours for sf, 5 of them in December in Los Angeles (from 08:00Z).
	run := rec(t, 1, "sf", "a100-us-west1", "a100", 1, "2026-12-01T03:00:00Z", "2026-12-01T13:00:00Z")
	s.Add(run)
	if r := s.Roll(utc(t, "2026-11-30T14:00:00Z")); r != nil {
		t.Fatalf("Roll inside every month = %v, want nil", r.Teams())
	}
	// 2026-12-01T05:00Z: December in Tokyo, Berlin and UTC, still November
	// in Los Angeles.
	at := utc(t, "2026-12-01T05:00:00Z")
	r := s.Roll(at)
	if r == nil {
		t.Fatal("Roll = nil, want the teams that moved to December")
	}
	if diff := cmp.Diff([]string{"berlin", "tokyo", "ops"}, r.Teams()); diff != "" {
		t.Errorf("rolled teams (-want +got):\n%s", diff)
	}
	if want := utc(t, "2026-11-30T15:00:00Z"); !r.From().Equal(want) { // Tokyo's December
		t.Errorf("Refill.From = %v, want %v", r.From(), want)
	}
	r.Add(run) // not a rolled team: ignored
	r.Add(rec(t, 2, "tokyo", "a800-us-east1", "a800", 2, "2026-11-30T14:00:00Z", "2026-11-30T16:00:00Z"))
	got := map[string]string{}
	for _, b := range s.Budgets(at) {
		got[b.Team+" "+b.Month.String()] = b.Spent.String()
	}
	want := map[string]string{
		"sf 2026-11":     "17.50", // 5 GPU-hours at 3.50
		"berlin 2026-12": "0.00",
		"tokyo 2026-12":  "7.60", // the second hour of its two GPUs
		"ops 2026-12":    "0.00",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spent after Roll (-want +got):\n%s", diff)
	}
}

func TestCrossings(t *testing.T) {
	b := func(team, budget, spent string) Budget {
		return Budget{Team: team, Month: Month{2026, 11}, Budget: amount(t, budget), Spent: amount(t, spent)}
	}
	budgets := []Budget{
		b("a", "1000", "799.99"),
		b("b", "1000", "800.00"),
		b("c", "1000", "1000.00"),
		b("d", "1000", "5000.00"),
		b("e", "0", "5000.00"), // no budget
	}
	raised := map[string]bool{"d 2026-11 80": true}
	got := Crossings(budgets, func(team string, m Month, pct uint32) bool {
		return raised[team+" "+m.String()+" "+map[uint32]string{80: "80", 100: "100"}[pct]]
	})
	type row struct {
		Team    string
		Percent uint32
	}
	var rows []row
	for _, c := range got {
		rows = append(rows, row{c.Budget.Team, c.Percent})
	}
	want := []row{{"b", 80}, {"c", 80}, {"c", 100}, {"d", 100}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("Crossings (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		b    Budget
		want bool
	}{{budgets[0], false}, {budgets[1], false}, {budgets[2], true}, {budgets[3], true}, {budgets[4], false}} {
		if got := tc.b.Over(); got != tc.want {
			t.Errorf("%s spent %s of %s: Over = %v, want %v", tc.b.Team, tc.b.Spent, tc.b.Budget, got, tc.want)
		}
	}
}

func TestPoolBill(t *testing.T) {
	p := pricing(t)
	p.Pools[0].MonthlyBill = amount(t, "1000")
	p.Pools[0].Bills = map[Month]money.Amount{{2026, 11}: amount(t, "1234.56"), {2026, 12}: 0}
	p.Pools[1].Bills = map[Month]money.Amount{{2026, 11}: amount(t, "50")}
	for _, tc := range []struct {
		pool   string
		month  Month
		want   string
		wantOK bool
	}{
		{"a100-us-west1", Month{2026, 11}, "1234.56", true}, // the month's bill
		{"a100-us-west1", Month{2026, 12}, "0.00", true},    // a month billed nothing
		{"a100-us-west1", Month{2027, 1}, "1000.00", true},  // the monthly bill
		{"a100-europe-west3", Month{2026, 11}, "50.00", true},
		{"a100-europe-west3", Month{2026, 10}, "0.00", false},
		{"a800-us-east1", Month{2026, 11}, "0.00", false},
		{"gone", Month{2026, 11}, "0.00", false},
	} {
		got, ok := p.Bill(tc.pool, tc.month)
		if got.String() != tc.want || ok != tc.wantOK {
			t.Errorf("Bill(%s, %s) = %s, %v; want %s, %v", tc.pool, tc.month, got, ok, tc.want, tc.wantOK)
		}
	}
}

// TestMerge: tallies of parts of the records, merged, are the tally of
// them all.
func TestMerge(t *testing.T) {
	p := pricing(t)
	at := utc(t, "2026-11-16T00:00:00Z")
	period := Range{utc(t, "2026-11-01T00:00:00Z"), at}
	recs := requeued(t)
	recs = append(recs,
		rec(t, 1, "sf", "a100-us-west1", "a100", 4, "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"),
		rec(t, 2, "sf", "a100-us-west1", "a100", 8, "2026-11-02T00:00:00Z", "2026-11-03T01:00:00Z"),
		rec(t, 5, "ops", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"))
	whole, a, b := NewTally(period), NewTally(period), NewTally(period)
	uw, _ := NewUtilization(period, time.UTC, ByTeam, PerHour, nil)
	ua, _ := NewUtilization(period, time.UTC, ByTeam, PerHour, nil)
	ub, _ := NewUtilization(period, time.UTC, ByTeam, PerHour, nil)
	bw, _ := NewBudgetTally(at, p, nil)
	ba, _ := NewBudgetTally(at, p, nil)
	bb, _ := NewBudgetTally(at, p, nil)
	for i, r := range recs {
		whole.Add(r)
		uw.Add(r)
		bw.Add(r)
		if i%2 == 0 {
			a.Add(r)
			ua.Add(r)
			ba.Add(r)
		} else {
			b.Add(r)
			ub.Add(r)
			bb.Add(r)
		}
	}
	a.Merge(b)
	ua.Merge(ub)
	ba.Merge(bb)
	if diff := cmp.Diff(whole.Cells(), a.Cells(), cmp.AllowUnexported(GPUTime{})); diff != "" {
		t.Errorf("merged tally (-whole +merged):\n%s", diff)
	}
	if got, want := ua.Result(), uw.Result(); !cmp.Equal(want.Totals, got.Totals, cmp.AllowUnexported(GPUTime{})) || want.Total != got.Total {
		t.Errorf("merged utilization: totals %v, want %v", got.Totals, want.Totals)
	}
	zones := cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })
	if diff := cmp.Diff(bw.Budgets(), ba.Budgets(), zones); diff != "" {
		t.Errorf("merged budgets (-whole +merged):\n%s", diff)
	}
}
