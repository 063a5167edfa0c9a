// Package nodeagent is gpuq-node: it registers a node's GPUs with gpuqd,
// keeps one session stream open, runs the jobs gpuqd assigns through a
// Runtime (internal/execrun for processes, internal/ctrdrun for containerd),
// and stops them the one way every stop goes: the job's warning signal, the
// grace period, then SIGKILL.
//
// Jobs run as their submitting users (Users: run_as, unknown_user,
// allow_root), never as root unless configured; what gpuq-node makes for a
// job (its script, its directory when it has no working directory, its
// checkpoint directory, output directories) belongs to the job's user. Not
// as root, gpuq-node runs every job as itself. Jobs of one user and script
// share one file, each through a hard link (scripts.go).
//
// What it must not lose survives its own restart: runs are found again
// through Runtime.List, and the end of every run is kept on disk, in
// StateDir/finished.log, until gpuqd acknowledges it (ends.go).
package nodeagent
