package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestAppendEmptyIDs: a record appended with empty GPU ids decodes as the
// record with as many empty ids, and is idBytes shorter.
func TestAppendEmptyIDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  *gpuqv1.RunRecord
	}{
		{"none", &gpuqv1.RunRecord{Team: "sf", Run: 2}},
		{"some", &gpuqv1.RunRecord{Team: "sf", GpuIds: []string{"GPU-0", "", "GPU-22"}, GpuCount: 3, Cost: "1.00"}},
		{"last", &gpuqv1.RunRecord{GpuIds: []string{"GPU-0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			// A field after the ids that proto.Marshal would write before
			// them.
			b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), 5)
			prefix := []byte("page")
			got := appendEmptyIDs(prefix, b)
			if n := idBytes(b); len(got) != len(prefix)+len(b)-n {
				t.Errorf("appended %d bytes, want %d less idBytes %d", len(got)-len(prefix), len(b), n)
			}
			if string(got[:len(prefix)]) != "page" {
				t.Errorf("appendEmptyIDs changed what it appends to: %q", got[:len(prefix)])
			}
			var dec gpuqv1.RunRecord
			if err := proto.Unmarshal(got[len(prefix):], &dec); err != nil {
				t.Fatal(err)
			}
			want := proto.Clone(tc.rec).(*gpuqv1.RunRecord)
			want.Run = 5
			for i := range want.GpuIds {
				want.GpuIds[i] = ""
			}
			if diff := cmp.Diff(want, &dec, protocmp.Transform()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
	if n := idBytes([]byte{0x5a, 0x05, 'a'}); n != -1 {
		t.Errorf("idBytes of a truncated record = %d, want -1", n)
	}
}
