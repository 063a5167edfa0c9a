package ctrdrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/gpuq/gpuq/internal/fsuser"
	"github.com/gpuq/gpuq/internal/jobrun"
)

// Defaults for the zero values of Options.
const (
	DefaultAddress     = "/run/containerd/containerd.sock"
	DefaultNamespace   = "gpuq"
	DefaultSnapshotter = "overlayfs"
	// FallbackSnapshotter is used when DefaultSnapshotter is not usable
	// on this host (and Options.Snapshotter was left empty).
	FallbackSnapshotter = "native"
	DefaultInitPath     = "/usr/bin/tini-static"
)

// DefaultCDISpecDirs are where CDI specs are looked for by default.
var DefaultCDISpecDirs = []string{cdi.DefaultStaticDir, cdi.DefaultDynamicDir}

// Labels gpuq keeps on its containers beside the job's own. Keys with
// this prefix are reserved: List leaves them out, Start refuses them.
const (
	labelPrefix = "gpuq.io/"
	// LabelStarted holds the start time, RFC 3339 in UTC; it also marks a
	// container as gpuq's.
	LabelStarted = labelPrefix + "started"
	// LabelSignals lists the signals sent by Signal, in order ("15,9"), so
	// that a Wait after a restart can tell a kill from an exit status.
	LabelSignals = labelPrefix + "signals"
	// LabelOOM is "true" once containerd reported an OOM kill.
	LabelOOM = labelPrefix + "oom"
)

// initTarget is where InitPath is mounted in the container.
const initTarget = "/.gpuq/init"

var (
	// ErrUnavailable: containerd cannot be reached.
	ErrUnavailable = errors.New("containerd unavailable")
	// ErrNotFound: no container of that id in the namespace.
	ErrNotFound = errors.New("no such container")
	// ErrExists: a container of that id already exists.
	ErrExists = errors.New("container already exists")
	// ErrImageNotFound: the image is not in the namespace; gpuq does not pull.
	ErrImageNotFound = errors.New("image not found")
	// ErrCDIDevice: a requested CDI device has no spec, or its spec is bad.
	ErrCDIDevice = errors.New("CDI device injection")
	// ErrInvalidSpec: the jobrun.Spec cannot be run.
	ErrInvalidSpec = errors.New("invalid spec")
)

// Options configure a Runtime. Zero values take the defaults above.
type Options struct {
	// Address is containerd's gRPC socket.
	Address string
	// Namespace is the containerd namespace for gpuq's containers and images.
	Namespace string
	// DefaultImage is used when a Spec names none.
	DefaultImage string
	// Snapshotter for the containers' root file systems: overlayfs by
	// default, native where overlayfs is not usable; an explicit one must
	// be usable.
	Snapshotter string
	// InitPath is the host path of a static tini, mounted read-only into
	// every container and run as "tini -g -- ARGS" so that the script is
	// not PID 1 and signals reach it.
	InitPath string
	// CgroupParent, when set, puts each job's cgroup at CgroupParent/ID
	// (cgroupfs paths; the systemd driver is not supported). Empty leaves
	// containerd's default, /NAMESPACE/ID.
	CgroupParent string
	// CDISpecDirs are the directories of CDI specs; default DefaultCDISpecDirs.
	CDISpecDirs []string
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Runtime runs jobs as containerd containers. Its methods are safe for
// concurrent use.
type Runtime struct {
	client      *containerd.Client
	ns          string
	opts        Options
	log         *slog.Logger
	snapshotter string
	cdi         *cdi.Cache

	base   context.Context // namespaced; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	waits    map[string]*waiter // exits of tasks this process started
	oom      map[string]bool    // OOM events seen
	signals  map[string][]int   // signals sent, also kept in LabelSignals
	starting map[string]bool    // in Start, between create and start
	closed   bool
}

// waiter holds the exit of a task this process started: Start asks
// containerd to wait before it starts the task, and the exit is worked
// out (OOM counters included) before Delete may remove the task.
type waiter struct {
	done chan struct{}
	exit jobrun.Exit
	err  error // the wait failed (containerd restarted, Close): wait afresh
}

// New connects to containerd and checks that it answers and that the
// namespace exists, creating it if needed.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Address == "" {
		opts.Address = DefaultAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.InitPath == "" {
		opts.InitPath = DefaultInitPath
	}
	if opts.CDISpecDirs == nil {
		opts.CDISpecDirs = DefaultCDISpecDirs
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := validNamespace(opts.Namespace); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(opts.InitPath); err != nil {
		return nil, fmt.Errorf("containerd runtime: init (tini-static): %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("containerd runtime: init %s is not a regular file", opts.InitPath)
	}
	if _, err := os.Stat(strings.TrimPrefix(opts.Address, "unix://")); err != nil {
		return nil, fmt.Errorf("containerd at %s: %w: %w", opts.Address, ErrUnavailable, err)
	}

	client, err := containerd.New(opts.Address,
		containerd.WithDefaultNamespace(opts.Namespace),
		containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd at %s: %w: %w", opts.Address, ErrUnavailable, err)
	}
	nctx := namespaces.WithNamespace(ctx, opts.Namespace)
	r, err := setup(nctx, client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	return r, nil
}

func setup(ctx context.Context, client *containerd.Client, opts Options) (*Runtime, error) {
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	v, err := client.Version(vctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("containerd at %s does not answer: %w: %w", opts.Address, ErrUnavailable, err)
	}
	nss, err := client.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd namespaces: %w", err)
	}
	if !slices.Contains(nss, opts.Namespace) {
		if err := client.NamespaceService().Create(ctx, opts.Namespace, nil); err != nil && !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create containerd namespace %s: %w", opts.Namespace, err)
		}
	}
	snapshotter, err := chooseSnapshotter(ctx, client, opts.Snapshotter)
	if err != nil {
		return nil, err
	}
	// Refreshed by hand before each injection: no watcher goroutine.
	cache, _ := cdi.NewCache(cdi.WithSpecDirs(opts.CDISpecDirs...), cdi.WithAutoRefresh(false))

	base, cancelBase := context.WithCancel(namespaces.WithNamespace(context.Background(), opts.Namespace))
	r := &Runtime{
		client:      client,
		ns:          opts.Namespace,
		opts:        opts,
		log:         opts.Logger,
		snapshotter: snapshotter,
		cdi:         cache,
		base:        base,
		cancel:      cancelBase,
		waits:       map[string]*waiter{},
		oom:         map[string]bool{},
		signals:     map[string][]int{},
		starting:    map[string]bool{},
	}
	r.wg.Add(1)
	go r.watchOOM()
	r.log.Info("containerd runtime ready", "address", opts.Address, "version", v.Version,
		"namespace", opts.Namespace, "snapshotter", snapshotter)
	return r, nil
}

func validNamespace(ns string) error {
	if err := identifiers.Validate(ns); err != nil {
		return fmt.Errorf("containerd namespace %q: %w", ns, err)
	}
	return nil
}

// chooseSnapshotter checks that the snapshotter plugin loaded; an empty
// name tries overlayfs, then native.
func chooseSnapshotter(ctx context.Context, client *containerd.Client, want string) (string, error) {
	candidates := []string{want}
	if want == "" {
		candidates = []string{DefaultSnapshotter, FallbackSnapshotter}
	}
	var errs []error
	for _, name := range candidates {
		resp, err := client.IntrospectionService().Plugins(ctx, "type==io.containerd.snapshotter.v1,id=="+name)
		if err != nil {
			return "", fmt.Errorf("containerd plugins: %w", err)
		}
		switch {
		case len(resp.Plugins) == 0:
			errs = append(errs, fmt.Errorf("snapshotter %s: not loaded", name))
		case resp.Plugins[0].InitErr != nil:
			errs = append(errs, fmt.Errorf("snapshotter %s: %s", name, resp.Plugins[0].InitErr.GetMessage()))
		default:
			return name, nil
		}
	}
	return "", errors.Join(errs...)
}

// Close stops watching containerd's events and closes the connection.
// Running jobs go on; a new Runtime can re-attach to them.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return r.client.Close()
}

func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.ns)
}

// Start creates the container and its task for spec and starts it. The
// image must already be in the namespace; it is unpacked for the
// snapshotter if needed.
func (r *Runtime) Start(ctx context.Context, spec jobrun.Spec) (err error) {
	ctx = r.ctx(ctx)
	if err := validSpec(spec); err != nil {
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	ref := spec.Image
	if ref == "" {
		ref = r.opts.DefaultImage
	}
	if ref == "" {
		return fmt.Errorf("start %s: no image in the spec and no default image: %w", spec.ID, ErrInvalidSpec)
	}
	img, err := r.image(ctx, ref)
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	out, err := openOutput(spec)
	if err != nil {
		return fmt.Errorf("start %s: output: %w", spec.ID, err)
	}
	// The shim opens the files by their /proc/<pid>/fd paths when the task
	// is made: keep them open until the task runs.
	defer out.close()

	labels := make(map[string]string, len(spec.Labels)+1)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	started := time.Now().UTC()
	labels[LabelStarted] = started.Format(time.RFC3339Nano)

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("start %s: runtime closed", spec.ID)
	}
	r.starting[spec.ID] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.starting, spec.ID)
		r.mu.Unlock()
	}()

	cleanup := context.WithoutCancel(ctx)
	snapshots := r.client.SnapshotService(r.snapshotter)
	var ctr containerd.Container
	for attempt := 0; ; attempt++ {
		ctr, err = r.client.NewContainer(ctx, spec.ID,
			containerd.WithImage(img),
			containerd.WithSnapshotter(r.snapshotter),
			containerd.WithNewSnapshot(spec.ID, img),
			containerd.WithNewSpec(r.specOpts(img, spec)...),
			containerd.WithContainerLabels(labels),
		)
		if err == nil {
			break
		}
		if !errdefs.IsAlreadyExists(err) {
			// A failed create can leave the snapshot behind.
			_ = snapshots.Remove(cleanup, spec.ID)
			return fmt.Errorf("start %s: create container: %w", spec.ID, err)
		}
		if _, lerr := r.client.LoadContainer(ctx, spec.ID); lerr == nil || !errdefs.IsNotFound(lerr) || attempt > 0 {
			return fmt.Errorf("start %s: %w", spec.ID, ErrExists)
		}
		// A snapshot without its container, left by an interrupted start.
		r.log.Warn("removing a stale snapshot", "job", spec.ID)
		if rerr := snapshots.Remove(ctx, spec.ID); rerr != nil && !errdefs.IsNotFound(rerr) {
			return fmt.Errorf("start %s: remove stale snapshot: %w", spec.ID, rerr)
		}
	}
	defer func() {
		if err != nil {
			if derr := ctr.Delete(cleanup, containerd.WithSnapshotCleanup); derr != nil && !errdefs.IsNotFound(derr) {
				r.log.Warn("delete container after failed start", "job", spec.ID, "err", derr)
			}
		}
	}()

	var topts []containerd.NewTaskOpts
	if spec.UID != nil {
		topts = append(topts, containerd.WithUIDOwner(*spec.UID))
	}
	if spec.GID != nil {
		topts = append(topts, containerd.WithGIDOwner(*spec.GID))
	}
	task, err := ctr.NewTask(ctx, out.creator(), topts...)
	if err != nil {
		return fmt.Errorf("start %s: create task: %w", spec.ID, err)
	}
	if err = samePIDNamespace(task.Pid()); err != nil {
		if _, derr := task.Delete(cleanup, containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			r.log.Warn("delete task after failed start", "job", spec.ID, "err", derr)
		}
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	// Wait before Start, so the exit cannot be missed; on the runtime's
	// context, so it outlives the caller's.
	exitC, err := task.Wait(r.base)
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		if _, derr := task.Delete(cleanup, containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			r.log.Warn("delete task after failed start", "job", spec.ID, "err", derr)
		}
		return fmt.Errorf("start %s: start task: %w", spec.ID, err)
	}
	w := &waiter{done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		// Closed meanwhile: the job runs; a new Runtime re-attaches.
		r.mu.Unlock()
		return nil
	}
	r.waits[spec.ID] = w
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer close(w.done)
		st := <-exitC
		if w.err = st.Error(); w.err != nil {
			return
		}
		w.exit = r.exit(r.base, spec.ID, labels, task, st.ExitCode(), st.ExitTime())
	}()
	r.log.Debug("job started", "job", spec.ID, "image", ref, "pid", task.Pid())
	return nil
}

func validSpec(s jobrun.Spec) error {
	var errs []error
	if s.ID == "" {
		errs = append(errs, errors.New("empty id"))
	} else if err := identifiers.Validate(s.ID); err != nil {
		errs = append(errs, fmt.Errorf("id %q: %v", s.ID, err))
	}
	if len(s.Args) == 0 {
		errs = append(errs, errors.New("no command"))
	}
	for k := range s.Labels {
		if strings.HasPrefix(k, labelPrefix) {
			errs = append(errs, fmt.Errorf("label %q: prefix %s is reserved", k, labelPrefix))
		}
	}
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !path.IsAbs(m.Target) {
			errs = append(errs, fmt.Errorf("mounts[%d]: source and target must be absolute: %q -> %q", i, m.Source, m.Target))
		}
	}
	if s.Dir != "" && !path.IsAbs(s.Dir) {
		errs = append(errs, fmt.Errorf("dir %q is not absolute", s.Dir))
	}
	if s.CPUs < 0 {
		errs = append(errs, fmt.Errorf("cpus %g < 0", s.CPUs))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, errors.Join(errs...))
	}
	return nil
}

// image returns the image, unpacked for the snapshotter.
func (r *Runtime) image(ctx context.Context, ref string) (containerd.Image, error) {
	img, err := r.client.GetImage(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %q is not in containerd namespace %q (gpuq does not pull; import it first): %w",
				ref, r.ns, ErrImageNotFound)
		}
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	ok, err := img.IsUnpacked(ctx, r.snapshotter)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	if !ok {
		lctx, done, err := r.client.WithLease(ctx)
		if err != nil {
			return nil, fmt.Errorf("image %q: lease: %w", ref, err)
		}
		defer done(context.WithoutCancel(lctx))
		if err := img.Unpack(lctx, r.snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %q for %s: %w", ref, r.snapshotter, err)
		}
	}
	return img, nil
}

// specOpts turns a jobrun.Spec into OCI spec options. Jobs share the
// host's network (a batch job reaches its data and its peers as on the
// host), see its hostname, and see their own cgroup read-only.
func (r *Runtime) specOpts(img containerd.Image, s jobrun.Spec) []oci.SpecOpts {
	args := append([]string{initTarget, "-g", "--"}, s.Args...)
	mounts := []specs.Mount{{
		Type: "bind", Source: r.opts.InitPath, Destination: initTarget,
		Options: []string{"rbind", "ro", "nosuid", "nodev"},
	}, {
		// The job's own cgroup, read-only, so that it can see its limits.
		Type: "cgroup", Source: "cgroup", Destination: "/sys/fs/cgroup",
		Options: []string{"ro", "nosuid", "noexec", "nodev"},
	}}
	for _, m := range s.Mounts {
		o := []string{"rbind", "rprivate", "rw"}
		if m.ReadOnly {
			o[2] = "ro"
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: o})
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(s.Env),
		oci.WithHostNamespace(specs.NetworkNamespace),
		// Raw sockets on the host's network would let a job read its
		// neighbours' traffic.
		oci.WithDroppedCapabilities([]string{"CAP_NET_RAW"}),
		oci.WithHostHostsFile,
		oci.WithHostResolvconf,
		oci.WithMounts(mounts),
	}
	if cgroups.Mode() == cgroups.Unified {
		// A cgroup namespace of its own, as Docker and Kubernetes give
		// containers on cgroup v2 hosts: the job sees its own cgroup at
		// /sys/fs/cgroup (memory.max, cpu.max: what frameworks read to
		// size themselves), not the host's whole tree. On v1 the
		// container's cgroup mounts already show its own.
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	if h, err := os.Hostname(); err == nil {
		opts = append(opts, oci.WithHostname(h))
	}
	if s.Dir != "" {
		opts = append(opts, oci.WithProcessCwd(s.Dir))
	}
	if r.opts.CgroupParent != "" {
		opts = append(opts, oci.WithCgroup(path.Join(r.opts.CgroupParent, s.ID)))
	}
	for _, d := range s.Devices {
		opts = append(opts, oci.WithDevices(d, "", "rwm"))
	}
	if s.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(s.MemoryBytes))
	}
	opts = append(opts, withShmSize(s.MemoryBytes))
	if s.CPUs > 0 {
		const period = 100_000
		quota := max(int64(s.CPUs*period), 1000)
		opts = append(opts, oci.WithCPUCFS(quota, period))
	}
	switch {
	case s.UID != nil && s.GID != nil:
		opts = append(opts, oci.WithUIDGID(*s.UID, *s.GID))
	case s.UID != nil:
		opts = append(opts, oci.WithUserID(*s.UID)) // the group from the image's /etc/passwd
	case s.GID != nil:
		opts = append(opts, oci.WithUIDGID(0, *s.GID))
	}
	if (s.UID != nil || s.GID != nil) && s.Groups != nil {
		opts = append(opts, withGroups(s.Groups))
	}
	if len(s.CDIDevices) > 0 {
		// Last: CDI edits add env, mounts and devices that nothing after
		// may reset.
		opts = append(opts, r.withCDI(s.CDIDevices))
		// The job's CUDA_VISIBLE_DEVICES names its GPUs whatever a spec
		// sets; NVIDIA_VISIBLE_DEVICES is the spec's to set (nvidia-ctk's
		// sets "void", so that NVIDIA's legacy hook injects nothing more).
		if v, ok := envValue(s.Env, "CUDA_VISIBLE_DEVICES"); ok {
			opts = append(opts, oci.WithEnv([]string{"CUDA_VISIBLE_DEVICES=" + v}))
		}
	}
	return opts
}

// withGroups gives the process the supplementary groups the node chose
// (from the node's user database, not the image's /etc/group), beside its
// primary group.
func withGroups(groups []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		gids := []uint32{s.Process.User.GID}
		for _, g := range groups {
			if !slices.Contains(gids, g) {
				gids = append(gids, g)
			}
		}
		s.Process.User.AdditionalGids = gids
		return nil
	}
}

// withShmSize sizes /dev/shm at the job's memory limit, or leaves the
// kernel's default (half the host's memory) without one, instead of
// containerd's 64 MiB that data loaders and NCCL outgrow. What a job puts
// there is charged to its memory cgroup either way.
func withShmSize(limit uint64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for i, m := range s.Mounts {
			if m.Destination != "/dev/shm" {
				continue
			}
			opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
			if limit > 0 {
				opts = append(opts, fmt.Sprintf("size=%dk", (limit+1023)/1024))
			}
			s.Mounts[i].Options = opts
		}
		return nil
	}
}

// envValue is the value of the last KEY=value of key in env.
func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// CDIDevices returns, for each of names (fully qualified CDI device
// names, "nvidia.com/gpu=0") that the runtime's CDI specs define now, the
// host paths of the device files the device itself adds (not those its
// spec adds for every device). The specs are read again at each call:
// nvidia-ctk may write them after gpuq-node started. Spec errors are
// logged.
func (r *Runtime) CDIDevices(names ...string) map[string][]string {
	if err := r.cdi.Refresh(); err != nil {
		r.log.Warn("CDI specs with errors", "dirs", r.opts.CDISpecDirs, "err", err)
	}
	found := make(map[string][]string, len(names))
	for _, n := range names {
		d := r.cdi.GetDevice(n)
		if d == nil {
			continue
		}
		paths := []string{}
		for _, dn := range d.ContainerEdits.DeviceNodes {
			p := dn.HostPath
			if p == "" {
				p = dn.Path
			}
			paths = append(paths, p)
		}
		found[n] = paths
	}
	return found
}

// withCDI injects CDI devices from the runtime's own cache (its spec
// directories), rather than CDI's process-wide default cache that
// containerd's pkg/cdi uses.
func (r *Runtime) withCDI(devices []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if err := r.cdi.Refresh(); err != nil {
			// A broken spec of one vendor must not block the others;
			// injection fails below if it concerns these devices.
			r.log.Warn("CDI specs with errors", "dirs", r.opts.CDISpecDirs, "err", err)
		}
		if unresolved, err := r.cdi.InjectDevices(s, devices...); err != nil {
			if len(unresolved) > 0 {
				return fmt.Errorf("%w: no CDI spec in %v for %s", ErrCDIDevice,
					r.opts.CDISpecDirs, strings.Join(unresolved, ", "))
			}
			return fmt.Errorf("%w: %w", ErrCDIDevice, err)
		}
		return nil
	}
}

// fileIO hands the shim two file paths for stdout and stderr: the shim
// opens them (append) and copies into them, so output survives a restart
// of this process.
type fileIO struct{ config cio.Config }

func (f *fileIO) Config() cio.Config { return f.config }
func (*fileIO) Cancel()              {}
func (*fileIO) Wait()                {}
func (*fileIO) Close() error         { return nil }

// output is a job's output files, open until the task has been made.
type output struct {
	config cio.Config
	files  []*os.File
}

// openOutput opens (appending, made when missing) the job's output files,
// one per stream, one file when the paths are equal; an empty path
// discards that stream. With a Spec's UID and this process root, the files
// and missing directories are made and opened as the job's user (through
// internal/fsuser): the user owns new ones, and a link the user planted
// cannot lead to a file the user may not write.
//
// containerd's runc shim writes the output, so that it survives a restart
// of this process; it opens plain paths of regular files for appending. It
// runs as root: given the job's own paths it would open whatever they
// lead to when it looks. It is given /proc/<pid>/fd/<n> of the files
// opened here instead, the very files checked, which it opens when the
// task is made. (cio.LogFile is not used for one shared file: its file://
// copy in containerd 1.6 could close the file under the stderr copy and
// lose a fast job's last lines.)
func openOutput(spec jobrun.Spec) (*output, error) {
	o := &output{}
	if spec.Stdout == "" && spec.Stderr == "" {
		return o, nil
	}
	for _, p := range []string{spec.Stdout, spec.Stderr} {
		if p != "" && !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%w: output path %q is not absolute", ErrInvalidSpec, p)
		}
	}
	open := func() error {
		paths := [2]string{os.DevNull, os.DevNull}
		for i, p := range []string{spec.Stdout, spec.Stderr} {
			if p == "" {
				continue
			}
			// One file for both streams is opened twice, both appending:
			// the shim then copies each stream to its own descriptor and
			// never shares (and closes) one under the other's copy, which
			// lost a fast job's stderr under load.
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			o.files = append(o.files, f)
			paths[i] = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
		}
		o.config = cio.Config{Stdout: paths[0], Stderr: paths[1]}
		return nil
	}
	var err error
	if spec.UID != nil && os.Geteuid() == 0 {
		id := fsuser.ID{UID: *spec.UID, GID: uint32(os.Getegid()), Groups: spec.Groups}
		if spec.GID != nil {
			id.GID = *spec.GID
		}
		err = fsuser.Do(id, open)
	} else {
		err = open()
	}
	if err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

// creator hands the shim the files: cio.NullIO without output.
func (o *output) creator() cio.Creator {
	if o.config == (cio.Config{}) {
		return cio.NullIO
	}
	fio := &fileIO{config: o.config}
	return func(string) (cio.IO, error) { return fio, nil }
}

func (o *output) close() {
	for _, f := range o.files {
		f.Close()
	}
	o.files = nil
}

// samePIDNamespace checks that pid, a task's process as containerd
// reports it, is the init of a pid namespace below this process's: that
// this process sees containerd's pids, so that the shim found the output
// files under /proc/<this pid>/fd and not some other process's.
func samePIDNamespace(pid uint32) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		for line := range strings.Lines(string(b)) {
			f, ok := strings.CutPrefix(line, "NSpid:")
			if !ok {
				continue
			}
			ids := strings.Fields(f)
			if len(ids) >= 2 && ids[0] == strconv.FormatUint(uint64(pid), 10) && ids[len(ids)-1] == "1" {
				return nil
			}
		}
	}
	return fmt.Errorf("the task's process %d is not a container's init as seen from here: "+
		"gpuq-node must share containerd's pid namespace (and /proc)", pid)
}

// Wait blocks until the job's task exits and returns how it ended. It
// works as well for a task started by an earlier process, and rides out a
// restart of containerd (the shim keeps the task and its exit status).
func (r *Runtime) Wait(ctx context.Context, id string) (jobrun.Exit, error) {
	ctx = r.ctx(ctx)
	r.mu.Lock()
	w := r.waits[id]
	r.mu.Unlock()
	if w != nil {
		select {
		case <-w.done:
			if w.err == nil {
				return w.exit, nil
			}
			// Fall back to waiting afresh.
		case <-ctx.Done():
			return jobrun.Exit{}, ctx.Err()
		}
	}
	for warned := false; ; warned = true {
		e, err := r.waitTask(ctx, id)
		if err == nil || !isUnavailable(err) || ctx.Err() != nil {
			return e, err
		}
		if !warned {
			r.log.Warn("containerd unavailable; waiting for it", "job", id, "err", err)
		}
		select {
		case <-ctx.Done():
			return jobrun.Exit{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// neverStarted tells whether the task was created and not started, by a
// Start of this process that has ended or by an earlier process.
func (r *Runtime) neverStarted(ctx context.Context, task containerd.Task) bool {
	st, err := task.Status(ctx)
	if err != nil || st.Status != containerd.Created {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.starting[task.ID()]
}

// unstarted is the Exit of a container whose task never ran: Code -1.
func (r *Runtime) unstarted(ctx context.Context, ctr containerd.Container) (jobrun.Exit, error) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return jobrun.Exit{}, r.notFound("wait", ctr.ID(), err)
	}
	e := jobrun.Exit{Code: -1}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[LabelStarted]); err == nil {
		e.Started = t.UTC()
	}
	return e, nil
}

// isUnavailable tells whether err says containerd cannot be reached.
func isUnavailable(err error) bool {
	return errdefs.IsUnavailable(err) || status.Code(err) == codes.Unavailable
}

// waitTask waits for the task as a process that did not start it does.
func (r *Runtime) waitTask(ctx context.Context, id string) (jobrun.Exit, error) {
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return jobrun.Exit{}, r.notFound("wait", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil && !errdefs.IsNotFound(err) {
		return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	if err != nil || r.neverStarted(ctx, task) {
		// A start interrupted by a crash: nothing will ever run.
		return r.unstarted(ctx, ctr)
	}
	exitC, err := task.Wait(ctx)
	if err != nil {
		return jobrun.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	var st containerd.ExitStatus
	select {
	case st = <-exitC:
	case <-ctx.Done():
		return jobrun.Exit{}, ctx.Err()
	}
	if err := st.Error(); err != nil {
		if ctx.Err() != nil {
			return jobrun.Exit{}, ctx.Err()
		}
		return jobrun.Exit{}, r.notFound("wait", id, errgrpc.ToNative(err))
	}
	// Fresh labels: the signals and OOM recorded by earlier processes.
	info, err := ctr.Info(ctx)
	if err != nil {
		return jobrun.Exit{}, r.notFound("wait", id, err)
	}
	return r.exit(ctx, id, info.Labels, task, st.ExitCode(), st.ExitTime()), nil
}

// exit builds the Exit of a stopped task. OOM comes from containerd's
// /tasks/oom event, or failing that (the event not seen, or not yet) from
// the task's cgroup counters, read before the task is deleted. Signal is
// set when the code is 128+N and N was sent by Signal or Delete, or is
// SIGKILL after an OOM kill: an exit status alone cannot tell "killed by
// N" from "exit 128+N".
func (r *Runtime) exit(ctx context.Context, id string, labels map[string]string, task containerd.Task, code uint32, ended time.Time) jobrun.Exit {
	e := jobrun.Exit{Code: int(code), Ended: ended.UTC()}
	if t, err := time.Parse(time.RFC3339Nano, labels[LabelStarted]); err == nil {
		e.Started = t.UTC()
	}
	r.mu.Lock()
	e.OOM = r.oom[id]
	sent := slices.Clone(r.signals[id])
	r.mu.Unlock()
	if labels[LabelOOM] == "true" {
		e.OOM = true
	}
	if !e.OOM && task != nil {
		e.OOM = oomKilled(ctx, task)
	}
	sent = append(sent, parseSignals(labels[LabelSignals])...)
	if n := e.Code - 128; n > 0 && n < 65 {
		if slices.Contains(sent, n) || (e.OOM && n == int(syscall.SIGKILL)) {
			e.Signal = syscall.Signal(n)
		}
	}
	return e
}

// oomKilled reads the OOM kill counter of the task's cgroup (v1 or v2).
func oomKilled(ctx context.Context, task containerd.Task) bool {
	m, err := task.Metrics(ctx)
	if err != nil || m == nil || m.Data == nil {
		return false
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return false
	}
	switch v := v.(type) {
	case *v1.Metrics:
		return v.GetMemoryOomControl().GetOomKill() > 0
	case *v2.Metrics:
		return v.GetMemoryEvents().GetOomKill() > 0
	}
	return false
}

func parseSignals(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func formatSignals(sigs []int) string {
	s := make([]string, len(sigs))
	for i, n := range sigs {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// notFound wraps containerd's NotFound as ErrNotFound.
func (r *Runtime) notFound(op, id string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s %s: %w", op, id, ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}

// Signal sends sig to every process of the job. The signal is recorded
// on the container first, so that Wait, even in another process, can
// report it. A job that has already ended is not an error.
func (r *Runtime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	ctx = r.ctx(ctx)
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return r.notFound("signal", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return r.notFound("signal", id, err)
	}
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	sent := parseSignals(info.Labels[LabelSignals])
	if !slices.Contains(sent, int(sig)) {
		sent = append(sent, int(sig))
		if _, err := ctr.SetLabels(ctx, map[string]string{LabelSignals: formatSignals(sent)}); err != nil {
			return fmt.Errorf("signal %s: record signal: %w", id, err)
		}
	}
	r.recordSignal(id, int(sig))
	if err := task.Kill(ctx, sig, containerd.WithKillAll); err != nil {
		if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
			return nil // already ended
		}
		return fmt.Errorf("signal %s: %w", id, err)
	}
	r.log.Debug("job signalled", "job", id, "signal", sig)
	return nil
}

func (r *Runtime) recordSignal(id string, sig int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.signals[id], sig) {
		r.signals[id] = append(r.signals[id], sig)
	}
}

// Delete kills the job's processes if any are left, deletes its task,
// then its container and snapshot. Deleting what does not exist is not an
// error.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	defer r.forget(id)
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		if err := r.stop(ctx, id, task); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
		if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete %s: task: %w", id, err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("delete %s: task: %w", id, err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete %s: container: %w", id, err)
	}
	return nil
}

// stop kills what is left of the task and waits until it has stopped.
// A task known to have stopped costs nothing: a kill would run runc.
func (r *Runtime) stop(ctx context.Context, id string, task containerd.Task) error {
	r.mu.Lock()
	w := r.waits[id]
	r.mu.Unlock()
	if w != nil {
		select {
		case <-w.done:
			if w.err == nil {
				return nil
			}
		default:
		}
	} else if st, err := task.Status(ctx); err == nil && st.Status == containerd.Stopped {
		return nil
	}
	r.recordSignal(id, int(syscall.SIGKILL))
	if w == nil {
		return containerd.WithProcessKill(ctx, task)
	}
	// Let the waiter see the exit (and read the task's OOM counters)
	// before the task goes.
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil &&
		!errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return fmt.Errorf("kill: %w", err)
	}
	select {
	case <-w.done:
		if w.err != nil {
			return containerd.WithProcessKill(ctx, task)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forget drops what this process remembers of a deleted job.
func (r *Runtime) forget(id string) {
	r.mu.Lock()
	delete(r.waits, id)
	delete(r.oom, id)
	delete(r.signals, id)
	r.mu.Unlock()
}

// List returns every gpuq container in the namespace (those with
// LabelStarted), with the job's labels (gpuq's own left out). Exited is
// set for those whose task has stopped; also, with Code -1, for a
// container without a task or whose task was created and never started
// (a start interrupted by a crash): Delete them.
func (r *Runtime) List(ctx context.Context) ([]jobrun.Running, error) {
	ctx = r.ctx(ctx)
	ctrs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []jobrun.Running
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", ctr.ID(), err)
		}
		startedLabel, ok := info.Labels[LabelStarted]
		if !ok {
			continue
		}
		run := jobrun.Running{ID: ctr.ID(), Labels: map[string]string{}}
		if t, err := time.Parse(time.RFC3339Nano, startedLabel); err == nil {
			run.Started = t.UTC()
		}
		for k, v := range info.Labels {
			if !strings.HasPrefix(k, labelPrefix) {
				run.Labels[k] = v
			}
		}
		task, err := ctr.Task(ctx, nil)
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("list containers: %s: task: %w", ctr.ID(), err)
		}
		var st containerd.Status
		if err == nil {
			if st, err = task.Status(ctx); err != nil && !errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("list containers: %s: task status: %w", ctr.ID(), err)
			}
		}
		r.mu.Lock()
		starting := r.starting[ctr.ID()]
		r.mu.Unlock()
		switch {
		case err != nil, st.Status == containerd.Created && !starting:
			// No task, or one that never started (a start interrupted
			// by a crash): nothing will ever run.
			run.Exited = &jobrun.Exit{Code: -1, Started: run.Started}
		case st.Status == containerd.Stopped:
			e := r.exit(ctx, ctr.ID(), info.Labels, task, st.ExitStatus, st.ExitTime)
			run.Exited = &e
		}
		out = append(out, run)
	}
	slices.SortFunc(out, func(a, b jobrun.Running) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// watchOOM follows containerd's /tasks/oom events for the namespace,
// recording each on the container (LabelOOM) so that a Wait in a later
// process sees it too. It resubscribes after an error (containerd
// restarted) until Close.
func (r *Runtime) watchOOM() {
	defer r.wg.Done()
	filter := fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, r.ns)
	quiet := false // warn once per outage, not once a second
	for {
		ctx, cancel := context.WithCancel(r.base)
		subscribed := time.Now()
		evs, errs := r.client.Subscribe(ctx, filter)
		err := r.consumeOOM(evs, errs)
		cancel()
		if r.base.Err() != nil {
			return
		}
		if !quiet || time.Since(subscribed) > 10*time.Second {
			// Missed events are made up for by the cgroup counters.
			r.log.Warn("containerd events lost; resubscribing", "err", err)
		}
		quiet = true
		select {
		case <-r.base.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *Runtime) consumeOOM(evs <-chan *events.Envelope, errs <-chan error) error {
	for {
		select {
		case err := <-errs:
			return err
		case e, open := <-evs:
			if !open {
				return errors.New("event stream closed")
			}
			if e.Event == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(e.Event)
			if err != nil {
				continue
			}
			oom, ok := v.(*apievents.TaskOOM)
			if !ok {
				continue
			}
			r.recordOOM(oom.ContainerID)
		}
	}
}

func (r *Runtime) recordOOM(id string) {
	r.mu.Lock()
	r.oom[id] = true
	r.mu.Unlock()
	r.log.Info("job hit its memory limit: OOM kill", "job", id)
	ctx, cancel := context.WithTimeout(r.base, 5*time.Second)
	defer cancel()
	ctr, err := r.client.LoadContainer(ctx, id)
	if err == nil {
		_, err = ctr.SetLabels(ctx, map[string]string{LabelOOM: "true"})
	}
	if err != nil && !errdefs.IsNotFound(err) && r.base.Err() == nil {
		r.log.Warn("record OOM on container", "job", id, "err", err)
	}
}
