package calendar

import (
	"errors"
	"testing"
	"time"
)

const minuteLayout = "2006-01-02 15:04"

var (
	monFri  = days(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday)
	allWeek = days(time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday)
)

func days(ds ...time.Weekday) [7]bool {
	var out [7]bool
	for _, d := range ds {
		out[d] = true
	}
	return out
}

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utc parses "YYYY-MM-DD HH:MM" (optionally with ":SS") as a UTC instant.
func utc(t testing.TB, s string) time.Time {
	t.Helper()
	return parseIn(t, s, time.UTC)
}

// local parses "YYYY-MM-DD HH:MM" as a wall-clock time in loc; it must not
// be a skipped or repeated reading.
func local(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	tm := parseIn(t, s, loc)
	if got := tm.In(loc).Format(layoutOf(s)); got != s {
		t.Fatalf("%s does not happen in %s (it reads %s)", s, loc, got)
	}
	if earlier := tm.Add(-time.Hour); earlier.In(loc).Format(layoutOf(s)) == s {
		t.Fatalf("%s happens twice in %s: write it as a UTC instant", s, loc)
	}
	return tm
}

func layoutOf(s string) string {
	if len(s) > len(minuteLayout) {
		return minuteLayout + ":05"
	}
	return minuteLayout
}

func parseIn(t testing.TB, s string, loc *time.Location) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation(layoutOf(s), s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func mustNew(t testing.TB, s Spec) Calendar {
	t.Helper()
	c, err := New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func hm(h, m int) time.Duration { return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute }

// fields returns the Field of each *FieldError that err joins, in order.
func fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var fe *FieldError
		if errors.As(err, &fe) && fe == err {
			out = append(out, fe.Field)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}
