package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/accounting"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestAppendEmptyIDs: a record appended with the GPU ids of its span
// empty decodes as the record with as many empty ids.
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
			// The span of the ids, as the store finds it.
			var ids accounting.IDSpan
			for at := 0; at < len(b); {
				num, typ, n := protowire.ConsumeTag(b[at:])
				n += protowire.ConsumeFieldValue(num, typ, b[at+n:])
				if num == gpuIDsField {
					if ids.N == 0 {
						ids.From = at
					}
					ids.To, ids.N = at+n, ids.N+1
				}
				at += n
			}
			prefix := []byte("page")
			got := appendEmptyIDs(prefix, b, ids)
			if string(got[:len(prefix)]) != "page" {
				t.Errorf("appendEmptyIDs changed what it appends to: %q", got[:len(prefix)])
			}
			var dec gpuqv1.RunRecord
			if err := proto.Unmarshal(got[len(prefix):], &dec); err != nil {
				t.Fatal(err)
			}
			want := proto.Clone(tc.rec).(*gpuqv1.RunRecord)
			for i := range want.GpuIds {
				want.GpuIds[i] = ""
			}
			if diff := cmp.Diff(want, &dec, protocmp.Transform()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}
