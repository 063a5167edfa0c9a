package accounting

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMonthHours(t *testing.T) {
	tests := []struct {
		zone  string
		month string
		hours int
	}{
		{"UTC", "2026-02", 672},
		{"UTC", "2028-02", 696},
		{"Europe/Berlin", "2026-03", 743}, // clocks spring forward on the 29th
		{"Europe/Berlin", "2026-10", 745}, // and fall back on the 25th
		{"Europe/Berlin", "2026-11", 720},
		{"America/Los_Angeles", "2026-03", 743}, // the 8th
		{"America/Los_Angeles", "2026-11", 721}, // the 1st, the month's first night: 30 days and an hour
		{"Asia/Tokyo", "2026-03", 744},          // no daylight saving time
		{"Australia/Lord_Howe", "2026-04", 720}, // falls back half an hour: 720.5 h
	}
	for _, tt := range tests {
		t.Run(tt.zone+"/"+tt.month, func(t *testing.T) {
			m, err := ParseMonth(tt.month)
			if err != nil {
				t.Fatal(err)
			}
			r := m.Range(zone(t, tt.zone))
			if got := int(r.Duration() / time.Hour); got != tt.hours {
				t.Errorf("%s in %s lasts %v, want %d hours", tt.month, tt.zone, r.Duration(), tt.hours)
			}
		})
	}
}

// TestMonthsTile checks that consecutive months share their boundary, so
// that no hour is counted twice or lost, in zones with clock changes at
// every hour of the night, including ones whose changes skip midnight.
func TestMonthsTile(t *testing.T) {
	for _, name := range []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo", "America/Santiago",
		"America/Havana", "Asia/Beirut", "Australia/Lord_Howe", "Pacific/Apia", "America/Sao_Paulo"} {
		loc := zone(t, name)
		for year := 2010; year <= 2030; year++ {
			var total time.Duration
			m := Month{year, time.January}
			for range 12 {
				r, next := m.Range(loc), m.Next().Range(loc)
				if !r.End.Equal(next.Start) {
					t.Fatalf("%s: %s ends at %v but %s starts at %v", name, m, r.End, m.Next(), next.Start)
				}
				if !r.Start.Before(r.End) {
					t.Fatalf("%s: %s is empty: %v", name, m, r)
				}
				total += r.Duration()
				m = m.Next()
			}
			start := Month{year, time.January}.Range(loc).Start
			end := Month{year + 1, time.January}.Range(loc).Start
			if total != end.Sub(start) {
				t.Errorf("%s %d: months add up to %v, the year is %v", name, year, total, end.Sub(start))
			}
		}
	}
}

func TestLocalTime(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	berlin := zone(t, "Europe/Berlin")
	tests := []struct {
		name string
		got  time.Time
		want string
	}{
		{"winter", LocalTime(la, 2026, 1, 15, 9, 0, 0), "2026-01-15T17:00:00Z"},
		{"summer", LocalTime(la, 2026, 7, 15, 9, 0, 0), "2026-07-15T16:00:00Z"},
		{"skipped hour is the jump", LocalTime(la, 2026, 3, 8, 2, 30, 0), "2026-03-08T10:00:00Z"},
		{"repeated hour is the first", LocalTime(la, 2026, 11, 1, 1, 30, 0), "2026-11-01T08:30:00Z"},
		{"after the repeated hour", LocalTime(la, 2026, 11, 1, 2, 0, 0), "2026-11-01T10:00:00Z"},
		{"berlin skipped", LocalTime(berlin, 2026, 3, 29, 2, 15, 0), "2026-03-29T01:00:00Z"},
		{"berlin repeated", LocalTime(berlin, 2026, 10, 25, 2, 15, 0), "2026-10-25T00:15:00Z"},
		{"normalised", LocalTime(time.UTC, 2026, 13, 1, 0, 0, 0), "2027-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(utc(t, tt.want), tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestClipAndOverlaps(t *testing.T) {
	nov := Range{utc(t, "2026-11-01T00:00:00Z"), utc(t, "2026-12-01T00:00:00Z")}
	tests := []struct {
		name     string
		start    string
		end      string
		r        Range
		clip     time.Duration
		overlaps bool
	}{
		{"inside", "2026-11-02T00:00:00Z", "2026-11-02T05:00:00Z", nov, 5 * time.Hour, true},
		{"across the start", "2026-10-31T22:00:00Z", "2026-11-01T03:00:00Z", nov, 3 * time.Hour, true},
		{"across the end", "2026-11-30T22:00:00Z", "2026-12-01T03:00:00Z", nov, 2 * time.Hour, true},
		{"around", "2026-10-31T00:00:00Z", "2026-12-02T00:00:00Z", nov, 30 * 24 * time.Hour, true},
		{"ends at the start", "2026-10-31T22:00:00Z", "2026-11-01T00:00:00Z", nov, 0, false},
		{"starts at the end", "2026-12-01T00:00:00Z", "2026-12-01T03:00:00Z", nov, 0, false},
		{"before", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", nov, 0, false},
		{"unbounded start", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", Range{End: nov.End}, 24 * time.Hour, true},
		{"unbounded end", "2027-10-01T00:00:00Z", "2027-10-02T00:00:00Z", Range{Start: nov.Start}, 24 * time.Hour, true},
		{"unbounded", "2027-10-01T00:00:00Z", "2027-10-02T00:00:00Z", Range{}, 24 * time.Hour, true},
		{"never ran, inside", "", "2026-11-05T00:00:00Z", nov, 0, true},
		{"never ran, at the start", "", "2026-11-01T00:00:00Z", nov, 0, true},
		{"never ran, at the end", "", "2026-12-01T00:00:00Z", nov, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(t, 1, "sf", "p", "a100", 1, tt.start, tt.end)
			if got := Clip(r, tt.r); got != tt.clip {
				t.Errorf("Clip = %v, want %v", got, tt.clip)
			}
			if got := Overlaps(r, tt.r); got != tt.overlaps {
				t.Errorf("Overlaps = %v, want %v", got, tt.overlaps)
			}
		})
	}
}

func TestParseMonth(t *testing.T) {
	for in, want := range map[string]Month{"2026-11": {2026, 11}, "0001-01": {1, 1}, "9999-12": {9999, 12}} {
		got, err := ParseMonth(in)
		if err != nil || got != want {
			t.Errorf("ParseMonth(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"", "2026", "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "2026-11-01", "0000-01", "+026-11", " 2026-11"} {
		_, err := ParseMonth(in)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.What != "month" || pe.Input != in {
			t.Errorf("ParseMonth(%q) error = %v, want a month *ParseError", in, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	now := utc(t, "2026-11-27T10:00:00Z") // 02:00 PST
	tests := []struct {
		in   string
		loc  *time.Location
		want string
	}{
		{"2026-11-01", time.UTC, "2026-11-01T00:00:00Z"},
		{"2026-11-01", la, "2026-11-01T07:00:00Z"}, // midnight PDT
		{"2026-11-01T01:30", la, "2026-11-01T08:30:00Z"},
		{"2026-11-01T02:00:00", la, "2026-11-01T10:00:00Z"},
		{"2026-03-08T02:30", la, "2026-03-08T10:00:00Z"},
		{"2026-11-27T09:30:15", time.UTC, "2026-11-27T09:30:15Z"},
		{"now", la, "2026-11-27T10:00:00Z"},
		{"NOW", la, "2026-11-27T10:00:00Z"},
		{"now-3600", la, "2026-11-27T09:00:00Z"},
		{"now-90min", la, "2026-11-27T08:30:00Z"},
		{"now+2hours", la, "2026-11-27T12:00:00Z"},
		{"now-1h", la, "2026-11-27T09:00:00Z"},
		{"now-7days", time.UTC, "2026-11-20T10:00:00Z"},
		{"now-1week", time.UTC, "2026-11-20T10:00:00Z"},
		// 02:00 PST on 11-27 is 02:00 PDT on 10-27: a calendar month and one
		// more hour of elapsed time back.
		{"now-31days", la, "2026-10-27T09:00:00Z"},
		{"today", la, "2026-11-27T08:00:00Z"},
		{"midnight", time.UTC, "2026-11-27T00:00:00Z"},
		{"yesterday", la, "2026-11-26T08:00:00Z"},
		{"tomorrow", la, "2026-11-28T08:00:00Z"},
		{"noon", la, "2026-11-27T20:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, now, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(utc(t, tt.want), got); diff != "" {
				t.Errorf("ParseTime(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseTimeErrors(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, in := range []string{"", "2026-11", "2026-11-31", "2026-02-29", "2026-11-01T24:00", "2026-11-01T10:60",
		"2026-11-01 10:00", "2026-11-01T10", "2026-11-01T10:00:60", "2026-11-01t10:00", "now-", "now-x", "now--1",
		"now-7fortnights", "now+99999999999", "now-1000000000", "now-999999999weeks", "now+999999999hours", "0000-01-01",
		"yesterday-1", "2026-1-01", "11/27/26"} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseTime(in, now, time.UTC)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.What != "time" || pe.Input != in {
				t.Errorf("ParseTime(%q) = %v, %v; want a time *ParseError", in, got, err)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	r, err := ParseRange("2026-11-01", "now", now, time.UTC)
	if err != nil || !r.Start.Equal(utc(t, "2026-11-01T00:00:00Z")) || !r.End.Equal(now) {
		t.Errorf("ParseRange = %v, %v", r, err)
	}
	if r, err := ParseRange("", "", now, time.UTC); err != nil || r != (Range{}) {
		t.Errorf("ParseRange of nothing = %v, %v; want the unbounded range", r, err)
	}
	_, err = ParseRange("now", "today", now, time.UTC)
	var re *RangeError
	if !errors.As(err, &re) {
		t.Errorf("ParseRange(now, today) error = %v, want *RangeError", err)
	}
	_, err = ParseRange("now", "later", now, time.UTC)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Errorf("ParseRange(now, later) error = %v, want *ParseError", err)
	}
}
