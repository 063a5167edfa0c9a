package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/fsuser"
	"github.com/gpuq/gpuq/internal/gpu"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/jobrun"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// start runs an assignment. A run that cannot start is reported FAILED with
// the reason.
func (a *Agent) start(ctx context.Context, as *gpuqv1.Assignment) {
	j := as.Job
	ref := job.RefOf(j)
	a.mu.Lock()
	_, dup := a.runs[as.AllocationId]
	if !dup {
		a.runs[as.AllocationId] = nil // starting: a second assignment of it is ignored
	}
	a.mu.Unlock()
	if dup {
		return
	}
	now := a.opts.Now().UTC()
	r := &run{alloc: as.AllocationId, ref: ref, started: now, grace: as.Grace.AsDuration(), signal: syscall.SIGTERM, gpus: as.GpuIds}
	if sig := j.Spec.GetSignal(); sig != nil {
		if s, ok := signalByName(sig.Name); ok {
			r.signal = s
		}
	}
	if limit := j.Spec.TimeLimit.AsDuration(); limit > 0 {
		r.deadline = now.Add(limit)
		r.warnAt = r.deadline.Add(-j.Spec.GetSignal().GetBefore().AsDuration())
	}
	spec, err := a.runSpec(as, r)
	if err == nil {
		err = a.opts.Runtime.Start(ctx, spec)
	}
	if err != nil {
		a.log.Error("job failed to start", "job", ref.String(), "allocation", r.alloc, "err", err)
		a.mu.Lock()
		delete(a.runs, r.alloc)
		a.mu.Unlock()
		a.finish(&gpuqv1.JobUpdate{AllocationId: r.alloc, Job: ref.Proto(), State: gpuqv1.JobState_JOB_STATE_FAILED,
			ExitCode: 1, StartTime: timestamppb.New(now), EndTime: timestamppb.New(now), Message: "LaunchFailed: " + err.Error()})
		return
	}
	a.mu.Lock()
	a.runs[r.alloc] = r
	a.mu.Unlock()
	attrs := []any{"job", ref.String(), "allocation", r.alloc, "gpus", len(as.GpuIds), "user", r.user}
	switch {
	case len(spec.CDIDevices) > 0:
		attrs = append(attrs, "cdi_devices", strings.Join(spec.CDIDevices, ","))
	case len(spec.Devices) > 0:
		attrs = append(attrs, "device_files", strings.Join(spec.Devices, ","))
	}
	a.log.Info("job started", attrs...)
	// gpuqd shows the job running from its assignment on; this corrects
	// its start time. A job that ends before it is due reports only its
	// end, which carries the start time: a message and a stored update
	// less for each short job.
	r.reportRunning = time.AfterFunc(runningReportDelay, func() {
		r.reportMu.Lock()
		defer r.reportMu.Unlock()
		if !r.ended {
			a.send(&gpuqv1.NodeMessage{Msg: &gpuqv1.NodeMessage_JobUpdate{JobUpdate: &gpuqv1.JobUpdate{
				AllocationId: r.alloc, Job: ref.Proto(), State: gpuqv1.JobState_JOB_STATE_RUNNING, StartTime: timestamppb.New(now),
			}}})
		}
	})
	a.watch(ctx, r)
}

// runningReportDelay is how long after its start a job reports that it
// runs; see start.
const runningReportDelay = 500 * time.Millisecond

// runSpec decides whom the job runs as, makes its files and builds what
// the runtime runs. What gpuq-node makes for the job belongs to the job's
// user: the job directory with the script (the working directory of a job
// without --chdir) and the checkpoint directory, both 0700, made by root
// in root's directories and then handed over; output directories are made
// as the user (they are in the user's directories).
func (a *Agent) runSpec(as *gpuqv1.Assignment, r *run) (jobrun.Spec, error) {
	j := as.Job
	sp := j.Spec
	id, err := a.opts.Users.Resolve(sp.User)
	if err != nil {
		return jobrun.Spec{}, fmt.Errorf("run as: %w", err)
	}
	r.user = id.Name
	own := func(path string) error {
		if !a.opts.Users.Switches() {
			return nil
		}
		return os.Lchown(path, int(id.UID), int(id.GID))
	}
	// The script: in a job directory, which is the working directory of a
	// job without one, or else a file beside those directories (a
	// directory less to make and remove per job).
	script, scriptMount := scriptPaths(a.opts.StateDir, r.alloc, sp.Chdir == "")
	workDir := sp.Chdir
	if workDir == "" {
		workDir = scriptMount
		if err := mkdirOwned(workDir, own); err != nil {
			return jobrun.Spec{}, fmt.Errorf("job directory: %w", err)
		}
	}
	if err := a.scripts.install(script, sp.Script, a.opts.Users.Switches(), id.UID, id.GID); err != nil {
		return jobrun.Spec{}, fmt.Errorf("write script: %w", err)
	}
	ckpt := filepath.Join(a.opts.CheckpointDir, checkpointName(j))
	if err := mkdirOwned(ckpt, own); err != nil {
		return jobrun.Spec{}, fmt.Errorf("checkpoint directory: %w", err)
	}
	stdout := outputPath(sp.Output, j, a.opts.Info.Name)
	stderr := stdout
	if sp.Error != "" {
		stderr = outputPath(sp.Error, j, a.opts.Info.Name)
	}
	// Output directories that are missing are made as the user (a thread
	// of its own each time: skipped when they are there, as for most jobs).
	var missing []string
	for _, p := range []string{stdout, stderr} {
		if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
			missing = append(missing, filepath.Dir(p))
		}
	}
	if len(missing) > 0 {
		if err := a.asUser(id, func() error {
			for _, d := range missing {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return jobrun.Spec{}, fmt.Errorf("output directory: %w", err)
		}
	}
	var devs []gpu.Device
	for _, d := range a.opts.Devices {
		for _, id := range as.GpuIds {
			if d.UUID == id {
				devs = append(devs, d)
			}
		}
	}
	if len(devs) != len(as.GpuIds) {
		return jobrun.Spec{}, fmt.Errorf("assigned GPUs %v are not all on this node", as.GpuIds)
	}
	nodes, cdiNames := a.gpuInjection(devs)
	image := sp.Image
	if image == "" {
		image = a.opts.Image
	}
	labels := map[string]string{
		labelAllocation: r.alloc,
		labelJob:        r.ref.String(),
		labelGrace:      r.grace.String(),
		labelSignal:     strings.TrimPrefix(unixName(r.signal), "SIG"),
		"gpuq.team":     sp.Team,
		"gpuq.user":     sp.User,
	}
	if !r.deadline.IsZero() {
		labels[labelDeadline] = r.deadline.Format(time.RFC3339Nano)
		labels[labelSignalAt] = r.warnAt.Format(time.RFC3339Nano)
	}
	args := append([]string{script}, sp.Args...)
	return jobrun.Spec{
		ID:          r.alloc,
		Image:       image,
		Args:        args,
		Env:         jobEnv(as, a.opts.Info.Name, ckpt, gpu.VisibleDevicesEnv(devs), userEnv(id)),
		Dir:         workDir,
		Mounts:      []jobrun.Mount{{Source: scriptMount, Target: scriptMount, ReadOnly: true}, {Source: workDir, Target: workDir}, {Source: ckpt, Target: ckpt}},
		Devices:     nodes,
		CDIDevices:  cdiNames,
		Stdout:      stdout,
		Stderr:      stderr,
		MemoryBytes: sp.MemoryBytes,
		CPUs:        float64(sp.Cpus),
		UID:         &id.UID,
		GID:         &id.GID,
		Groups:      append([]uint32{}, id.Groups...), // not nil: exactly these
		Labels:      labels,
	}, nil
}

// cdiRuntime is a runtime that injects CDI devices (internal/ctrdrun's):
// it says which device names its CDI specs define, and each one's device
// files on the host.
type cdiRuntime interface {
	CDIDevices(names ...string) map[string][]string
}

// gpuInjection says how a job gets devs: as CDI devices when the runtime's
// specs define one for every GPU of the job, by UUID (KIND=GPU-...), or by
// NVML index (KIND=0) where that device's file is the GPU's own
// (/dev/nvidia<minor>: indices change when GPUs are added or removed, so a
// stale spec must not hand a job another GPU): the names `nvidia-ctk cdi
// generate` gives. A CDI spec also brings the driver's libraries and tools
// into the container. Otherwise the job gets device files
// (/dev/nvidiaN and the control devices), which give a container the GPUs
// but not the driver's libraries. The exec runtime ignores both:
// processes see the host's devices and are told their GPUs by
// CUDA_VISIBLE_DEVICES.
func (a *Agent) gpuInjection(devs []gpu.Device) (nodes, cdiNames []string) {
	res, ok := a.opts.Runtime.(cdiRuntime)
	if !ok || a.opts.CDIKind == "" || len(devs) == 0 {
		return gpu.DeviceNodes(devs), nil
	}
	cands := make([]string, 0, 2*len(devs))
	for _, d := range devs {
		cands = append(cands, a.opts.CDIKind+"="+d.UUID, a.opts.CDIKind+"="+strconv.Itoa(d.Index))
	}
	defined := res.CDIDevices(cands...)
	for i, d := range devs {
		byUUID, byIndex := cands[2*i], cands[2*i+1]
		if _, ok := defined[byUUID]; ok {
			cdiNames = append(cdiNames, byUUID)
			continue
		}
		if files, ok := defined[byIndex]; ok && d.Minor >= 0 && slices.Contains(files, fmt.Sprintf("/dev/nvidia%d", d.Minor)) {
			cdiNames = append(cdiNames, byIndex)
			continue
		}
		return gpu.DeviceNodes(devs), nil
	}
	return nil, cdiNames
}

// logGPUInjection says once, at start, how containers will get the node's
// real GPUs: through CDI, or as device files without the driver's
// libraries, which most images then cannot use.
func (a *Agent) logGPUInjection() {
	if _, ok := a.opts.Runtime.(cdiRuntime); !ok || len(a.opts.Devices) == 0 || a.opts.Devices[0].Simulated {
		return
	}
	nodes, names := a.gpuInjection(a.opts.Devices)
	if len(names) > 0 {
		a.log.Info("GPUs go to containers as CDI devices", "devices", strings.Join(names, ","))
		return
	}
	if a.opts.CDIKind == "" {
		a.log.Info("runtime.cdi_kind is empty: containers get their GPUs' device files, not the driver's libraries",
			"device_files", strings.Join(nodes, ","))
		return
	}
	a.log.Warn("no CDI spec defines this node's GPUs: containers get their device files but not the driver's libraries; generate a spec with nvidia-ctk cdi generate",
		"cdi_kind", a.opts.CDIKind, "device_files", strings.Join(nodes, ","))
}

// scriptPaths are where the script of run alloc goes, and what a
// container mounts for it: StateDir/jobs/<alloc>/script in the job
// directory with dir, else the file StateDir/jobs/<alloc>.sh.
func scriptPaths(stateDir, alloc string, dir bool) (script, mount string) {
	jobs := filepath.Join(stateDir, "jobs")
	if dir {
		d := filepath.Join(jobs, alloc)
		return filepath.Join(d, "script"), d
	}
	p := filepath.Join(jobs, alloc+".sh")
	return p, p
}

// removeJobFiles removes what runSpec made in the state directory for run
// alloc, whichever of the two it was.
func removeJobFiles(stateDir, alloc string) {
	if _, p := scriptPaths(stateDir, alloc, false); unix.Unlink(p) == nil {
		return
	}
	_, dir := scriptPaths(stateDir, alloc, true)
	_ = os.RemoveAll(dir)
}

// mkdirOwned makes dir (mode 0700; its parents 0755) when missing, then
// hands it over with own. Its parent must be gpuq-node's (state_dir,
// checkpoint_dir), so no user can swap dir for a link in between.
func mkdirOwned(dir string, own func(string) error) error {
	// The parents are made at start, and again when they are gone.
	err := inDir(dir, func() error { return os.Mkdir(dir, 0o700) })
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return own(dir)
}

// asUser runs fn with id's file-system identity when gpuq-node can change
// users, else as gpuq-node.
func (a *Agent) asUser(id Identity, fn func() error) error {
	if !a.opts.Users.Switches() {
		return fn()
	}
	return fsuser.Do(fsuser.ID{UID: id.UID, GID: id.GID, Groups: id.Groups}, fn)
}

// watch waits for a run to end and reports the end. At the time limit it
// starts the stop: the warning signal at the limit (or --signal's seconds
// before it), SIGKILL a grace period later.
func (a *Agent) watch(ctx context.Context, r *run) {
	a.wg.Go(func() {
		var timers []*time.Timer
		if !r.deadline.IsZero() {
			now := a.opts.Now()
			timers = append(timers, time.AfterFunc(max(r.warnAt.Sub(now), 0), func() {
				a.stop(r.alloc, gpuqv1.StopJob_REASON_TIME_LIMIT, "", r.grace)
			}))
		}
		defer func() {
			for _, t := range timers {
				t.Stop()
			}
		}()
		usage, stopSampling := a.sample(r)
		// Wait outlives the session's context: a job's end is reported even
		// while gpuqd is away. It ends with the agent's.
		exit, err := a.opts.Runtime.Wait(context.WithoutCancel(ctx), r.alloc)
		stopSampling()
		// A report of the start that is due now goes before the end.
		r.reportMu.Lock()
		r.ended = true
		r.reportMu.Unlock()
		if r.reportRunning != nil {
			r.reportRunning.Stop()
		}
		a.mu.Lock()
		why := r.why
		a.mu.Unlock()
		var u *gpuqv1.JobUpdate
		if err != nil {
			// The run is gone without a record (a reboot, a killed watcher):
			// a node failure, which gpuqd requeues where the job allows it.
			a.log.Error("wait for job", "allocation", r.alloc, "err", err)
			u = endUpdate(r, why, jobrun.Exit{Code: 1, Ended: a.opts.Now()})
			u.State, u.Message = gpuqv1.JobState_JOB_STATE_NODE_FAIL, "NodeFail: "+err.Error()
		} else {
			u = endUpdate(r, why, exit)
		}
		u.Usage = usage.Proto()
		a.finish(u)
		if err := a.opts.Runtime.Delete(context.WithoutCancel(ctx), r.alloc); err != nil {
			a.log.Warn("delete run", "allocation", r.alloc, "err", err)
		}
		removeJobFiles(a.opts.StateDir, r.alloc)
		a.mu.Lock()
		delete(a.runs, r.alloc)
		a.mu.Unlock()
	})
}

// endUpdate says how a run ended, in gpuq's states.
func endUpdate(r *run, why gpuqv1.StopJob_Reason, exit jobrun.Exit) *gpuqv1.JobUpdate {
	u := &gpuqv1.JobUpdate{AllocationId: r.alloc, Job: r.ref.Proto(), ExitCode: int32(exit.Code), ExitSignal: int32(exit.Signal),
		OutOfMemory: exit.OOM, StartTime: timestamppb.New(r.started), EndTime: timestamppb.New(exit.Ended)}
	if exit.Ended.IsZero() {
		u.EndTime = timestamppb.Now()
	}
	switch {
	case why == gpuqv1.StopJob_REASON_TIME_LIMIT:
		u.State = gpuqv1.JobState_JOB_STATE_TIMEOUT
	case why == gpuqv1.StopJob_REASON_CANCEL || why == gpuqv1.StopJob_REASON_FENCE:
		u.State = gpuqv1.JobState_JOB_STATE_CANCELLED
	case why == gpuqv1.StopJob_REASON_PREEMPT:
		u.State = gpuqv1.JobState_JOB_STATE_PREEMPTED
	case exit.OOM:
		u.State, u.Message = gpuqv1.JobState_JOB_STATE_OUT_OF_MEMORY, "OutOfMemory"
	case exit.Code == 0:
		u.State = gpuqv1.JobState_JOB_STATE_COMPLETED
	default:
		u.State, u.Message = gpuqv1.JobState_JOB_STATE_FAILED, "NonZeroExitCode"
	}
	return u
}

// stop ends a run the one way every stop goes: the warning signal (the
// job's --signal, or SIGTERM; sigName overrides), the grace, then SIGKILL.
// The first stop of a run decides its final state; later ones are ignored.
func (a *Agent) stop(alloc string, why gpuqv1.StopJob_Reason, sigName string, grace time.Duration) {
	a.mu.Lock()
	r, known := a.runs[alloc]
	a.mu.Unlock()
	if known && r == nil {
		// Still starting: stop it once it has.
		time.AfterFunc(100*time.Millisecond, func() { a.stop(alloc, why, sigName, grace) })
		return
	}
	if r == nil {
		if why == gpuqv1.StopJob_REASON_FENCE {
			_ = a.opts.Runtime.Signal(context.Background(), alloc, syscall.SIGKILL)
		}
		return
	}
	r.stopOnce.Do(func() {
		a.mu.Lock()
		r.why = why
		a.mu.Unlock()
		sig := r.signal
		if s, ok := signalByName(sigName); ok {
			sig = s
		}
		a.log.Info("stopping job", "allocation", alloc, "job", r.ref.String(), "why", why.String(), "signal", unixName(sig), "grace", grace)
		ctx := context.Background()
		if err := a.opts.Runtime.Signal(ctx, alloc, sig); err != nil {
			a.log.Warn("signal job", "allocation", alloc, "err", err)
		}
		if sig == syscall.SIGKILL {
			return
		}
		time.AfterFunc(grace, func() {
			a.mu.Lock()
			_, alive := a.runs[alloc]
			a.mu.Unlock()
			if alive {
				a.log.Info("grace over; killing job", "allocation", alloc)
				_ = a.opts.Runtime.Signal(ctx, alloc, syscall.SIGKILL)
			}
		})
	})
}

// sample reads the run's GPUs every SampleEvery until stop is called; the
// summary is complete once stop has returned. Without a sampler (simulated
// GPUs) or GPUs it records nothing.
func (a *Agent) sample(r *run) (*gpu.UsageSummary, func()) {
	sum := &gpu.UsageSummary{}
	if a.opts.Sampler == nil || len(r.gpus) == 0 {
		return sum, func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(a.opts.SampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				util, mem, err := a.opts.Sampler.Sample(r.gpus)
				if err != nil {
					a.log.Debug("sample GPUs", "allocation", r.alloc, "err", err)
					continue
				}
				sum.Add(util, mem)
			}
		}
	}()
	return sum, func() { close(done); <-stopped }
}
