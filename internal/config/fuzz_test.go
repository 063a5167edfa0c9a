package config

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// Marshal writes in a form Parse reads back to the same config.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile(filepath.Join(examplesDir, "gpuqd.yaml")); err == nil {
		f.Add(string(example))
	}
	for _, s := range []string{
		"",
		"{}",
		"~",
		"listen: {tcp: \"\"}\n",
		"teams:\n  - {name: a, timezone: UTC}\n",
		"teams:\n  - {name: a, timezone: UTC, shares: 1e-300, hourly_rate: 0.000001}\n",
		"teams:\n  - &t {name: a, timezone: UTC}\n  - {<<: *t, name: b, shares: ~}\n",
		"pools:\n  - {name: p, gpu_type: a100, default_time_limit: 1d, max_time_limit: 2d}\n",
		"defaults: {time_limit: 300, max_time_limit: 7d, grace_period: 1h30m, kill_wait: 1s, team: x}\n",
		"data_dir: /a\n---\ndata_dir: /b\n",
		"teams: [\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse([]byte(in))
		if err != nil {
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\ninput:\n%s\nmarshalled:\n%s", err, in, out)
		}
		if diff := cmp.Diff(c, back, ignoreLoc); diff != "" {
			t.Fatalf("Parse(Marshal(c)) differs (-first +second):\n%s\ninput:\n%s\nmarshalled:\n%s", diff, in, out)
		}
	})
}

// FuzzDuration checks that every duration ParseDuration accepts is written
// by Duration.String in a form it reads back, and that every time.Duration
// round-trips.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "300", "-5", "300s", "1h30m", "7d", "1d12h", "-1d", "1.5h", "106751d", "-2562047h47m16.854775808s", "1d5", "+-1s"} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(math.MinInt64))
	f.Add("", int64(math.MaxInt64))
	f.Add("", int64(time.Hour+time.Nanosecond))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		for _, d := range []time.Duration{time.Duration(n), mustParse(s)} {
			text := Duration(d).String()
			back, err := ParseDuration(text)
			if err != nil {
				t.Fatalf("ParseDuration(%q) (from %d): %v", text, d, err)
			}
			if back != d {
				t.Fatalf("ParseDuration(%q) = %d, want %d", text, back, d)
			}
		}
	})
}

func mustParse(s string) time.Duration {
	d, err := ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// FuzzParseClock checks that ParseClock accepts exactly the times it can
// print back.
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"00:00", "09:00", "23:59", "24:00", "9:00", "+9:00", "0x:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseClock(s)
		if err != nil {
			return
		}
		if d < 0 || d >= 24*time.Hour {
			t.Fatalf("ParseClock(%q) = %v, outside a day", s, d)
		}
		if back := fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60); back != s {
			t.Fatalf("ParseClock(%q) = %v, which prints as %q", s, d, back)
		}
	})
}
