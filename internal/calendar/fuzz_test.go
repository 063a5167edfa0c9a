package calendar

import (
	"slices"
	"testing"
	"time"
)

var fuzzZones = func() []string {
	names := []string{"UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Kiritimati", "Australia/Adelaide"}
	for _, z := range resolveZones {
		names = append(names, z.name)
	}
	return names
}()

// fuzzSpan is the span of instants the fuzzer draws from: 1900 to 2200.
var (
	fuzzFrom = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	fuzzSpan = int64(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Sub(fuzzFrom) / time.Second)
)

// FuzzFactor checks the invariants that tie Factor, InHours, Next and
// Windows together, over random instants and calendars:
//
//   - Factor is in [0, 1], and 1 exactly when InHours;
//   - InHours(t) is whether t lies in one of Windows(t-48h, t+48h), which
//     are in order, in UTC, never overlap, start where the clock reads
//     Start (or where it skips past it) on a working day that is no
//     holiday;
//   - Factor equals the ramp computed from those windows;
//   - Next(t) is after t, InHours flips there and nowhere between.
func FuzzFactor(f *testing.F) {
	seed := func(at string, zone uint8, start, end uint16, days, holidays uint8, ramp uint16) {
		tm, err := time.Parse(minuteLayout, at)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(int64(tm.Sub(fuzzFrom)/time.Second), uint32(0), zone, start, end, days, holidays, ramp)
		f.Add(int64(tm.Sub(fuzzFrom)/time.Second), uint32(1<<31|7), zone, start, end, days, holidays, ramp) // near the next clock change
	}
	zi := func(name string) uint8 { return uint8(slices.Index(fuzzZones, name)) }
	seed("2026-03-09 16:30", zi("America/Los_Angeles"), 9*60, 18*60, 0b0111110, 0, 60)
	seed("2026-03-08 10:00", zi("America/Los_Angeles"), 150, 11*60, 0b1111111, 0, 0)
	seed("2026-11-01 08:45", zi("America/Los_Angeles"), 90, 10*60, 0b1111111, 0, 30)
	seed("2026-03-29 01:00", zi("Europe/Berlin"), 22*60, 6*60, 0b1111111, 0b0001000, 120)
	seed("2026-10-25 01:30", zi("Europe/Berlin"), 22*60, 6*60, 0b1111111, 0, 720)
	seed("2026-06-08 00:00", zi("Asia/Tokyo"), 9*60, 9*60, 0b0111110, 0b0100000, 0)
	seed("2011-12-30 10:00", zi("Pacific/Apia"), 23*60, 23*60+30, 0b1111111, 0, 720)
	seed("2018-11-04 03:00", zi("America/Sao_Paulo"), 0, 8*60, 0b1111111, 0, 45)
	seed("2026-04-05 15:00", zi("Australia/Lord_Howe"), 2*60, 2*60, 0b1000001, 0b0010000, 15)

	f.Fuzz(func(t *testing.T, sec int64, nsec uint32, zoneIdx uint8, startMin, endMin uint16, dayMask, holidayMask uint8, rampMin uint16) {
		at := fuzzFrom.Add(time.Duration(floorMod(sec, fuzzSpan))*time.Second + time.Duration(nsec%1e9))
		loc, err := time.LoadLocation(fuzzZones[int(zoneIdx)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		if nsec&(1<<31) != 0 {
			// Move at to within a day and a half of the zone's next clock
			// change, where the mistakes are.
			if _, end := at.In(loc).ZoneBounds(); !end.IsZero() {
				at = end.Add(time.Duration(floorMod(sec, 36*3600)-18*3600)*time.Second + time.Duration(nsec%1e9))
			}
		}
		s := Spec{
			Zone:  loc,
			Start: time.Duration(startMin%1440) * time.Minute,
			End:   time.Duration(endMin%1440) * time.Minute,
			Ramp:  time.Duration(rampMin%721) * time.Minute,
		}
		for d := range 7 {
			s.Days[d] = dayMask&(1<<d) != 0
		}
		// Holidays on some of the local days around at.
		today := DateOf(at.In(loc))
		for i := range 8 {
			if holidayMask&(1<<i) != 0 {
				if s.Holidays == nil {
					s.Holidays = make(map[Date]bool)
				}
				s.Holidays[DateOf(time.Date(today.Year, today.Month, today.Day+i-4, 12, 0, 0, 0, time.UTC))] = true
			}
		}
		c := mustNew(t, s)
		checkCalendar(t, c, at)
	})
}

func checkCalendar(t *testing.T, c Calendar, at time.Time) {
	s := c.Spec()
	f := c.Factor(at)
	in := c.InHours(at)
	if !(f >= 0 && f <= 1) {
		t.Fatalf("Factor(%v) = %v", at, f)
	}
	if in != (f == 1) {
		t.Fatalf("InHours(%v) = %v but Factor = %v", at, in, f)
	}

	ws := c.Windows(at.Add(-48*time.Hour), at.Add(48*time.Hour))
	inWindow, want := false, 0.0
	for i, w := range ws {
		if w.Start.Location() != time.UTC || w.End.Location() != time.UTC || !w.Start.Before(w.End) {
			t.Fatalf("window %d: %+v", i, w)
		}
		if i > 0 && w.Start.Before(ws[i-1].End) {
			t.Fatalf("windows %d and %d overlap: %+v", i-1, i, ws)
		}
		if !w.End.After(at.Add(-48*time.Hour)) || !w.Start.Before(at.Add(48*time.Hour)) {
			t.Fatalf("window %+v is outside the span asked for", w)
		}
		n := w.Day.dayNum()
		if !s.Days[weekday(n)] || s.Holidays[w.Day] {
			t.Fatalf("window %+v on a day off", w)
		}
		if r := wallClock(w.Start, s.Zone); !readsOrSkips(w.Start, s.Zone, time.Unix(n*secondsPerDay, 0).UTC().Add(s.Start)) {
			t.Fatalf("window %+v starts at %v local, want %v", w, r, s.Start)
		}
		if !at.Before(w.Start) && at.Before(w.End) {
			inWindow = true
		}
		if s.Ramp > 0 {
			if d := w.Start.Sub(at); d > 0 && d < s.Ramp {
				want = max(want, float64(s.Ramp-d)/float64(s.Ramp))
			}
			if d := at.Sub(w.End); d >= 0 && d < s.Ramp {
				want = max(want, float64(s.Ramp-d)/float64(s.Ramp))
			}
		}
	}
	if in != inWindow {
		t.Fatalf("InHours(%v) = %v, but in a window: %v; windows %+v", at, in, inWindow, ws)
	}
	if inWindow {
		want = 1
	} else {
		want = min(want, belowOne)
	}
	if f != want {
		t.Fatalf("Factor(%v) = %v, want %v from windows %+v", at, f, want, ws)
	}

	next, ok := c.Next(at)
	end := next
	if !ok {
		end = at.Add(MaxNext).Add(time.Nanosecond)
	} else {
		if !next.After(at) || next.Sub(at) > MaxNext {
			t.Fatalf("Next(%v) = %v", at, next)
		}
		if c.InHours(next.Add(-time.Nanosecond)) == c.InHours(next) {
			t.Fatalf("InHours does not change at Next(%v) = %v", at, next)
		}
	}
	// No change in (at, end): out of hours no window meets it, in hours
	// touching windows cover it.
	span := c.Windows(at, end)
	if !in {
		if len(span) > 0 {
			t.Fatalf("Next(%v) = %v, %v, but window %+v starts before", at, next, ok, span[0])
		}
		return
	}
	for i := 1; i < len(span); i++ {
		if !span[i].Start.Equal(span[i-1].End) {
			t.Fatalf("Next(%v) = %v, %v, but windows %+v and %+v have a gap", at, next, ok, span[i-1], span[i])
		}
	}
	if len(span) == 0 || span[0].Start.After(at) || (ok && !span[len(span)-1].End.Equal(next)) || (!ok && span[len(span)-1].End.Before(end)) {
		t.Fatalf("Next(%v) = %v, %v, but windows %+v", at, next, ok, span)
	}
}

// wallClock returns what loc's clock reads at u, as a UTC time.
func wallClock(u time.Time, loc *time.Location) time.Time {
	_, off := u.In(loc).Zone()
	return u.Add(time.Duration(off) * time.Second).UTC()
}

// readsOrSkips reports whether loc's clock reads w at u, or jumps over w at
// u.
func readsOrSkips(u time.Time, loc *time.Location, w time.Time) bool {
	if wallClock(u, loc).Equal(w) {
		return true
	}
	return wallClock(u, loc).After(w) && wallClock(u.Add(-time.Nanosecond), loc).Before(w)
}
