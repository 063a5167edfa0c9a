// Package accounting owns the arithmetic of gpuq's accounting: which part
// of a run falls in a period, GPU-hours per team and GPU type, what they
// cost (chargeback or a split of the actual bills), the teams' monthly
// budgets, and the parsers of gpuqctl acct and cost (time specs, months,
// sacct --format field lists). It is pure: no I/O, no clock, no goroutines.
// gpuqd's AccountingService feeds it records from the store; gpuqctl uses
// its parsers and field values.
//
// # Periods and time zones
//
// A Range is the half-open span [Start, End) in UTC instants. A Month is a
// calendar month read in an IANA zone: from local midnight on the 1st to
// local midnight on the 1st of the next month, so March 2026 lasts 743
// hours in Europe/Berlin and October 2026 lasts 745. Consecutive months
// tile time exactly: a run that spans a month boundary is split at the
// boundary, each month counts the part inside it, and no hour is counted
// twice or lost. Local times that a clock change makes ambiguous resolve as
// internal/calendar resolves them: a time that happens twice is its first
// occurrence, and a time that never happens (skipped when clocks spring
// forward) is the instant of the jump.
//
// # Exact amounts
//
// GPU time is a GPUTime, integer GPU-seconds and nanoseconds, so sums over
// a million records do not drift. Money is money.Amount, integer
// micro-units. A cost is GPU time times a rate computed exactly and rounded
// once, half to even, to the cent. A split divides each pool's bill, in
// whole cents, by the largest-remainder method: every part is its exact
// quota rounded down to the cent, and the cents left over go one each to
// the parts with the largest remainders (ties to the earlier row), so the
// parts always add up exactly to the bill. Shares of a total are basis
// points divided the same way and add up to exactly 100.00%.
//
// # Models
//
// Chargeback prices a team's GPU-hours at its hourly_rate, or at the
// pool's price_per_gpu_hour where the team has no rate. Split divides each
// pool's actual bill: the part that the GPU-hours used are worth at the
// pool's price (at most the bill) goes to the teams by their usage of the
// pool, and the rest, the idle cost, by an IdlePolicy: in proportion to
// usage, by fair-share shares, evenly, or kept by the platform.
//
// # Budgets
//
// A team's budget month is the calendar month in its own time zone. Spent
// is the chargeback cost of its runs in the month up to the report's
// instant (gpuqd writes a record when a run ends, so a run in progress
// counts once it has ended); the forecast carries the month's average daily rate so far to
// month end (spent times the month's length over the time elapsed). Alerts
// are raised at 80% and 100% of the budget.
package accounting
