// Package sched decides what runs where. Decide is a pure function from a
// Snapshot to a Plan: it reads no clock, does no I/O, starts no goroutine
// and keeps no state, so the same snapshot always gives the same plan, in
// whatever order its jobs, nodes and teams come. The daemon builds
// snapshots, applies plans and re-checks them against its current state.
//
// # Eligibility
//
// A pending job waits, with its reason, while it is held (JobHeldUser, or
// Budget when the daemon held it for its team's hard budget limit), its
// dependencies are unmet (Dependency; one that can never be met cancels
// it), its begin time is ahead (BeginTime), a singleton of its name and
// user runs, or its array runs its %N tasks (JobArrayTaskLimit).
//
// # Priority
//
// Eligible jobs are taken in priority order, ties broken by submit time,
// job id and task. A job's priority is the sum of five factors, each in
// [0,1], times their weights (Policy.Weights), rounded, minus its nice, as
// in Slurm's priority/multifactor (Plan.Factors, for `gpuqctl priority`):
//
//   - fair share: 2^(-U/S) for its team, S being the team's shares over all
//     teams' shares and U its decayed billed usage over all teams' usage;
//     with per-user usage, Slurm's classic two-level: the team's S split
//     equally between its users and its U by their usage (Plan.Shares, for
//     `gpuqctl share`). The caller decays usage; sched takes it as given;
//   - time zone: the team's calendar factor now, 1 in its working hours,
//     but no more than the factor when the job was submitted: a job
//     submitted outside its team's working hours gets 0 even while the team
//     is at work (the boost is for the work people submit at their desks;
//     what they queue overnight competes on fair share);
//   - age since submission, reaching 1 at Policy.MaxAge;
//   - job size: its GPUs over the largest node's;
//   - QOS: Policy.QOS of its QOS.
//
// DefaultPolicy's weights put every job of time-zone factor 1 (its team
// in its working hours, submitted in them) ahead of every job of factor 0;
// fair share orders the teams within each group. Measured in the 72-hour
// simulation (internal/sim), boosting all of an in-hours team's queue let
// each team take the whole pool through its working day with the backlog
// of its night, so fair share could not even out the teams' parts, and a
// team's own backlog delayed the jobs it submitted at work.
//
// # Placement, backfill and preemption
//
// Each job in turn starts now if it can: on a node of its GPU type and
// pool with enough free GPUs, in its team's preferred region when one
// there can take it (never waiting for one), best fit (fewest free GPUs)
// to keep whole nodes for whole-node jobs. Otherwise, if it may preempt
// (Policy.Preemption), it preempts the fewest and cheapest running jobs on
// one node that make room for it, and waits Preempting while they stop;
// their GPUs, and the free ones it needs beside them, are held for it. Or,
// among the first Policy.ReserveTop that got this far, it gets a
// reservation where it can start soonest by the running jobs' time limits
// (Resources), and lower jobs start only where, by their own time limits,
// they leave it its GPUs: EASY backfill. The rest wait for Priority, or
// for Resources if nothing waits above them. A job no node could ever hold
// waits with ReqNodeNotAvail.
//
// Each node is modelled as a timeline of free GPUs: free now, plus what
// running jobs and the plan's own starts give back at the end of their
// time limits, less what reservations claim while they last.
package sched
