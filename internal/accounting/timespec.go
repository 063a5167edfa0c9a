package accounting

import (
	"errors"
	"math"
	"strings"
	"time"
)

// timeSyntax lists what ParseTime reads, for its errors.
var timeSyntax = errors.New("want YYYY-MM-DD[THH:MM[:SS]], now[{+|-}COUNT[UNIT]], today, midnight, noon, yesterday or tomorrow")

// ParseTime reads a --starttime or --endtime value the way sacct reads it,
// with local times read in loc:
//
//	2026-11-27                local midnight at the start of the day
//	2026-11-27T09:30          local time, seconds 00
//	2026-11-27T09:30:15       local time
//	now                       now
//	now-7days, now+2hours     now less or plus COUNT UNITs
//	today, midnight           the start of today in loc
//	yesterday, tomorrow       the start of that day in loc
//	noon                      12:00 today in loc
//
// UNIT is seconds (the default when there is none), minutes, hours, days or
// weeks, also written s, sec, secs, second, min, mins, minute, h, hr, hrs,
// hour, d, day, w, week, in any case. Seconds, minutes and hours are elapsed
// time; days and weeks are calendar days in loc, so now-7days is the same
// wall-clock time a week ago even across a clock change. Keywords are read
// in any case. Local times follow LocalTime across clock changes. Results
// lie in the years 0001 to 9999, which timestamps can carry.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	fail := func(err error) (time.Time, error) {
		return time.Time{}, &ParseError{What: "time", Input: s, Err: err}
	}
	t, err := parseTime(s, now, loc)
	if err != nil {
		return fail(err)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fail(errors.New("outside the years 0001 to 9999"))
	}
	return t.UTC(), nil
}

func parseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	lower := strings.ToLower(s)
	wall := now.In(loc)
	y, m, d := wall.Date()
	day := func(offset int) time.Time { return LocalTime(loc, y, m, d+offset, 0, 0, 0) }
	switch lower {
	case "today", "midnight":
		return day(0), nil
	case "yesterday":
		return day(-1), nil
	case "tomorrow":
		return day(1), nil
	case "noon":
		return LocalTime(loc, y, m, d, 12, 0, 0), nil
	}
	if rest, ok := strings.CutPrefix(lower, "now"); ok {
		return parseRelative(rest, now, loc)
	}
	return parseLocal(s, loc)
}

// parseRelative reads what follows "now": nothing, or {+|-}COUNT[UNIT].
func parseRelative(rest string, now time.Time, loc *time.Location) (time.Time, error) {
	if rest == "" {
		return now, nil
	}
	sign := 1
	switch rest[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return time.Time{}, timeSyntax
	}
	rest = rest[1:]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	n, ok := digits(rest[:i])
	if !ok {
		return time.Time{}, errors.New("want a count of at most 9 digits after now+ or now-")
	}
	unit, calendarDays := unitOf(rest[i:])
	switch {
	case unit == 0 && calendarDays == 0:
		return time.Time{}, errors.New("unknown unit " + quote(rest[i:]) + " (want seconds, minutes, hours, days or weeks)")
	case calendarDays > 0:
		if n > 4_000_000/calendarDays {
			return time.Time{}, errors.New("outside the years 0001 to 9999")
		}
		wall := now.In(loc)
		y, m, d := wall.Date()
		h, mi, sec := wall.Clock()
		t := LocalTime(loc, y, m, d+sign*n*calendarDays, h, mi, sec)
		return t.Add(time.Duration(wall.Nanosecond())), nil
	}
	if int64(n) > math.MaxInt64/int64(unit) {
		return time.Time{}, errors.New("outside the years 0001 to 9999")
	}
	return now.Add(time.Duration(sign) * time.Duration(n) * unit), nil
}

// unitOf returns the unit a relative time names: an elapsed unit, or a
// number of calendar days.
func unitOf(s string) (unit time.Duration, calendarDays int) {
	switch s {
	case "", "s", "sec", "secs", "second", "seconds":
		return time.Second, 0
	case "min", "mins", "minute", "minutes":
		return time.Minute, 0
	case "h", "hr", "hrs", "hour", "hours":
		return time.Hour, 0
	case "d", "day", "days":
		return 0, 1
	case "w", "week", "weeks":
		return 0, 7
	}
	return 0, 0
}

// parseLocal reads YYYY-MM-DD[THH:MM[:SS]] as a local time in loc.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	var h, mi, sec int
	switch len(s) {
	case 10, 16, 19:
	default:
		return time.Time{}, timeSyntax
	}
	if s[4] != '-' || s[7] != '-' {
		return time.Time{}, timeSyntax
	}
	y, ok1 := digits(s[:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, timeSyntax
	}
	if len(s) > 10 {
		if s[10] != 'T' || s[13] != ':' {
			return time.Time{}, timeSyntax
		}
		var ok4, ok5, ok6 bool
		h, ok4 = digits(s[11:13])
		mi, ok5 = digits(s[14:16])
		ok6 = true
		if len(s) == 19 {
			if s[16] != ':' {
				return time.Time{}, timeSyntax
			}
			sec, ok6 = digits(s[17:19])
		}
		if !ok4 || !ok5 || !ok6 {
			return time.Time{}, timeSyntax
		}
		if h > 23 || mi > 59 || sec > 59 {
			return time.Time{}, errors.New("no such time of day")
		}
	}
	if y < 1 || m < 1 || m > 12 || d < 1 || time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() != d {
		return time.Time{}, errors.New("no such date")
	}
	return LocalTime(loc, y, time.Month(m), d, h, mi, sec), nil
}

func quote(s string) string { return `"` + s + `"` }

// ParseRange reads a --starttime and --endtime pair with ParseTime; an empty
// value leaves that side unbounded. The start must be before the end.
func ParseRange(start, end string, now time.Time, loc *time.Location) (Range, error) {
	var r Range
	var err error
	if start != "" {
		if r.Start, err = ParseTime(start, now, loc); err != nil {
			return Range{}, err
		}
	}
	if end != "" {
		if r.End, err = ParseTime(end, now, loc); err != nil {
			return Range{}, err
		}
	}
	if !r.Start.IsZero() && !r.End.IsZero() && !r.Start.Before(r.End) {
		return Range{}, &RangeError{Range: r}
	}
	return r, nil
}

// RangeError is a range whose start is not before its end.
type RangeError struct {
	Range Range
}

func (e *RangeError) Error() string {
	return "the start " + e.Range.Start.Format(time.RFC3339) + " is not before the end " + e.Range.End.Format(time.RFC3339)
}
