package accounting

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// decodeRecords: records with every field set, some unset, and one array
// task.
func decodeRecords() []*gpuqv1.RunRecord {
	rng := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var recs []*gpuqv1.RunRecord
	for i := range 20 {
		start := t0.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		recs = append(recs, &gpuqv1.RunRecord{
			Job: &gpuqv1.JobRef{Id: uint64(i + 1)}, Run: uint32(i % 3), Name: "train", Team: "sf", User: "alice",
			Pool: "a100-us-west1", Region: "us-west1", Node: "gpu-a01", GpuType: "a100", GpuCount: uint32(rng.IntN(9)),
			GpuIds:     []string{"GPU-0", "GPU-1"}[:rng.IntN(3)],
			SubmitTime: timestamppb.New(start.Add(-time.Minute)), EligibleTime: timestamppb.New(start),
			StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(time.Duration(rng.Int64N(int64(time.Hour))))),
			State: gpuqv1.JobState(rng.IntN(10)), ExitCode: int32(rng.IntN(3)) - 1, ExitSignal: int32(rng.IntN(10)),
			BilledGpuSeconds: rng.Float64() * 1e5, GpuSeconds: rng.Float64() * 1e5,
			Usage:        &gpuqv1.GPUUsage{UtilizationMean: rng.Float64() * 100, UtilizationMax: 100, MemoryUsedMaxBytes: rng.Uint64()},
			AllocationId: "1.0.abc", Cost: "12.34",
		})
	}
	recs[3].Job.ArrayTaskId = proto.Uint32(0)
	recs[4].Job.ArrayTaskId = proto.Uint32(7)
	recs[5].Usage, recs[5].StartTime, recs[5].Job = nil, nil, nil
	recs[6] = &gpuqv1.RunRecord{}
	return recs
}

// checkDecoder decodes b with d and with proto.Unmarshal: the records are
// the same, but for the GPU ids, counted by d.
func checkDecoder(t *testing.T, d *Decoder, b []byte) {
	t.Helper()
	want := &gpuqv1.RunRecord{}
	wantErr := proto.Unmarshal(b, want)
	b = append([]byte{}, b...)
	got, err := d.Decode(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Decode(%x): error %v; proto.Unmarshal: %v", b, err, wantErr)
	}
	if err != nil {
		return
	}
	want.GpuIds = make([]string, len(want.GpuIds))
	// Unknown fields are dropped, in the messages inside too.
	for _, m := range []proto.Message{want, want.Job, want.SubmitTime, want.EligibleTime, want.StartTime, want.EndTime, want.Usage} {
		if m.ProtoReflect().IsValid() {
			m.ProtoReflect().SetUnknown(nil)
		}
	}
	if len(want.GpuIds) == 0 {
		want.GpuIds = nil
	}
	if len(got.GpuIds) == 0 {
		got.GpuIds = nil
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Decode(%x) (-proto.Unmarshal +Decode):\n%s", b, diff)
	}
}

func TestDecoder(t *testing.T) {
	var d Decoder
	recs := decodeRecords()
	for i, rec := range recs {
		b, err := proto.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		checkDecoder(t, &d, b)
		// Twice in a row: the second replaces and merges into the first;
		// then a record after another, which leaves nothing of it.
		checkDecoder(t, &d, append(append([]byte{}, b...), b...))
		if i > 0 {
			prev, _ := proto.Marshal(recs[i-1])
			checkDecoder(t, &d, append(prev, b...))
		}
	}
	// A timestamp and a job in two parts merge; a cost appended replaces.
	a, _ := proto.Marshal(&gpuqv1.RunRecord{Job: &gpuqv1.JobRef{Id: 9}, StartTime: &timestamppb.Timestamp{Seconds: 100, Nanos: 7}, Cost: "1.00"})
	c, _ := proto.Marshal(&gpuqv1.RunRecord{Job: &gpuqv1.JobRef{ArrayTaskId: proto.Uint32(2)}, StartTime: &timestamppb.Timestamp{Seconds: 160}})
	checkDecoder(t, &d, append(a, c...))
	checkDecoder(t, &d, protowire.AppendString(protowire.AppendTag(append([]byte{}, a...), 23, protowire.BytesType), "2.50"))
	// Unknown fields, fields of another wire type, bad input.
	for _, b := range [][]byte{
		protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 5),
		protowire.AppendVarint(protowire.AppendTag(nil, 4, protowire.VarintType), 5),
		protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "x"),
		{0x22, 0x05, 'a'}, {0x72, 0x02, 0x08}, {0x80}, {0x22, 0x01, 0xff},
	} {
		checkDecoder(t, &d, b)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, rec := range decodeRecords() {
		b, _ := proto.Marshal(rec)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		checkDecoder(t, &d, b)
	})
}

// TestDecoderOnly: a Decoder of only the fields a column shows gives each
// record the value a whole decoding gives, for every field alone and for
// the default format; and the record's job and run.
func TestDecoderOnly(t *testing.T) {
	def, err := ParseFormat(DefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	formats := [][]Column{def}
	for f := FieldJobID; f < numFields; f++ {
		formats = append(formats, []Column{{Field: f}})
	}
	var whole Decoder
	for _, cols := range formats {
		var only Decoder
		only.Only(cols)
		for i, rec := range decodeRecords() {
			b, err := proto.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			want, err := whole.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			var wantValues []string
			for _, col := range cols {
				wantValues = append(wantValues, string(col.Field.AppendValue(nil, want, ValueOptions{})))
			}
			wantJob, wantRun := want.GetJob().GetId(), want.GetRun()
			got, err := only.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			var gotValues []string
			for _, col := range cols {
				gotValues = append(gotValues, string(col.Field.AppendValue(nil, got, ValueOptions{})))
			}
			if diff := cmp.Diff(wantValues, gotValues); diff != "" {
				t.Errorf("record %d, %v: values (-want +got):\n%s", i, cols, diff)
			}
			if got.GetJob().GetId() != wantJob || got.GetRun() != wantRun {
				t.Errorf("record %d: job %d run %d, want %d and %d", i, got.GetJob().GetId(), got.GetRun(), wantJob, wantRun)
			}
		}
	}
}
