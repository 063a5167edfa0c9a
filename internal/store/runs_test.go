package store

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func runRecords() []*gpuqv1.RunRecord {
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	return []*gpuqv1.RunRecord{
		{Job: job.Ref{ID: 1}.Proto(), Team: "sf", User: "alice", Pool: "a100-us-west1", GpuType: "a100", GpuCount: 4,
			GpuIds: []string{"a", "b", "c", "d"}, StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(90*time.Minute + 7)),
			Name: "train", Node: "n1", Usage: &gpuqv1.GPUUsage{UtilizationMean: 50}, Cost: "1.00", AllocationId: "1.0.x"},
		// No gpu_count: the UUIDs count.
		{Team: "berlin", GpuIds: []string{"a", "b"}, StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(time.Hour))},
		// Never ran.
		{Team: "tokyo", EndTime: timestamppb.New(t0.Add(time.Hour)), State: gpuqv1.JobState_JOB_STATE_CANCELLED},
		// A start after the end, and times before 1970.
		{Team: "ops", GpuCount: 1, StartTime: timestamppb.New(t0.Add(2 * time.Hour)), EndTime: timestamppb.New(t0)},
		{Team: "ops", GpuCount: 1, StartTime: &timestamppb.Timestamp{Seconds: -100, Nanos: 5}, EndTime: &timestamppb.Timestamp{Seconds: -1}},
		{},
	}
}

// TestDecodeRun: decodeRun reads what proto.Unmarshal and accounting.RunOf
// read.
func TestDecodeRun(t *testing.T) {
	recs := runRecords()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		recs = append(recs, randomRecord(rng, i))
	}
	names := interner{}
	for i, rec := range recs {
		b, err := proto.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		// Twice in a row: the second merges into the first.
		for _, data := range [][]byte{b, append(append([]byte{}, b...), b...)} {
			checkDecode(t, i, data, names)
		}
	}
	// A cost, and a cost replaced by none.
	withCost, _ := proto.Marshal(&gpuqv1.RunRecord{Team: "sf", Cost: "1.00", State: gpuqv1.JobState_JOB_STATE_FAILED})
	noCost, _ := proto.Marshal(&gpuqv1.RunRecord{State: gpuqv1.JobState_JOB_STATE_COMPLETED})
	checkDecode(t, -2, withCost, names)
	checkDecode(t, -3, append(append([]byte{}, withCost...), protowire.AppendString(protowire.AppendTag(nil, fieldCost, protowire.BytesType), "")...), names)
	checkDecode(t, -4, append(append([]byte{}, withCost...), noCost...), names)
	// A timestamp in two parts merges.
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	a, _ := proto.Marshal(&gpuqv1.RunRecord{StartTime: &timestamppb.Timestamp{Seconds: t0.Unix(), Nanos: 7}, EndTime: timestamppb.New(t0.Add(time.Hour))})
	c, _ := proto.Marshal(&gpuqv1.RunRecord{StartTime: &timestamppb.Timestamp{Seconds: t0.Unix() + 60}})
	checkDecode(t, -1, append(a, c...), names)

	var r accounting.Run
	for _, bad := range [][]byte{{0x22, 0x05, 'a'}, {0x72, 0x02, 0x08}, {0x80}} {
		if err := decodeRun(bad, &r, names); err == nil {
			t.Errorf("decodeRun(%x): no error", bad)
		}
	}
}

func checkDecode(t *testing.T, i int, data []byte, names interner) {
	t.Helper()
	full := &gpuqv1.RunRecord{}
	if err := proto.Unmarshal(data, full); err != nil {
		t.Fatal(err)
	}
	var got accounting.Run
	if err := decodeRun(data, &got, names); err != nil {
		t.Fatalf("record %d: %v", i, err)
	}
	if diff := cmp.Diff(accounting.RunOf(full), got); diff != "" {
		t.Errorf("record %d (-RunOf +decodeRun):\n%s", i, diff)
	}
	var e accounting.EncodedRecord
	if err := decodeHead(data, &e.Run, &e, nil, names); err != nil {
		t.Fatalf("record %d: %v", i, err)
	}
	if e.Run != got || e.State != full.State || e.HasCost != (full.Cost != "") {
		t.Errorf("record %d: decodeHead: run %v, state %v, has cost %v; want %v, %v, %v", i, e.Run, e.State, e.HasCost, got, full.State, full.Cost != "")
	}
}

func randomRecord(rng *rand.Rand, i int) *gpuqv1.RunRecord {
	end := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
	r := &gpuqv1.RunRecord{Job: job.Ref{ID: uint64(i)}.Proto(), Run: uint32(i % 3), Team: []string{"sf", "", "berlin"}[i%3],
		User: "u", Pool: []string{"", "p"}[i%2], GpuType: "a100", GpuCount: uint32(rng.IntN(3)), EndTime: timestamppb.New(end),
		GpuSeconds: rng.Float64(), ExitCode: int32(rng.IntN(3)) - 1}
	for range rng.IntN(4) {
		r.GpuIds = append(r.GpuIds, "GPU")
	}
	if rng.IntN(5) > 0 {
		r.StartTime = timestamppb.New(end.Add(-time.Duration(rng.Int64N(int64(48 * time.Hour)))))
	}
	return r
}

// FuzzDecodeRun: whatever proto.Unmarshal reads, decodeRun reads the same
// run of.
func FuzzDecodeRun(f *testing.F) {
	for _, r := range runRecords() {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	names := interner{}
	f.Fuzz(func(t *testing.T, data []byte) {
		full := &gpuqv1.RunRecord{}
		if proto.Unmarshal(data, full) != nil {
			var r accounting.Run
			_ = decodeRun(data, &r, names) // must not panic
			return
		}
		var got accounting.Run
		if err := decodeRun(data, &got, names); err != nil {
			t.Fatalf("decodeRun: %v; proto.Unmarshal read %v", err, full)
		}
		if diff := cmp.Diff(accounting.RunOf(full), got); diff != "" {
			t.Errorf("(-RunOf +decodeRun):\n%s", diff)
		}
	})
}

func TestRuns(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	indexFixture(t, s)
	from, to := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 6, 0, 0, 0, time.UTC)
	var want, got []time.Time
	if err := s.Records(from, to, func(r *gpuqv1.RunRecord) error { want = append(want, r.EndTime.AsTime()); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Runs(from, to, func(r *accounting.Run) error { got = append(got, r.End); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(want) != 4 || !cmp.Equal(want, got) {
		t.Errorf("Runs ended at %v, Records at %v; want the same 4", got, want)
	}
}

func TestRunsParallel(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	indexFixture(t, s)
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		from, to time.Time
		parts    int
	}{
		{time.Time{}, time.Time{}, 1},
		{time.Time{}, time.Time{}, 3},
		{t0.Add(2 * time.Hour), t0.Add(6 * time.Hour), 4},
		{t0.Add(2 * time.Hour), time.Time{}, 7},
		{t0.Add(30 * time.Hour), time.Time{}, 2},
		{t0, t0, 2},
	} {
		var want []time.Time
		if err := s.Records(tc.from, tc.to, func(r *gpuqv1.RunRecord) error { want = append(want, r.EndTime.AsTime()); return nil }); err != nil {
			t.Fatal(err)
		}
		got := make([][]time.Time, tc.parts)
		err := s.RunsParallel(tc.from, tc.to, tc.parts, func(p int, r *accounting.Run) error {
			got[p] = append(got[p], r.End)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var all []time.Time
		for _, g := range got {
			all = append(all, g...) // the parts are in order of time
		}
		if !cmp.Equal(want, all) {
			t.Errorf("RunsParallel(%v, %v, %d) = %v, want %v", tc.from, tc.to, tc.parts, all, want)
		}
	}
}

// TestDecodeHeadIDs: decodeHead finds the span of the GPU ids where they
// come one after the other, as proto.Marshal writes them, and none where
// another field comes between them.
func TestDecodeHeadIDs(t *testing.T) {
	rec := &gpuqv1.RunRecord{Team: "sf", GpuIds: []string{"GPU-0", "GPU-1"}, GpuType: "a100"}
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	tail := protowire.AppendString(protowire.AppendTag(nil, fieldGPUIDs, protowire.BytesType), "GPU-2")
	split := protowire.AppendString(protowire.AppendTag(append([]byte{}, tail...), fieldTeam, protowire.BytesType), "tokyo")
	split = append(split, tail...)
	for _, tc := range []struct {
		name string
		b    []byte
		want func(b []byte) accounting.IDSpan
	}{
		{"marshaled", b, func(b []byte) accounting.IDSpan {
			// After the team and GPU type.
			from := len(protowire.AppendString(protowire.AppendTag(nil, fieldTeam, protowire.BytesType), "sf")) +
				len(protowire.AppendString(protowire.AppendTag(nil, fieldGPUType, protowire.BytesType), "a100"))
			return accounting.IDSpan{From: from, To: from + 2*len(tail), N: 2}
		}},
		{"none", []byte{}, func([]byte) accounting.IDSpan { return accounting.IDSpan{} }},
		{"split", split, func([]byte) accounting.IDSpan { return accounting.IDSpan{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := accounting.EncodedRecord{IDs: accounting.IDSpan{From: 1, To: 2, N: 3}}
			if err := decodeHead(tc.b, &e.Run, &e, nil, interner{}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want(tc.b), e.IDs); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFlatten: a flattened store on disk holds the same records, in the
// same order, after it is opened again.
func TestFlatten(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	indexFixture(t, s)
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ends := func(s *Store) []time.Time {
		var out []time.Time
		if err := s.Records(from, to, func(r *gpuqv1.RunRecord) error { out = append(out, r.EndTime.AsTime()); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := ends(s)
	if err := s.Flatten(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	if got := ends(s); len(want) == 0 || !cmp.Equal(got, want) {
		t.Errorf("after Flatten: %v, want %v", got, want)
	}
}
