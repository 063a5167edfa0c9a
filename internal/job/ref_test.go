package job

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRefs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "42", want: []string{"42"}},
		{in: "42_3", want: []string{"42_3"}},
		{in: "44_[1-3,7]", want: []string{"44_1", "44_2", "44_3", "44_7"}},
		{in: "44_[0-8:4]", want: []string{"44_0", "44_4", "44_8"}},
		{in: "44_[3,1,3]", want: []string{"44_1", "44_3"}},
		{in: "0", wantErr: true},
		{in: "x", wantErr: true},
		{in: "42_", wantErr: true},
		{in: "42_[5-1]", wantErr: true},
		{in: "42_[1-2:0]", wantErr: true},
		{in: "42_[0-200000]", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			refs, err := ParseRefs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRefs(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			var got []string
			for _, r := range refs {
				got = append(got, r.String())
				if back := FromProto(r.Proto()); back != r {
					t.Errorf("proto round trip of %v = %v", r, back)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	for _, s := range States() {
		for _, name := range []string{StateName(s), StateShort(s), "  " + StateName(s) + " "} {
			got, err := ParseState(name)
			if err != nil || got != s {
				t.Errorf("ParseState(%q) = %v, %v; want %v", name, got, err, s)
			}
		}
	}
	if _, err := ParseState("DONE"); err == nil {
		t.Error("ParseState(DONE) succeeded")
	}
}

func FuzzParseRefs(f *testing.F) {
	for _, s := range []string{"42", "42_3", "44_[1-5,7]", "1_[0-9:3]", "9_[]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		refs, err := ParseRefs(s)
		if err != nil {
			return
		}
		if len(refs) == 0 || len(refs) > MaxArrayTasks {
			t.Fatalf("ParseRefs(%q) gave %d refs", s, len(refs))
		}
		tasks := make([]uint32, 0, len(refs))
		for _, r := range refs {
			if r.ID == 0 || r.ID != refs[0].ID {
				t.Fatalf("ParseRefs(%q): bad id in %v", s, r)
			}
			// Every ref formats to something that parses back to itself.
			back, err := ParseRefs(r.String())
			if err != nil || len(back) != 1 || back[0] != r {
				t.Fatalf("ref %v formats as %q, which parses to %v, %v", r, r.String(), back, err)
			}
			tasks = append(tasks, r.Task)
		}
		if !slices.IsSorted(tasks) || len(slices.Compact(slices.Clone(tasks))) != len(tasks) {
			t.Fatalf("ParseRefs(%q): tasks not ascending and unique: %v", s, tasks)
		}
	})
}
