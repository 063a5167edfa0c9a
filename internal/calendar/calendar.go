package calendar

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// MaxRamp is the longest shoulder a Spec may ask for.
const MaxRamp = 12 * time.Hour

// MaxNext is how far ahead Next looks for a change.
const MaxNext = 400 * 24 * time.Hour

// belowOne is the largest float64 below 1: the factor at the very end of a
// working window, where the falling ramp starts, which is already outside
// the window.
const belowOne = 1 - 0x1p-53

// Spec describes a team's working calendar.
type Spec struct {
	// Zone is the team's time zone; Start, End, Days and Holidays are read
	// on its clock.
	Zone *time.Location
	// Start and End are the local times of day at which a working day
	// starts and ends, as offsets from midnight in [0, 24h). End <= Start
	// means the working day crosses midnight and ends on the next day
	// (22:00 to 06:00); End == Start makes it 24 hours long.
	Start, End time.Duration
	// Days, indexed by time.Weekday, are the days of the week on which a
	// working day starts.
	Days [7]bool
	// Holidays are local dates on which no working day starts, even if
	// Days says one would. A working day that crosses midnight into a
	// holiday still happens.
	Holidays map[Date]bool
	// Ramp is the shoulder around each working day: the factor rises
	// linearly from 0 to 1 over Ramp before Start and falls from 1 to 0
	// over Ramp after End, in elapsed time. 0 makes the factor a step. At
	// most MaxRamp.
	Ramp time.Duration
}

// Calendar answers when a team is in its working hours. Build one with New
// or FromConfig; it is a small immutable value, safe to copy and to use from
// any number of goroutines. The zero Calendar has no working hours at all.
type Calendar struct {
	zone       *time.Location
	start, end time.Duration
	days       [7]bool
	holidays   []int64 // day numbers, sorted
	ramp       time.Duration
}

// Window is one working day, as the instants at which it starts and ends.
type Window struct {
	Day        Date      // the local date on which it starts
	Start, End time.Time // in UTC; Start < End
}

// FieldError says which field of a Spec, or of a config team, is wrong and
// why.
type FieldError struct {
	Field string // as the Spec or the team's YAML spells it: "ramp", "working_days[2]"
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

var _ error = (*FieldError)(nil)

// New checks s and returns its Calendar, or an error that joins a
// *FieldError for each problem. It copies what it keeps: changing s's
// Holidays afterwards does not change the Calendar.
func New(s Spec) (Calendar, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	if s.Zone == nil {
		bad("zone", "is nil")
	}
	if s.Start < 0 || s.Start >= 24*time.Hour {
		bad("start", "%v is not a time of day (want 0 to under 24h)", s.Start)
	}
	if s.End < 0 || s.End >= 24*time.Hour {
		bad("end", "%v is not a time of day (want 0 to under 24h)", s.End)
	}
	if s.Ramp < 0 || s.Ramp > MaxRamp {
		bad("ramp", "%v is out of range (want 0 to %v)", s.Ramp, MaxRamp)
	}
	var holidays []int64
	for _, d := range slices.SortedFunc(maps.Keys(s.Holidays), compareDates) {
		switch {
		case !s.Holidays[d]:
		case !d.IsValid():
			bad("holidays", "%d-%02d-%02d is not a date", d.Year, int(d.Month), d.Day)
		default:
			holidays = append(holidays, d.dayNum())
		}
	}
	if len(errs) > 0 {
		return Calendar{}, errors.Join(errs...)
	}
	return Calendar{zone: s.Zone, start: s.Start, end: s.End, days: s.Days, holidays: holidays, ramp: s.Ramp}, nil
}

func compareDates(a, b Date) int {
	if a.Year != b.Year {
		return a.Year - b.Year
	}
	if a.Month != b.Month {
		return int(a.Month) - int(b.Month)
	}
	return a.Day - b.Day
}

// Spec returns the Spec c was built from, less the holidays that were false.
func (c Calendar) Spec() Spec {
	s := Spec{Zone: c.zone, Start: c.start, End: c.end, Days: c.days, Ramp: c.ramp}
	if len(c.holidays) > 0 {
		s.Holidays = make(map[Date]bool, len(c.holidays))
		for _, n := range c.holidays {
			s.Holidays[dateOfDay(n)] = true
		}
	}
	return s
}

// Factor returns the team's time-zone factor at t: 1 inside a working
// window, on the ramps the fraction of the ramp covered, 0 elsewhere. Where
// the ramps of two windows overlap it is the larger of the two, never their
// sum; outside every window it is below 1, even at the end of a window,
// where the falling ramp starts. Factor does not allocate.
func (c Calendar) Factor(t time.Time) float64 {
	return c.factor(t, c.ramp)
}

// InHours reports whether t lies in a working window [Start, End), which is
// whether Factor(t) == 1.
func (c Calendar) InHours(t time.Time) bool {
	return c.factor(t, 0) == 1
}

func (c Calendar) factor(t time.Time, ramp time.Duration) float64 {
	if c.zone == nil {
		return 0
	}
	// Instants are durations since t here: integers are faster to compare
	// than time.Time.
	r, day := newResolver(c.zone, t)
	best := 0.0
	// A working day that starts three local days before t's can still
	// reach t when the zone moved its clocks forward by a day in between,
	// as Pacific/Apia did in 2011; days later than two after t's cannot.
	for d := day - 3; d <= day+2; d++ {
		if !c.works(d) {
			continue
		}
		start, end := r.since(d, c.start), r.since(d+c.endDay(), c.end)
		if start == end {
			continue // lost in a skipped stretch of clock time
		}
		if start > 0 {
			if start < ramp {
				best = max(best, float64(ramp-start)/float64(ramp))
			}
			break // later working days start later still
		}
		if end > 0 {
			return 1
		}
		if -end < ramp {
			best = max(best, float64(ramp+end)/float64(ramp))
		}
	}
	return min(best, belowOne)
}

// works reports whether a working window starts on local day d: whether d
// is a working day and not a holiday.
func (c *Calendar) works(d int64) bool {
	if !c.days[weekday(d)] {
		return false
	}
	_, holiday := slices.BinarySearch(c.holidays, d)
	return !holiday
}

// endDay is the day on which a working window ends, counted from the day it
// starts.
func (c *Calendar) endDay() int64 {
	if c.end <= c.start {
		return 1
	}
	return 0
}

// shift returns the working window that starts on local day d, if one
// does: d must be a working day and not a holiday, and the window must not
// vanish into a skipped hour (working hours 02:10 to 02:50 on the day
// clocks jump from 02:00 to 03:00).
func (c *Calendar) shift(r *resolver, d int64) (start, end time.Time, ok bool) {
	if !c.works(d) {
		return start, end, false
	}
	start = r.at(time.Unix(d*secondsPerDay, 0).Add(c.start))
	end = r.at(time.Unix((d+c.endDay())*secondsPerDay, 0).Add(c.end))
	return start, end, start.Before(end)
}

// Next returns the first instant after t at which InHours changes: the end
// of the window t is in, or the start of the next window. Windows that touch
// (24-hour working days) count as one. It returns false when there is no
// change up to MaxNext after t.
func (c Calendar) Next(t time.Time) (time.Time, bool) {
	if c.zone == nil {
		return time.Time{}, false
	}
	limit := t.Add(MaxNext)
	r, day := newResolver(c.zone, t)
	in := false
	var end time.Time // of the window t is in, while in
	// A working day that starts MaxNext plus two local days after t's
	// starts after limit.
	for d := day - 3; d <= day+int64(MaxNext/(24*time.Hour))+2; d++ {
		s, e, ok := c.shift(&r, d)
		switch {
		case !ok:
		case in && s.Equal(end):
			end = e
		case in:
			return end.UTC(), true
		case !e.After(t):
		case s.After(limit):
			return time.Time{}, false
		case s.After(t):
			return s.UTC(), true
		default:
			in, end = true, e
		}
		if in && end.After(limit) {
			return time.Time{}, false
		}
	}
	if in {
		return end.UTC(), true
	}
	return time.Time{}, false
}

// Windows returns the working windows that intersect [from, to), in order,
// whole (not cut to [from, to)) and in UTC. Windows never overlap; two
// touch when, for instance, a working day is 24 hours long.
func (c Calendar) Windows(from, to time.Time) []Window {
	if c.zone == nil || !from.Before(to) {
		return nil
	}
	r, first := newResolver(c.zone, from)
	_, last := newResolver(c.zone, to)
	var out []Window
	for d := first - 3; d <= last+2; d++ {
		s, e, ok := c.shift(&r, d)
		if !ok || !e.After(from) {
			continue
		}
		if !s.Before(to) {
			break
		}
		out = append(out, Window{Day: dateOfDay(d), Start: s.UTC(), End: e.UTC()})
	}
	return out
}
