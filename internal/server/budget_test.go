package server_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/server"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fakeWatcher is a budget watcher with berlin's budget set to 500.00 by an
// operator and the alerts given.
type fakeWatcher struct {
	p      accounting.Pricing
	alerts []*gpuqv1.BudgetAlertEvent
	set    []string
}

func (w *fakeWatcher) Pricing() accounting.Pricing { return w.p }
func (w *fakeWatcher) HardLimit() bool             { return true }
func (w *fakeWatcher) SetByOperator(team string) bool {
	return team == "berlin"
}

func (w *fakeWatcher) Alerts(teams []string, month string) []*gpuqv1.BudgetAlertEvent {
	var out []*gpuqv1.BudgetAlertEvent
	for _, a := range w.alerts {
		if (month == "" || a.Month == month) && (len(teams) == 0 || teams[0] == a.Team) {
			out = append(out, a)
		}
	}
	return out
}

func (w *fakeWatcher) SetBudget(team string, amount money.Amount, clear bool) (accounting.Budget, int, error) {
	if team != "sf" {
		return accounting.Budget{}, 0, &job.FieldError{Field: "team", Problem: fmt.Sprintf("no team %q in the config", team)}
	}
	w.set = append(w.set, fmt.Sprintf("%s %s %v", team, amount, clear))
	return accounting.Budget{Team: team, Location: time.UTC, Month: accounting.Month{Year: 2026, Month: 11}, Budget: amount}, 4, nil
}

func TestBudgetWatcherRPCs(t *testing.T) {
	p := testPricing(t)
	p.Teams[1].MonthlyBudget = mustAmount(t, "500")
	w := &fakeWatcher{p: p, alerts: []*gpuqv1.BudgetAlertEvent{
		{Team: "berlin", Month: "2026-10", Percent: 80},
		{Team: "berlin", Month: "2026-11", Percent: 80},
		{Team: "sf", Month: "2026-11", Percent: 80},
		{Team: "sf", Month: "2026-11", Percent: 100},
	}}
	c := serveAccountingWith(t, &fakeRecords{recs: fixture(t)}, server.AccountingOptions{
		Pricing: testPricing(t), Now: func() time.Time { return time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC) }, Budget: w,
	})

	resp, err := c.Budgets(t.Context(), &gpuqv1.BudgetsRequest{Teams: []string{"berlin", "tokyo"}})
	if err != nil {
		t.Fatal(err)
	}
	berlin, tokyo := resp.Teams[0], resp.Teams[1]
	if berlin.Budget != "500.00" || berlin.Alert != gpuqv1.BudgetAlert_BUDGET_ALERT_OK || !berlin.HardLimit || !berlin.BudgetSetByOperator ||
		!cmp.Equal(berlin.AlertsRaised, []uint32{80}) {
		t.Errorf("berlin = %v; want the operator's 500.00, hard limit, the 80%% alert of 2026-11", berlin)
	}
	if tokyo.HardLimit || tokyo.BudgetSetByOperator || len(tokyo.AlertsRaised) != 0 {
		t.Errorf("tokyo = %v; want no hard limit (no budget), no operator budget, no alerts", tokyo)
	}

	alerts, err := c.ListBudgetAlerts(t.Context(), &gpuqv1.ListBudgetAlertsRequest{Month: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w.alerts[1:], alerts.Alerts, protocmp.Transform()); diff != "" {
		t.Errorf("alerts of 2026-11 (-want +got):\n%s", diff)
	}

	set, err := c.SetBudget(t.Context(), &gpuqv1.SetBudgetRequest{Team: "sf", MonthlyBudget: "30000"})
	if err != nil {
		t.Fatal(err)
	}
	if set.ReleasedJobs != 4 || set.Budget.Budget != "30000.00" || set.Budget.Team != "sf" || !cmp.Equal(set.Budget.AlertsRaised, []uint32{80, 100}) {
		t.Errorf("SetBudget = %v", set)
	}
	if _, err := c.SetBudget(t.Context(), &gpuqv1.SetBudgetRequest{Team: "sf", MonthlyBudget: "junk", Clear: true}); err != nil {
		t.Errorf("clear: %v", err)
	}
	if diff := cmp.Diff([]string{"sf 30000.00 false", "sf 0.00 true"}, w.set); diff != "" {
		t.Errorf("SetBudget calls (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name  string
		req   *gpuqv1.SetBudgetRequest
		field string
	}{
		{"bad amount", &gpuqv1.SetBudgetRequest{Team: "sf", MonthlyBudget: "lots"}, "monthly_budget"},
		{"unknown team", &gpuqv1.SetBudgetRequest{Team: "mars", MonthlyBudget: "1"}, "team"},
	} {
		_, err := c.SetBudget(t.Context(), tc.req)
		var inv *job.InvalidError
		if err = client.FromStatus(err); !errors.As(err, &inv) || inv.Fields[0].Field != tc.field {
			t.Errorf("%s: error %v, want an InvalidError on %s", tc.name, err, tc.field)
		}
	}
	if _, err := c.ListBudgetAlerts(t.Context(), &gpuqv1.ListBudgetAlertsRequest{Month: "11/2026"}); !errors.As(client.FromStatus(err), new(*job.InvalidError)) {
		t.Errorf("bad month: %v, want an InvalidError", err)
	}

	// Without a watcher: no alerts, and SetBudget is refused.
	plain := serveAccounting(t, &fakeRecords{}, time.Now())
	if resp, err := plain.ListBudgetAlerts(t.Context(), &gpuqv1.ListBudgetAlertsRequest{}); err != nil || len(resp.Alerts) != 0 {
		t.Errorf("ListBudgetAlerts without a watcher = %v, %v", resp, err)
	}
	_, err = plain.SetBudget(t.Context(), &gpuqv1.SetBudgetRequest{Team: "sf", MonthlyBudget: "1"})
	if !errors.Is(client.FromStatus(err), job.ErrInvalidState) {
		t.Errorf("SetBudget without a watcher = %v, want ErrInvalidState", err)
	}
}

func TestCostReportConfigBills(t *testing.T) {
	p := testPricing(t)
	p.Pools[0].MonthlyBill = mustAmount(t, "1000")
	p.Pools[1].Bills = map[accounting.Month]money.Amount{{Year: 2026, Month: 11}: mustAmount(t, "600")}
	c := serveAccountingWith(t, &fakeRecords{recs: fixture(t)}, server.AccountingOptions{Pricing: p})
	split := gpuqv1.CostModel_COST_MODEL_SPLIT
	type pool struct {
		Pool, Bill string
		Source     gpuqv1.BillSource
	}
	for _, tc := range []struct {
		name         string
		req          *gpuqv1.CostReportRequest
		want         []pool
		wantWarnings int
	}{
		{"a month: the request's bill, then the config's", &gpuqv1.CostReportRequest{Month: "2026-11", Model: split,
			Bills: []*gpuqv1.PoolBill{{Pool: "a100-us-west1", Amount: "900"}}},
			[]pool{{"a100-us-west1", "900.00", gpuqv1.BillSource_BILL_SOURCE_REQUEST}, {"a800-us-east1", "600.00", gpuqv1.BillSource_BILL_SOURCE_CONFIG}}, 0},
		{"a month as a range", &gpuqv1.CostReportRequest{Start: ts(t, "2026-11-01T00:00:00Z"), End: ts(t, "2026-12-01T00:00:00Z"), Model: split},
			[]pool{{"a100-us-west1", "1000.00", gpuqv1.BillSource_BILL_SOURCE_CONFIG}, {"a800-us-east1", "600.00", gpuqv1.BillSource_BILL_SOURCE_CONFIG}}, 0},
		{"the monthly bill, and no bill of December", &gpuqv1.CostReportRequest{Month: "2026-12", Model: split},
			[]pool{{"a100-us-west1", "1000.00", gpuqv1.BillSource_BILL_SOURCE_CONFIG}, {"a800-us-east1", "2.40", gpuqv1.BillSource_BILL_SOURCE_PRICE}}, 0},
		{"not a month: prices, and a warning", &gpuqv1.CostReportRequest{Start: ts(t, "2026-11-01T00:00:00Z"), End: ts(t, "2026-11-08T00:00:00Z"), Model: split},
			[]pool{{"a100-us-west1", "292.90", gpuqv1.BillSource_BILL_SOURCE_PRICE}, {"a800-us-east1", "460.80", gpuqv1.BillSource_BILL_SOURCE_PRICE}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.CostReport(t.Context(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []pool
			for _, p := range resp.Pools {
				got = append(got, pool{p.Pool, p.Bill, p.BillSource})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pools (-want +got):\n%s", diff)
			}
			if len(resp.Warnings) != tc.wantWarnings {
				t.Errorf("warnings = %q, want %d", resp.Warnings, tc.wantWarnings)
			}
			if resp.Total.Cost == "" {
				t.Error("no total")
			}
		})
	}
}

func TestUtilizationReport(t *testing.T) {
	c := serveAccounting(t, &fakeRecords{recs: fixture(t)}, time.Time{})
	resp, err := c.UtilizationReport(t.Context(), &gpuqv1.UtilizationRequest{
		Start: ts(t, "2026-11-03T12:00:00Z"), End: ts(t, "2026-11-03T16:00:00Z"), TimeZone: "Europe/Berlin",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &gpuqv1.UtilizationResponse{
		Start: ts(t, "2026-11-03T12:00:00Z"), End: ts(t, "2026-11-03T16:00:00Z"), TimeZone: "Europe/Berlin",
		By: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM, Per: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR,
		Groups: []string{"sf", "berlin", "tokyo"},
		Rows: []*gpuqv1.UtilizationRow{
			// berlin's job 11 on 2 GPUs: until 13:00, then from 14:00 to 15:30 (UTC).
			{Start: ts(t, "2026-11-03T12:00:00Z"), End: ts(t, "2026-11-03T13:00:00Z"), Hour: 13, ClockHours: 1, GpuHours: []float64{0, 2, 0}, TotalGpuHours: 2},
			{Start: ts(t, "2026-11-03T13:00:00Z"), End: ts(t, "2026-11-03T14:00:00Z"), Hour: 14, ClockHours: 1, GpuHours: []float64{0, 0, 0}, TotalGpuHours: 0},
			{Start: ts(t, "2026-11-03T14:00:00Z"), End: ts(t, "2026-11-03T15:00:00Z"), Hour: 15, ClockHours: 1, GpuHours: []float64{0, 2, 0}, TotalGpuHours: 2},
			{Start: ts(t, "2026-11-03T15:00:00Z"), End: ts(t, "2026-11-03T16:00:00Z"), Hour: 16, ClockHours: 1, GpuHours: []float64{0, 1, 0}, TotalGpuHours: 1},
		},
		TotalGpuHours: []float64{0, 5, 0}, Total: 5,
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	resp, err = c.UtilizationReport(t.Context(), &gpuqv1.UtilizationRequest{
		Start: ts(t, "2026-11-01T00:00:00Z"), End: ts(t, "2026-12-01T00:00:00Z"),
		By: gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER, Per: gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Rows) != 24 || resp.Total != 68+33+192 || !cmp.Equal(resp.Groups, []string{"alice", "bob", "kenji"}) {
		t.Errorf("by user per hour of day: %d rows, total %v, groups %v", len(resp.Rows), resp.Total, resp.Groups)
	}

	for _, tc := range []struct {
		name string
		req  *gpuqv1.UtilizationRequest
		want []string
	}{
		{"no period", &gpuqv1.UtilizationRequest{}, []string{"start", "end"}},
		{"bad zone and kinds", &gpuqv1.UtilizationRequest{Start: ts(t, "2026-11-01T00:00:00Z"), End: ts(t, "2026-11-02T00:00:00Z"),
			TimeZone: "Mars/Olympus", By: 9, Per: 9}, []string{"time_zone", "by", "per"}},
		{"too long", &gpuqv1.UtilizationRequest{Start: ts(t, "2026-01-01T00:00:00Z"), End: ts(t, "2027-03-01T00:00:00Z")}, []string{"end"}},
	} {
		_, err := c.UtilizationReport(t.Context(), tc.req)
		var inv *job.InvalidError
		if !errors.As(client.FromStatus(err), &inv) {
			t.Errorf("%s: error %v, want an InvalidError", tc.name, err)
			continue
		}
		var fields []string
		for _, f := range inv.Fields {
			fields = append(fields, f.Field)
		}
		if diff := cmp.Diff(tc.want, fields); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tc.name, diff)
		}
	}
}

// runsRecords adds Runs and MaxRun to fakeRecords, and keeps the bounds of
// the scans.
type runsRecords struct {
	fakeRecords
	maxRun time.Duration
	mu     sync.Mutex
	tos    []time.Time
}

// RunsParallel gives part p the records whose job id is p modulo parts,
// from goroutines of their own.
func (f *runsRecords) RunsParallel(from, to time.Time, parts int, fn func(part int, r *accounting.Run) error) error {
	f.mu.Lock()
	f.tos = append(f.tos, to)
	f.mu.Unlock()
	errs := make(chan error, parts)
	for p := range parts {
		go func() {
			var err error
			for _, rec := range f.recs {
				end := rec.EndTime.AsTime()
				if end.Before(from) || !to.IsZero() && !end.Before(to) || int(rec.GetJob().GetId())%parts != p {
					continue
				}
				r := accounting.RunOf(rec)
				if err = fn(p, &r); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	var err error
	for range parts {
		err = errors.Join(err, <-errs)
	}
	return err
}

func (f *runsRecords) MaxRun() time.Duration { return f.maxRun }

// TestRunsSource: the reports read from a source of runs are those read
// from whole records, and their scans stop the longest run after the
// period's end.
func TestRunsSource(t *testing.T) {
	now := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	whole := serveAccounting(t, &fakeRecords{recs: fixture(t)}, now)
	src := &runsRecords{fakeRecords: fakeRecords{recs: fixture(t)}, maxRun: 24 * time.Hour}
	runs := serveAccountingWith(t, src, server.AccountingOptions{Pricing: testPricing(t), Now: func() time.Time { return now }, Parallel: 3})
	for _, req := range []*gpuqv1.CostReportRequest{
		{Month: "2026-11", TimeZone: "America/Los_Angeles"},
		{Start: ts(t, "2026-11-01T00:00:00Z"), End: ts(t, "2026-11-04T00:00:00Z"), Model: gpuqv1.CostModel_COST_MODEL_SPLIT},
	} {
		want, err1 := whole.CostReport(t.Context(), req)
		got, err2 := runs.CostReport(t.Context(), req)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("cost (-whole records +runs):\n%s", diff)
		}
	}
	wantB, err1 := whole.Budgets(t.Context(), &gpuqv1.BudgetsRequest{})
	gotB, err2 := runs.Budgets(t.Context(), &gpuqv1.BudgetsRequest{})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if diff := cmp.Diff(wantB, gotB, protocmp.Transform()); diff != "" {
		t.Errorf("budgets (-whole records +runs):\n%s", diff)
	}
	ureq := &gpuqv1.UtilizationRequest{Start: ts(t, "2026-11-03T00:00:00Z"), End: ts(t, "2026-11-05T00:00:00Z")}
	wantU, err1 := whole.UtilizationReport(t.Context(), ureq)
	gotU, err2 := runs.UtilizationReport(t.Context(), ureq)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if diff := cmp.Diff(wantU, gotU, protocmp.Transform()); diff != "" {
		t.Errorf("utilization (-whole records +runs):\n%s", diff)
	}
	want := []time.Time{
		time.Date(2026, 12, 2, 8, 0, 0, 1, time.UTC), // the month in Los Angeles, and a day
		time.Date(2026, 11, 5, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 17, 0, 0, 0, 1, time.UTC), // the budgets' months end now
		time.Date(2026, 11, 6, 0, 0, 0, 1, time.UTC),
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if diff := cmp.Diff(want, src.tos); diff != "" {
		t.Errorf("scans ended at (-want +got):\n%s", diff)
	}
}
