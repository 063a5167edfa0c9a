package client_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/client/clienttest"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestRecords(t *testing.T) {
	srv, c := dialFake(t)
	var recs []*gpuqv1.RunRecord
	for i := range 25 {
		recs = append(recs, &gpuqv1.RunRecord{Job: &gpuqv1.JobRef{Id: uint64(i + 1)}, Team: []string{"sf", "berlin"}[i%2],
			EndTime: timestamppb.New(timestamppb.Now().AsTime())})
	}
	srv.SetRecords(recs, 10)

	var ids []uint64
	req := &gpuqv1.ListRecordsRequest{Teams: []string{"berlin"}}
	err := c.Records(ctx(t), req, func(r *gpuqv1.RunRecord) error {
		ids = append(ids, r.Job.Id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24}, ids); diff != "" {
		t.Errorf("records over pages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]proto.Message{req}, srv.Calls(), protocmp.Transform()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// An error from fn stops the stream and comes back as it is.
	stop := errors.New("enough")
	n := 0
	err = c.Records(ctx(t), &gpuqv1.ListRecordsRequest{}, func(*gpuqv1.RunRecord) error {
		if n++; n == 15 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 15 {
		t.Errorf("Records = %v after %d records, want %v after 15", err, n, stop)
	}
}

func TestAccountingCalls(t *testing.T) {
	srv, c := dialFake(t)
	report := &gpuqv1.CostReportResponse{Month: "2026-11", Total: &gpuqv1.TeamCost{Team: "TOTAL", Cost: "10.00"}}
	srv.SetCostReport(report)
	got, err := c.CostReport(ctx(t), &gpuqv1.CostReportRequest{Month: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(report, got, protocmp.Transform()); diff != "" {
		t.Errorf("CostReport (-want +got):\n%s", diff)
	}
	budgets := &gpuqv1.BudgetsResponse{Teams: []*gpuqv1.TeamBudget{{Team: "sf", Budget: "20000.00"}}}
	srv.SetBudgets(budgets)
	gotB, err := c.Budgets(ctx(t), &gpuqv1.BudgetsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(budgets, gotB, protocmp.Transform()); diff != "" {
		t.Errorf("Budgets (-want +got):\n%s", diff)
	}

	// Errors come back as domain errors, streams included.
	srv.Intercept = func(method string, _ proto.Message) error {
		return clienttest.InvalidArgument(job.FieldError{Field: "time_zone", Problem: `unknown time zone "Mars/Olympus"`})
	}
	var inv *job.InvalidError
	if _, err := c.CostReport(ctx(t), &gpuqv1.CostReportRequest{}); !errors.As(err, &inv) || inv.Fields[0].Field != "time_zone" {
		t.Errorf("CostReport error = %v, want *job.InvalidError for time_zone", err)
	}
	if _, err := c.Budgets(ctx(t), &gpuqv1.BudgetsRequest{}); !errors.As(err, &inv) {
		t.Errorf("Budgets error = %v, want *job.InvalidError", err)
	}
	err = c.Records(ctx(t), &gpuqv1.ListRecordsRequest{}, func(*gpuqv1.RunRecord) error { return nil })
	if !errors.As(err, &inv) {
		t.Errorf("Records error = %v, want *job.InvalidError", err)
	}
}

// TestRecordPagesOrdered: the pages of a stream gpuqd ordered say so, those
// of another do not; their records are the same.
func TestRecordPagesOrdered(t *testing.T) {
	srv, c := dialFake(t)
	var recs []*gpuqv1.RunRecord
	for i := range 25 {
		recs = append(recs, &gpuqv1.RunRecord{Job: &gpuqv1.JobRef{Id: uint64(25 - i)}, EndTime: timestamppb.Now()})
	}
	srv.SetRecords(recs, 10)
	srv.SetOrdered(true)
	for _, ordered := range []bool{false, true} {
		var mu sync.Mutex
		ids := make([][]uint64, 3)
		err := c.RecordPages(ctx(t), &gpuqv1.ListRecordsRequest{Ordered: ordered}, func(n int, page client.RecordPage) error {
			if page.Ordered() != ordered {
				t.Errorf("page %d: Ordered() = %v, want %v", n, page.Ordered(), ordered)
			}
			return page.Records(func(b []byte) error {
				rec := &gpuqv1.RunRecord{}
				if err := proto.Unmarshal(b, rec); err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				ids[n] = append(ids[n], rec.Job.Id)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		all := slices.Concat(ids...)
		if ordered != slices.IsSorted(all) || len(all) != 25 {
			t.Errorf("ordered %v: records %v", ordered, all)
		}
	}
}
