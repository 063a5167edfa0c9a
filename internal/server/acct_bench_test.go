package server_test

import (
	"context"
	"flag"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/server"
	"github.com/gpuq/gpuq/internal/store"
	"github.com/gpuq/gpuq/internal/store/storetest"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

var benchRecords = flag.Int("acct.records", 1_000_000, "accounting records of BenchmarkAccounting")

// recordStream is the server side of a ListRecords stream that counts the
// records sent.
type recordStream struct {
	grpc.ServerStream
	ctx     context.Context
	records int
}

func (s *recordStream) Send(r *gpuqv1.ListRecordsResponse) error {
	s.records += len(r.Records)
	return nil
}

func (s *recordStream) Context() context.Context { return s.ctx }

// BenchmarkAccounting holds -acct.records records (1,000,000 by default),
// all ending in October 2026, in a badger store on disk and runs the
// AccountingService on it in-process, without gRPC: the month's records
// listed (acct), one job's records found by its id through the job-id
// index, and the month's chargeback and split cost. Beside them, in the
// same run: one job's records found by a scan of the month (what a lookup
// cost before the index), and the scan alone (every record read and
// decoded, none sent), which every report of the month makes.
func BenchmarkAccounting(b *testing.B) {
	n := *benchRecords
	from, to := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st, err := store.Open(store.Options{Dir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	start := time.Now()
	if err := storetest.FillRecords(st, n, from, to); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d records written in %s", n, time.Since(start).Round(time.Millisecond))
	svc := server.NewAccountingService(st, server.AccountingOptions{Pricing: testPricing(b)})
	ctx := context.Background()
	month := &gpuqv1.ListRecordsRequest{Start: timestampOf(from), End: timestampOf(to)}

	list := func(b *testing.B, req *gpuqv1.ListRecordsRequest, want int) {
		loopMedian(b, func() {
			s := &recordStream{ctx: ctx}
			if err := svc.ListRecords(req, s); err != nil || want >= 0 && s.records != want {
				b.Fatalf("ListRecords: %d records, %v; want %d", s.records, err, want)
			}
		})
	}
	b.Run("scan-month", func(b *testing.B) {
		list(b, &gpuqv1.ListRecordsRequest{Start: month.Start, End: month.End, Users: []string{"nobody"}}, 0)
	})
	b.Run("acct-month", func(b *testing.B) { list(b, month, n) })
	b.Run("acct-job-by-scan", func(b *testing.B) {
		// The index is the store's: a source without it scans.
		scanOnly := server.NewAccountingService(recordsOnly{st}, server.AccountingOptions{Pricing: testPricing(b)})
		loopMedian(b, func() {
			s := &recordStream{ctx: ctx}
			req := &gpuqv1.ListRecordsRequest{Start: month.Start, Jobs: []*gpuqv1.JobRef{{Id: uint64(n / 3)}}}
			if err := scanOnly.ListRecords(req, s); err != nil || s.records != 1 {
				b.Fatalf("ListRecords: %d records, %v", s.records, err)
			}
		})
	})
	b.Run("acct-job", func(b *testing.B) {
		list(b, &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{{Id: uint64(n / 3)}}}, 1)
	})
	for _, model := range []gpuqv1.CostModel{gpuqv1.CostModel_COST_MODEL_CHARGEBACK, gpuqv1.CostModel_COST_MODEL_SPLIT} {
		b.Run("cost-month-"+map[gpuqv1.CostModel]string{1: "chargeback", 2: "split"}[model], func(b *testing.B) {
			req := &gpuqv1.CostReportRequest{Month: "2026-10", Model: model}
			if model == gpuqv1.CostModel_COST_MODEL_SPLIT {
				req.Bills = []*gpuqv1.PoolBill{{Pool: "a100-us-west1", Amount: "3000000.00"}}
			}
			loopMedian(b, func() {
				if _, err := svc.CostReport(ctx, req); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// loopMedian runs fn in a b.Loop and reports the median time of a run.
func loopMedian(b *testing.B, fn func()) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		fn()
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms/median")
}

// recordsOnly hides the store's job-id index.
type recordsOnly struct{ st *store.Store }

func (r recordsOnly) Records(from, to time.Time, fn func(*gpuqv1.RunRecord) error) error {
	return r.st.Records(from, to, fn)
}

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
