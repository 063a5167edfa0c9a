package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/gpu"
	"github.com/gpuq/gpuq/internal/nodeagent"
)

// examplesDir is the repository's examples/, from this package's directory.
const examplesDir = "../../examples"

// TestExamplesNodeConfigs loads every examples/node*.yaml as gpuq-node does
// and validates it, and checks that it fits examples/gpuqd.yaml: gpuqd
// refuses a node whose pool it does not know or whose GPUs are not of the
// pool's type.
func TestExamplesNodeConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "node*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s/node*.yaml", examplesDir)
	}
	server, err := config.Load(filepath.Join(examplesDir, "gpuqd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := nodeagent.LoadConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			pool, ok := server.Pool(cfg.Pool)
			if !ok {
				t.Fatalf("pool %q is not a pool of examples/gpuqd.yaml", cfg.Pool)
			}
			if cfg.Region != "" && cfg.Region != pool.Region {
				t.Errorf("region %q, but pool %s is in %q", cfg.Region, pool.Name, pool.Region)
			}
			for model, typ := range cfg.GPUTypes {
				if typ != pool.GPUType {
					t.Errorf("gpu_types maps %q to %q; pool %s has %s GPUs", model, typ, pool.Name, pool.GPUType)
				}
			}
			if cfg.SimulateGPUs != "" {
				devs, err := gpu.ParseSimulated(cfg.Name, cfg.SimulateGPUs)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range devs {
					if d.Type != pool.GPUType {
						t.Errorf("simulate_gpus %q: %s GPUs; pool %s has %s GPUs", cfg.SimulateGPUs, d.Type, pool.Name, pool.GPUType)
						break
					}
				}
			}
		})
	}
}

// unitRules are settings a unit must keep: what the code relies on.
var unitRules = map[string][]string{
	// gpuqd sends READY=1; its data_dir and socket are /var/lib/gpuq and
	// /run/gpuq in examples/gpuqd.yaml.
	"gpuqd.service": {"Type=notify", "StateDirectory=gpuq", "RuntimeDirectory=gpuq", "TimerSlackNSec=1ms"},
	// Jobs outlive gpuq-node: stopping it must not kill them.
	"gpuq-node.service": {"KillMode=process", "Delegate=yes", "TimerSlackNSec=1ms"},
}

// TestExamplesSystemdUnits checks every examples/systemd/*.service with
// systemd-analyze verify, its ExecStart pointed at the binaries TestMain
// built. verify exits 0 on an unknown key or a bad value and only warns, so
// any warning about the unit fails the test too.
func TestExamplesSystemdUnits(t *testing.T) {
	units, err := filepath.Glob(filepath.Join(examplesDir, "systemd", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	if len(units) == 0 {
		t.Fatalf("no %s/systemd/*.service", examplesDir)
	}
	server, err := config.Load(filepath.Join(examplesDir, "gpuqd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	analyze, lookErr := exec.LookPath("systemd-analyze")
	dir := t.TempDir()
	for _, u := range units {
		name := filepath.Base(u)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(u)
			if err != nil {
				t.Fatal(err)
			}
			settings := unitSettings(b)
			for _, want := range unitRules[name] {
				if !slices.Contains(settings, want) {
					t.Errorf("%s must set %s", name, want)
				}
			}
			if name == "gpuqd.service" {
				if want := "/var/lib/gpuq"; server.DataDir != want {
					t.Errorf("examples/gpuqd.yaml: data_dir %q, but the unit's StateDirectory is %s", server.DataDir, want)
				}
				if want := "/run/gpuq"; filepath.Dir(server.Listen.Unix) != want {
					t.Errorf("examples/gpuqd.yaml: listen.unix %q, but the unit's RuntimeDirectory is %s", server.Listen.Unix, want)
				}
			}
			if lookErr != nil {
				t.Skipf("systemd-analyze not found (%v): unit not verified", lookErr)
			}
			// ExecStart names /usr/local/bin/BINARY; verify wants it to exist.
			text := strings.ReplaceAll(string(b), "/usr/local/bin/", binDir+"/")
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, analyze, "verify", path)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", name, err, out)
			}
			// Other units of this host (dependencies such as
			// network-online.target) may draw warnings of their own: only
			// those about this unit count.
			for line := range strings.Lines(string(out)) {
				if strings.Contains(line, path) || strings.HasPrefix(line, name+":") {
					t.Errorf("systemd-analyze verify: %s", strings.TrimSpace(line))
				} else {
					t.Logf("systemd-analyze verify: %s", strings.TrimSpace(line))
				}
			}
		})
	}
}

// unitSettings returns a unit file's Key=Value lines, without comments,
// blank lines and section headers.
func unitSettings(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		out = append(out, line)
	}
	return out
}
