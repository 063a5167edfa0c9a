package accounting

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Grouping is what a utilization report counts GPU time by.
type Grouping int

// The groupings.
const (
	ByTeam Grouping = iota + 1
	ByUser
	ByPool
)

var groupingNames = map[Grouping]string{ByTeam: "team", ByUser: "user", ByPool: "pool"}

func (g Grouping) String() string {
	if s, ok := groupingNames[g]; ok {
		return s
	}
	return fmt.Sprintf("Grouping(%d)", int(g))
}

// ParseGrouping reads a grouping's name: team, user or pool, in any case.
func ParseGrouping(s string) (Grouping, error) {
	for g, name := range groupingNames {
		if strings.EqualFold(s, name) {
			return g, nil
		}
	}
	return 0, fmt.Errorf("unknown grouping %q (want team, user or pool)", s)
}

// Bucketing is how a utilization report cuts its period into rows.
type Bucketing int

// The bucketings.
const (
	// PerHour has a row for each hour of the period on the clock of the
	// report's zone: a day has 23 or 25 of them when the clocks change.
	PerHour Bucketing = iota + 1
	// PerHourOfDay folds the hours of the period into the 24 hours of the
	// day on that clock: the hour repeated when the clocks fall back counts
	// twice in its row, the hour skipped when they spring forward not at
	// all that day.
	PerHourOfDay
)

var bucketingNames = map[Bucketing]string{PerHour: "hour", PerHourOfDay: "hour-of-day"}

func (b Bucketing) String() string {
	if s, ok := bucketingNames[b]; ok {
		return s
	}
	return fmt.Sprintf("Bucketing(%d)", int(b))
}

// ParseBucketing reads a bucketing's name: hour or hour-of-day, in any case.
func ParseBucketing(s string) (Bucketing, error) {
	for b, name := range bucketingNames {
		if strings.EqualFold(s, name) {
			return b, nil
		}
	}
	return 0, fmt.Errorf("unknown bucketing %q (want hour or hour-of-day)", s)
}

// MaxUtilizationHours bounds a utilization report's period: 400 days of
// hours.
const MaxUtilizationHours = 400 * 24

// NoGroup names the group of runs that have none: a pool that was not known.
const NoGroup = "(none)"

// Errors of NewUtilization.
var (
	ErrUnbounded   = errors.New("the period needs a start and an end")
	ErrTooLong     = fmt.Errorf("the period is longer than %d hours", MaxUtilizationHours)
	ErrBadGrouping = errors.New("unknown grouping or bucketing")
	ErrEmptyPeriod = errors.New("the period is empty")
)

// UtilizationRow is one row of a utilization report. Times are GPU time
// per group, in the order of the report's Groups.
type UtilizationRow struct {
	// Start and End are the row's hour, [Start, End), clipped to the
	// period; zero for a row of PerHourOfDay.
	Start, End time.Time
	// Hour is the hour of the day, 0 to 23, of the row's start on the
	// report's clock; the row's hour of day for PerHourOfDay.
	Hour int
	// Clock is the real time the row covers: an hour, less at the
	// period's edges; for PerHourOfDay the sum of the hours folded in.
	Clock time.Duration
	Time  []GPUTime
	Total GPUTime
}

// Utilization is how much GPU time the groups used in each hour.
type Utilization struct {
	Period   Range
	Location *time.Location
	By       Grouping
	Per      Bucketing
	// Groups are the groups asked for first, in that order, then any
	// other group with usage by name.
	Groups []string
	Rows   []UtilizationRow
	// Totals are each group's GPU time in the period; Total their sum.
	// Every row's Total is the sum of its Time, and Totals the sums of the
	// rows': the report is exact.
	Totals []GPUTime
	Total  GPUTime
}

// UtilizationTally adds up the GPU time of runs per group and hour. Records
// may come in any order; the same records always give the same report.
type UtilizationTally struct {
	period Range
	loc    *time.Location
	by     Grouping
	per    Bucketing
	order  []string
	hours  []Range // the period cut at the hours of loc's clock
	groups map[string][]GPUTime
}

// NewUtilization starts a report of period, a bounded range of at most
// MaxUtilizationHours, in loc. groups are the groups to show first, and
// even when they have no usage: the teams of the config, in its order.
func NewUtilization(period Range, loc *time.Location, by Grouping, per Bucketing, groups []string) (*UtilizationTally, error) {
	switch {
	case period.Start.IsZero() || period.End.IsZero():
		return nil, ErrUnbounded
	case !period.End.After(period.Start):
		return nil, ErrEmptyPeriod
	case period.End.Sub(period.Start) > MaxUtilizationHours*time.Hour:
		return nil, ErrTooLong
	case groupingNames[by] == "" || bucketingNames[per] == "":
		return nil, ErrBadGrouping
	}
	if loc == nil {
		loc = time.UTC
	}
	u := &UtilizationTally{period: period, loc: loc, by: by, per: per, groups: map[string][]GPUTime{}}
	for t := period.Start; t.Before(period.End); {
		next := nextHour(t, loc)
		if next.After(period.End) {
			next = period.End
		}
		u.hours = append(u.hours, Range{Start: t, End: next})
		t = next
	}
	for _, g := range groups {
		if _, dup := u.groups[g]; !dup {
			u.order = append(u.order, g)
			u.groups[g] = make([]GPUTime, len(u.hours))
		}
	}
	return u, nil
}

// nextHour is the first instant after t at which loc's clock shows a whole
// hour.
func nextHour(t time.Time, loc *time.Location) time.Time {
	local := t.In(loc)
	into := time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second + time.Duration(local.Nanosecond())
	next := t.Add(time.Hour - into)
	// A clock change by a part of an hour moves the next whole hour: find
	// it on the clock of the hour that follows.
	if m := next.In(loc).Minute(); m != 0 {
		if back := next.Add(-time.Duration(m) * time.Minute); back.After(t) {
			next = back
		} else {
			next = next.Add(time.Duration(60-m) * time.Minute)
		}
	}
	return next
}

// group is the group r counts for.
func (u *UtilizationTally) group(r *Run) string {
	var g string
	switch u.by {
	case ByTeam:
		g = r.Team
	case ByUser:
		g = r.User
	case ByPool:
		g = r.Pool
	}
	if g == "" {
		return NoGroup
	}
	return g
}

// Add counts the part of rec's run in each hour of the period, for each
// GPU it held.
func (u *UtilizationTally) Add(rec *gpuqv1.RunRecord) {
	r := RunOf(rec)
	u.AddRun(&r)
}

// AddRun counts the part of r in each hour of the period, for each GPU it
// held.
func (u *UtilizationTally) AddRun(r *Run) {
	if !r.End.After(r.Start) || r.GPUs == 0 || !r.End.After(u.period.Start) || !r.Start.Before(u.period.End) {
		return
	}
	g := u.group(r)
	times, ok := u.groups[g]
	if !ok {
		times = make([]GPUTime, len(u.hours))
		u.groups[g] = times
	}
	// The first hour that ends after the run starts.
	i := sort.Search(len(u.hours), func(i int) bool { return u.hours[i].End.After(r.Start) })
	for ; i < len(u.hours) && u.hours[i].Start.Before(r.End); i++ {
		times[i] = times[i].Add(GPUTimeOf(r.clip(u.hours[i]), r.GPUs))
	}
}

// Result returns the report.
func (u *UtilizationTally) Result() Utilization {
	names := slices.Clone(u.order)
	var others []string
	for g := range u.groups {
		if !slices.Contains(u.order, g) {
			others = append(others, g)
		}
	}
	slices.Sort(others)
	names = append(names, others...)

	rep := Utilization{Period: u.period, Location: u.loc, By: u.by, Per: u.per, Groups: names, Totals: make([]GPUTime, len(names))}
	row := func(i int) UtilizationRow {
		r := UtilizationRow{Time: make([]GPUTime, len(names))}
		for gi, g := range names {
			r.Time[gi] = u.groups[g][i]
			r.Total = r.Total.Add(r.Time[gi])
		}
		return r
	}
	switch u.per {
	case PerHour:
		for i, h := range u.hours {
			r := row(i)
			r.Start, r.End, r.Hour, r.Clock = h.Start, h.End, h.Start.In(u.loc).Hour(), h.End.Sub(h.Start)
			rep.Rows = append(rep.Rows, r)
		}
	case PerHourOfDay:
		rep.Rows = make([]UtilizationRow, 24)
		for hr := range rep.Rows {
			rep.Rows[hr] = UtilizationRow{Hour: hr, Time: make([]GPUTime, len(names))}
		}
		for i, h := range u.hours {
			r, into := row(i), &rep.Rows[h.Start.In(u.loc).Hour()]
			into.Clock += h.End.Sub(h.Start)
			for gi := range names {
				into.Time[gi] = into.Time[gi].Add(r.Time[gi])
			}
			into.Total = into.Total.Add(r.Total)
		}
	}
	for _, r := range rep.Rows {
		for gi := range names {
			rep.Totals[gi] = rep.Totals[gi].Add(r.Time[gi])
		}
		rep.Total = rep.Total.Add(r.Total)
	}
	return rep
}

// Merge adds o's counts to u; o must be a tally made with the same
// arguments.
func (u *UtilizationTally) Merge(o *UtilizationTally) {
	for g, times := range o.groups {
		mine, ok := u.groups[g]
		if !ok {
			mine = make([]GPUTime, len(u.hours))
			u.groups[g] = mine
		}
		for i, t := range times {
			mine[i] = mine[i].Add(t)
		}
	}
}
