package calendar

import (
	"math"
	"time"
)

// maxOffset bounds the UTC offsets that resolve searches. Every zone in the
// tz database stays well inside ±24h (the extremes are local mean times near
// ±16h).
const maxOffset = 24 * time.Hour

// resolve returns the instant at which loc's clock reads the wall-clock time
// w, given as the UTC instant whose UTC clock reads the same (so w's date and
// time of day are the local ones). It defines the two cases in which the
// answer is not unique:
//
//   - A reading that happens twice, in the hour repeated when clocks fall
//     back, resolves to its first occurrence (the earlier instant, still on
//     summer time), as RFC 5545 does.
//   - A reading that never happens, in the hour skipped when clocks spring
//     forward, resolves to the instant of the jump: 02:30 on 2026-03-08 in
//     America/Los_Angeles resolves to 10:00 UTC, when the clocks go from
//     02:00 PST to 03:00 PDT.
//
// So resolve never decreases as w increases, and working hours keep their
// order across every transition. This differs from time.Date, which the Go
// documentation leaves unspecified for skipped times and which in practice
// returns 01:30 PST for 02:30 on that day, an hour before the day's 02:00.
func resolve(loc *time.Location, w time.Time) time.Time {
	// The instant lies within maxOffset of w. Walk the zone's periods of
	// constant offset from w-maxOffset forward; the first period that holds
	// w's reading holds its first occurrence, and a forward jump at the end
	// of a period that passes over w gives its instant.
	x, last := w.Add(-maxOffset), w.Add(maxOffset)
	for range 64 {
		lx := x.In(loc)
		_, sec := lx.Zone()
		off := time.Duration(sec) * time.Second
		start, end := lx.ZoneBounds()
		u := w.Add(-off)
		if (start.IsZero() || !u.Before(start)) && (end.IsZero() || u.Before(end)) {
			return u
		}
		if end.IsZero() || end.After(last) {
			break
		}
		_, sec = end.In(loc).Zone()
		next := time.Duration(sec) * time.Second
		if next > off && !w.Before(end.Add(off)) && w.Before(end.Add(next)) {
			return end
		}
		x = end
	}
	// Only a zone with an offset beyond ±maxOffset gets here.
	_, sec := w.In(loc).Zone()
	return w.Add(-time.Duration(sec) * time.Second)
}

// LocalTime is the instant that a wall-clock reading in loc denotes, in UTC,
// resolved as this package resolves working hours: a repeated reading (when
// clocks fall back) is its first occurrence, a skipped one (when they spring
// forward) is the instant of the jump. Reports that cut time into local days
// and months use it so that their periods tile time exactly.
func LocalTime(loc *time.Location, year int, month time.Month, day, hour, minute, sec int) time.Time {
	return resolve(loc, time.Date(year, month, day, hour, minute, sec, 0, time.UTC)).UTC()
}

// resolver resolves wall-clock readings with one subtraction while they fall
// well inside a period of constant offset, and with resolve otherwise; it
// then moves to the period of the answer, so that a walk over consecutive
// days does one full resolve per transition. It also measures instants as
// durations since a reference instant, which is what Factor compares.
type resolver struct {
	loc          *time.Location
	off          time.Duration
	lo, hi       time.Time // w-off is the answer when it lies in [lo, hi)
	hasLo, hasHi bool      // false: no bound on that side

	ref          time.Time     // the reference instant
	refSec       int64         // ref.Unix()
	refNsec      time.Duration // ref.Nanosecond()
	loRel, hiRel time.Duration // lo and hi less ref, saturated
}

// newResolver returns a resolver for loc with reference and centre t, and
// the number of the local day that t falls on.
func newResolver(loc *time.Location, t time.Time) (resolver, int64) {
	r := resolver{loc: loc, ref: t, refSec: t.Unix(), refNsec: time.Duration(t.Nanosecond())}
	r.centre(t)
	return r, floorDiv(r.refSec+int64(r.off/time.Second), secondsPerDay)
}

func (r *resolver) centre(t time.Time) {
	lt := t.In(r.loc)
	_, sec := lt.Zone()
	r.off = time.Duration(sec) * time.Second
	start, end := lt.ZoneBounds()
	// Within 2×maxOffset of the period's ends another period could hold an
	// earlier occurrence of the same reading, or a gap could hide it.
	r.hasLo, r.hasHi = !start.IsZero(), !end.IsZero()
	r.lo, r.hi = start.Add(2*maxOffset), end.Add(-2*maxOffset)
	r.loRel, r.hiRel = math.MinInt64, math.MaxInt64
	if r.hasLo {
		r.loRel = r.lo.Sub(r.ref)
	}
	if r.hasHi {
		r.hiRel = r.hi.Sub(r.ref)
	}
}

// at returns resolve(r.loc, w).
func (r *resolver) at(w time.Time) time.Time {
	u := w.Add(-r.off)
	if (!r.hasLo || !u.Before(r.lo)) && (!r.hasHi || u.Before(r.hi)) {
		return u
	}
	u = resolve(r.loc, w)
	r.centre(u)
	return u
}

// since returns the instant at which the clock reads local day d plus w, as
// resolve would, measured from the reference instant. The day must be within
// a few weeks of the reference.
func (r *resolver) since(d int64, w time.Duration) time.Duration {
	u := time.Duration(d*secondsPerDay-r.refSec)*time.Second + w - r.refNsec - r.off
	if r.loRel <= u && u < r.hiRel {
		return u
	}
	return r.at(time.Unix(d*secondsPerDay, 0).Add(w)).Sub(r.ref)
}
