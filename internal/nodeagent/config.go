package nodeagent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gpuq/gpuq/internal/gpu"
	"github.com/gpuq/gpuq/internal/ident"
)

// Config is gpuq-node's configuration file (YAML).
type Config struct {
	// Server is gpuqd: "unix:///run/gpuq/gpuqd.sock" or "host:port".
	Server string `yaml:"server"`
	// Name of the node; default the host name.
	Name   string            `yaml:"name"`
	Pool   string            `yaml:"pool"`
	Region string            `yaml:"region"`
	Labels map[string]string `yaml:"labels,omitempty"`
	// SimulateGPUs ("a100:8") gives a simulated inventory instead of NVML's.
	SimulateGPUs string `yaml:"simulate_gpus,omitempty"`
	// GPUTypes maps parts of NVML model names to config GPU types, before
	// the built-in rules (A100 -> a100, ...).
	GPUTypes map[string]string `yaml:"gpu_types,omitempty"`
	Runtime  RuntimeConfig     `yaml:"runtime"`
	// StateDir keeps scripts, runs and the ends of runs not yet reported.
	StateDir string `yaml:"state_dir"`
	// CheckpointDir holds each job's checkpoint directory; default
	// <state_dir>/checkpoints. Put it on shared storage for jobs to resume
	// on another node.
	CheckpointDir string `yaml:"checkpoint_dir,omitempty"`
	// Users: whom jobs run as (run_as, unknown_user, allow_root).
	Users UsersConfig `yaml:",inline"`
	Log   LogConfig   `yaml:"log"`
	// JoinToken (or the file JoinTokenFile holds it in) is what `gpuqd init`
	// printed: the node presents it once to get its certificate and node
	// token, kept in TLSDir (default <state_dir>/tls) from then on.
	JoinToken     string `yaml:"join_token,omitempty"`
	JoinTokenFile string `yaml:"join_token_file,omitempty"`
	TLSDir        string `yaml:"tls_dir,omitempty"`
	// InsecurePlaintext speaks plaintext TCP to a gpuqd in its insecure
	// loopback mode.
	InsecurePlaintext bool `yaml:"insecure_plaintext,omitempty"`
	// UsageSampleInterval is how often each running job's GPUs are sampled
	// through NVML for its accounting record (a Go duration, default 10s).
	UsageSampleInterval string `yaml:"usage_sample_interval"`
}

// Values of UsersConfig's fields.
const (
	// RunAsUser runs each job as its submitting user, as the node's user
	// database knows that user.
	RunAsUser = "user"
	// RunAsNode runs every job as gpuq-node's own user.
	RunAsNode = "node"
	// UnknownUserRefuse fails the jobs of users the node does not know.
	UnknownUserRefuse = "refuse"
)

// UsersConfig chooses whom jobs run as. gpuq-node can change users only as
// root; otherwise every job runs as gpuq-node's own user, whatever this
// says.
type UsersConfig struct {
	// RunAs is RunAsUser (default) or RunAsNode.
	RunAs string `yaml:"run_as"`
	// UnknownUser is what becomes of a job whose user the node does not
	// know: UnknownUserRefuse (default) fails it; a user name runs it as
	// that user, which should be an unprivileged one such as nobody.
	UnknownUser string `yaml:"unknown_user"`
	// AllowRoot lets jobs run as root (uid 0). Without it a job whose user
	// is root on the node is refused, and gpuq-node will not start with a
	// root unknown_user, or as root with run_as: node.
	AllowRoot bool `yaml:"allow_root"`
}

// RuntimeConfig chooses how jobs run.
type RuntimeConfig struct {
	// Kind is "exec" (processes) or "containerd".
	Kind string `yaml:"kind"`
	// CgroupRoot for the exec runtime's per-job limits; "" for none.
	CgroupRoot string `yaml:"cgroup_root,omitempty"`
	// ContainerdAddress, Namespace and Image for the containerd runtime.
	ContainerdAddress string `yaml:"containerd_address,omitempty"`
	Namespace         string `yaml:"namespace,omitempty"`
	Image             string `yaml:"image,omitempty"`
	// CDIKind is the CDI device kind of the node's GPUs in containers
	// (default nvidia.com/gpu); "" gives containers device files only.
	CDIKind string `yaml:"cdi_kind"`
	// CDISpecDirs are where CDI specs are read (default /etc/cdi and
	// /var/run/cdi).
	CDISpecDirs []string `yaml:"cdi_spec_dirs,omitempty"`
}

// LogConfig is the level (debug, info, warn, error) and format (text, json).
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// DefaultConfig is the only source of gpuq-node's defaults.
func DefaultConfig() Config {
	return Config{
		Server:   "unix:///run/gpuq/gpuqd.sock",
		StateDir: "/var/lib/gpuq-node",
		Runtime: RuntimeConfig{
			Kind:              "exec",
			CgroupRoot:        "/sys/fs/cgroup",
			ContainerdAddress: "/run/containerd/containerd.sock",
			Namespace:         "gpuq",
			CDIKind:           "nvidia.com/gpu",
		},
		UsageSampleInterval: DefaultSampleEvery.String(),
		Users:               UsersConfig{RunAs: RunAsUser, UnknownUser: UnknownUserRefuse},
		Log:                 LogConfig{Level: "info", Format: "text"},
	}
}

// LoadConfig reads a config file over the defaults.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("load config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// userNamePattern is what useradd accepts, roughly (and Samba's trailing $).
var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}\$?$`)

// cdiKindPattern is a CDI device kind: a vendor (a domain name) and a
// class, as the CDI specification allows them.
var cdiKindPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]/[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// SampleEvery is UsageSampleInterval as a duration.
func (c *Config) SampleEvery() (time.Duration, error) {
	d, err := time.ParseDuration(c.UsageSampleInterval)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 10s", c.UsageSampleInterval)
	}
	if d < 100*time.Millisecond || d > time.Hour {
		return 0, fmt.Errorf("%q: want 100ms to 1h", c.UsageSampleInterval)
	}
	return d, nil
}

// Validate reports every problem with its field.
func (c *Config) Validate() error {
	var probs []string
	add := func(field, format string, args ...any) {
		probs = append(probs, field+": "+fmt.Sprintf(format, args...))
	}
	if c.Server == "" {
		add("server", "required")
	}
	if !ident.Name(c.Name) {
		add("name", "%q: want letters, digits, '.', '_' or '-', at most 64", c.Name)
	}
	if c.Pool == "" {
		add("pool", "required: the gpuqd pool this node belongs to")
	}
	if c.SimulateGPUs != "" {
		if _, err := gpu.ParseSimulated("check", c.SimulateGPUs); err != nil {
			add("simulate_gpus", "%v", err)
		}
	}
	if err := gpu.TypeMap(c.GPUTypes).Validate(); err != nil {
		add("gpu_types", "%v", err)
	}
	switch c.Runtime.Kind {
	case "exec":
	case "containerd":
		if c.Runtime.ContainerdAddress == "" {
			add("runtime.containerd_address", "required for the containerd runtime")
		}
		if c.Runtime.Image == "" {
			add("runtime.image", "required for the containerd runtime: the image of jobs that name none")
		}
	default:
		add("runtime.kind", "%q: want exec or containerd", c.Runtime.Kind)
	}
	if k := c.Runtime.CDIKind; k != "" && !cdiKindPattern.MatchString(k) {
		add("runtime.cdi_kind", "%q: want vendor.com/class (nvidia.com/gpu), or \"\" for device files only", k)
	}
	for i, d := range c.Runtime.CDISpecDirs {
		if !filepath.IsAbs(d) {
			add(fmt.Sprintf("runtime.cdi_spec_dirs[%d]", i), "%q: want an absolute path", d)
		}
	}
	if _, err := c.SampleEvery(); err != nil {
		add("usage_sample_interval", "%v", err)
	}
	if c.StateDir == "" {
		add("state_dir", "required")
	}
	switch c.Users.RunAs {
	case RunAsUser, RunAsNode:
	default:
		add("run_as", "%q: want %s (the submitting user) or %s (gpuq-node's own user)", c.Users.RunAs, RunAsUser, RunAsNode)
	}
	if u := c.Users.UnknownUser; u != UnknownUserRefuse && !userNamePattern.MatchString(u) {
		add("unknown_user", "%q: want %s or the name of a user of this node", u, UnknownUserRefuse)
	}
	if len(probs) > 0 {
		return errors.New("invalid config:\n  " + strings.Join(probs, "\n  "))
	}
	return nil
}
