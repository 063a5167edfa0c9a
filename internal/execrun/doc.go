// Package execrun is gpuq-node's "exec" runtime: it runs jobs as plain
// processes on the host, as Slurm does without containers, for development
// and for sites without containers. It owns the job processes, the shim
// that watches each of them, the per-run state on disk and the jobs'
// cgroups. It ignores a Spec's Image, Mounts, Devices and CDIDevices: the
// job sees the host as it is.
//
// # The supervisor
//
// Only a process's parent can read its exit status, and jobs must outlive a
// restart of gpuq-node. So every job of a state directory is a child of one
// supervisor process, started by the first Start that finds none:
//
//	<ShimPath> <ShimArgs...> <StateDir>      (ShimArgs default: exec-supervisor)
//
// in a session of its own (gpuq-node runs gpuq-shim, or itself). The mains
// make themselves the supervisor:
//
//	if len(os.Args) > 1 && os.Args[1] == execrun.SupervisorCommand {
//		os.Exit(execrun.SupervisorMain(os.Args[2:]))
//	}
//
// One process for all jobs, rather than a shim process per job (as up to
// format version 1): a Go program costs tens of milliseconds of CPU to start
// and end on a small virtual machine, several times the job's own process
// (measured in BenchmarkRunConcurrent and the end-to-end throughput
// benchmark). The supervisor holds supervisor3.lock while it lives, so
// there is one per state directory; it listens on supervisor3.sock, and
// exits by itself once it has had no job and no client for a second. A
// Runtime keeps one connection to it: starts go out, and each answer and
// each exit come back at once, so Wait does not poll while the supervisor
// lives. SupervisorMain documents the protocol.
//
// The supervisor starts each job with the Spec's Args (a bare name is
// looked up in the PATH of the job's Env), Env (exactly: nothing of
// gpuq-node's environment), Dir, and UID/GID with the Spec's Groups (or,
// when nil, the user's groups in the node's user database); stdin is
// /dev/null, stdout and stderr are appended to the Spec's files (made when
// missing, opened as the job's user through internal/fsuser, so the user
// owns new ones and cannot reach a file of root's through a link; one file
// when the paths are equal, relative paths taken from Dir). The job leads a
// process group of its own. When its first process exits, the supervisor
// kills what is left of its process group and cgroup: a job ends with its
// script, as in Slurm. It waits for jobs on pidfds, so a job holds no thread
// while it runs.
//
// Signals sent to the supervisor (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
// SIGUSR2) are logged and ignored: they would end the watch of every job.
//
// # State directory, format version 3
//
//	<StateDir>/supervisor3.lock  held by the living supervisor
//	<StateDir>/supervisor3.sock  where it listens
//	<StateDir>/supervisor.log    its stdout and stderr
//	<StateDir>/runs.log          the journal of runs, written by the
//	                             supervisor only (internal/reclog)
//
// The journal has a JSON record a line: "take" when the supervisor takes a
// run (before it starts anything), "start" once the job runs (labels, its
// own and the job's pids and start times in clock ticks after boot,
// /proc/<pid>/stat field 22, start time, cgroups), "exit" when it has ended
// (code, signal, OOM, start and end times, UTC), "forget" when Delete
// removes it. No file per run (see internal/reclog's doc; a run used to
// cost four files and two fsyncs). An exit record is on disk
// (fdatasync, shared by exits recorded together) before the supervisor
// reports it: the end of a job survives a crash of the machine. The others
// are not synced: they survive a killed gpuq-node or supervisor (the page
// cache is the kernel's), and after a crash of the machine the job is gone
// whether they were written or not (gpuq-node then reports the run lost).
// Each state and exit carries "version": a reader refuses a newer one. The
// supervisor rewrites the journal with the records of its live runs once
// it holds 4,096 records, four times as many as those runs have.
//
// A Runtime keeps what the supervisor reported of the runs it started or
// looked up (the spec goes out on the socket, the state and the exit come
// back), and reads the journal for the others and whenever it has lost the
// supervisor. Runs of versions 1 and 2, a directory each (<id>/state.json
// and exit.json, by a shim of their own or a supervisor listening on
// supervisor.sock), are still waited for, signalled, listed and deleted; a
// supervisor of version 2 finishes its jobs beside one of version 3.
//
// Wait returns when the supervisor reports the exit; without a connection
// to the run's supervisor (it died, or the run is of an older version) it
// polls the journal (or the run's directory) with a pause that doubles
// from 2 ms up to Options.PollInterval. When neither the supervisor nor the
// job is alive and no exit was recorded, Wait returns ErrLost. List reads
// the journal and the state directory; it is how gpuq-node finds its runs
// again after a restart.
//
// # Signals and pids
//
// Signal goes to the job's process group (kill(-pgid)), and, with a cgroup,
// to every process of the cgroup that is not in that group, the supervisor
// excepted. The recorded
// pid is used only while /proc/<pid>/stat shows the recorded start time, so
// a pid the kernel has since given to another process is never signalled;
// the supervisor reaps the job's first process only after it has killed
// what is left of its group, so its pgid cannot be reused while the run is
// live.
// Code is the exit status, or 128+N with Signal N when a signal ended the
// job.
//
// # Cgroups
//
// With Options.CgroupRoot set and writable, every job gets a cgroup:
// <root>/memory/gpuq/<id> on cgroup v1, and <root>/cpu/gpuq/<id> when it
// asks for a CPU limit (memory limit_in_bytes, and memsw when swap
// accounting is on; cpu.cfs_quota_us over a 100 ms period),
// <root>/gpuq/<id> on cgroup v2 (memory.max, memory.swap.max 0, cpu.max).
// The cgroup is how every process of the job is found and killed, even one
// that left its process group, and how an OOM kill is told apart from
// another SIGKILL: OOM is set when the job failed and the cgroup's oom_kill
// count (memory.oom_control on v1, memory.events on v2) is not zero. On v2
// the job is born in its cgroup (CLONE_INTO_CGROUP). On v1 a thread of the
// supervisor of its own, never its main thread, steps into the job's
// cgroups (their tasks files) and forks the job there, so the job and its
// children are inside from their first instruction, and then steps back
// to the main thread's cgroups (or ends, when it cannot): the
// supervisor's memory stays charged to its own cgroup (v1 charges a
// process's memory where its main thread is), and while that thread is
// inside, the job's cgroup lists the supervisor, which nothing here kills. When the
// cgroups cannot be made (not root, read-only, not mounted) jobs run
// without them, with a logged warning: limits are not applied, and a
// process that leaves the job's process group (setsid) is not killed with
// it.
//
// # Limits
//
// A supervisor that is killed loses the exit status of every job it
// watched (ErrLost once a job is gone too; gpuq-node reports NODE_FAIL and
// gpuqd requeues what may be requeued), where a shim per job lost one. The
// jobs run on, orphans; Delete still kills them through their recorded
// process group and cgroup, and the next Start starts a new supervisor. A
// Start whose supervisor went away before it took the run asks again; one
// that went away after cannot be told from a failed start, and is cleaned
// up as one. Without cgroups a job can escape by making a session of its
// own.
package execrun
