// Package execrun is gpuq-node's "exec" runtime: it runs jobs as plain
// processes on the host, as Slurm does without containers, for development
// and for sites without containers. It owns the job processes, the shim
// that watches each of them, the per-run state on disk and the jobs'
// cgroups. It ignores a Spec's Image, Mounts, Devices and CDIDevices: the
// job sees the host as it is.
//
// # Shims
//
// Only a process's parent can read its exit status, and jobs must outlive a
// restart of gpuq-node. So, as containerd does, each run has a shim: Start
// runs
//
//	<ShimPath> <ShimArgs...> <StateDir>/<id>      (ShimArgs default: exec-shim)
//
// in a session of its own, and the shim starts the job, waits for it and
// writes its exit down. gpuq-node's main makes itself the shim:
//
//	if len(os.Args) > 1 && os.Args[1] == execrun.ShimCommand {
//		os.Exit(execrun.ShimMain(os.Args[2:]))
//	}
//
// ShimMain documents the contract between Start and the shim. The shim
// starts the job with the Spec's Args (a bare name is looked up in the PATH
// of the job's Env), Env (exactly: nothing of gpuq-node's environment),
// Dir, and UID/GID with the Spec's Groups (or, when nil, the user's groups
// in the node's user database); stdin is /dev/null, stdout and stderr are
// appended to the Spec's files (made when missing, opened as the job's user
// through internal/fsuser, so the user owns new ones and cannot reach a file
// of root's through a link; one file when the paths are equal, relative
// paths taken from Dir). The job leads a process group of its own. When
// its first process exits, the shim kills what is left of its process
// group and cgroup: a job ends with its script, as in Slurm. The shim
// passes SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 on to the
// job's process group rather than die of them.
//
// # State directory, format version 1
//
//	<StateDir>/<id>/spec.json    by Start: the Spec and the cgroup layout, for the shim
//	<StateDir>/<id>/shim.log     the shim's stdout and stderr
//	<StateDir>/<id>/state.json   by the shim once the job runs: labels, the shim's and
//	                             the job's pids and start times (clock ticks after boot,
//	                             /proc/<pid>/stat field 22), start time, cgroups
//	<StateDir>/<id>/exit.json    by the shim when the job has ended: code, signal, OOM,
//	                             start and end times (UTC)
//
// JSON files are written to a temporary name and renamed, so readers see
// all of a file or none; state.json and exit.json are fsynced. Each carries
// "version": a reader refuses a version newer than its own. A run's
// directory is removed by Delete only.
//
// Wait looks for exit.json: at once when the shim is this process's child
// and exits, otherwise polling with a pause that doubles from 2 ms up to
// Options.PollInterval. When neither the shim nor the job is alive and no
// exit.json was written (the shim was killed, the machine rebooted), Wait
// returns ErrLost. List reads the state directory; it is how gpuq-node
// finds its runs again after a restart.
//
// # Signals and pids
//
// Signal goes to the job's process group (kill(-pgid)), and, with a cgroup,
// to every process of the cgroup that is not in that group. The recorded
// pid is used only while /proc/<pid>/stat shows the recorded start time, so
// a pid the kernel has since given to another process is never signalled;
// the shim reaps the job's first process only after it has killed what is
// left of its group, so its pgid cannot be reused while the run is live.
// Code is the exit status, or 128+N with Signal N when a signal ended the
// job.
//
// # Cgroups
//
// With Options.CgroupRoot set and writable, every job gets a cgroup:
// <root>/memory/gpuq/<id> and <root>/cpu/gpuq/<id> on cgroup v1 (memory
// limit_in_bytes, and memsw when swap accounting is on; cpu.cfs_quota_us
// over a 100 ms period), <root>/gpuq/<id> on cgroup v2 (memory.max,
// memory.swap.max 0, cpu.max). The cgroup is how every process of the job
// is found and killed, even one that left its process group, and how an
// OOM kill is told apart from another SIGKILL: OOM is set when the job
// failed and the cgroup's oom_kill count (memory.oom_control on v1,
// memory.events on v2) is not zero. On v2 the job is born in its cgroup
// (CLONE_INTO_CGROUP). On v1 the shim steps into the job's cgroups for the
// fork and out again at once, so the job and its children are inside from
// their first instruction; for those microseconds the shim is charged to
// the job's cgroup. When the cgroups cannot be made (not root, read-only,
// not mounted) jobs run without them, with a logged warning: limits are not
// applied, and a process that leaves the job's process group (setsid) is
// not killed with it.
//
// # Limits
//
// A shim that is killed loses its job's exit status (ErrLost once the job
// is gone too); Delete still kills the job through its recorded process
// group and cgroup. Without cgroups a job can escape by making a session of
// its own.
package execrun
