package calendar

import (
	"testing"
	"time"
)

// resolveZones have clock changes of every kind: an hour either way, half
// an hour (Lord Howe), two hours (Troll), at midnight so that a date starts
// at 01:00 (São Paulo, Havana), negative summer time (Dublin), several a
// year (Casablanca around Ramadan) and a skipped day (Apia, 2011).
var resolveZones = []struct {
	name     string
	from, to string // the span whose transitions are checked
}{
	{"America/Los_Angeles", "2026-01-01", "2027-01-01"},
	{"Europe/Berlin", "2026-01-01", "2027-01-01"},
	{"Asia/Tokyo", "1948-01-01", "1952-01-01"},
	{"Australia/Lord_Howe", "2026-01-01", "2027-01-01"},
	{"Antarctica/Troll", "2026-01-01", "2027-01-01"},
	{"America/Sao_Paulo", "2018-01-01", "2019-01-01"},
	{"America/Havana", "2026-01-01", "2027-01-01"},
	{"Europe/Dublin", "2026-01-01", "2027-01-01"},
	{"Africa/Casablanca", "2026-01-01", "2027-01-01"},
	{"Pacific/Apia", "2011-01-01", "2012-01-01"},
	{"Pacific/Chatham", "2026-01-01", "2027-01-01"},
}

// transitions returns the instants in [from, to) at which loc changes its
// offset.
func transitions(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	for t := from; t.Before(to); {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		if _, a := end.Add(-time.Second).In(loc).Zone(); func() bool { _, b := end.In(loc).Zone(); return a != b }() {
			out = append(out, end)
		}
		t = end
	}
	return out
}

// bruteResolve finds, minute by minute, the first instant within 16h of w
// at which loc's clock reads w, or else the first at which it reads later
// than w. It is right for minute-aligned w in zones that change on the
// minute by whole minutes.
func bruteResolve(loc *time.Location, w time.Time) time.Time {
	for u := w.Add(-16 * time.Hour); u.Before(w.Add(16 * time.Hour)); u = u.Add(time.Minute) {
		_, off := u.In(loc).Zone()
		if !u.Add(time.Duration(off) * time.Second).Before(w) {
			return u
		}
	}
	panic("no instant within 16h of " + w.String())
}

func TestResolve(t *testing.T) {
	for _, z := range resolveZones {
		t.Run(z.name, func(t *testing.T) {
			loc := zone(t, z.name)
			from, to := utc(t, z.from+" 00:00"), utc(t, z.to+" 00:00")
			ts := transitions(loc, from, to)
			if len(ts) == 0 {
				t.Fatalf("no transitions in %s to %s", z.from, z.to)
			}
			for _, tr := range ts {
				_, before := tr.Add(-time.Second).In(loc).Zone()
				around := tr.Add(time.Duration(before) * time.Second) // the reading just before the change, as a wall clock
				var prev time.Time
				for w := around.Add(-3 * time.Hour); w.Before(around.Add(3 * time.Hour)); w = w.Add(5 * time.Minute) {
					got, want := resolve(loc, w), bruteResolve(loc, w)
					if !got.Equal(want) {
						t.Fatalf("resolve(%s local) = %v, want %v", w.Format(minuteLayout), got.In(loc), want.In(loc))
					}
					if got.Before(prev) {
						t.Fatalf("resolve decreases: %s local gives %v, earlier readings %v", w.Format(minuteLayout), got, prev)
					}
					prev = got
					// A resolver centred anywhere within a few days agrees.
					for _, c := range []time.Duration{-72 * time.Hour, -50 * time.Hour, -time.Hour, 0, 3 * time.Hour, 49 * time.Hour, 80 * time.Hour} {
						r, _ := newResolver(loc, tr.Add(c))
						if u := r.at(w); !u.Equal(want) {
							t.Fatalf("resolver centred at %v: at(%s local) = %v, want %v", tr.Add(c), w.Format(minuteLayout), u, want)
						}
					}
				}
			}
		})
	}
}

// TestResolveFixed checks zones without transitions, and offsets beyond
// what the tz database has.
func TestResolveFixed(t *testing.T) {
	w := utc(t, "2026-03-08 02:30")
	for _, off := range []int{0, 9 * 3600, -12 * 3600, 30 * 3600} {
		loc := time.FixedZone("fixed", off)
		if got, want := resolve(loc, w), w.Add(-time.Duration(off)*time.Second); !got.Equal(want) {
			t.Errorf("resolve in UTC%+d = %v, want %v", off/3600, got, want)
		}
	}
}
