package config

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"300", 300 * time.Second},
		{"-5", -5 * time.Second},
		{"300s", 300 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"250ms", 250 * time.Millisecond},
		{"-1h", -time.Hour},
		{"+1h", time.Hour},
		{"7d", 7 * day},
		{"1d12h", 36 * time.Hour},
		{"-1d12h", -36 * time.Hour},
		{"0d", 0},
		{"106751d", 106751 * day},
		{"9223372036", 9223372036 * time.Second},
		{"-9223372036854775808ns", math.MinInt64},
		{"-2562047h47m16.854775808s", math.MinInt64},
		{"2562047h47m16.854775807s", math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDuration(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "empty"},
		{"-", "no number"},
		{"--5s", "a sign may only lead"},
		{"1d-5h", "a sign may only lead"},
		{"1d5", `missing unit after "5"`},
		{"1.5", "missing unit"},
		{"1.5d", `unknown unit "d"`},
		{"d", "not a duration"},
		{"1h2d", `unknown unit "d"`},
		{"5 s", `unknown unit " s"`},
		{"106752d", "out of range"},
		{"9223372037", "out of range"},
		{"99999999999999999999", "out of range"},
		{"106751d24h", "out of range"},
		{"2562048h", "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			want := `invalid duration "` + tt.in + `": ` + tt.want + " (want a duration such as 300s, 1h30m or 7d, or whole seconds)"
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{5 * time.Minute, "5m"},
		{300 * time.Second, "5m"},
		{7 * 24 * time.Hour, "168h"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
		{-time.Hour, "-1h"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Duration(tt.in).String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDurationYAML(t *testing.T) {
	type limits struct {
		A Duration `yaml:"a"`
		B Duration `yaml:"b"`
	}
	var got limits
	if err := yaml.Unmarshal([]byte("a: 300\nb: \"7d\"\n"), &got); err != nil {
		t.Fatal(err)
	}
	want := limits{Duration(300 * time.Second), Duration(7 * 24 * time.Hour)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Unmarshal (-want +got):\n%s", diff)
	}
	out, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("a: 5m\nb: 168h\n", string(out)); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}

	for in, wantErr := range map[string]string{
		"a: 1.5\n":        `line 1: invalid duration "1.5": missing unit`,
		"a: true\n":       `line 1: cannot unmarshal !!bool "true" into a duration`,
		"a: [1]\n":        "line 1: cannot unmarshal a sequence into a duration",
		"a: x\nb: y\n":    `line 2: invalid duration "y"`,
		"a: {h: 1}\n":     "line 1: cannot unmarshal a mapping into a duration",
		"b: 1d 2h\n":      `line 1: invalid duration "1d 2h"`,
		"a: 1e3\n":        `line 1: invalid duration "1e3"`,
		"a: 0x10\n":       `line 1: invalid duration "0x10"`,
		"a: 2020-01-01\n": `line 1: cannot unmarshal !!timestamp "2020-01-01" into a duration`,
	} {
		var l limits
		err := yaml.Unmarshal([]byte(in), &l)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Unmarshal(%q) error = %v; want one containing %q", in, err, wantErr)
		}
	}
}
