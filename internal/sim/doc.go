// Package sim owns the scheduling simulation that the scheduler issue asks
// for as proof: a workload generator, a virtual-clock event loop that drives
// the real scheduler (sched.Decide) the way gpuqd does, and a report.
//
// Nothing here reads the wall clock or global randomness: a Workload is
// generated from a fixed PCG seed, the clock is virtual, and the same
// Options give the same Result and the same report, byte for byte. The
// report is committed as a golden file (testdata/report-72h.txt) and
// `make sim` prints it:
//
//	go test ./internal/sim -run TestSimulation72h -v
//
// # The loop
//
// Run keeps the jobs, the nodes' free GPUs and each team's decayed usage,
// and at every scheduling cycle builds a sched.Snapshot as gpuqd's queue
// does (teams with their calendars, shares and billed GPU-seconds decayed
// with a 7-day half-life, recorded when a run ends; nodes with their free
// GPUs; pending jobs, and running ones with their node, GPU ids, start time
// and, while in their grace, Stopping and StoppingFor), calls sched.Decide
// and applies the plan, re-checking every start against its own state.
// Cycles run every Options.Tick of simulated time and also whenever a job
// ends or a preempted job's grace runs out, as gpuqd's loop runs when a job
// ends. A preempted job keeps its GPUs for the grace, then goes back to the
// queue and resumes from its last checkpoint (a job without checkpoints
// starts again from nothing).
//
// # The report
//
// Per team, split by whether the team was inside its working hours when
// the job was submitted: jobs, median and 95th-percentile wait from submit
// to first start (a job still pending at the end counts the time it has
// waited so far, a lower bound), and the GPU-hours received; each team's
// part of all GPU-hours against its shares; pool utilisation overall and
// while work was waiting; preemptions per team.
package sim
