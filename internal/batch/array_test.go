package batch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// seq returns lo..hi.
func seq(lo, hi uint32) []uint32 {
	var out []uint32
	for v := lo; v <= hi; v++ {
		out = append(out, v)
	}
	return out
}

func TestParseArray(t *testing.T) {
	tests := []struct {
		in      string
		want    *gpuqv1.ArraySpec
		wantErr bool
	}{
		{in: "0-99%8", want: &gpuqv1.ArraySpec{Expr: "0-99%8", TaskIds: seq(0, 99), MaxConcurrent: 8}},
		{in: "1,3,5-7:2", want: &gpuqv1.ArraySpec{Expr: "1,3,5-7:2", TaskIds: []uint32{1, 3, 5, 7}}},
		{in: "7", want: &gpuqv1.ArraySpec{Expr: "7", TaskIds: []uint32{7}}},
		{in: "3,1,3", want: &gpuqv1.ArraySpec{Expr: "3,1,3", TaskIds: []uint32{1, 3}}},
		{in: "0-9:3%1", want: &gpuqv1.ArraySpec{Expr: "0-9:3%1", TaskIds: []uint32{0, 3, 6, 9}, MaxConcurrent: 1}},
		{in: "0-99999", want: &gpuqv1.ArraySpec{Expr: "0-99999", TaskIds: seq(0, 99999)}},
		{in: "", wantErr: true},
		{in: "%4", wantErr: true},
		{in: "0-9%0", wantErr: true},
		{in: "0-9%x", wantErr: true},
		{in: "0-9%", wantErr: true},
		{in: "0-9%-1", wantErr: true},
		{in: "5-1", wantErr: true},
		{in: "0-100000", wantErr: true},
		{in: "0-99999,100000", wantErr: true},
		{in: "a", wantErr: true},
		{in: "1,,2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseArray(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseArray(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("ParseArray(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseArray(f *testing.F) {
	for _, s := range []string{"0-99%8", "1,3,5-7:2", "7", "0-9:3%1", "0-100000", "5-1", "1,,2", "0-4294967295:100000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArray(s)
		if err != nil {
			return
		}
		ids := a.GetTaskIds()
		if a.GetExpr() != s || len(ids) == 0 || len(ids) > job.MaxArrayTasks {
			t.Fatalf("ParseArray(%q) = expr %q with %d tasks", s, a.GetExpr(), len(ids))
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("ParseArray(%q): task ids not ascending and unique at %d: %d, %d", s, i, ids[i-1], ids[i])
			}
		}
		if len(ids) > 1000 {
			return
		}
		form := joinIDs(ids)
		if a.GetMaxConcurrent() > 0 {
			form += fmt.Sprintf("%%%d", a.GetMaxConcurrent())
		}
		again, err := ParseArray(form)
		if err != nil || !slices.Equal(again.GetTaskIds(), ids) || again.GetMaxConcurrent() != a.GetMaxConcurrent() {
			t.Fatalf("ParseArray(%q) = %v; reparsing %q gave %v, %v", s, a, form, again, err)
		}
	})
}

func joinIDs(ids []uint32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(parts, ",")
}
