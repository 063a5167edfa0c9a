package clienttest

import (
	"context"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/accounting"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// acctState is what the fake AccountingService answers with.
type acctState struct {
	records  []*gpuqv1.RunRecord
	pageSize int
	ordered  bool
	cost     *gpuqv1.CostReportResponse
	budgets  *gpuqv1.BudgetsResponse
	alerts   *gpuqv1.ListBudgetAlertsResponse
	setReply *gpuqv1.SetBudgetResponse
	util     *gpuqv1.UtilizationResponse
}

// accountingServer is the AccountingService side of a Server.
type accountingServer struct {
	gpuqv1.UnimplementedAccountingServiceServer
	s *Server
}

var _ gpuqv1.AccountingServiceServer = accountingServer{}

// SetRecords replaces the accounting records with copies of records;
// ListRecords streams the matching ones in this order, in pages of
// pageSize (0: the real server's 1,000).
func (s *Server) SetRecords(records []*gpuqv1.RunRecord, pageSize int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.records = make([]*gpuqv1.RunRecord, len(records))
	for i, r := range records {
		s.acct.records[i] = proto.CloneOf(r)
	}
	s.acct.pageSize = pageSize
}

// SetOrdered makes ListRecords send the records in the listing's order
// (accounting.CompareListing, a stable sort) when a request asks for it,
// each page marked, as gpuqd does; without it they come in the order
// SetRecords gave.
func (s *Server) SetOrdered(ordered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.ordered = ordered
}

// SetCostReport sets the response of every CostReport; without one
// CostReport answers with an empty report.
func (s *Server) SetCostReport(resp *gpuqv1.CostReportResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.cost = proto.CloneOf(resp)
}

// SetBudgets sets the response of every Budgets; without one Budgets
// answers with no teams.
func (s *Server) SetBudgets(resp *gpuqv1.BudgetsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.budgets = proto.CloneOf(resp)
}

// SetBudgetAlerts sets the response of every ListBudgetAlerts; without one
// it answers with no alerts.
func (s *Server) SetBudgetAlerts(resp *gpuqv1.ListBudgetAlertsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.alerts = proto.CloneOf(resp)
}

// SetBudgetReply sets the response of every SetBudget; without one it
// answers with an empty response.
func (s *Server) SetBudgetReply(resp *gpuqv1.SetBudgetResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.setReply = proto.CloneOf(resp)
}

// SetUtilization sets the response of every UtilizationReport; without
// one it answers with an empty report.
func (s *Server) SetUtilization(resp *gpuqv1.UtilizationResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct.util = proto.CloneOf(resp)
}

// ListRecords streams the stored records that match the request the way
// the real server selects them (runs overlapping [start, end), then teams,
// users, states and jobs), as they are: costs are what the test stored.
func (a accountingServer) ListRecords(req *gpuqv1.ListRecordsRequest, stream gpuqv1.AccountingService_ListRecordsServer) error {
	if err := a.s.begin("ListRecords", req); err != nil {
		return err
	}
	a.s.mu.Lock()
	var r accounting.Range
	if req.Start != nil {
		r.Start = req.Start.AsTime()
	}
	if req.End != nil {
		r.End = req.End.AsTime()
	}
	var out []*gpuqv1.RunRecord
	for _, rec := range a.s.acct.records {
		if accounting.Overlaps(rec, r) && matchRecord(req, rec) {
			out = append(out, proto.CloneOf(rec))
		}
	}
	size := a.s.acct.pageSize
	ordered := a.s.acct.ordered && req.Ordered
	a.s.mu.Unlock()
	if size <= 0 {
		size = 1000
	}
	if ordered {
		slices.SortStableFunc(out, accounting.CompareListing)
	}
	for page := range slices.Chunk(out, size) {
		if err := stream.Send(&gpuqv1.ListRecordsResponse{Records: page, Ordered: ordered}); err != nil {
			return err
		}
	}
	return nil
}

func matchRecord(req *gpuqv1.ListRecordsRequest, rec *gpuqv1.RunRecord) bool {
	if len(req.Teams) > 0 && !slices.Contains(req.Teams, rec.GetTeam()) ||
		len(req.Users) > 0 && !slices.Contains(req.Users, rec.GetUser()) ||
		len(req.States) > 0 && !slices.Contains(req.States, rec.GetState()) {
		return false
	}
	return len(req.Jobs) == 0 || slices.ContainsFunc(req.Jobs, func(want *gpuqv1.JobRef) bool {
		got := rec.GetJob()
		return want.GetId() == got.GetId() && (want.ArrayTaskId == nil || got.ArrayTaskId != nil && want.GetArrayTaskId() == got.GetArrayTaskId())
	})
}

// CostReport answers with the report SetCostReport set.
func (a accountingServer) CostReport(_ context.Context, req *gpuqv1.CostReportRequest) (*gpuqv1.CostReportResponse, error) {
	if err := a.s.begin("CostReport", req); err != nil {
		return nil, err
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.acct.cost == nil {
		return &gpuqv1.CostReportResponse{}, nil
	}
	return proto.CloneOf(a.s.acct.cost), nil
}

// Budgets answers with the budgets SetBudgets set.
func (a accountingServer) Budgets(_ context.Context, req *gpuqv1.BudgetsRequest) (*gpuqv1.BudgetsResponse, error) {
	if err := a.s.begin("Budgets", req); err != nil {
		return nil, err
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.acct.budgets == nil {
		return &gpuqv1.BudgetsResponse{}, nil
	}
	return proto.CloneOf(a.s.acct.budgets), nil
}

// ListBudgetAlerts answers with the alerts SetBudgetAlerts set.
func (a accountingServer) ListBudgetAlerts(_ context.Context, req *gpuqv1.ListBudgetAlertsRequest) (*gpuqv1.ListBudgetAlertsResponse, error) {
	if err := a.s.begin("ListBudgetAlerts", req); err != nil {
		return nil, err
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.acct.alerts == nil {
		return &gpuqv1.ListBudgetAlertsResponse{}, nil
	}
	return proto.CloneOf(a.s.acct.alerts), nil
}

// SetBudget answers with the response SetBudgetReply set.
func (a accountingServer) SetBudget(_ context.Context, req *gpuqv1.SetBudgetRequest) (*gpuqv1.SetBudgetResponse, error) {
	if err := a.s.begin("SetBudget", req); err != nil {
		return nil, err
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.acct.setReply == nil {
		return &gpuqv1.SetBudgetResponse{}, nil
	}
	return proto.CloneOf(a.s.acct.setReply), nil
}

// UtilizationReport answers with the report SetUtilization set.
func (a accountingServer) UtilizationReport(_ context.Context, req *gpuqv1.UtilizationRequest) (*gpuqv1.UtilizationResponse, error) {
	if err := a.s.begin("UtilizationReport", req); err != nil {
		return nil, err
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.acct.util == nil {
		return &gpuqv1.UtilizationResponse{}, nil
	}
	return proto.CloneOf(a.s.acct.util), nil
}
