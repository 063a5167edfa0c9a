package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/gpu"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/jobrun"
	"github.com/gpuq/gpuq/internal/reclog"
	"github.com/gpuq/gpuq/internal/sdnotify"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Options configure an Agent.
type Options struct {
	// Conn reaches gpuqd.
	Conn grpc.ClientConnInterface
	// Info describes this node: name, pool, region, labels, GPUs.
	Info *gpuqv1.NodeInfo
	// Devices are the node's GPUs, for device nodes and visible-device variables.
	Devices []gpu.Device
	Runtime Runtime
	// StateDir keeps scripts and the ends of runs not yet acknowledged.
	StateDir string
	// CheckpointDir holds one directory per job, kept across requeues.
	CheckpointDir string
	// Image is the container image for jobs that name none.
	Image string
	// CDIKind is the CDI device kind of the node's GPUs ("nvidia.com/gpu"):
	// a job gets its GPUs as the CDI devices KIND=UUID (or KIND=INDEX)
	// where the runtime's CDI specs define one for every GPU of the job,
	// else as device files. Empty: always device files.
	CDIKind string
	// Users decides whom jobs run as; nil means the defaults (the
	// submitting user, unknown users and root refused) with OSUsers.
	Users *Users
	// Sampler reads GPU utilisation and memory through NVML; nil for
	// simulated GPUs, whose jobs then report no usage.
	Sampler *gpu.Sampler
	// SampleEvery is the period of usage samples; default
	// DefaultSampleEvery.
	SampleEvery time.Duration
	Logger      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBackoff bounds the wait between reconnections.
	MaxBackoff time.Duration
}

// maxCachedScripts is how many distinct scripts StateDir/scripts keeps.
const maxCachedScripts = 1024

// DefaultSampleEvery is how often a job's GPUs are sampled unless the
// config (usage_sample_interval) says otherwise.
const DefaultSampleEvery = 10 * time.Second

// Agent is the node daemon.
type Agent struct {
	opts   Options
	log    *slog.Logger
	client gpuqv1.NodeServiceClient

	mu       sync.Mutex
	runs     map[string]*run
	finished map[string]*gpuqv1.JobUpdate // ends not acknowledged, kept in ends
	ends     *reclog.Log                  // opened by Run
	scripts  *scriptCache
	out      chan *gpuqv1.NodeMessage // the current session's sender; nil when disconnected
	wg       sync.WaitGroup
	starting chan struct{} // bounds the jobs being started at once
}

// run is one job running here.
type run struct {
	alloc    string
	ref      job.Ref
	started  time.Time
	deadline time.Time
	warnAt   time.Time
	signal   syscall.Signal
	grace    time.Duration
	gpus     []string // UUIDs
	user     string   // whom it runs as

	stopOnce sync.Once
	why      gpuqv1.StopJob_Reason // what stopped it; REASON_UNSPECIFIED if it ended by itself

	reportRunning *time.Timer // reports the start; nil for a run found after a restart
	reportMu      sync.Mutex
	ended         bool // under reportMu: the end is being reported
}

// New builds an agent; Run starts it.
func New(opts Options) (*Agent, error) {
	if opts.Conn == nil || opts.Info == nil || opts.Runtime == nil || opts.StateDir == "" {
		return nil, errors.New("nodeagent: Conn, Info, Runtime and StateDir are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = DefaultSampleEvery
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.CheckpointDir == "" {
		opts.CheckpointDir = filepath.Join(opts.StateDir, "checkpoints")
	}
	if opts.Users == nil {
		u, err := NewUsers(DefaultConfig().Users, NewCachedUsers(OSUsers{}), OwnIdentity())
		if err != nil {
			return nil, err
		}
		opts.Users = u
	}
	for _, d := range []string{opts.StateDir, filepath.Join(opts.StateDir, "jobs"), opts.CheckpointDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	scripts, err := newScriptCache(filepath.Join(opts.StateDir, "scripts"), maxCachedScripts)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Agent{
		opts:     opts,
		scripts:  scripts,
		log:      opts.Logger.With("node", opts.Info.Name),
		client:   gpuqv1.NewNodeServiceClient(opts.Conn),
		runs:     map[string]*run{},
		finished: map[string]*gpuqv1.JobUpdate{},
		starting: make(chan struct{}, 32),
	}, nil
}

// Run recovers the runs of an earlier agent, then stays connected to gpuqd
// until ctx ends. Jobs keep running when it returns.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.loadFinished(); err != nil {
		return err
	}
	if err := a.recover(ctx); err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := a.opts.Now()
		err := a.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if a.opts.Now().Sub(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		a.log.Warn("disconnected from gpuqd; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, a.opts.MaxBackoff)
	}
	// Running jobs are not waited for: they outlive the agent by design, and
	// the next agent finds them again.
	return nil
}

// recover finds the runs an earlier agent left: those still running are
// watched again, those that ended while nobody watched are reported.
func (a *Agent) recover(ctx context.Context) error {
	found, err := a.opts.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	for _, f := range found {
		r, err := runFromLabels(f)
		if err != nil {
			a.log.Warn("unknown run left by an earlier agent; removing it", "id", f.ID, "err", err)
			_ = a.opts.Runtime.Delete(ctx, f.ID)
			continue
		}
		a.mu.Lock()
		a.runs[r.alloc] = r
		a.mu.Unlock()
		a.log.Info("found a run of an earlier agent", "allocation", r.alloc, "job", r.ref.String(), "ended", f.Exited != nil)
		a.watch(ctx, r)
	}
	return nil
}

func runFromLabels(f jobrun.Running) (*run, error) {
	l := f.Labels
	refs, err := job.ParseRefs(l[labelJob])
	if err != nil || len(refs) != 1 || l[labelAllocation] != f.ID {
		return nil, fmt.Errorf("labels %v", l)
	}
	r := &run{alloc: f.ID, ref: refs[0], started: f.Started, signal: syscall.SIGTERM}
	r.deadline, _ = time.Parse(time.RFC3339Nano, l[labelDeadline])
	r.warnAt, _ = time.Parse(time.RFC3339Nano, l[labelSignalAt])
	r.grace, _ = time.ParseDuration(l[labelGrace])
	if s, ok := signalByName(l[labelSignal]); ok {
		r.signal = s
	}
	return r, nil
}

// session registers with gpuqd and serves one session stream until it ends.
func (a *Agent) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	var running []*gpuqv1.RunningJob
	for _, r := range a.runs {
		if r == nil {
			continue // still starting; reported once started
		}
		running = append(running, &gpuqv1.RunningJob{AllocationId: r.alloc, Job: r.ref.Proto(), StartTime: timestamppb.New(r.started)})
	}
	var finished []*gpuqv1.JobUpdate
	for _, u := range a.finished {
		finished = append(finished, u)
	}
	a.mu.Unlock()
	resp, err := a.client.RegisterNode(ctx, &gpuqv1.RegisterNodeRequest{Node: a.opts.Info, Running: running, Finished: finished})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	for _, u := range finished {
		a.acked(u.AllocationId) // gpuqd recorded them with the registration
	}
	for _, alloc := range resp.FencedAllocations {
		a.log.Warn("fenced: gpuqd gave this job to another node; killing it here", "allocation", alloc)
		a.stop(alloc, gpuqv1.StopJob_REASON_FENCE, "KILL", 0)
	}
	stream, err := a.client.Session(ctx)
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	if err := stream.Send(&gpuqv1.NodeMessage{Msg: &gpuqv1.NodeMessage_Hello{Hello: &gpuqv1.SessionHello{Node: a.opts.Info.Name, SessionId: resp.SessionId}}}); err != nil {
		return fmt.Errorf("session hello: %w", err)
	}
	out := make(chan *gpuqv1.NodeMessage, 1024)
	a.mu.Lock()
	a.out = out
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.out = nil
		a.mu.Unlock()
	}()
	a.log.Info("connected to gpuqd", "running", len(running), "reported", len(finished))
	if err := sdnotify.Notify("READY=1\nSTATUS=connected to gpuqd"); err != nil {
		a.log.Warn("sd_notify", "err", err)
	}

	errc := make(chan error, 2)
	go func() { errc <- a.receive(ctx, stream) }()
	go func() {
		every := resp.HeartbeatInterval.AsDuration()
		if every <= 0 {
			every = 10 * time.Second
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				errc <- nil
				return
			case m := <-out:
				if err := stream.Send(m); err != nil {
					errc <- err
					return
				}
			case <-tick.C:
				if err := stream.Send(&gpuqv1.NodeMessage{Msg: &gpuqv1.NodeMessage_Heartbeat{Heartbeat: &gpuqv1.Heartbeat{
					Time: timestamppb.New(a.opts.Now()), RunningAllocations: a.allocations(),
				}}}); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	return <-errc
}

func (a *Agent) receive(ctx context.Context, stream gpuqv1.NodeService_SessionClient) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("gpuqd ended the session")
		}
		if err != nil {
			return err
		}
		switch x := m.Msg.(type) {
		case *gpuqv1.ControllerMessage_Assignment:
			// Starting a job takes a process start or two; many start at
			// once when a cycle places many jobs.
			a.starting <- struct{}{}
			a.wg.Go(func() {
				defer func() { <-a.starting }()
				a.start(ctx, x.Assignment)
			})
		case *gpuqv1.ControllerMessage_Stop:
			s := x.Stop
			a.stop(s.AllocationId, s.Reason, s.Signal, s.Grace.AsDuration())
		case *gpuqv1.ControllerMessage_Ack:
			a.acked(x.Ack.AllocationId)
		}
	}
}

func (a *Agent) allocations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.runs))
	for id := range a.runs {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// send hands a message to the current session, if any; what matters is
// also kept on disk and sent again at the next registration.
func (a *Agent) send(m *gpuqv1.NodeMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out == nil {
		return
	}
	select {
	case a.out <- m:
	default:
		a.log.Warn("session send buffer full; the update waits for the next registration")
	}
}

// Runs is the number of runs the agent watches.
func (a *Agent) Runs() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.runs)
}

// signalByName accepts TERM, SIGTERM or a number.
func signalByName(name string) (syscall.Signal, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	if name == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	s := unix.SignalNum(name)
	return s, s != 0
}

// unixName is a signal's name, SIGTERM.
func unixName(s syscall.Signal) string { return unix.SignalName(s) }
