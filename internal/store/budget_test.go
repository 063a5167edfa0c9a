package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestAlertsAndOverrides(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	alerts := []*gpuqv1.BudgetAlertEvent{
		{Team: "tokyo", Month: "2026-11", Percent: 100, Spent: "20000.00"},
		{Team: "sf", Month: "2026-11", Percent: 80, Spent: "16000.00"},
		{Team: "sf", Month: "2026-10", Percent: 80, Spent: "16000.01"},
		{Team: "sf", Month: "2026-11", Percent: 100, Spent: "20000.00"},
		// The same key again: its delivery recorded.
		{Team: "sf", Month: "2026-11", Percent: 80, Spent: "16000.00", DeliveryAttempts: 2},
	}
	for _, a := range alerts {
		if err := s.PutAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutAlert(&gpuqv1.BudgetAlertEvent{Percent: 80}); err == nil {
		t.Error("PutAlert without team and month: no error")
	}
	for _, o := range []*gpuqv1.BudgetOverride{{Team: "sf", MonthlyBudget: "30000.00"}, {Team: "berlin", MonthlyBudget: "1.00"}} {
		if err := s.PutBudgetOverride(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBudgetOverride("berlin"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBudgetOverride("nobody"); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)

	var got []*gpuqv1.BudgetAlertEvent
	if err := s.Alerts(func(a *gpuqv1.BudgetAlertEvent) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []*gpuqv1.BudgetAlertEvent{alerts[2], alerts[4], alerts[3], alerts[0]} // by month, team, threshold
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	overrides, err := s.BudgetOverrides()
	if err != nil {
		t.Fatal(err)
	}
	wantO := map[string]*gpuqv1.BudgetOverride{"sf": {Team: "sf", MonthlyBudget: "30000.00"}}
	if diff := cmp.Diff(wantO, overrides, protocmp.Transform()); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}
