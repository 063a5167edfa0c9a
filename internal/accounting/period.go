package accounting

import (
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // reports in any zone on hosts without a zone database

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/calendar"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Range is the half-open span of time [Start, End). A zero Start has no
// lower bound and a zero End no upper bound.
type Range struct {
	Start, End time.Time
}

// Contains reports whether t lies in r.
func (r Range) Contains(t time.Time) bool {
	return (r.Start.IsZero() || !t.Before(r.Start)) && (r.End.IsZero() || t.Before(r.End))
}

// Duration is End - Start, or 0 when r is unbounded or empty.
func (r Range) Duration() time.Duration {
	if r.Start.IsZero() || r.End.IsZero() || !r.End.After(r.Start) {
		return 0
	}
	return r.End.Sub(r.Start)
}

// asTime is ts as a time, or the zero time when ts is unset.
func asTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// span returns the run of rec: [start, end), or the instant end for a job
// that ended without running (and for a start after the end).
func span(rec *gpuqv1.RunRecord) (start, end time.Time) {
	end = asTime(rec.GetEndTime())
	start = asTime(rec.GetStartTime())
	if start.IsZero() || start.After(end) {
		start = end
	}
	return start, end
}

// Overlaps reports whether the run of rec overlaps r, the way sacct selects
// jobs by --starttime and --endtime: it started before r ends and ended
// after r starts. A record without a run (a job that ended without
// running) overlaps when its end time lies in r.
func Overlaps(rec *gpuqv1.RunRecord, r Range) bool {
	start, end := span(rec)
	if start.Equal(end) {
		return r.Contains(end)
	}
	return (r.End.IsZero() || start.Before(r.End)) && (r.Start.IsZero() || end.After(r.Start))
}

// Clip returns how long the run of rec lies inside r: 0 for a record
// without a run. Clipping one run to consecutive ranges that tile a span
// adds up to the part of the run in the span.
func Clip(rec *gpuqv1.RunRecord, r Range) time.Duration {
	start, end := span(rec)
	if !r.Start.IsZero() && start.Before(r.Start) {
		start = r.Start
	}
	if !r.End.IsZero() && end.After(r.End) {
		end = r.End
	}
	if !end.After(start) {
		return 0
	}
	return end.Sub(start)
}

// gpus is the number of GPUs the run held.
func gpus(rec *gpuqv1.RunRecord) uint32 {
	if n := rec.GetGpuCount(); n > 0 {
		return n
	}
	return uint32(len(rec.GetGpuIds()))
}

// Month is a calendar month, read in a time zone by Range.
type Month struct {
	Year  int
	Month time.Month
}

// MonthOf returns the month that t falls in on loc's calendar.
func MonthOf(t time.Time, loc *time.Location) Month {
	y, m, _ := t.In(loc).Date()
	return Month{y, m}
}

// ParseMonth reads a month written YYYY-MM, as `gpuqctl cost --month`
// takes it: 2026-11.
func ParseMonth(s string) (Month, error) {
	fail := func() (Month, error) {
		return Month{}, &ParseError{What: "month", Input: s, Err: errors.New("want YYYY-MM, such as 2026-11")}
	}
	if len(s) != 7 || s[4] != '-' {
		return fail()
	}
	y, ok1 := digits(s[:4])
	m, ok2 := digits(s[5:])
	if !ok1 || !ok2 || y < 1 || m < 1 || m > 12 {
		return fail()
	}
	return Month{y, time.Month(m)}, nil
}

// String writes m as YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Next is the month after m.
func (m Month) Next() Month {
	if m.Month == time.December {
		return Month{m.Year + 1, time.January}
	}
	return Month{m.Year, m.Month + 1}
}

// Range is the month in loc: from local midnight on its first day to local
// midnight on the first day of the next month.
func (m Month) Range(loc *time.Location) Range {
	n := m.Next()
	return Range{
		Start: LocalTime(loc, m.Year, m.Month, 1, 0, 0, 0),
		End:   LocalTime(loc, n.Year, n.Month, 1, 0, 0, 0),
	}
}

// LocalTime returns the instant, in UTC, at which loc's clock reads the
// given date and time; the fields are normalised as time.Date normalises
// them. A reading that happens twice, in the hour repeated when clocks fall
// back, is its first occurrence; one that never happens, in the hour
// skipped when clocks spring forward, is the instant of the jump: 02:30 on
// 2026-03-08 in America/Los_Angeles is 10:00 UTC. So LocalTime never goes
// back as the reading goes forward, and ranges built from consecutive
// readings tile time. It follows internal/calendar's resolution of local
// times; time.Date leaves both cases unspecified.
func LocalTime(loc *time.Location, year int, month time.Month, day, hour, minute, sec int) time.Time {
	return calendar.LocalTime(loc, year, month, day, hour, minute, sec)
}

// ParseError is text that one of the package's parsers could not read.
type ParseError struct {
	What  string // "time", "month", "format"
	Input string
	Err   error // what is wrong, in words
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid %s %q: %v", e.What, e.Input, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// digits reads a string of ASCII digits, at most 9 of them.
func digits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
