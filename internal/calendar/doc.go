// Package calendar owns working time: when a team, in its own time zone, is
// inside its working hours, and the time-zone factor the scheduler gives its
// jobs for it, so that whichever team is in its working day goes first.
//
// A Calendar is built from a Spec (or from a config team with FromConfig)
// and answers four questions, each a pure function of its arguments that
// reads no clock:
//
//	c.Factor(t)         // 1 inside working hours, 0 outside, a linear ramp between
//	c.InHours(t)        // Factor(t) == 1
//	c.Next(t)           // the next instant at which InHours changes: the daemon's wake-up
//	c.Windows(from, to) // the working windows in a span, in UTC, for reports
//
// # Working days
//
// Working hours are local wall-clock times, read in the team's IANA zone:
// 09:00 to 18:00 in Europe/Berlin is 08:00 to 17:00 UTC in winter and 07:00
// to 16:00 UTC in summer, and 09:00 to 18:00 in America/Los_Angeles is 16:00
// to 01:00 UTC the next day in summer. A working day whose End is not after
// its Start crosses local midnight: 22:00 to 06:00 starts on a working day
// and ends the next morning. The day a working day starts on decides
// everything: whether it is a working day of the week and whether it is a
// holiday. A holiday Monday has no working hours at all; for 22:00 to 06:00
// a holiday Monday drops the shift that starts on Monday evening, not the
// one that ends on Monday morning.
//
// # Clock changes
//
// Working windows are instants, so a working day that spans a clock change
// is as long as the clocks say: 22:00 to 06:00 across the night clocks
// spring forward lasts 7 hours, and across the night they fall back 9. Two
// local times are not instants of their own, and are defined here as
// follows:
//
//   - A time that happens twice, in the hour repeated when clocks fall
//     back, is its first occurrence: 01:30 on 2026-11-01 in
//     America/Los_Angeles is 08:30 UTC (PDT), not 09:30 UTC (PST).
//   - A time that never happens, in the hour skipped when clocks spring
//     forward, is the instant the clocks skip it: 02:30 on 2026-03-08 in
//     America/Los_Angeles is 10:00 UTC, when 02:00 PST becomes 03:00 PDT.
//     A working day that lies wholly inside a skipped stretch does not
//     happen.
//
// These keep every working day in order and never shorter than its clock
// says; time.Date's normalisation does not (it takes that 02:30 to 01:30
// PST), so the package resolves local times itself.
//
// Ramps (Spec.Ramp) are measured in elapsed time before Start and after
// End. Where the ramps of two working days overlap the factor is the larger
// of the two.
//
// Times in and out are time.Time instants; results are in UTC, as gpuq
// stores every time. The package embeds the zone database (time/tzdata) so
// that a host without one still knows every zone.
package calendar

import _ "time/tzdata" // zones on hosts without a zone database
