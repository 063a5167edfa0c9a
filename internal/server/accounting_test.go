package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/server"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fakeRecords is the store's Records over a slice sorted by end time.
type fakeRecords struct {
	recs  []*gpuqv1.RunRecord
	scans int
}

func (f *fakeRecords) Records(from, to time.Time, fn func(*gpuqv1.RunRecord) error) error {
	f.scans++
	for _, r := range f.recs {
		end := r.EndTime.AsTime()
		if end.Before(from) || !to.IsZero() && !end.Before(to) {
			continue
		}
		if err := fn(proto.CloneOf(r)); err != nil {
			return err
		}
	}
	return nil
}

// indexedRecords adds the job-id index to fakeRecords: records of a job
// without a scan.
// encodedRecords gives the records encoded, with their heads decoded by
// the protobuf library (the store decodes them by hand, checked against it
// in its tests).
type encodedRecords struct{ fakeRecords }

func (f *encodedRecords) EncodedRecords(from, to time.Time, fn func(*accounting.EncodedRecord) error) error {
	return f.Records(from, to, func(r *gpuqv1.RunRecord) error {
		b, err := proto.Marshal(r)
		if err != nil {
			return err
		}
		return fn(&accounting.EncodedRecord{Run: accounting.RunOf(r), State: r.State, HasCost: r.Cost != "", Bytes: b})
	})
}

// orderedRecords adds the listing's order to encodedRecords, as the store
// gives it (checked in its tests).
type orderedRecords struct{ encodedRecords }

func (f *orderedRecords) EncodedRecordsOrdered(from, to time.Time, parts, hold int, keep func(team, user string) bool, fn func(*accounting.EncodedRecord, bool) error) error {
	var recs []*gpuqv1.RunRecord
	if err := f.Records(from, to, func(r *gpuqv1.RunRecord) error { recs = append(recs, r); return nil }); err != nil {
		return err
	}
	slices.SortStableFunc(recs, accounting.CompareListing)
	for _, r := range recs {
		if keep != nil && !keep(r.Team, r.User) {
			continue
		}
		b, err := proto.Marshal(r)
		if err != nil {
			return err
		}
		if err := fn(&accounting.EncodedRecord{Run: accounting.RunOf(r), State: r.State, HasCost: r.Cost != "", Bytes: b}, true); err != nil {
			return err
		}
	}
	return nil
}

type indexedRecords struct {
	fakeRecords
	lookups int
}

func (f *indexedRecords) JobRecords(id uint64, task *uint32, fn func(*gpuqv1.RunRecord) error) error {
	f.lookups++
	for _, r := range f.recs {
		if r.Job.GetId() != id || task != nil && (r.Job.ArrayTaskId == nil || r.Job.GetArrayTaskId() != *task) {
			continue
		}
		if err := fn(proto.CloneOf(r)); err != nil {
			return err
		}
	}
	return nil
}

func ts(t testing.TB, s string) *timestamppb.Timestamp {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return timestamppb.New(v)
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustAmount(t testing.TB, s string) money.Amount {
	t.Helper()
	a, err := money.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testPricing(t testing.TB) accounting.Pricing {
	return accounting.Pricing{
		Teams: []accounting.TeamPricing{
			{Name: "sf", HourlyRate: mustAmount(t, "3.50"), MonthlyBudget: mustAmount(t, "1000"), Shares: 1, Location: mustZone(t, "America/Los_Angeles")},
			{Name: "berlin", HourlyRate: mustAmount(t, "3.20"), MonthlyBudget: mustAmount(t, "100"), Shares: 1, Location: mustZone(t, "Europe/Berlin")},
			{Name: "tokyo", HourlyRate: mustAmount(t, "3.80"), Shares: 2, Location: mustZone(t, "Asia/Tokyo")},
		},
		Pools: []accounting.PoolPricing{
			{Name: "a100-us-west1", GPUType: "a100", Region: "us-west1", PricePerGPUHour: mustAmount(t, "2.90"), BillingWeight: 1},
			{Name: "a800-us-east1", GPUType: "a800", Region: "us-east1", PricePerGPUHour: mustAmount(t, "2.40"), BillingWeight: 1},
		},
	}
}

func runRecord(t testing.TB, id uint64, team, user, pool, gpuType string, n uint32, start, end string) *gpuqv1.RunRecord {
	r := &gpuqv1.RunRecord{Job: job.Ref{ID: id}.Proto(), Team: team, User: user, Pool: pool, GpuType: gpuType, GpuCount: n,
		EndTime: ts(t, end), State: gpuqv1.JobState_JOB_STATE_COMPLETED}
	if start != "" {
		r.StartTime = ts(t, start)
	} else {
		r.State = gpuqv1.JobState_JOB_STATE_CANCELLED
	}
	return r
}

// fixture: a run across the October/November boundary in Los Angeles, a
// requeued job's three runs, a failed array task, a job cancelled while
// pending, and a December run.
func fixture(t testing.TB) []*gpuqv1.RunRecord {
	recs := []*gpuqv1.RunRecord{
		runRecord(t, 10, "sf", "alice", "a100-us-west1", "a100", 4, "2026-11-01T03:00:00Z", "2026-11-01T20:00:00Z"),
		runRecord(t, 11, "berlin", "bob", "a100-us-west1", "a100", 2, "2026-11-03T08:00:00Z", "2026-11-03T13:00:00Z"),
		runRecord(t, 11, "berlin", "bob", "a100-us-west1", "a100", 2, "2026-11-03T14:00:00Z", "2026-11-03T15:30:00Z"),
		runRecord(t, 11, "berlin", "bob", "a100-us-west1", "a100", 2, "2026-11-04T00:00:00Z", "2026-11-04T10:00:00Z"),
		runRecord(t, 12, "tokyo", "kenji", "a800-us-east1", "a800", 8, "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z"),
		runRecord(t, 13, "sf", "carol", "", "", 0, "", "2026-11-07T00:00:00Z"),
		runRecord(t, 14, "tokyo", "kenji", "a800-us-east1", "a800", 1, "2026-12-02T00:00:00Z", "2026-12-02T01:00:00Z"),
	}
	recs[1].State, recs[2].State = gpuqv1.JobState_JOB_STATE_PREEMPTED, gpuqv1.JobState_JOB_STATE_NODE_FAIL
	recs[1].Run, recs[2].Run, recs[3].Run = 0, 1, 2
	recs[4].Job.ArrayTaskId = proto.Uint32(3)
	recs[4].State = gpuqv1.JobState_JOB_STATE_FAILED
	slices.SortStableFunc(recs, func(a, b *gpuqv1.RunRecord) int { return a.EndTime.AsTime().Compare(b.EndTime.AsTime()) })
	return recs
}

// serveAccounting serves an AccountingService over src on a unix socket,
// with the daemon's error interceptors.
func serveAccounting(t *testing.T, src server.Records, now time.Time) gpuqv1.AccountingServiceClient {
	t.Helper()
	return serveAccountingWith(t, src, server.AccountingOptions{Pricing: testPricing(t), Now: func() time.Time { return now }})
}

func serveAccountingWith(t *testing.T, src server.Records, opts server.AccountingOptions, extra ...grpc.ServerOption) gpuqv1.AccountingServiceClient {
	t.Helper()
	dir, err := os.MkdirTemp("", "gpuqacct")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(localOperator(), extra...)...)
	gpuqv1.RegisterAccountingServiceServer(gs, server.NewAccountingService(src, opts))
	go func() { _ = gs.Serve(ln) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		os.RemoveAll(dir)
	})
	return gpuqv1.NewAccountingServiceClient(conn)
}

// list calls ListRecords and returns the pages' sizes and the records.
func list(t *testing.T, c gpuqv1.AccountingServiceClient, req *gpuqv1.ListRecordsRequest) ([]int, []*gpuqv1.RunRecord, error) {
	t.Helper()
	stream, err := c.ListRecords(t.Context(), req)
	if err != nil {
		return nil, nil, err
	}
	var (
		pages []int
		recs  []*gpuqv1.RunRecord
	)
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return pages, recs, nil
		}
		if err != nil {
			return pages, recs, err
		}
		pages = append(pages, len(resp.Records))
		recs = append(recs, resp.Records...)
	}
}

func jobKeys(recs []*gpuqv1.RunRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s/%d", job.FromProto(r.Job), r.Run))
	}
	return out
}

func TestListRecordsFilters(t *testing.T) {
	scanned := &fakeRecords{recs: fixture(t)}
	indexed := &indexedRecords{fakeRecords: fakeRecords{recs: fixture(t)}}
	bySource := map[string]gpuqv1.AccountingServiceClient{
		"scan":  serveAccounting(t, scanned, time.Time{}),
		"index": serveAccounting(t, indexed, time.Time{}),
		"bytes": serveAccounting(t, &encodedRecords{fakeRecords{recs: fixture(t)}}, time.Time{}),
	}
	tests := []struct {
		name string
		req  *gpuqv1.ListRecordsRequest
		want []string
	}{
		{"everything", &gpuqv1.ListRecordsRequest{}, []string{"10/0", "11/0", "11/1", "11/2", "12_3/0", "13/0", "14/0"}},
		// Runs that overlap the range, even those that end after it or began before.
		{"range", &gpuqv1.ListRecordsRequest{Start: ts(t, "2026-11-01T07:00:00Z"), End: ts(t, "2026-11-03T14:30:00Z")}, []string{"10/0", "11/0", "11/1"}},
		{"range excludes a run that ends at its start", &gpuqv1.ListRecordsRequest{Start: ts(t, "2026-11-03T13:00:00Z"), End: ts(t, "2026-11-03T14:00:00Z")}, nil},
		{"never ran, by its end", &gpuqv1.ListRecordsRequest{Start: ts(t, "2026-11-07T00:00:00Z"), End: ts(t, "2026-11-08T00:00:00Z")}, []string{"13/0"}},
		{"open end", &gpuqv1.ListRecordsRequest{Start: ts(t, "2026-11-06T00:00:00Z")}, []string{"13/0", "14/0"}},
		{"teams", &gpuqv1.ListRecordsRequest{Teams: []string{"tokyo", "sf"}}, []string{"10/0", "12_3/0", "13/0", "14/0"}},
		{"users", &gpuqv1.ListRecordsRequest{Users: []string{"bob"}}, []string{"11/0", "11/1", "11/2"}},
		{"states", &gpuqv1.ListRecordsRequest{States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_PREEMPTED, gpuqv1.JobState_JOB_STATE_FAILED}}, []string{"11/0", "12_3/0"}},
		{"job", &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{{Id: 11}, {Id: 12}}}, []string{"11/0", "11/1", "11/2", "12_3/0"}},
		{"task", &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{{Id: 12, ArrayTaskId: proto.Uint32(3)}, {Id: 10, ArrayTaskId: proto.Uint32(3)}}}, []string{"12_3/0"}},
		{"job twice, and in a range", &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{{Id: 11}, {Id: 11}, {Id: 14}}, Start: ts(t, "2026-11-03T14:30:00Z")},
			[]string{"11/1", "11/2", "14/0"}},
		{"job and team", &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{{Id: 11}, {Id: 12}}, Teams: []string{"tokyo"}}, []string{"12_3/0"}},
		{"and", &gpuqv1.ListRecordsRequest{Teams: []string{"tokyo"}, Start: ts(t, "2026-12-01T00:00:00Z")}, []string{"14/0"}},
	}
	for _, tt := range tests {
		for source, c := range bySource {
			t.Run(tt.name+" by "+source, func(t *testing.T) {
				scans := indexed.scans
				_, recs, err := list(t, c, tt.req)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, jobKeys(recs)); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				if source == "index" && len(tt.req.Jobs) > 0 && indexed.scans != scans {
					t.Errorf("a request for jobs scanned the records")
				}
			})
		}
	}
	if indexed.lookups == 0 {
		t.Error("the index was never used")
	}
}

// TestListRecordsOrdered: a request for the listing's order over a source
// that can give it gets it, every page marked, filtered as any listing;
// other requests and sources get the records by end, unmarked.
func TestListRecordsOrdered(t *testing.T) {
	recs := fixture(t)
	recs[0].Job.Id = 15 // ends first, listed last
	ordered := serveAccounting(t, &orderedRecords{encodedRecords{fakeRecords{recs: recs}}}, time.Time{})
	encoded := serveAccounting(t, &encodedRecords{fakeRecords{recs: recs}}, time.Time{})
	byEnd := []string{"15/0", "11/0", "11/1", "11/2", "12_3/0", "13/0", "14/0"}
	tests := []struct {
		name   string
		c      gpuqv1.AccountingServiceClient
		req    *gpuqv1.ListRecordsRequest
		want   []string
		marked bool
	}{
		{"ordered", ordered, &gpuqv1.ListRecordsRequest{Ordered: true}, []string{"11/0", "11/1", "11/2", "12_3/0", "13/0", "14/0", "15/0"}, true},
		{"ordered and filtered", ordered, &gpuqv1.ListRecordsRequest{Ordered: true, Users: []string{"alice", "kenji"}}, []string{"12_3/0", "14/0", "15/0"}, true},
		{"not asked", ordered, &gpuqv1.ListRecordsRequest{}, byEnd, false},
		{"source cannot", encoded, &gpuqv1.ListRecordsRequest{Ordered: true}, byEnd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := tt.c.ListRecords(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []*gpuqv1.RunRecord
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if resp.Ordered != tt.marked {
					t.Errorf("page marked ordered %v, want %v", resp.Ordered, tt.marked)
				}
				got = append(got, resp.Records...)
			}
			if diff := cmp.Diff(tt.want, jobKeys(got)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListRecordsCostAndPages(t *testing.T) {
	var recs []*gpuqv1.RunRecord
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2500 {
		r := runRecord(t, uint64(i+1), "sf", "alice", "a100-us-west1", "a100", 1, "2026-10-31T23:00:00Z", "2026-11-01T00:00:00Z")
		r.EndTime = timestamppb.New(base.Add(time.Duration(i) * time.Minute))
		r.StartTime = timestamppb.New(base.Add(time.Duration(i)*time.Minute - 90*time.Minute))
		recs = append(recs, r)
	}
	recs[0].Cost = "1.00"                                                     // a cost recorded with the run is kept
	recs[2].Pool, recs[2].Team, recs[2].GpuType = "nowhere", "nobody", "none" // no price: no cost
	var decoded []*gpuqv1.RunRecord
	for source, src := range map[string]server.Records{"decoded": &fakeRecords{recs: recs}, "bytes": &encodedRecords{fakeRecords{recs: recs}},
		"bytes with Codec": &encodedRecords{fakeRecords{recs: recs}}} {
		c := serveAccounting(t, src, time.Time{})
		if source == "bytes with Codec" {
			// The pages sent as they are, as gpuqd sends them.
			c = serveAccountingWith(t, src, server.AccountingOptions{Pricing: testPricing(t), PageCodec: true}, grpc.ForceServerCodecV2(server.Codec()))
		}
		pages, got, err := list(t, c, &gpuqv1.ListRecordsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{1000, 1000, 500}, pages); diff != "" {
			t.Errorf("%s: pages (-want +got):\n%s", source, diff)
		}
		if got[0].Cost != "1.00" || got[1].Cost != "5.25" || got[2].Cost != "" { // 1.5 GPU-hours at sf's 3.50
			t.Errorf("%s: costs %q, %q, %q; want 1.00, 5.25 and none", source, got[0].Cost, got[1].Cost, got[2].Cost)
		}
		// Both ways give the same records.
		if decoded == nil {
			decoded = got
		} else if diff := cmp.Diff(decoded, got, protocmp.Transform()); diff != "" {
			t.Errorf("records decoded and encoded differ (-one +other):\n%s", diff)
		}
		pages, _, err = list(t, c, &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{{Id: 7}}})
		if err != nil || !slices.Equal(pages, []int{1}) {
			t.Errorf("%s: one job: pages %v, %v", source, pages, err)
		}
	}
}

func TestCostReport(t *testing.T) {
	c := serveAccounting(t, &fakeRecords{recs: fixture(t)}, time.Time{})
	resp, err := c.CostReport(t.Context(), &gpuqv1.CostReportRequest{Month: "2026-11", TimeZone: "America/Los_Angeles"})
	if err != nil {
		t.Fatal(err)
	}
	want := &gpuqv1.CostReportResponse{
		Start: ts(t, "2026-11-01T07:00:00Z"), End: ts(t, "2026-12-01T08:00:00Z"), Month: "2026-11", TimeZone: "America/Los_Angeles",
		Model: gpuqv1.CostModel_COST_MODEL_CHARGEBACK, Rounding: accounting.ChargebackRounding,
		Teams: []*gpuqv1.TeamCost{
			// 13 of the 17 hours on 4 GPUs were November in Los Angeles.
			{Team: "sf", GpuHours: []*gpuqv1.GPUHours{{GpuType: "a100", GpuHours: 52}}, TotalGpuHours: 52, UsageCost: "182.00", IdleCost: "0.00", Cost: "182.00", ShareBp: 1789},
			{Team: "berlin", GpuHours: []*gpuqv1.GPUHours{{GpuType: "a100", GpuHours: 33}}, TotalGpuHours: 33, UsageCost: "105.60", IdleCost: "0.00", Cost: "105.60", ShareBp: 1038},
			{Team: "tokyo", GpuHours: []*gpuqv1.GPUHours{{GpuType: "a800", GpuHours: 192}}, TotalGpuHours: 192, UsageCost: "729.60", IdleCost: "0.00", Cost: "729.60", ShareBp: 7173},
		},
		Total: &gpuqv1.TeamCost{Team: "TOTAL", GpuHours: []*gpuqv1.GPUHours{{GpuType: "a100", GpuHours: 85}, {GpuType: "a800", GpuHours: 192}},
			TotalGpuHours: 277, UsageCost: "1017.20", IdleCost: "0.00", Cost: "1017.20", ShareBp: 10000},
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("chargeback (-want +got):\n%s", diff)
	}

	resp, err = c.CostReport(t.Context(), &gpuqv1.CostReportRequest{
		Start: ts(t, "2026-11-01T00:00:00Z"), End: ts(t, "2026-12-01T00:00:00Z"), Model: gpuqv1.CostModel_COST_MODEL_SPLIT,
		IdlePolicy: gpuqv1.IdlePolicy_IDLE_POLICY_EVEN, Bills: []*gpuqv1.PoolBill{{Pool: "a100-us-west1", Amount: "1000.00"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var costs []string
	var sum money.Amount
	for _, row := range resp.Teams {
		costs = append(costs, row.Team+" "+row.Cost)
		sum += mustAmount(t, row.Cost)
	}
	// a100: sf's 68 and berlin's 33 GPU-hours are worth 197.20 and 95.70
	// of the 1000.00; the 707.10 idle is split evenly, 235.70 each. a800 has
	// no bill: tokyo's 192 h at 2.40 = 460.80.
	if diff := cmp.Diff([]string{"sf 432.90", "berlin 331.40", "tokyo 696.50"}, costs); diff != "" {
		t.Errorf("split (-want +got):\n%s", diff)
	}
	if sum != mustAmount(t, "1460.80") || resp.Total.Cost != "1460.80" || resp.IdlePolicy != gpuqv1.IdlePolicy_IDLE_POLICY_EVEN {
		t.Errorf("split: rows add up to %s, total %s, policy %v", sum, resp.Total.Cost, resp.IdlePolicy)
	}
	if len(resp.Pools) != 2 || resp.Pools[0].BillSource != gpuqv1.BillSource_BILL_SOURCE_REQUEST || resp.Pools[1].BillSource != gpuqv1.BillSource_BILL_SOURCE_PRICE {
		t.Errorf("pools: %v", resp.Pools)
	}
}

func TestBudgets(t *testing.T) {
	c := serveAccounting(t, &fakeRecords{recs: fixture(t)}, time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC))
	resp, err := c.Budgets(t.Context(), &gpuqv1.BudgetsRequest{Teams: []string{"berlin", "tokyo"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &gpuqv1.BudgetsResponse{
		At: ts(t, "2026-11-16T00:00:00Z"),
		Teams: []*gpuqv1.TeamBudget{
			// 105.60 in 361 of 720 hours: 210.61 by month end.
			{Team: "berlin", TimeZone: "Europe/Berlin", Month: "2026-11", MonthStart: ts(t, "2026-10-31T23:00:00Z"), MonthEnd: ts(t, "2026-11-30T23:00:00Z"),
				Budget: "100.00", Spent: "105.60", Forecast: "210.61", SpentBp: 10560, ForecastBp: 21061,
				Alert: gpuqv1.BudgetAlert_BUDGET_ALERT_EXCEEDED, ForecastAlert: gpuqv1.BudgetAlert_BUDGET_ALERT_EXCEEDED},
			{Team: "tokyo", TimeZone: "Asia/Tokyo", Month: "2026-11", MonthStart: ts(t, "2026-10-31T15:00:00Z"), MonthEnd: ts(t, "2026-11-30T15:00:00Z"),
				Spent: "729.60", Forecast: "1423.61"},
		},
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	resp, err = c.Budgets(t.Context(), &gpuqv1.BudgetsRequest{At: ts(t, "2026-12-15T00:00:00Z")})
	if err != nil || len(resp.Teams) != 3 || resp.Teams[0].Month != "2026-12" || resp.Teams[0].Spent != "0.00" {
		t.Errorf("budgets at 2026-12-15: %v, %v", resp, err)
	}
}

// TestAccountingErrors: bad requests are InvalidArgument naming the field,
// which the client turns back into a *job.InvalidError.
func TestAccountingErrors(t *testing.T) {
	c := serveAccounting(t, &fakeRecords{recs: fixture(t)}, time.Time{})
	split := gpuqv1.CostModel_COST_MODEL_SPLIT
	tests := []struct {
		name string
		call func(context.Context) error
		want []job.FieldError
	}{
		{"list: end before start", func(ctx context.Context) error {
			_, _, err := list(t, c, &gpuqv1.ListRecordsRequest{Start: ts(t, "2026-11-02T00:00:00Z"), End: ts(t, "2026-11-01T00:00:00Z")})
			return err
		}, []job.FieldError{{Field: "end", Problem: "must be after start (2026-11-02T00:00:00Z)"}}},
		{"cost: nothing", func(ctx context.Context) error {
			_, err := c.CostReport(ctx, &gpuqv1.CostReportRequest{})
			return err
		}, []job.FieldError{{Field: "start", Problem: "required (or set month)"}, {Field: "end", Problem: "required (or set month)"}}},
		{"cost: zone and month", func(ctx context.Context) error {
			_, err := c.CostReport(ctx, &gpuqv1.CostReportRequest{Month: "2026-13", TimeZone: "Europe/Berln"})
			return err
		}, []job.FieldError{{Field: "time_zone", Problem: `unknown time zone "Europe/Berln"`},
			{Field: "month", Problem: `invalid month "2026-13": want YYYY-MM, such as 2026-11`}}},
		{"cost: month and range", func(ctx context.Context) error {
			_, err := c.CostReport(ctx, &gpuqv1.CostReportRequest{Month: "2026-11", Start: ts(t, "2026-11-01T00:00:00Z")})
			return err
		}, []job.FieldError{{Field: "month", Problem: "set month, or start and end, not both"}}},
		{"cost: bills", func(ctx context.Context) error {
			_, err := c.CostReport(ctx, &gpuqv1.CostReportRequest{Month: "2026-11", Model: split, Bills: []*gpuqv1.PoolBill{
				{Pool: "a100-us-west1", Amount: "1e3"}, {Pool: "", Amount: "1"}, {Pool: "a800-us-east1", Amount: "1"}, {Pool: "a800-us-east1", Amount: "2"}}})
			return err
		}, []job.FieldError{{Field: "bills[0].amount", Problem: `parse amount "1e3": not a decimal amount`}, {Field: "bills[1].pool", Problem: "required"},
			{Field: "bills[3].pool", Problem: `pool "a800-us-east1" has a bill already`}}},
		{"cost: unknown pool", func(ctx context.Context) error {
			_, err := c.CostReport(ctx, &gpuqv1.CostReportRequest{Month: "2026-11", Model: split, Bills: []*gpuqv1.PoolBill{
				{Pool: "a100-us-west1", Amount: "10"}, {Pool: "h100-mars", Amount: "10"}}})
			return err
		}, []job.FieldError{{Field: "bills[1]", Problem: `bill 10.00 for pool "h100-mars": no such pool in the config`}}},
		{"cost: bills for chargeback", func(ctx context.Context) error {
			_, err := c.CostReport(ctx, &gpuqv1.CostReportRequest{Month: "2026-11", Bills: []*gpuqv1.PoolBill{{Pool: "a100-us-west1", Amount: "10"}}})
			return err
		}, []job.FieldError{{Field: "bills", Problem: "bills are for the split model"}}},
		{"budgets: unknown team", func(ctx context.Context) error {
			_, err := c.Budgets(ctx, &gpuqv1.BudgetsRequest{Teams: []string{"mars"}})
			return err
		}, []job.FieldError{{Field: "teams", Problem: `team "mars": no such team in the config`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := client.FromStatus(tt.call(t.Context()))
			var inv *job.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error %v, want a *job.InvalidError", err)
			}
			if diff := cmp.Diff(tt.want, inv.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// failingRecords fails every scan.
type failingRecords struct{}

func (failingRecords) Records(time.Time, time.Time, func(*gpuqv1.RunRecord) error) error {
	return errors.New("disk on fire")
}

func TestAccountingStoreFailure(t *testing.T) {
	c := serveAccounting(t, failingRecords{}, time.Now())
	_, err := c.CostReport(t.Context(), &gpuqv1.CostReportRequest{Month: "2026-11"})
	var se *client.StatusError
	if err = client.FromStatus(err); !errors.As(err, &se) || se.Code.String() != "Internal" {
		t.Errorf("error %v, want Internal", err)
	}
	if _, _, err := list(t, c, &gpuqv1.ListRecordsRequest{}); !errors.As(client.FromStatus(err), &se) || se.Code.String() != "Internal" {
		t.Errorf("list error %v, want Internal", err)
	}
}
