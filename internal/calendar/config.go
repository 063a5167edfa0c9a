package calendar

import (
	"errors"
	"fmt"
	"time"

	"github.com/gpuq/gpuq/internal/config"
)

// FromConfig returns the calendar of team t, with the given ramp. It checks
// what it reads as config.Validate does, so an unvalidated team gets an
// error rather than a wrong calendar: the error joins a *FieldError for each
// problem, named by the team's YAML keys ("working_hours.start",
// "holidays[1]") or "ramp".
func FromConfig(t *config.Team, ramp time.Duration) (Calendar, error) {
	var errs []error
	bad := func(field string, err error) {
		errs = append(errs, &FieldError{Field: field, Err: err})
	}
	s := Spec{Zone: t.Location(), Ramp: ramp}
	// Location falls back to UTC for a zone it cannot load.
	switch {
	case t.Timezone == "":
		bad("timezone", errors.New("must not be empty (want an IANA zone such as Europe/Berlin)"))
	case s.Zone.String() != t.Timezone:
		bad("timezone", fmt.Errorf("unknown zone %q", t.Timezone))
	}

	var err error
	s.Start, err = config.ParseClock(t.WorkingHours.Start)
	if err != nil {
		bad("working_hours.start", err)
	}
	var errEnd error
	s.End, errEnd = config.ParseClock(t.WorkingHours.End)
	switch {
	case errEnd != nil:
		bad("working_hours.end", errEnd)
	case err == nil && s.Start == s.End:
		bad("working_hours.end", fmt.Errorf("equals start %q; a working day needs a length", t.WorkingHours.Start))
	}

	if len(t.WorkingDays) == 0 {
		bad("working_days", errors.New("must name at least one day"))
	}
	for i, name := range t.WorkingDays {
		wd, ok := config.ParseWeekday(name)
		switch {
		case !ok:
			bad(fmt.Sprintf("working_days[%d]", i), fmt.Errorf("unknown weekday %q", name))
		case s.Days[wd]:
			bad(fmt.Sprintf("working_days[%d]", i), fmt.Errorf("duplicate weekday %q", name))
		default:
			s.Days[wd] = true
		}
	}

	for i, h := range t.Holidays {
		d, err := ParseDate(h)
		switch {
		case err != nil:
			bad(fmt.Sprintf("holidays[%d]", i), err)
		case s.Holidays[d]:
			bad(fmt.Sprintf("holidays[%d]", i), fmt.Errorf("duplicate holiday %q", h))
		default:
			if s.Holidays == nil {
				s.Holidays = make(map[Date]bool, len(t.Holidays))
			}
			s.Holidays[d] = true
		}
	}

	if ramp < 0 || ramp > MaxRamp {
		bad("ramp", fmt.Errorf("%v is out of range (want 0 to %v)", ramp, MaxRamp))
	}
	if len(errs) > 0 {
		return Calendar{}, errors.Join(errs...)
	}
	return New(s)
}
