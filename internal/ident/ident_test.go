package ident

import (
	"regexp"
	"strings"
	"testing"
)

// The rules as regular expressions: the reference the hand-written checks
// must agree with.
var rules = []struct {
	name  string
	check func(string) bool
	re    *regexp.Regexp
}{
	{"Name", Name, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)},
	{"GPUType", GPUType, regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)},
	{"Region", Region, regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)},
	{"QOS", QOS, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)},
}

func TestRules(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]bool // rules that accept in; the others refuse it
	}{
		{"", nil},
		{"sf", map[string]bool{"Name": true, "GPUType": true, "Region": true, "QOS": true}},
		{"a100", map[string]bool{"Name": true, "GPUType": true, "Region": true, "QOS": true}},
		{"h100-80gb", map[string]bool{"Name": true, "GPUType": true, "Region": true, "QOS": true}},
		{"us-west1", map[string]bool{"Name": true, "GPUType": true, "Region": true, "QOS": true}},
		{"europe.west_3", map[string]bool{"Name": true, "Region": true}},
		{"Berlin", map[string]bool{"Name": true, "QOS": true}},
		{"100a", map[string]bool{"Name": true, "Region": true, "QOS": true}},
		{"-sf", nil},
		{".sf", nil},
		{"_sf", nil},
		{"s f", nil},
		{"sf\n", nil},
		{"tokyo/1", nil},
		{"zürich", nil},
		{strings.Repeat("a", 32), map[string]bool{"Name": true, "GPUType": true, "Region": true, "QOS": true}},
		{strings.Repeat("a", 33), map[string]bool{"Name": true, "Region": true}},
		{strings.Repeat("a", 64), map[string]bool{"Name": true, "Region": true}},
		{strings.Repeat("a", 65), nil},
	}
	for _, tt := range tests {
		for _, r := range rules {
			if got := r.check(tt.in); got != tt.want[r.name] {
				t.Errorf("%s(%q) = %v, want %v", r.name, tt.in, got, tt.want[r.name])
			}
		}
	}
}

func FuzzRules(f *testing.F) {
	for _, s := range []string{"", "sf", "a100", "us-west1", "-x", "A.b_c-d", strings.Repeat("z", 64), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range rules {
			if got, want := r.check(s), r.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the regular expression says %v", r.name, s, got, want)
			}
		}
	})
}

func BenchmarkName(b *testing.B) {
	for b.Loop() {
		Name("europe-west3")
	}
}
