package ctl

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/store/storetest"
)

// BenchmarkAcctLines decodes and formats the lines of gpuqctl acct's
// default table for 1,000 records such as the end-to-end benchmark's
// (records as gpuqd sends them when asked for empty GPU ids): the work of
// gpuqctl for a page of a listing, without gRPC.
func BenchmarkAcctLines(b *testing.B) {
	cols, err := accounting.ParseFormat(accounting.DefaultFormat)
	if err != nil {
		b.Fatal(err)
	}
	_, line := acctTable(cols, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var recs [][]byte
	for i := range 1000 {
		rec := storetest.Record(rng, i, 1000, from, from.AddDate(0, 1, 0))
		for g := range rec.GpuIds {
			rec.GpuIds[g] = ""
		}
		rec.Cost = "12.34"
		enc, err := proto.Marshal(rec)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, enc)
	}
	var (
		dec accounting.Decoder
		out bytes.Buffer
	)
	dec.Only(cols)
	for b.Loop() {
		out.Reset()
		for _, enc := range recs {
			rec, err := dec.Decode(enc)
			if err != nil {
				b.Fatal(err)
			}
			line(&out, rec)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/line")
}
