package ctl

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/client/clienttest"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func teamCost(team string, a100, a800 float64, usage, idle, cost string, bp uint32) *gpuqv1.TeamCost {
	t := &gpuqv1.TeamCost{Team: team, TotalGpuHours: a100 + a800, UsageCost: usage, IdleCost: idle, Cost: cost, ShareBp: bp, Platform: team == accounting.PlatformRow}
	if a100 > 0 {
		t.GpuHours = append(t.GpuHours, &gpuqv1.GPUHours{GpuType: "a100", GpuHours: a100})
	}
	if a800 > 0 {
		t.GpuHours = append(t.GpuHours, &gpuqv1.GPUHours{GpuType: "a800", GpuHours: a800})
	}
	return t
}

// The reports gpuqd gives for November 2026 in Los Angeles for the usage of
// internal/accounting's golden scenario.
func chargebackReport(t *testing.T) *gpuqv1.CostReportResponse {
	return &gpuqv1.CostReportResponse{
		Start: utcTS(t, "2026-11-01T07:00:00Z"), End: utcTS(t, "2026-12-01T08:00:00Z"), Month: "2026-11", TimeZone: "America/Los_Angeles",
		Model: gpuqv1.CostModel_COST_MODEL_CHARGEBACK, Rounding: accounting.ChargebackRounding,
		Teams: []*gpuqv1.TeamCost{
			teamCost("sf", 100, 1.5, "355.25", "0.00", "355.25", 2219),
			teamCost("berlin", 39, 0, "124.80", "0.00", "124.80", 779),
			teamCost("tokyo", 96, 192, "1094.40", "0.00", "1094.40", 6834),
			teamCost("ops", 1, 10, "26.90", "0.00", "26.90", 168),
		},
		Total:    teamCost("TOTAL", 236, 203.5, "1601.35", "0.00", "1601.35", 10000),
		Warnings: []string{"team ops: 2.00 GPU-hours of h100 in pool gone-pool have no rate or price and are not charged"},
	}
}

func splitReport(t *testing.T) *gpuqv1.CostReportResponse {
	return &gpuqv1.CostReportResponse{
		Start: utcTS(t, "2026-11-01T07:00:00Z"), End: utcTS(t, "2026-12-01T08:00:00Z"), Month: "2026-11", TimeZone: "America/Los_Angeles",
		Model: gpuqv1.CostModel_COST_MODEL_SPLIT, IdlePolicy: gpuqv1.IdlePolicy_IDLE_POLICY_PLATFORM, Rounding: accounting.SplitRounding,
		Teams: []*gpuqv1.TeamCost{
			teamCost("sf", 100, 1.5, "293.60", "0.00", "293.60", 1436),
			teamCost("berlin", 39, 0, "113.10", "0.00", "113.10", 553),
			teamCost("tokyo", 96, 192, "739.20", "0.00", "739.20", 3614),
			teamCost("ops", 1, 10, "26.90", "0.00", "26.90", 132),
			teamCost(accounting.PlatformRow, 0, 0, "0.00", "872.37", "872.37", 4265),
		},
		Total: teamCost("TOTAL", 236, 203.5, "1172.80", "872.37", "2045.17", 10000),
		Pools: []*gpuqv1.PoolCost{
			{Pool: "a100-us-west1", GpuType: "a100", GpuHours: 197, Bill: "1000.00", BillSource: gpuqv1.BillSource_BILL_SOURCE_REQUEST, UsageCost: "571.30", IdleCost: "428.70"},
			{Pool: "a100-europe-west3", GpuType: "a100", GpuHours: 33, Bill: "250.00", BillSource: gpuqv1.BillSource_BILL_SOURCE_CONFIG, UsageCost: "95.70", IdleCost: "154.30"},
			{Pool: "a800-us-east1", GpuType: "a800", GpuHours: 203.5, Bill: "777.77", BillSource: gpuqv1.BillSource_BILL_SOURCE_REQUEST, UsageCost: "488.40", IdleCost: "289.37"},
			{Pool: accounting.UnknownPool, GpuType: "a100", GpuHours: 6, Bill: "17.40", BillSource: gpuqv1.BillSource_BILL_SOURCE_PRICE, UsageCost: "17.40", IdleCost: "0.00"},
		},
	}
}

func TestCostGolden(t *testing.T) {
	tests := []struct {
		golden string
		resp   func(*testing.T) *gpuqv1.CostReportResponse
		args   []string
	}{
		{"cost_chargeback.golden", chargebackReport, []string{"cost", "--month", "2026-11", "--tz", "America/Los_Angeles"}},
		{"cost_split.golden", splitReport, []string{"cost", "--tz", "America/Los_Angeles", "--model", "split", "--idle", "platform",
			"--bill", "a100-us-west1=1000.00,a100-europe-west3=250", "--bill", "a800-us-east1=777.77"}},
		{"cost_json.golden", chargebackReport, []string{"cost", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			e := newEnv(t)
			e.srv.SetCostReport(tt.resp(t))
			r := e.run(t, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

func TestCostRequest(t *testing.T) {
	chargeback, split := gpuqv1.CostModel_COST_MODEL_CHARGEBACK, gpuqv1.CostModel_COST_MODEL_SPLIT
	tests := []struct {
		args []string
		want *gpuqv1.CostReportRequest
	}{
		// This month in UTC.
		{[]string{"cost"}, &gpuqv1.CostReportRequest{Month: "2026-11", TimeZone: "UTC", Model: chargeback}},
		{[]string{"cost", "-m", "2026-10", "--tz", "Asia/Tokyo", "--model", "CHARGEBACK"}, &gpuqv1.CostReportRequest{Month: "2026-10", TimeZone: "Asia/Tokyo", Model: chargeback}},
		// The local zone goes as the period it gives the month.
		{[]string{"cost", "--tz", "local"}, &gpuqv1.CostReportRequest{Start: utcTS(t, "2026-10-31T23:00:00Z"), End: utcTS(t, "2026-11-30T23:00:00Z"), Model: chargeback}},
		{[]string{"cost", "-S", "2026-11-01", "-E", "2026-11-15T12:00", "--tz", "Europe/Berlin"}, &gpuqv1.CostReportRequest{
			Start: utcTS(t, "2026-10-31T23:00:00Z"), End: utcTS(t, "2026-11-15T11:00:00Z"), TimeZone: "Europe/Berlin", Model: chargeback}},
		{[]string{"cost", "-S", "now-7days"}, &gpuqv1.CostReportRequest{Start: utcTS(t, "2026-11-20T10:00:00Z"), End: utcTS(t, "2026-11-27T10:00:00Z"), TimeZone: "UTC", Model: chargeback}},
		{[]string{"cost", "--model", "split", "--bill", "a=1000.00,b=5", "--bill", "c=0.01", "--idle", "Even"}, &gpuqv1.CostReportRequest{
			Month: "2026-11", TimeZone: "UTC", Model: split, IdlePolicy: gpuqv1.IdlePolicy_IDLE_POLICY_EVEN,
			Bills: []*gpuqv1.PoolBill{{Pool: "a", Amount: "1000.00"}, {Pool: "b", Amount: "5"}, {Pool: "c", Amount: "0.01"}}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := newEnv(t)
			e.srv.SetCostReport(chargebackReport(t))
			if r := e.run(t, tt.args...); r.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if diff := cmp.Diff([]proto.Message{tt.want}, e.srv.Calls(), protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCostInvalid: what gpuqd rejects is reported field by field with
// exit status 2.
func TestCostInvalid(t *testing.T) {
	e := newEnv(t)
	e.srv.Intercept = func(string, proto.Message) error {
		return clienttest.InvalidArgument(job.FieldError{Field: "bills[1]", Problem: `bill 10.00 for pool "h100-mars": no such pool in the config`})
	}
	e.run(t, "cost", "--model", "split", "--bill", "a100-us-west1=1", "--bill", "h100-mars=10").
		check(t, 2, "", "gpuqctl: error: bills[1]: bill 10.00 for pool \"h100-mars\": no such pool in the config\n")
}

func budgetsResponse(t *testing.T) *gpuqv1.BudgetsResponse {
	ok, warn, over := gpuqv1.BudgetAlert_BUDGET_ALERT_OK, gpuqv1.BudgetAlert_BUDGET_ALERT_WARNING, gpuqv1.BudgetAlert_BUDGET_ALERT_EXCEEDED
	return &gpuqv1.BudgetsResponse{
		At: utcTS(t, "2026-11-16T00:00:00Z"),
		Teams: []*gpuqv1.TeamBudget{
			{Team: "sf", TimeZone: "America/Los_Angeles", Month: "2026-11", Budget: "20000.00", Spent: "7000.00", Forecast: "14297.45", SpentBp: 3500, ForecastBp: 7148, Alert: ok, ForecastAlert: ok},
			{Team: "berlin", TimeZone: "Europe/Berlin", Month: "2026-11", Budget: "20000.00", Spent: "16500.00", Forecast: "32908.59", SpentBp: 8250, ForecastBp: 16454, Alert: warn, ForecastAlert: over,
				HardLimit: true, AlertsRaised: []uint32{80}},
			{Team: "tokyo", TimeZone: "Asia/Tokyo", Month: "2026-11", Budget: "20000.00", Spent: "21000.10", Forecast: "40975.80", SpentBp: 10500, ForecastBp: 20487, Alert: over, ForecastAlert: over,
				HardLimit: true, BudgetSetByOperator: true, AlertsRaised: []uint32{80, 100}},
			{Team: "ops", TimeZone: "UTC", Month: "2026-11", Spent: "26.90", Forecast: "53.80"},
		},
	}
}

func TestBudgetGolden(t *testing.T) {
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"budget.golden", []string{"budget"}},
		{"budget_json.golden", []string{"budget", "--json"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			e := newEnv(t)
			e.srv.SetBudgets(budgetsResponse(t))
			r := e.run(t, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

func budgetAlerts(t *testing.T) *gpuqv1.ListBudgetAlertsResponse {
	return &gpuqv1.ListBudgetAlertsResponse{Alerts: []*gpuqv1.BudgetAlertEvent{
		{Team: "sf", Month: "2026-10", TimeZone: "America/Los_Angeles", Percent: 80, Budget: "20000.00", Spent: "16000.35", SpentBp: 8000,
			RaisedAt: utcTS(t, "2026-10-25T17:00:00Z"), DeliveredAt: utcTS(t, "2026-10-25T17:00:01Z"), DeliveryAttempts: 1},
		{Team: "berlin", Month: "2026-11", TimeZone: "Europe/Berlin", Percent: 80, Budget: "20000.00", Spent: "16001.00", SpentBp: 8000,
			RaisedAt: utcTS(t, "2026-11-12T09:30:00Z"), DeliveryAttempts: 6, DeliveryError: "webhook https://hooks.example.com/...: attempt 3 of 3: answered 503 Service Unavailable"},
		{Team: "tokyo", Month: "2026-11", TimeZone: "Asia/Tokyo", Percent: 80, Budget: "20000.00", Spent: "16010.00", SpentBp: 8005,
			RaisedAt: utcTS(t, "2026-11-09T02:00:00Z")},
		{Team: "tokyo", Month: "2026-11", TimeZone: "Asia/Tokyo", Percent: 100, Budget: "20000.00", Spent: "20001.20", SpentBp: 10000,
			RaisedAt: utcTS(t, "2026-11-14T05:00:00Z"), HardLimit: true},
	}}
}

func TestBudgetAlertsGolden(t *testing.T) {
	e := newEnv(t)
	e.srv.SetBudgetAlerts(budgetAlerts(t))
	r := e.run(t, "budget", "--alerts", "--tz", "Europe/Berlin", "-A", "sf,berlin,tokyo", "--month", "2026-11")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	golden(t, "budget_alerts.golden", r.stdout)
	want := &gpuqv1.ListBudgetAlertsRequest{Teams: []string{"sf", "berlin", "tokyo"}, Month: "2026-11"}
	if diff := cmp.Diff([]proto.Message{want}, e.srv.Calls(), protocmp.Transform()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestBudgetSet(t *testing.T) {
	reply := &gpuqv1.SetBudgetResponse{ReleasedJobs: 3, Budget: &gpuqv1.TeamBudget{Team: "tokyo", Month: "2026-11", Budget: "30000.00",
		Spent: "21000.10", SpentBp: 7000, BudgetSetByOperator: true}}
	for _, tt := range []struct {
		name        string
		args        []string
		reply       *gpuqv1.SetBudgetResponse
		want        *gpuqv1.SetBudgetRequest
		code        int
		out, errOut string
	}{
		{"raise", []string{"budget", "set", "tokyo", "30000"}, reply, &gpuqv1.SetBudgetRequest{Team: "tokyo", MonthlyBudget: "30000"}, 0,
			"Team tokyo: monthly budget 30000.00 (set by an operator); spent 21000.10 in 2026-11 (70.00%).\nReleased 3 jobs held for the budget.\n", ""},
		{"clear", []string{"budget", "set", "--clear", "ops"},
			&gpuqv1.SetBudgetResponse{Budget: &gpuqv1.TeamBudget{Team: "ops", Month: "2026-11", Spent: "26.90"}},
			&gpuqv1.SetBudgetRequest{Team: "ops", Clear: true}, 0,
			"Team ops: monthly budget none (the config's); spent 26.90 in 2026-11.\n", ""},
		{"no amount", []string{"budget", "set", "tokyo"}, nil, nil, 2, "",
			"gpuqctl: error: want TEAM and AMOUNT (gpuqctl budget set sf 30000), or --clear TEAM\nRun 'gpuqctl budget set --help' for usage.\n"},
		{"clear with an amount", []string{"budget", "set", "--clear", "tokyo", "1"}, nil, nil, 2, "",
			"gpuqctl: error: want one TEAM with --clear\nRun 'gpuqctl budget set --help' for usage.\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.reply != nil {
				e.srv.SetBudgetReply(tt.reply)
			}
			e.run(t, tt.args...).check(t, tt.code, tt.out, tt.errOut)
			var want []proto.Message
			if tt.want != nil {
				want = append(want, tt.want)
			}
			if diff := cmp.Diff(want, e.srv.Calls(), protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBudgetUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"budget", "--alerts", "--at", "now"}, "--at is not for --alerts (use --month)"},
		{[]string{"budget", "--month", "2026-11"}, "--month is for --alerts (use --at for another month's budgets)"},
		{[]string{"budget", "--alerts", "--month", "Nov"}, `--month: invalid month "Nov": want YYYY-MM, such as 2026-11`},
	} {
		e := newEnv(t)
		e.run(t, tt.args...).check(t, 2, "", "gpuqctl: error: "+tt.err+"\nRun 'gpuqctl budget --help' for usage.\n")
	}
}

func TestBudgetRequest(t *testing.T) {
	e := newEnv(t)
	e.run(t, "budget", "-A", "sf,berlin", "--team", "tokyo", "--at", "2026-11-16T09:00", "--tz", "Asia/Tokyo")
	want := &gpuqv1.BudgetsRequest{Teams: []string{"sf", "berlin", "tokyo"}, At: utcTS(t, "2026-11-16T00:00:00Z")}
	if diff := cmp.Diff([]proto.Message{want}, e.srv.Calls(), protocmp.Transform()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}
