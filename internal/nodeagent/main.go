package nodeagent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/ctrdrun"
	"github.com/gpuq/gpuq/internal/execrun"
	"github.com/gpuq/gpuq/internal/gpu"
	"github.com/gpuq/gpuq/internal/logging"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Main is gpuq-node's command line; it returns the exit code. The exec
// runtime's supervisor is dispatched by node/main.go before Main.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "gpuq-node",
		Usage:     "the gpuq node daemon: registers this node's GPUs with gpuqd and runs the jobs it assigns",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config file (YAML)", EnvVars: []string{"GPUQ_NODE_CONFIG"}},
			&cli.StringFlag{Name: "server", Usage: "gpuqd address, overriding server", EnvVars: []string{"GPUQ_SERVER"}},
			&cli.StringFlag{Name: "name", Usage: "node name, overriding name (default: the host name)"},
			&cli.StringFlag{Name: "pool", Usage: "pool, overriding pool"},
			&cli.StringFlag{Name: "region", Usage: "region, overriding region"},
			&cli.StringFlag{Name: "simulate-gpus", Usage: "simulated `GPUS` (a100:8 or a100:4,a800:4) instead of NVML's"},
			&cli.StringFlag{Name: "runtime", Usage: "exec or containerd, overriding runtime.kind"},
			&cli.StringFlag{Name: "state-dir", Usage: "state directory, overriding state_dir"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "join-token-file", Usage: "the join token's `FILE`, overriding join_token_file (needed once, to join)"},
			&cli.BoolFlag{Name: "insecure-plaintext", Usage: "INSECURE: plaintext TCP to a gpuqd in its loopback-only insecure mode"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			// One processor unless GOMAXPROCS says otherwise: gpuq-node
			// waits for gpuqd, the supervisor and the kernel almost all the
			// time, and a second processor only spins looking for work
			// (on a 2-core VM its CPU per job was a fifth less with one:
			// BenchmarkJobThroughput).
			if os.Getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(1)
			}
			return serve(c.Context, cfg, logging.New(stderr, cfg.Log.Level, cfg.Log.Format))
		},
	}
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "gpuq-node: %v\n", err)
		return 1
	}
	return 0
}

func loadConfig(c *cli.Context) (Config, error) {
	cfg := DefaultConfig()
	if p := c.String("config"); p != "" {
		var err error
		if cfg, err = LoadConfig(p); err != nil {
			return cfg, err
		}
	}
	for flag, field := range map[string]*string{
		"server": &cfg.Server, "name": &cfg.Name, "pool": &cfg.Pool, "region": &cfg.Region,
		"simulate-gpus": &cfg.SimulateGPUs, "runtime": &cfg.Runtime.Kind, "state-dir": &cfg.StateDir, "log-level": &cfg.Log.Level,
		"join-token-file": &cfg.JoinTokenFile,
	} {
		if c.IsSet(flag) {
			*field = c.String(flag)
		}
	}
	if c.IsSet("insecure-plaintext") {
		cfg.InsecurePlaintext = c.Bool("insecure-plaintext")
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("name: not set and no host name: %w", err)
		}
		cfg.Name = strings.Split(h, ".")[0]
	}
	return cfg, cfg.Validate()
}

// inventory finds the node's GPUs: simulated when asked, else through NVML.
func inventory(cfg Config) ([]gpu.Device, error) {
	if cfg.SimulateGPUs != "" {
		return gpu.ParseSimulated(cfg.Name, cfg.SimulateGPUs)
	}
	return gpu.Discover(gpu.OpenNVML(), gpu.TypeMap(cfg.GPUTypes))
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	devs, err := inventory(cfg)
	if err != nil {
		return err
	}
	info := &gpuqv1.NodeInfo{Name: cfg.Name, Pool: cfg.Pool, Region: cfg.Region, Labels: cfg.Labels,
		Simulated: cfg.SimulateGPUs != "", Cpus: uint32(runtime.NumCPU()), Version: "dev"}
	for _, d := range devs {
		info.Gpus = append(info.Gpus, d.Proto())
	}
	users, err := NewUsers(cfg.Users, NewCachedUsers(OSUsers{}), OwnIdentity())
	if err != nil {
		return err
	}
	logUsers(log, cfg.Users, users)
	// Jobs that run as other users pass through the state directory: it is
	// 0755 (what must stay private under it is 0700), made before anything
	// under it makes it with a narrower mode.
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	rt, err := openRuntime(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	creds, err := credentials(ctx, cfg, log)
	if err != nil {
		return err
	}
	cl, err := client.Dial(cfg.Server, creds.security())
	if err != nil {
		return err
	}
	defer cl.Close()
	renewCtx, stopRenewing := context.WithCancel(ctx)
	var renewing sync.WaitGroup
	renewing.Go(func() { creds.keepRenewed(renewCtx, cl, log) })
	defer renewing.Wait()
	defer stopRenewing()
	var sampler *gpu.Sampler
	if cfg.SimulateGPUs == "" {
		sampler = gpu.NewSampler(gpu.OpenNVML())
		defer sampler.Close()
	}
	every, err := cfg.SampleEvery()
	if err != nil {
		return fmt.Errorf("usage_sample_interval: %w", err)
	}
	a, err := New(Options{Conn: cl.Conn(), Info: info, Devices: devs, Runtime: rt, StateDir: cfg.StateDir,
		CheckpointDir: cfg.CheckpointDir, Image: cfg.Runtime.Image, CDIKind: cfg.Runtime.CDIKind,
		Sampler: sampler, SampleEvery: every, Logger: log, Users: users})
	if err != nil {
		return err
	}
	a.logGPUInjection()
	log.Info("gpuq-node starting", "node", cfg.Name, "pool", cfg.Pool, "gpus", len(devs), "simulated", info.Simulated, "runtime", cfg.Runtime.Kind)
	return a.Run(ctx)
}

// logUsers says once, at start, whom jobs will run as.
func logUsers(log *slog.Logger, cfg UsersConfig, users *Users) {
	self := users.Self()
	switch {
	case !users.Switches():
		log.Warn("gpuq-node is not root and cannot change users: every job runs as gpuq-node's own user",
			"user", self.Name, "uid", self.UID, "gid", self.GID)
	case cfg.RunAs == RunAsNode:
		log.Warn("run_as: node: every job runs as gpuq-node's own user, root", "user", self.Name, "uid", self.UID)
	default:
		log.Info("jobs run as their submitting users", "unknown_user", cfg.UnknownUser, "allow_root", cfg.AllowRoot)
	}
}

// openRuntime opens the configured runtime.
func openRuntime(ctx context.Context, cfg Config, log *slog.Logger) (Runtime, error) {
	switch cfg.Runtime.Kind {
	case "exec":
		return execrun.New(execrun.Options{StateDir: filepath.Join(cfg.StateDir, "exec"), ShimPath: shimPath(),
			CgroupRoot: cfg.Runtime.CgroupRoot, Logger: log})
	case "containerd":
		return ctrdrun.New(ctx, ctrdrun.Options{Address: cfg.Runtime.ContainerdAddress, Namespace: cfg.Runtime.Namespace,
			DefaultImage: cfg.Runtime.Image, CDISpecDirs: cfg.Runtime.CDISpecDirs, Logger: log})
	}
	return nil, fmt.Errorf("runtime.kind: %q: want exec or containerd", cfg.Runtime.Kind)
}

// shimPath is gpuq-shim beside gpuq-node's own executable, the exec
// runtime's supervisor; without it gpuq-node is its own supervisor (a much
// larger process to keep running beside it).
func shimPath() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), "gpuq-shim")
	if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}
