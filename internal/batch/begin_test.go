package batch

import (
	"testing"
	"time"
	_ "time/tzdata" // the tests need Europe/Berlin on any host
)

func TestParseBegin(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, mo time.Month, d, h, m, s int) time.Time { return time.Date(y, mo, d, h, m, s, 0, berlin) }
	// The day before Europe switches to summer time (2026-03-29 02:00 CET -> 03:00 CEST).
	now := at(2026, 3, 28, 10, 15, 0)
	tests := []struct {
		in      string
		now     time.Time // default now
		want    time.Time
		wantErr bool
	}{
		{in: "now", want: now},
		{in: "now+1hour", want: now.Add(time.Hour)},
		{in: "now+30minutes", want: now.Add(30 * time.Minute)},
		{in: "now+60", want: now.Add(time.Minute)},
		{in: "now+90s", want: now.Add(90 * time.Second)},
		{in: "NOW+2Hours", want: now.Add(2 * time.Hour)},
		{in: "now+1day", want: now.Add(24 * time.Hour)}, // 11:15 CEST on the wall clock
		{in: "now+2weeks", want: now.Add(14 * 24 * time.Hour)},
		{in: "16:00", want: at(2026, 3, 28, 16, 0, 0)},
		{in: "16:00:30", want: at(2026, 3, 28, 16, 0, 30)},
		{in: "10:15", want: now},
		{in: "09:00", want: at(2026, 3, 29, 9, 0, 0)}, // tomorrow, in summer time
		{in: "9:05", want: at(2026, 3, 29, 9, 5, 0)},
		{in: "midnight", want: at(2026, 3, 29, 0, 0, 0)},
		{in: "noon", want: at(2026, 3, 28, 12, 0, 0)},
		{in: "Noon", now: at(2026, 3, 28, 13, 0, 0), want: at(2026, 3, 29, 12, 0, 0)},
		{in: "fika", want: at(2026, 3, 28, 15, 0, 0)},
		{in: "teatime", want: at(2026, 3, 28, 16, 0, 0)},
		{in: "today", want: at(2026, 3, 28, 0, 0, 0)},
		{in: "tomorrow", want: at(2026, 3, 29, 0, 0, 0)},
		{in: "2026-12-01", want: at(2026, 12, 1, 0, 0, 0)},
		{in: "2026-12-01T16:00", want: at(2026, 12, 1, 16, 0, 0)},
		{in: "2026-07-01T16:00:30", want: at(2026, 7, 1, 16, 0, 30)},
		{in: "2020-01-01", want: at(2020, 1, 1, 0, 0, 0)}, // in the past: eligible at once
		// now in another zone: wall-clock forms still use the submitter's zone.
		{in: "16:00", now: now.UTC(), want: at(2026, 3, 28, 16, 0, 0)},
		{in: "", wantErr: true},
		{in: "now-1hour", wantErr: true},
		{in: "now+", wantErr: true},
		{in: "now+hour", wantErr: true},
		{in: "now+1fortnight", wantErr: true},
		{in: "now+1 hour", wantErr: true},
		{in: "now+999999999weeks", wantErr: true},
		{in: "now+5300weeks", wantErr: true},
		{in: "24:00", wantErr: true},
		{in: "12:60", wantErr: true},
		{in: "12:00:60", wantErr: true},
		{in: "12:00:00.5", wantErr: true},
		{in: "123:00", wantErr: true},
		{in: "12:+5", wantErr: true},
		{in: "12", wantErr: true},
		{in: "2026-13-01", wantErr: true},
		{in: "2026-02-30", wantErr: true},
		{in: "1969-12-31", wantErr: true},
		{in: "2026-12-01T16", wantErr: true},
		{in: "2026-12-01 16:00", wantErr: true},
		{in: "2026-12-01T16:00:00.5", wantErr: true},
		{in: "12/01", wantErr: true},
		{in: "yesterday", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n := now
			if !tt.now.IsZero() {
				n = tt.now
			}
			got, err := ParseBegin(tt.in, n, berlin)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseBegin(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseBegin(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseBegin(f *testing.F) {
	for _, s := range []string{"now", "now+1hour", "now+60", "16:00", "16:00:30", "2026-12-01", "2026-12-01T16:00:30",
		"midnight", "noon", "tomorrow", "today", "now+999999999weeks", "9999-12-31T23:59:59"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 28, 10, 15, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseBegin(s, now, berlin); err != nil {
			return
		}
		got, err := ParseBegin(s, now, time.UTC)
		if err != nil {
			t.Fatalf("ParseBegin(%q) works in Europe/Berlin but not in UTC: %v", s, err)
		}
		if got.Year() < minBeginYear || got.Year() > maxBeginYear || got.Nanosecond() != 0 {
			t.Fatalf("ParseBegin(%q) = %v: out of range", s, got)
		}
		form := got.Format("2006-01-02T15:04:05")
		again, err := ParseBegin(form, now, time.UTC)
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseBegin(%q) = %v; reparsing %q gave %v, %v", s, got, form, again, err)
		}
	})
}
