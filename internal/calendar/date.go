package calendar

import (
	"fmt"
	"time"
)

// Date is a day on a team's local calendar: a civil date with no time of
// day and no zone. The zero Date is not a valid date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date that t's clock reads in t's location; use
// DateOf(t.In(zone)) for the date in another zone.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses a date written YYYY-MM-DD, as config holidays are.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q (want YYYY-MM-DD)", s)
	}
	return DateOf(t), nil
}

// String writes d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// IsValid reports whether d names a day that exists: 2026-02-30 does not.
func (d Date) IsValid() bool {
	return DateOf(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)) == d
}

// secondsPerDay is the length of a civil day on a clock that never changes
// its offset, which is how dates are counted here.
const secondsPerDay = 24 * 60 * 60

// dayNum returns the number of days from 1970-01-01 to d (negative before).
// An invalid d is normalised first, as time.Date does.
func (d Date) dayNum() int64 {
	return floorDiv(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix(), secondsPerDay)
}

// dateOfDay is the inverse of dayNum.
func dateOfDay(n int64) Date {
	return DateOf(time.Unix(n*secondsPerDay, 0).UTC())
}

// weekday returns the day of the week of day number n; 1970-01-01 was a
// Thursday.
func weekday(n int64) time.Weekday {
	return time.Weekday(floorMod(n+int64(time.Thursday), 7))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	return a - floorDiv(a, b)*b
}
