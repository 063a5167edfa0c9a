package calendar

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// teams returns the three example teams with 09:00 to 18:00, Monday to
// Friday.
func teams(t *testing.T, ramp time.Duration) map[string]Calendar {
	t.Helper()
	out := make(map[string]Calendar)
	for name, tz := range map[string]string{"sf": "America/Los_Angeles", "berlin": "Europe/Berlin", "tokyo": "Asia/Tokyo"} {
		out[name] = mustNew(t, Spec{Zone: zone(t, tz), Start: hm(9, 0), End: hm(18, 0), Days: monFri, Ramp: ramp})
	}
	return out
}

// TestWindowsAcrossDSTWeeks checks the UTC windows of each team on a
// Monday of a normal winter week, of the weeks in which only the US or only
// Europe has changed its clocks (2026: the US springs forward on 8 March and
// falls back on 1 November, Europe on 29 March and 25 October), and of a
// summer week.
func TestWindowsAcrossDSTWeeks(t *testing.T) {
	cals := teams(t, 0)
	tests := []struct {
		team, monday         string
		startLocal, endLocal string // the team's wall clock
		startUTC, endUTC     string
	}{
		{"sf", "2026-01-12", "2026-01-12 09:00", "2026-01-12 18:00", "2026-01-12 17:00", "2026-01-13 02:00"},
		{"berlin", "2026-01-12", "2026-01-12 09:00", "2026-01-12 18:00", "2026-01-12 08:00", "2026-01-12 17:00"},
		{"tokyo", "2026-01-12", "2026-01-12 09:00", "2026-01-12 18:00", "2026-01-12 00:00", "2026-01-12 09:00"},
		// US on PDT, Europe still on CET.
		{"sf", "2026-03-09", "2026-03-09 09:00", "2026-03-09 18:00", "2026-03-09 16:00", "2026-03-10 01:00"},
		{"berlin", "2026-03-09", "2026-03-09 09:00", "2026-03-09 18:00", "2026-03-09 08:00", "2026-03-09 17:00"},
		{"tokyo", "2026-03-09", "2026-03-09 09:00", "2026-03-09 18:00", "2026-03-09 00:00", "2026-03-09 09:00"},
		{"sf", "2026-03-16", "2026-03-16 09:00", "2026-03-16 18:00", "2026-03-16 16:00", "2026-03-17 01:00"},
		{"berlin", "2026-03-16", "2026-03-16 09:00", "2026-03-16 18:00", "2026-03-16 08:00", "2026-03-16 17:00"},
		// Both on summer time.
		{"sf", "2026-03-30", "2026-03-30 09:00", "2026-03-30 18:00", "2026-03-30 16:00", "2026-03-31 01:00"},
		{"berlin", "2026-03-30", "2026-03-30 09:00", "2026-03-30 18:00", "2026-03-30 07:00", "2026-03-30 16:00"},
		{"tokyo", "2026-03-30", "2026-03-30 09:00", "2026-03-30 18:00", "2026-03-30 00:00", "2026-03-30 09:00"},
		// Europe back on CET, US still on PDT.
		{"sf", "2026-10-26", "2026-10-26 09:00", "2026-10-26 18:00", "2026-10-26 16:00", "2026-10-27 01:00"},
		{"berlin", "2026-10-26", "2026-10-26 09:00", "2026-10-26 18:00", "2026-10-26 08:00", "2026-10-26 17:00"},
		{"tokyo", "2026-10-26", "2026-10-26 09:00", "2026-10-26 18:00", "2026-10-26 00:00", "2026-10-26 09:00"},
		// Both on winter time again.
		{"sf", "2026-11-02", "2026-11-02 09:00", "2026-11-02 18:00", "2026-11-02 17:00", "2026-11-03 02:00"},
		{"berlin", "2026-11-02", "2026-11-02 09:00", "2026-11-02 18:00", "2026-11-02 08:00", "2026-11-02 17:00"},
	}
	for _, tt := range tests {
		t.Run(tt.team+"/"+tt.monday, func(t *testing.T) {
			c := cals[tt.team]
			loc := c.Spec().Zone
			want := []Window{{Day: mustDate(t, tt.monday), Start: utc(t, tt.startUTC), End: utc(t, tt.endUTC)}}
			// The table's two columns agree.
			if !local(t, loc, tt.startLocal).Equal(want[0].Start) || !local(t, loc, tt.endLocal).Equal(want[0].End) {
				t.Fatalf("table: %s-%s %s is not %s-%s UTC", tt.startLocal, tt.endLocal, loc, tt.startUTC, tt.endUTC)
			}
			midnight := local(t, loc, tt.monday+" 00:00")
			got := c.Windows(midnight, midnight.AddDate(0, 0, 1))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Windows of Monday %s (-want +got):\n%s", tt.monday, diff)
			}
			for _, w := range got {
				if w.Start.Location() != time.UTC || w.End.Location() != time.UTC {
					t.Errorf("window %v is not in UTC", w)
				}
			}
		})
	}
}

// TestOverlapSFBerlin checks that the working days of San Francisco and
// Berlin touch in a normal week but overlap by an hour in the weeks in
// which only one of them is on summer time.
func TestOverlapSFBerlin(t *testing.T) {
	cals := teams(t, 0)
	tests := []struct {
		monday string
		want   []Window // the overlap, Day being Berlin's
	}{
		{"2026-01-12", nil},
		{"2026-03-09", []Window{{Day: Date{2026, 3, 9}, Start: utc(t, "2026-03-09 16:00"), End: utc(t, "2026-03-09 17:00")}}},
		{"2026-03-30", nil},
		{"2026-10-26", []Window{{Day: Date{2026, 10, 26}, Start: utc(t, "2026-10-26 16:00"), End: utc(t, "2026-10-26 17:00")}}},
		{"2026-11-02", nil},
	}
	for _, tt := range tests {
		t.Run(tt.monday, func(t *testing.T) {
			from := utc(t, tt.monday+" 00:00")
			to := from.Add(24 * time.Hour)
			var got []Window
			for _, b := range cals["berlin"].Windows(from, to) {
				for _, s := range cals["sf"].Windows(from, to) {
					if start, end := later(b.Start, s.Start), earlier(b.End, s.End); start.Before(end) {
						got = append(got, Window{Day: b.Day, Start: start, End: end})
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("overlap (-want +got):\n%s", diff)
			}
		})
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func mustDate(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestShiftAcrossClockChange checks that a 22:00 to 06:00 working day lasts
// as long as the clocks say: 7 hours across the night clocks spring
// forward, 9 across the night they fall back.
func TestShiftAcrossClockChange(t *testing.T) {
	tests := []struct {
		name, zone, day  string
		startUTC, endUTC string
		wantLength       time.Duration
	}{
		{"la/normal", "America/Los_Angeles", "2026-03-01", "2026-03-02 06:00", "2026-03-02 14:00", 8 * time.Hour},
		{"la/spring-forward", "America/Los_Angeles", "2026-03-07", "2026-03-08 06:00", "2026-03-08 13:00", 7 * time.Hour},
		{"la/fall-back", "America/Los_Angeles", "2026-10-31", "2026-11-01 05:00", "2026-11-01 14:00", 9 * time.Hour},
		{"berlin/spring-forward", "Europe/Berlin", "2026-03-28", "2026-03-28 21:00", "2026-03-29 04:00", 7 * time.Hour},
		{"berlin/fall-back", "Europe/Berlin", "2026-10-24", "2026-10-24 20:00", "2026-10-25 05:00", 9 * time.Hour},
		{"berlin/summer", "Europe/Berlin", "2026-07-04", "2026-07-04 20:00", "2026-07-05 04:00", 8 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := zone(t, tt.zone)
			c := mustNew(t, Spec{Zone: loc, Start: hm(22, 0), End: hm(6, 0), Days: allWeek})
			start := local(t, loc, tt.day+" 22:00")
			want := []Window{{Day: mustDate(t, tt.day), Start: utc(t, tt.startUTC), End: utc(t, tt.endUTC)}}
			got := c.Windows(start, start.Add(time.Nanosecond))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Windows (-want +got):\n%s", diff)
			}
			if l := got[0].End.Sub(got[0].Start); l != tt.wantLength {
				t.Errorf("length %v, want %v", l, tt.wantLength)
			}
			if got := got[0].End.In(loc).Format("15:04"); got != "06:00" {
				t.Errorf("ends at %s local, want 06:00", got)
			}
			if next, ok := c.Next(start); !ok || !next.Equal(want[0].End) {
				t.Errorf("Next(start) = %v, %v; want %v", next, ok, want[0].End)
			}
		})
	}
}

// TestSkippedAndRepeatedHours checks the two local readings that are not
// one instant each, in America/Los_Angeles in 2026: on 8 March 02:00 PST
// (10:00 UTC) jumps to 03:00 PDT, so 02:00-02:59 never happens and
// resolves to 10:00 UTC; on 1 November 02:00 PDT (09:00 UTC) falls back to
// 01:00 PST, so 01:00-01:59 happens twice and resolves to its first, PDT,
// occurrence.
func TestSkippedAndRepeatedHours(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	tests := []struct {
		name       string
		start, end time.Duration
		day        string
		want       []Window // the window that starts on day, if any
	}{
		{"starts in skipped hour/day before", hm(2, 30), hm(11, 0), "2026-03-07",
			[]Window{{Date{2026, 3, 7}, utc(t, "2026-03-07 10:30"), utc(t, "2026-03-07 19:00")}}}, // 02:30 PST
		{"starts in skipped hour", hm(2, 30), hm(11, 0), "2026-03-08",
			[]Window{{Date{2026, 3, 8}, utc(t, "2026-03-08 10:00"), utc(t, "2026-03-08 18:00")}}}, // 03:00 PDT, the jump
		{"starts in skipped hour/day after", hm(2, 30), hm(11, 0), "2026-03-09",
			[]Window{{Date{2026, 3, 9}, utc(t, "2026-03-09 09:30"), utc(t, "2026-03-09 18:00")}}}, // 02:30 PDT
		{"starts at the skipped 02:00", hm(2, 0), hm(4, 0), "2026-03-08",
			[]Window{{Date{2026, 3, 8}, utc(t, "2026-03-08 10:00"), utc(t, "2026-03-08 11:00")}}},
		{"ends in skipped hour", hm(22, 0), hm(2, 30), "2026-03-07",
			[]Window{{Date{2026, 3, 7}, utc(t, "2026-03-08 06:00"), utc(t, "2026-03-08 10:00")}}},
		{"starts in and ends after skipped hour", hm(2, 30), hm(3, 15), "2026-03-08",
			[]Window{{Date{2026, 3, 8}, utc(t, "2026-03-08 10:00"), utc(t, "2026-03-08 10:15")}}},
		{"lies inside skipped hour", hm(2, 10), hm(2, 50), "2026-03-08", nil},
		{"starts in repeated hour", hm(1, 30), hm(10, 0), "2026-11-01",
			[]Window{{Date{2026, 11, 1}, utc(t, "2026-11-01 08:30"), utc(t, "2026-11-01 18:00")}}}, // 01:30 PDT
		{"ends in repeated hour", hm(22, 0), hm(1, 30), "2026-10-31",
			[]Window{{Date{2026, 10, 31}, utc(t, "2026-11-01 05:00"), utc(t, "2026-11-01 08:30")}}},
		{"lies inside repeated hour", hm(1, 10), hm(1, 50), "2026-11-01",
			[]Window{{Date{2026, 11, 1}, utc(t, "2026-11-01 08:10"), utc(t, "2026-11-01 08:50")}}},
		{"starts after repeated hour", hm(2, 0), hm(3, 0), "2026-11-01",
			[]Window{{Date{2026, 11, 1}, utc(t, "2026-11-01 10:00"), utc(t, "2026-11-01 11:00")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, Spec{Zone: la, Start: tt.start, End: tt.end, Days: days(dayOf(t, tt.day)), Ramp: time.Hour})
			midnight := local(t, la, tt.day+" 00:00")
			got := c.Windows(midnight, midnight.Add(48*time.Hour))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Windows (-want +got):\n%s", diff)
			}
			for _, w := range tt.want {
				for at, want := range map[time.Time]bool{w.Start.Add(-time.Nanosecond): false, w.Start: true, w.End.Add(-time.Nanosecond): true, w.End: false} {
					if got := c.InHours(at); got != want {
						t.Errorf("InHours(%v) = %v, want %v", at, got, want)
					}
				}
			}
			if tt.want == nil {
				for at := midnight; at.Before(midnight.Add(48 * time.Hour)); at = at.Add(5 * time.Minute) {
					if c.Factor(at) != 0 {
						t.Fatalf("Factor(%v) = %v, want 0", at, c.Factor(at))
					}
				}
				if next, ok := c.Next(midnight); ok && next.Before(midnight.Add(48*time.Hour)) {
					t.Errorf("Next(%v) = %v, want none within two days", midnight, next)
				}
			}
		})
	}
}

func dayOf(t testing.TB, s string) time.Weekday {
	t.Helper()
	d := mustDate(t, s)
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday()
}

// TestInHours checks working days that cross midnight in UTC (Tokyo, San
// Francisco in summer) or on the local clock (22:00 to 06:00), weekends and
// holidays.
func TestInHours(t *testing.T) {
	cals := teams(t, 0)
	berlin := zone(t, "Europe/Berlin")
	// 22:00-06:00 Monday to Friday in Berlin, with Tuesday 2026-04-07 a
	// holiday: the shift that starts on Tuesday evening does not happen,
	// the one that started on Monday evening does.
	night := mustNew(t, Spec{Zone: berlin, Start: hm(22, 0), End: hm(6, 0), Days: monFri,
		Holidays: map[Date]bool{{2026, 4, 7}: true}})
	// Berlin, 09:00-18:00 Monday to Friday with Easter Monday off.
	easter := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri,
		Holidays: map[Date]bool{{2026, 4, 6}: true, {2026, 4, 3}: false}})
	cals["night"], cals["easter"] = night, easter
	tests := []struct {
		team      string
		utc       string
		wallClock string // in the team's zone
		want      bool
	}{
		{"tokyo", "2026-06-07 23:59", "2026-06-08 08:59", false}, // Monday before work, Sunday in UTC
		{"tokyo", "2026-06-08 00:00", "2026-06-08 09:00", true},
		{"tokyo", "2026-06-08 08:59", "2026-06-08 17:59", true},
		{"tokyo", "2026-06-08 09:00", "2026-06-08 18:00", false},
		{"tokyo", "2026-06-05 23:00", "2026-06-06 08:00", false}, // Saturday
		{"tokyo", "2026-06-06 00:00", "2026-06-06 09:00", false},
		{"sf", "2026-06-05 15:59", "2026-06-05 08:59", false},
		{"sf", "2026-06-05 16:00", "2026-06-05 09:00", true}, // Friday
		{"sf", "2026-06-06 00:30", "2026-06-05 17:30", true}, // Saturday in UTC, still Friday in SF
		{"sf", "2026-06-06 01:00", "2026-06-05 18:00", false},
		{"sf", "2026-06-06 16:00", "2026-06-06 09:00", false}, // Saturday
		{"sf", "2026-06-08 00:59", "2026-06-07 17:59", false}, // Sunday
		{"sf", "2026-01-13 01:59", "2026-01-12 17:59", true},  // PST: Monday's work ends at 02:00 UTC
		{"sf", "2026-01-13 02:00", "2026-01-12 18:00", false},
		{"berlin", "2026-01-12 07:59", "2026-01-12 08:59", false},
		{"berlin", "2026-01-12 08:00", "2026-01-12 09:00", true},
		{"berlin", "2026-07-13 07:00", "2026-07-13 09:00", true},
		{"berlin", "2026-07-13 15:59", "2026-07-13 17:59", true},
		{"berlin", "2026-07-13 16:00", "2026-07-13 18:00", false},
		{"berlin", "2026-07-11 10:00", "2026-07-11 12:00", false}, // Saturday
		{"easter", "2026-04-06 10:00", "2026-04-06 12:00", false}, // Easter Monday
		{"easter", "2026-04-06 07:00", "2026-04-06 09:00", false},
		{"easter", "2026-04-03 10:00", "2026-04-03 12:00", true}, // a holiday set to false is no holiday
		{"easter", "2026-04-07 07:00", "2026-04-07 09:00", true},
		{"night", "2026-04-06 19:59", "2026-04-06 21:59", false},
		{"night", "2026-04-06 20:00", "2026-04-06 22:00", true}, // Monday evening
		{"night", "2026-04-06 22:00", "2026-04-07 00:00", true}, // the holiday, in Monday's shift
		{"night", "2026-04-07 03:59", "2026-04-07 05:59", true},
		{"night", "2026-04-07 04:00", "2026-04-07 06:00", false},
		{"night", "2026-04-07 20:00", "2026-04-07 22:00", false}, // the holiday's own shift
		{"night", "2026-04-08 01:00", "2026-04-08 03:00", false},
		{"night", "2026-04-08 20:00", "2026-04-08 22:00", true},  // Wednesday
		{"night", "2026-04-11 01:00", "2026-04-11 03:00", true},  // Saturday morning: Friday's shift
		{"night", "2026-04-11 20:00", "2026-04-11 22:00", false}, // Saturday evening
		{"night", "2026-04-13 01:00", "2026-04-13 03:00", false}, // Monday morning: no Sunday shift
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.team, tt.wallClock), func(t *testing.T) {
			c := cals[tt.team]
			at := utc(t, tt.utc)
			if !local(t, c.Spec().Zone, tt.wallClock).Equal(at) {
				t.Fatalf("table: %s UTC is not %s in %s", tt.utc, tt.wallClock, c.Spec().Zone)
			}
			if got := c.InHours(at); got != tt.want {
				t.Errorf("InHours(%s UTC, %s local) = %v, want %v", tt.utc, tt.wallClock, got, tt.want)
			}
			if got, want := c.Factor(at), map[bool]float64{true: 1, false: 0}[tt.want]; got != want {
				t.Errorf("Factor = %v, want %v", got, want)
			}
		})
	}
}

// TestFactorRamp checks the shoulders: with a 1h ramp and 09:00-18:00 the
// factor is 0.5 at 08:30 and 18:30, 1 from 09:00, 0 from 19:00.
func TestFactorRamp(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	la := zone(t, "America/Los_Angeles")
	office := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri, Ramp: time.Hour,
		Holidays: map[Date]bool{{2026, 4, 6}: true}})
	// 09:00-23:00 every day with 12h ramps: the gap between working days
	// is 10h, so each point in it is on two ramps.
	long := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(23, 0), Days: allWeek, Ramp: 12 * time.Hour})
	// 22:00-06:00 every day in LA with a 2h ramp, across spring-forward.
	night := mustNew(t, Spec{Zone: la, Start: hm(22, 0), End: hm(6, 0), Days: allWeek, Ramp: 2 * time.Hour})
	cals := map[string]Calendar{"office": office, "long": long, "night": night}
	tests := []struct {
		team      string
		utc       string
		wallClock string
		want      float64
	}{
		{"office", "2026-04-07 06:00", "2026-04-07 08:00", 0},
		{"office", "2026-04-07 06:30", "2026-04-07 08:30", 0.5},
		{"office", "2026-04-07 06:45", "2026-04-07 08:45", 0.75},
		{"office", "2026-04-07 07:00", "2026-04-07 09:00", 1},
		{"office", "2026-04-07 15:59", "2026-04-07 17:59", 1},
		{"office", "2026-04-07 16:00", "2026-04-07 18:00", belowOne}, // End is outside
		{"office", "2026-04-07 16:30", "2026-04-07 18:30", 0.5},
		{"office", "2026-04-07 16:45", "2026-04-07 18:45", 0.25},
		{"office", "2026-04-07 17:00", "2026-04-07 19:00", 0},
		{"office", "2026-01-13 07:30", "2026-01-13 08:30", 0.5}, // winter
		{"office", "2026-01-13 17:30", "2026-01-13 18:30", 0.5},
		{"office", "2026-04-06 06:30", "2026-04-06 08:30", 0}, // holiday Monday
		{"office", "2026-04-06 10:00", "2026-04-06 12:00", 0},
		{"office", "2026-04-06 16:30", "2026-04-06 18:30", 0},
		{"office", "2026-04-10 16:30", "2026-04-10 18:30", 0.5},    // Friday evening
		{"office", "2026-04-11 06:30", "2026-04-11 08:30", 0},      // Saturday
		{"office", "2026-04-13 06:30", "2026-04-13 08:30", 0.5},    // Monday
		{"long", "2026-07-14 02:00", "2026-07-14 04:00", 7.0 / 12}, // 5h after End, 5h before Start: max, not sum
		{"long", "2026-07-13 22:00", "2026-07-14 00:00", 11.0 / 12},
		{"long", "2026-07-14 05:00", "2026-07-14 07:00", 10.0 / 12},
		{"long", "2026-07-13 21:00", "2026-07-13 23:00", belowOne},
		// Ramps are elapsed time: the night before spring-forward the
		// working day ends at 06:00 PDT, and the ramp before it starts at
		// 20:00 PST.
		{"night", "2026-03-08 05:00", "2026-03-07 21:00", 0.5},
		{"night", "2026-03-08 14:00", "2026-03-08 07:00", 0.5},
		{"night", "2026-03-08 03:00", "2026-03-07 19:00", 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.team, tt.wallClock), func(t *testing.T) {
			c := cals[tt.team]
			at := utc(t, tt.utc)
			if !local(t, c.Spec().Zone, tt.wallClock).Equal(at) {
				t.Fatalf("table: %s UTC is not %s in %s", tt.utc, tt.wallClock, c.Spec().Zone)
			}
			got := c.Factor(at)
			if math.Abs(got-tt.want) > 1e-12 || (tt.want == 1) != (got == 1) {
				t.Errorf("Factor(%s UTC, %s local) = %v, want %v", tt.utc, tt.wallClock, got, tt.want)
			}
			if c.InHours(at) != (got == 1) {
				t.Errorf("InHours = %v with Factor %v", c.InHours(at), got)
			}
		})
	}
}

func TestNext(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	la := zone(t, "America/Los_Angeles")
	office := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri})
	easter := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri, Ramp: time.Hour,
		Holidays: map[Date]bool{{2026, 4, 3}: true, {2026, 4, 6}: true}})
	sf := mustNew(t, Spec{Zone: la, Start: hm(9, 0), End: hm(18, 0), Days: monFri})
	night := mustNew(t, Spec{Zone: la, Start: hm(22, 0), End: hm(6, 0), Days: allWeek})
	always := mustNew(t, Spec{Zone: la, Start: hm(9, 0), End: hm(9, 0), Days: allWeek})
	weekdays24 := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(9, 0), Days: monFri})
	never := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0)})
	// Mondays only, with every Monday a holiday from 2026-01-12 until
	// through, so that the next working Monday is the one after.
	mondays := func(through string) Calendar {
		h := make(map[Date]bool)
		for d := utc(t, "2026-01-12 12:00"); !d.After(utc(t, through+" 12:00")); d = d.AddDate(0, 0, 7) {
			h[DateOf(d)] = true
		}
		return mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: days(time.Monday), Holidays: h})
	}
	cals := map[string]Calendar{"office": office, "easter": easter, "sf": sf, "night": night, "always": always,
		"weekdays24": weekdays24, "never": never, "mondays-392d": mondays("2027-01-25"), "mondays-406d": mondays("2027-02-08")}
	tests := []struct {
		name, team    string
		fromUTC, wall string
		wantUTC       string // "" for none
		wantWall      string
	}{
		{"in hours to end", "office", "2026-03-27 11:00", "2026-03-27 12:00", "2026-03-27 17:00", "2026-03-27 18:00"},
		{"just before end", "office", "2026-03-27 16:59:59", "2026-03-27 17:59:59", "2026-03-27 17:00", "2026-03-27 18:00"},
		{"friday end to monday across EU spring-forward", "office", "2026-03-27 17:00", "2026-03-27 18:00", "2026-03-30 07:00", "2026-03-30 09:00"},
		{"at start", "office", "2026-03-30 07:00", "2026-03-30 09:00", "2026-03-30 16:00", "2026-03-30 18:00"},
		{"weekend", "office", "2026-03-28 12:00", "2026-03-28 13:00", "2026-03-30 07:00", "2026-03-30 09:00"},
		{"friday to monday across EU fall-back", "office", "2026-10-23 16:00", "2026-10-23 18:00", "2026-10-26 08:00", "2026-10-26 09:00"},
		{"over good friday and easter monday", "easter", "2026-04-02 16:00", "2026-04-02 18:00", "2026-04-07 07:00", "2026-04-07 09:00"},
		{"in a ramp", "easter", "2026-04-07 06:30", "2026-04-07 08:30", "2026-04-07 07:00", "2026-04-07 09:00"},
		{"friday to monday across US spring-forward", "sf", "2026-03-07 02:00", "2026-03-06 18:00", "2026-03-09 16:00", "2026-03-09 09:00"},
		{"sf in hours across UTC midnight", "sf", "2026-06-05 23:00", "2026-06-05 16:00", "2026-06-06 01:00", "2026-06-05 18:00"},
		{"night shift across spring-forward", "night", "2026-03-08 07:00", "2026-03-07 23:00", "2026-03-08 13:00", "2026-03-08 06:00"},
		{"night shift across fall-back", "night", "2026-11-01 07:00", "2026-11-01 00:00", "2026-11-01 14:00", "2026-11-01 06:00"},
		{"to a night shift", "night", "2026-11-01 15:00", "2026-11-01 07:00", "2026-11-02 06:00", "2026-11-01 22:00"},
		{"always in hours", "always", "2026-03-08 12:00", "2026-03-08 05:00", "", ""},
		{"24h days touch", "weekdays24", "2026-03-31 10:00", "2026-03-31 12:00", "2026-04-04 07:00", "2026-04-04 09:00"},
		{"24h days from the weekend", "weekdays24", "2026-04-05 10:00", "2026-04-05 12:00", "2026-04-06 07:00", "2026-04-06 09:00"},
		{"no working days", "never", "2026-03-31 10:00", "2026-03-31 12:00", "", ""},
		{"within 400 days", "mondays-392d", "2026-01-05 19:00", "2026-01-05 20:00", "2027-02-01 08:00", "2027-02-01 09:00"},
		{"beyond 400 days", "mondays-406d", "2026-01-05 19:00", "2026-01-05 20:00", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cals[tt.team]
			loc := c.Spec().Zone
			from := utc(t, tt.fromUTC)
			if !local(t, loc, tt.wall).Equal(from) {
				t.Fatalf("table: %s UTC is not %s in %s", tt.fromUTC, tt.wall, loc)
			}
			var want time.Time
			if tt.wantUTC != "" {
				want = utc(t, tt.wantUTC)
				if !local(t, loc, tt.wantWall).Equal(want) {
					t.Fatalf("table: %s UTC is not %s in %s", tt.wantUTC, tt.wantWall, loc)
				}
			}
			got, ok := c.Next(from)
			if ok != (tt.wantUTC != "") || !got.Equal(want) {
				t.Fatalf("Next(%s UTC) = %v, %v; want %v", tt.fromUTC, got, ok, want)
			}
			if !ok {
				return
			}
			if got.Location() != time.UTC {
				t.Errorf("Next returned %v, not in UTC", got)
			}
			if c.InHours(got.Add(-time.Nanosecond)) == c.InHours(got) {
				t.Errorf("InHours does not change at %v", got)
			}
		})
	}
}

func TestZeroCalendar(t *testing.T) {
	var c Calendar
	at := utc(t, "2026-03-09 12:00")
	if c.Factor(at) != 0 || c.InHours(at) {
		t.Errorf("zero Calendar: Factor %v, InHours %v", c.Factor(at), c.InHours(at))
	}
	if next, ok := c.Next(at); ok {
		t.Errorf("zero Calendar: Next = %v", next)
	}
	if w := c.Windows(at, at.Add(24*time.Hour)); w != nil {
		t.Errorf("zero Calendar: Windows = %v", w)
	}
}

func TestWindowsSpan(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	c := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri,
		Holidays: map[Date]bool{{2026, 3, 31}: true}})
	// From Friday 12:00 UTC to Wednesday 07:30 UTC across the EU change:
	// Friday's window is cut by from but returned whole, Tuesday is a
	// holiday, Wednesday's window starts at to and is left out.
	got := c.Windows(utc(t, "2026-03-27 12:00"), utc(t, "2026-04-01 07:00"))
	want := []Window{
		{Date{2026, 3, 27}, utc(t, "2026-03-27 08:00"), utc(t, "2026-03-27 17:00")},
		{Date{2026, 3, 30}, utc(t, "2026-03-30 07:00"), utc(t, "2026-03-30 16:00")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Windows (-want +got):\n%s", diff)
	}
	if got := c.Windows(utc(t, "2026-03-27 12:00"), utc(t, "2026-03-27 12:00")); got != nil {
		t.Errorf("Windows of an empty span = %v", got)
	}
	year := c.Windows(utc(t, "2026-01-01 00:00"), utc(t, "2027-01-01 00:00"))
	if len(year) != 261-1 { // 261 weekdays in 2026, one holiday
		t.Errorf("%d windows in 2026, want 260", len(year))
	}
}

func TestNew(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"valid", Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri, Ramp: MaxRamp}, nil},
		{"no days is valid", Spec{Zone: berlin}, nil},
		{"everything wrong", Spec{Start: 24 * time.Hour, End: -time.Minute, Ramp: MaxRamp + 1,
			Holidays: map[Date]bool{{2026, 2, 30}: true, {2026, 2, 31}: false, {2026, 12, 25}: true}},
			[]string{"zone", "start", "end", "ramp", "holidays"}},
		{"negative ramp", Spec{Zone: berlin, Ramp: -time.Second}, []string{"ramp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.spec)
			if diff := cmp.Diff(tt.want, fields(err)); diff != "" {
				t.Errorf("New error fields (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
	// New copies the holidays.
	h := map[Date]bool{{2026, 4, 6}: true}
	c := mustNew(t, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri, Holidays: h})
	h[Date{2026, 4, 7}] = true
	if diff := cmp.Diff(map[Date]bool{{2026, 4, 6}: true}, c.Spec().Holidays); diff != "" {
		t.Errorf("Spec().Holidays (-want +got):\n%s", diff)
	}
}

func TestDate(t *testing.T) {
	for _, tt := range []struct {
		in    string
		want  Date
		valid bool
	}{
		{"2026-03-09", Date{2026, 3, 9}, true},
		{"2024-02-29", Date{2024, 2, 29}, true},
		{"2026-02-29", Date{}, false},
		{"26-03-09", Date{}, false},
	} {
		got, err := ParseDate(tt.in)
		if (err == nil) != tt.valid || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if tt.valid && (got.String() != tt.in || !got.IsValid() || dateOfDay(got.dayNum()) != got) {
			t.Errorf("%v: String %q, IsValid %v, round trip %v", got, got.String(), got.IsValid(), dateOfDay(got.dayNum()))
		}
	}
	if (Date{}).IsValid() {
		t.Error("the zero Date is valid")
	}
	for n := int64(-800); n < 800; n += 7 {
		d := dateOfDay(n)
		if got, want := weekday(n), time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday(); got != want {
			t.Errorf("weekday(%d) = %v, want %v (%v)", n, got, want, d)
		}
	}
}

func TestFactorDoesNotAllocate(t *testing.T) {
	cals := teams(t, time.Hour)
	at := utc(t, "2026-03-09 16:30")
	for name, c := range cals {
		if n := testing.AllocsPerRun(100, func() { c.Factor(at); c.InHours(at) }); n != 0 {
			t.Errorf("%s: Factor allocates %v times", name, n)
		}
	}
}

// BenchmarkFactor measures what the scheduler pays per pending job and
// cycle: the factor of one team at one instant, over instants spread across
// a year (so some fall near clock changes).
func BenchmarkFactor(b *testing.B) {
	for _, tz := range []string{"America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo"} {
		b.Run(tz, func(b *testing.B) {
			c := mustNew(b, Spec{Zone: zone(b, tz), Start: hm(9, 0), End: hm(18, 0), Days: monFri, Ramp: time.Hour,
				Holidays: map[Date]bool{{2026, 1, 1}: true, {2026, 4, 6}: true, {2026, 12, 25}: true}})
			ats := make([]time.Time, 1024)
			for i := range ats {
				ats[i] = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*8*time.Hour + 17*time.Minute)
			}
			i := 0
			for b.Loop() {
				c.Factor(ats[i%len(ats)])
				i++
			}
		})
	}
}

func BenchmarkNext(b *testing.B) {
	c := mustNew(b, Spec{Zone: zone(b, "Europe/Berlin"), Start: hm(9, 0), End: hm(18, 0), Days: monFri})
	at := time.Date(2026, 3, 27, 17, 0, 0, 0, time.UTC)
	for b.Loop() {
		c.Next(at)
	}
}

// TestExtremeInstants checks instants far from today, where offsets come
// from local mean time or from the zone's rule for the future.
func TestExtremeInstants(t *testing.T) {
	for _, tz := range []string{"America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo"} {
		c := mustNew(t, Spec{Zone: zone(t, tz), Start: hm(9, 0), End: hm(18, 0), Days: monFri, Ramp: time.Hour})
		for _, at := range []time.Time{{}, time.Date(1800, 6, 1, 12, 0, 0, 0, time.UTC), time.Date(9999, 3, 10, 16, 30, 0, 0, time.UTC)} {
			checkCalendar(t, c, at)
		}
	}
}
