package accounting

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestBudgets(t *testing.T) {
	p := pricing(t)
	at := utc(t, "2026-11-16T00:00:00Z")
	recs := []*gpuqv1.RunRecord{
		// sf (Los Angeles: the month began 2026-11-01T07:00Z): 200 GPU-hours,
		// 700.00 of 1000.00. The first 4 GPU-hours were October there.
		rec(t, 1, "sf", "a100-us-west1", "a100", 4, "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"),
		rec(t, 2, "sf", "a100-us-west1", "a100", 8, "2026-11-02T00:00:00Z", "2026-11-03T01:00:00Z"),
		// berlin (the month began 2026-10-31T23:00Z): 30 GPU-hours, 96.00 of 100.00.
		rec(t, 3, "berlin", "a100-europe-west3", "a100", 2, "2026-10-31T23:00:00Z", "2026-11-01T14:00:00Z"),
		// A run still going at the report's instant counts up to it.
		rec(t, 4, "tokyo", "a800-us-east1", "a800", 1, "2026-11-15T23:00:00Z", "2026-11-16T05:00:00Z"),
		// ops has no budget.
		rec(t, 5, "ops", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
		// Not a team of the config: left out.
		rec(t, 6, "other", "a800-us-east1", "a800", 1, "2026-11-02T00:00:00Z", "2026-11-02T10:00:00Z"),
	}
	b, err := NewBudgetTally(at, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Range{utc(t, "2026-10-31T15:00:00Z"), at}); b.Span() != want { // Tokyo's month starts first
		t.Errorf("Span = %v, want %v", b.Span(), want)
	}
	for _, r := range recs {
		b.Add(r)
	}
	type row struct {
		Team, Month, Budget, Spent, Forecast string
		SpentBP, ForecastBP                  int64
		Alert, ForecastAlert                 Alert
	}
	var got []row
	for _, bu := range b.Budgets() {
		got = append(got, row{bu.Team, bu.Month.String(), bu.Budget.String(), bu.Spent.String(), bu.Forecast.String(),
			bu.SpentBP, bu.ForecastBP, bu.Alert, bu.ForecastAlert})
	}
	want := []row{
		// 353 of the month's 721 hours have passed in Los Angeles:
		// 700.00 x 721/353 = 1429.745...
		{"sf", "2026-11", "1000.00", "700.00", "1429.75", 7000, 14297, AlertOK, AlertExceeded},
		// 361 of 720 hours: 96.00 x 720/361 = 191.468...
		{"berlin", "2026-11", "100.00", "96.00", "191.47", 9600, 19147, AlertWarning, AlertExceeded},
		// 1 GPU-hour at 3.80; 369 of 720 hours.
		{"tokyo", "2026-11", "20000.00", "3.80", "7.41", 1, 3, AlertOK, AlertOK},
		{"ops", "2026-11", "0.00", "24.00", "48.00", 0, 0, AlertNone, AlertNone},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("budgets (-want +got):\n%s", diff)
	}
}

func TestBudgetsTeams(t *testing.T) {
	p := pricing(t)
	at := utc(t, "2026-11-01T07:00:00Z") // the first instant of November in Los Angeles
	b, err := NewBudgetTally(at, p, []string{"sf", "sf"})
	if err != nil {
		t.Fatal(err)
	}
	b.Add(rec(t, 1, "sf", "a100-us-west1", "a100", 1, "2026-10-31T00:00:00Z", "2026-11-01T07:00:00Z"))
	got := b.Budgets()
	if len(got) != 1 || got[0].Month.String() != "2026-11" || got[0].Spent != 0 || got[0].Forecast != 0 || got[0].Alert != AlertOK {
		t.Errorf("budgets at the month's first instant = %+v", got)
	}
	if _, err := NewBudgetTally(at, p, []string{"nobody"}); !errors.Is(err, ErrUnknownTeam) {
		t.Errorf("unknown team: error %v, want ErrUnknownTeam", err)
	}
}

func TestAlertLevels(t *testing.T) {
	budget := amount(t, "1000")
	for spent, want := range map[string]Alert{"0": AlertOK, "799.99": AlertOK, "800": AlertWarning, "999.99": AlertWarning, "1000": AlertExceeded, "5000": AlertExceeded} {
		if got := alertOf(amount(t, spent), budget); got != want {
			t.Errorf("alert of %s/1000 = %v, want %v", spent, got, want)
		}
	}
	if got := alertOf(amount(t, "5"), 0); got != AlertNone {
		t.Errorf("alert without a budget = %v", got)
	}
}
