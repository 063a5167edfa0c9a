// Package timerslack gives gpuq's daemons (gpuqd, gpuq-node and the exec
// runtime's supervisor) a Linux timer slack larger than the kernel's
// 50 µs, and gives jobs back the kernel's default.
//
// The timer slack (prctl(2) PR_SET_TIMERSLACK) is how late the kernel may
// wake a thread's timed sleeps so that wake-ups coalesce. Go's runtime
// has a monitor thread (sysmon) that sleeps 20 µs at a time for at least
// a millisecond every time the process wakes up from being idle and makes
// a system call; a daemon that wakes for every job does that hundreds of
// times a second. With a slack of a millisecond those sleeps last up to a
// millisecond: on the 2-core VM gpuq is developed on, a third of gpuqd's
// context switches were that monitor's sleeps (perf, sched_switch with
// stacks, read by hand), and the three daemons'
// CPU per job fell by about a fifth (BenchmarkJobThroughput; docs/STATUS.md,
// session 6). The price: while a node is saturated (a burst of hundreds
// of trivial jobs), a job's end reaches gpuqd ~100 ms after it happens
// rather than ~10 ms. Most of that comes from gpuq-node and its supervisor (the
// slack given to gpuqd alone, or to them alone, in turns), which run Go
// on one processor: probably because the monitor, which hands a processor
// on while a system call blocks, then looks less often. One job at a
// time, nothing changes.
// Go has no setting for it (golang/go#18236); systemd's TimerSlackNSec and
// the JDK's -XX:TimerSlack set the same thing for other programs.
//
// A thread takes the slack of the thread that made it, and the monitor is
// made before main runs: Ensure sets the slack and executes the program
// again, once, so that every thread has it. The environment variable
// GPUQ_TIMER_SLACK chooses it (a Go duration; 0 leaves the inherited one
// alone). Jobs are started with the kernel's default (Job).
package timerslack
