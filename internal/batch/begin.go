package batch

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxBeginOffset bounds the count of a relative --begin such as now+30days.
const maxBeginOffset = 100 * 365 * 24 * time.Hour

// First and last year of an absolute --begin; protobuf timestamps end with 9999.
const (
	minBeginYear = 1970
	maxBeginYear = 9999
)

// beginForms lists what ParseBegin accepts, for its error messages.
const beginForms = "want now[+COUNT[seconds|minutes|hours|days|weeks]], HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], " +
	"midnight, noon, fika, teatime, today or tomorrow"

// beginUnits are the units of now+COUNT, by name. Read only.
var beginUnits = map[string]time.Duration{
	"": time.Second, "s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ParseBegin parses an sbatch --begin value relative to now:
//   - now, now+COUNT with an optional unit (seconds by default, or
//     minutes, hours, days, weeks): now+1hour, now+60;
//   - a time of day, HH:MM or HH:MM:SS, and midnight, noon, fika (15:00) and
//     teatime (16:00): its next occurrence, today or else tomorrow;
//   - a date, YYYY-MM-DD, with an optional time THH:MM or THH:MM:SS;
//   - today and tomorrow: the start of that day.
//
// Times of day and dates are wall-clock times in loc, the submitter's zone.
// Keywords and units are case-insensitive.
func ParseBegin(s string, now time.Time, loc *time.Location) (time.Time, error) {
	local := now.In(loc)
	lower := strings.ToLower(s)
	if h, ok := namedTimes(lower); ok {
		return nextTimeOfDay(local, h, 0, 0), nil
	}
	switch {
	case lower == "now":
		return now, nil
	case lower == "today":
		return dayStart(local, 0), nil
	case lower == "tomorrow":
		return dayStart(local, 1), nil
	case strings.HasPrefix(lower, "now+"):
		return parseRelative(s, lower[len("now+"):], now)
	case strings.Contains(s, "-"):
		return parseDate(s, loc)
	case strings.Contains(s, ":"):
		h, m, sec, err := parseClock(s)
		if err != nil {
			return time.Time{}, err
		}
		return nextTimeOfDay(local, h, m, sec), nil
	}
	return time.Time{}, malformedBegin(s)
}

// namedTimes are Slurm's names for times of day.
func namedTimes(name string) (hour int, ok bool) {
	switch name {
	case "midnight":
		return 0, true
	case "noon":
		return 12, true
	case "fika":
		return 15, true
	case "teatime":
		return 16, true
	}
	return 0, false
}

// parseRelative parses the COUNT[UNIT] of now+COUNT[UNIT].
func parseRelative(s, rel string, now time.Time) (time.Time, error) {
	digits := strings.TrimRight(rel, "abcdefghijklmnopqrstuvwxyz")
	unit, ok := beginUnits[rel[len(digits):]]
	n, err := parseDigits(digits)
	if !ok || err != nil {
		return time.Time{}, malformedBegin(s)
	}
	if n > uint64(maxBeginOffset/unit) {
		return time.Time{}, fmt.Errorf("begin time %q is more than 100 years ahead", s)
	}
	return now.Add(time.Duration(n) * unit), nil
}

// parseDate parses YYYY-MM-DD[THH:MM[:SS]] in loc.
func parseDate(s string, loc *time.Location) (time.Time, error) {
	layout := map[int]string{10: "2006-01-02", 16: "2006-01-02T15:04", 19: "2006-01-02T15:04:05"}[len(s)]
	t, err := time.ParseInLocation(layout, s, loc)
	if layout == "" || err != nil {
		return time.Time{}, malformedBegin(s)
	}
	if y := t.UTC().Year(); y < minBeginYear || y > maxBeginYear {
		return time.Time{}, fmt.Errorf("begin time %q: the year must be from %d to %d", s, minBeginYear, maxBeginYear)
	}
	return t, nil
}

// parseClock parses HH:MM or HH:MM:SS.
func parseClock(s string) (h, m, sec int, err error) {
	fields := strings.Split(s, ":")
	limits := []int{24, 60, 60}
	if len(fields) > len(limits) || len(fields) < 2 {
		return 0, 0, 0, malformedBegin(s)
	}
	vals := make([]int, len(limits))
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || len(f) > 2 || !isNumber(f) || n >= limits[i] {
			return 0, 0, 0, malformedBegin(s)
		}
		vals[i] = n
	}
	return vals[0], vals[1], vals[2], nil
}

func malformedBegin(s string) error {
	return fmt.Errorf("malformed begin time %q (%s)", s, beginForms)
}

// nextTimeOfDay is the next h:m:s wall-clock time at or after local.
func nextTimeOfDay(local time.Time, h, m, s int) time.Time {
	y, mo, d := local.Date()
	t := time.Date(y, mo, d, h, m, s, 0, local.Location())
	if t.Before(local) {
		t = time.Date(y, mo, d+1, h, m, s, 0, local.Location())
	}
	return t
}

// dayStart is midnight at the start of the day days after local's.
func dayStart(local time.Time, days int) time.Time {
	y, mo, d := local.Date()
	return time.Date(y, mo, d+days, 0, 0, 0, 0, local.Location())
}
