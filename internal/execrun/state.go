package execrun

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// Files in a run's directory, StateDir/<id>/, of format versions 1 and 2,
// which are still waited for, signalled and deleted. See the package
// comment.
const (
	stateFile = "state.json"
	exitFile  = "exit.json"

	// formatVersion is written into every spec, state and exit; a change
	// to their fields that an older reader would misread bumps it. Version 3: the
	// journal; version 2: runs watched by the node's supervisor
	// (state.json's supervised), which Delete must never kill; version 1
	// runs had a shim each.
	formatVersion = 3
)

// shimSpec is what Start hands to the supervisor.
type shimSpec struct {
	Version int          `json:"version"`
	Spec    jobrun.Spec  `json:"spec"`
	Cgroup  cgroupConfig `json:"cgroup"`
}

// state is how to find a job, recorded by the supervisor once the job has
// started (state.json of old).
type state struct {
	Version int               `json:"version"`
	ID      string            `json:"id"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Supervised: the job's parent is the node's supervisor, which watches
	// every job of the node (version 2); else a shim of its own (version 1).
	Supervised bool `json:"supervised,omitempty"`
	// ShimPID and ShimStart identify the job's parent, the supervisor (or
	// shim): its pid and its start time in clock ticks after boot
	// (/proc/<pid>/stat field 22).
	ShimPID   int    `json:"shim_pid"`
	ShimStart uint64 `json:"shim_start"`
	// PID is the job's first process, which leads the job's process group
	// (its pgid is PID); PIDStart is its start time in clock ticks.
	PID      int    `json:"pid"`
	PIDStart uint64 `json:"pid_start"`
	// Started is when the job was started, in UTC.
	Started time.Time `json:"started"`
	// Cgroups are the job's cgroup directories, the one to list processes
	// from first; empty when the job runs without a cgroup.
	Cgroups []string `json:"cgroups,omitempty"`
	// CgroupV2 is set when Cgroups is a single cgroup v2 directory.
	CgroupV2 bool `json:"cgroup_v2,omitempty"`
	// Warnings are what the shim could not set up (a limit not applied).
	Warnings []string `json:"warnings,omitempty"`
}

// exitRecord is how a job ended, recorded by the supervisor (exit.json of
// old).
type exitRecord struct {
	Version int       `json:"version"`
	Code    int       `json:"code"`
	Signal  int       `json:"signal,omitempty"`
	OOM     bool      `json:"oom,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

func (e exitRecord) exit() jobrun.Exit {
	return jobrun.Exit{
		Code:    e.Code,
		Signal:  syscall.Signal(e.Signal),
		OOM:     e.OOM,
		Started: e.Started.UTC(),
		Ended:   e.Ended.UTC(),
	}
}

// exitFromStatus turns a wait status into Code and Signal as a shell shows
// them: the exit status, or 128+N when killed by signal N.
func exitFromStatus(ws syscall.WaitStatus) (code, sig int) {
	switch {
	case ws.Exited():
		return ws.ExitStatus(), 0
	case ws.Signaled():
		return 128 + int(ws.Signal()), int(ws.Signal())
	default:
		return -1, 0
	}
}

// readJSON reads the JSON file at path into v. A missing file gives an
// error satisfying errors.Is(err, fs.ErrNotExist).
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
