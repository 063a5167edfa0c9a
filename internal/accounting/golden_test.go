package accounting

import (
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// scenario is a month of usage by the example teams: round-number jobs, a
// requeued job with three runs, a job across the October/November boundary
// in Los Angeles, one across the night the clocks fall back there, one that
// runs into December, and one whose pool was not known.
func scenario(t testing.TB) []*gpuqv1.RunRecord {
	return append(known(t),
		rec(t, 501, "sf", "a100-us-west1", "a100", 4, "2026-11-01T03:00:00Z", "2026-11-01T20:00:00Z"),
		rec(t, 502, "sf", "a100-us-west1", "a100", 2, "2026-11-01T07:30:00Z", "2026-11-01T11:30:00Z"),
		rec(t, 503, "tokyo", "a100-us-west1", "a100", 8, "2026-11-30T20:00:00Z", "2026-12-01T20:00:00Z"),
		rec(t, 504, "berlin", "", "a100", 1, "2026-11-20T00:00:00Z", "2026-11-20T06:00:00Z"),
	)
}

// dump writes a report as a stable text table.
func dump(rep Report, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "period %s to %s (%s)\nmodel %s", rep.Period.Start.In(loc).Format(time.RFC3339), rep.Period.End.In(loc).Format(time.RFC3339), loc, rep.Model)
	if rep.Model == ModelSplit {
		fmt.Fprintf(&b, ", idle %s", rep.Policy)
	}
	fmt.Fprintf(&b, "\nrounding: %s\n\n", rep.Rounding)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "TEAM\tGPU-HOURS\tBY TYPE\tUSAGE\tIDLE\tCOST\tSHARE\t\n")
	for _, r := range append(rep.Teams, rep.Total) {
		var types []string
		for _, tt := range r.ByType {
			types = append(types, tt.GPUType+"="+tt.Time.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d.%02d%%\t\n", r.Team, r.Time, strings.Join(types, " "), r.Usage, r.Idle, r.Cost, r.ShareBP/100, r.ShareBP%100)
	}
	tw.Flush()
	if len(rep.Pools) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "POOL\tTYPE\tGPU-HOURS\tBILL\tFROM\tUSAGE\tIDLE\t\n")
		for _, p := range rep.Pools {
			from := "price"
			if p.FromBill {
				from = "bill"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Pool, p.GPUType, p.Time, p.Bill, from, p.Usage, p.Idle)
		}
		tw.Flush()
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func TestGoldenReports(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	nov := Month{2026, time.November}
	bills := func(kv ...string) map[string]money.Amount {
		m := map[string]money.Amount{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = amount(t, kv[i+1])
		}
		return m
	}
	tests := []struct {
		golden string
		loc    *time.Location
		model  Model
		bills  map[string]money.Amount
		policy IdlePolicy
	}{
		{"chargeback-2026-11-la.golden", la, ModelChargeback, nil, 0},
		{"chargeback-2026-11-utc.golden", time.UTC, ModelChargeback, nil, 0},
		{"split-proportional.golden", la, ModelSplit, bills("a100-us-west1", "1000.00", "a800-us-east1", "777.77"), IdleProportional},
		{"split-shares.golden", la, ModelSplit, bills("a100-us-west1", "1000.00", "a100-europe-west3", "333.33"), IdleShares},
		{"split-even.golden", la, ModelSplit, bills("a100-europe-west3", "0.05"), IdleEven},
		{"split-platform.golden", la, ModelSplit, bills("a100-us-west1", "1000.00", "a800-us-east1", "777.77", "a100-europe-west3", "250.00"), IdlePlatform},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			tl := tally(nov.Range(tt.loc), scenario(t))
			rep := Chargeback(tl, pricing(t))
			if tt.model == ModelSplit {
				var err error
				if rep, err = Split(tl, pricing(t), tt.bills, tt.policy); err != nil {
					t.Fatal(err)
				}
			}
			golden(t, tt.golden, dump(rep, tt.loc))
		})
	}
}

func TestGoldenBudgets(t *testing.T) {
	var b strings.Builder
	for _, at := range []string{"2026-11-01T07:00:00Z", "2026-11-10T12:00:00Z", "2026-11-30T23:00:00Z", "2026-12-01T07:30:00Z"} {
		bt, err := NewBudgetTally(utc(t, at), pricing(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range scenario(t) {
			if Overlaps(r, bt.Span()) {
				bt.Add(r)
			}
		}
		fmt.Fprintf(&b, "at %s\n", at)
		tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "TEAM\tZONE\tMONTH\tBUDGET\tSPENT\tUSED\tFORECAST\tFCST\tALERT\tFCST ALERT\t\n")
		for _, bu := range bt.Budgets() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t\n", bu.Team, bu.Location, bu.Month, bu.Budget, bu.Spent, bu.SpentBP, bu.Forecast, bu.ForecastBP, bu.Alert, bu.ForecastAlert)
		}
		tw.Flush()
		b.WriteString("\n")
	}
	golden(t, "budgets.golden", b.String())
}
