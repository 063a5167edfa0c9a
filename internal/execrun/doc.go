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
// benchmark). The supervisor holds supervisor.lock while it lives, so there
// is one per state directory; it listens on supervisor.sock, and exits by
// itself once it has had no job and no client for a second. A Runtime keeps
// one connection to it: starts go out, and each answer and each exit come
// back at once, so Wait does not poll while the supervisor lives.
// SupervisorMain documents the protocol.
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
// # State directory, format version 2
//
//	<StateDir>/supervisor.lock   held by the living supervisor
//	<StateDir>/supervisor.sock   where it listens
//	<StateDir>/supervisor.log    its stdout and stderr
//	<StateDir>/<id>/spec.json    by Start: the Spec and the cgroup layout; the
//	                             supervisor removes it when it takes the run
//	<StateDir>/<id>/state.json   by the supervisor once the job runs: labels,
//	                             its own and the job's pids and start times
//	                             (clock ticks after boot, /proc/<pid>/stat
//	                             field 22), start time, cgroups
//	<StateDir>/<id>/exit.json    by the supervisor when the job has ended: code,
//	                             signal, OOM, start and end times (UTC)
//
// JSON files are written to a temporary name and renamed, so readers see
// all of a file or none. exit.json is fsynced, file and directory, before
// the supervisor reports the exit: the end of a job survives a crash of the
// machine. state.json is not: it survives a killed gpuq-node or supervisor
// (the page cache is the kernel's), and after a crash of the machine the
// job is gone whether it was written or not (gpuq-node then reports the
// run lost). Each file carries "version": a reader refuses a version newer
// than its own. Runs of version 1 (a shim each, no "supervised" in
// state.json) are still waited for, signalled and deleted; Delete kills
// such a shim that does not record its job's end, never a supervisor. A
// run's directory is removed by Delete only.
//
// Wait looks for exit.json: when the supervisor reports the exit, and every
// Options.PollInterval; without a connection to the run's supervisor
// (it died, or the run is of version 1) it polls with a pause that doubles
// from 2 ms up to Options.PollInterval. When neither the supervisor nor the
// job is alive and no exit.json was written, Wait returns ErrLost. List
// reads the state directory; it is how gpuq-node finds its runs again after
// a restart.
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
