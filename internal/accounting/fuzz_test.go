package accounting

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-01", "2026-11-01T01:30", "2026-03-08T02:30:00", "now", "now-7days", "now+2hours",
		"now-90min", "now-1w", "today", "midnight", "noon", "yesterday", "tomorrow", "now-", "9999-12-31T23:59:59", "0001-01-01"} {
		f.Add(s, int64(1795_000_000), uint8(1))
	}
	f.Add("2026-10-25T02:30", int64(0), uint8(2))
	f.Add("now-999999999weeks", int64(-1), uint8(4))
	var zones []*time.Location
	for _, name := range []string{"UTC", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "Australia/Lord_Howe", "America/Santiago", "Pacific/Apia"} {
		zones = append(zones, zone(f, name))
	}
	f.Fuzz(func(t *testing.T, s string, unix int64, zi uint8) {
		loc := zones[int(zi)%len(zones)]
		now := time.Unix(unix%(1<<36), 0) // about the years 0 to 4100
		got, err := ParseTime(s, now, loc)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Input != s {
				t.Fatalf("ParseTime(%q) error %v is not a *ParseError naming the input", s, err)
			}
			return
		}
		if got.Location() != time.UTC || got.Year() < 1 || got.Year() > 9999 {
			t.Fatalf("ParseTime(%q) = %v: not UTC or out of range", s, got)
		}
		// A local time reads back as itself: the instant's clock shows it,
		// unless it was skipped, and then the clock shows a later time.
		if len(s) == 19 && s[10] == 'T' {
			back := got.In(loc).Format(TimeLayout)
			if back < s {
				t.Fatalf("ParseTime(%q) = %v, whose clock reads %s", s, got, back)
			}
			again, err := ParseTime(back, now, loc)
			if err != nil || !again.Equal(got) && back == s {
				t.Fatalf("ParseTime(%q) = %v, %v; want %v", back, again, err, got)
			}
		}
	})
}

func FuzzParseMonth(f *testing.F) {
	for _, s := range []string{"2026-11", "0001-01", "9999-12", "2026-13", "2026-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMonth(s)
		if err != nil {
			return
		}
		if m.String() != s {
			t.Fatalf("ParseMonth(%q) = %v, which writes %q", s, m, m.String())
		}
		r := m.Range(time.UTC)
		if !r.Start.Before(r.End) || !r.End.Equal(m.Next().Range(time.UTC).Start) {
			t.Fatalf("%v: range %v", m, r)
		}
	})
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{DefaultFormat, "jobid%-20,state%5", "Account,Partition", "JobID%0", ",", "Cost%1024", "x%-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cols, err := ParseFormat(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.What != "format" {
				t.Fatalf("ParseFormat(%q) error %v is not a format *ParseError", s, err)
			}
			return
		}
		if len(cols) == 0 {
			t.Fatalf("ParseFormat(%q) gave no columns", s)
		}
		for _, c := range cols {
			if c.Field < 1 || c.Field >= numFields || c.Width < 1 || c.Width > maxWidth {
				t.Fatalf("ParseFormat(%q): bad column %+v", s, c)
			}
		}
		again, err := ParseFormat(FormatString(cols))
		if err != nil {
			t.Fatalf("ParseFormat(FormatString(%q) = %q): %v", s, FormatString(cols), err)
		}
		if diff := cmp.Diff(cols, again); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", s, diff)
		}
	})
}
