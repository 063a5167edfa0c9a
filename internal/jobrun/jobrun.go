package jobrun

import (
	"errors"
	"syscall"
	"time"
)

// ErrLost: a runtime cannot say how a run ended because the run is gone
// without a record (its watcher was killed, the machine rebooted). The node
// reports such a run as a node failure: gpuqd requeues it where allowed.
var ErrLost = errors.New("run lost: its exit status is unknown")

// Mount is a bind mount from the host into the job's environment. In the
// exec runtime mounts are not made: the job sees the host's paths.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Spec is one run of one job on this node.
type Spec struct {
	// ID names the run: gpuqd's allocation id. Unique on the node; safe as a
	// container id and a file name.
	ID string
	// Image is the container image reference; the exec runtime ignores it.
	Image string
	// Args is the command: the batch script's path and its arguments.
	Args []string
	// Env is the complete environment, KEY=VALUE.
	Env []string
	// Dir is the working directory.
	Dir string
	// Mounts: the script, the working and checkpoint directories, ...
	Mounts []Mount
	// Devices are host device nodes to expose (/dev/nvidia0, /dev/nvidiactl).
	Devices []string
	// CDIDevices are fully qualified CDI device names (nvidia.com/gpu=0)
	// injected where a CDI spec for them exists.
	CDIDevices []string
	// Stdout and Stderr are host file paths, appended to; equal paths share one file.
	Stdout, Stderr string
	// MemoryBytes and CPUs limit the job; 0 means no limit.
	MemoryBytes uint64
	CPUs        float64
	// UID and GID run the job as that user; nil means the runtime's default.
	// Output files the runtime creates belong to that user.
	UID, GID *uint32
	// Groups are the job's supplementary groups when UID is set; nil means
	// the runtime's default (exec: the user's groups in the node's user
	// database; containerd: GID alone).
	Groups []uint32
	// Labels are kept with the run and returned by List (job id, team, ...).
	Labels map[string]string
}

// Exit is how a run ended.
type Exit struct {
	// Code is the exit status; 128+N when killed by signal N, as a shell shows it.
	Code int
	// Signal that ended the run, 0 if it exited.
	Signal syscall.Signal
	// OOM: the kernel's out-of-memory killer ended it.
	OOM bool
	// Started and Ended are in UTC.
	Started, Ended time.Time
}

// Running is a run a runtime knows about, for re-attaching after the node
// daemon restarts.
type Running struct {
	ID      string
	Labels  map[string]string
	Started time.Time
	// Exited is set when the run has already ended while nobody watched.
	Exited *Exit
}
