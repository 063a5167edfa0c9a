package config

import (
	"log/slog"
	"slices"
	"time"
	_ "time/tzdata" // a host without a zone database still knows every team's zone

	"github.com/gpuq/gpuq/internal/money"
)

// Config is the configuration of the queue daemon, gpuqd.
type Config struct {
	Listen   Listen   `yaml:"listen"`
	DataDir  string   `yaml:"data_dir"`
	Log      Log      `yaml:"log"`
	Teams    []Team   `yaml:"teams"`
	Pools    []Pool   `yaml:"pools"`
	Defaults Defaults `yaml:"defaults"`
	Security Security `yaml:"security"`
	Limits   Limits   `yaml:"limits"`
	// Scheduling is the scheduler's weights and preemption rules.
	Scheduling Scheduling `yaml:"scheduling"`
	Budgets    Budgets    `yaml:"budgets"`
}

// Listen says where gpuqd serves its API. Either address may be "" to turn
// that listener off, but not both.
type Listen struct {
	TCP  string `yaml:"tcp"`  // host:port; port 0 picks a free port
	Unix string `yaml:"unix"` // path of a Unix socket
}

// Log configures the daemon's log/slog logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Team is a group of users that shares a budget, a fair share of the GPUs and
// a working calendar in its own time zone.
type Team struct {
	Name            string       `yaml:"name"`
	Timezone        string       `yaml:"timezone"` // IANA zone, such as Europe/Berlin
	WorkingHours    WorkingHours `yaml:"working_hours"`
	WorkingDays     []string     `yaml:"working_days"`               // mon, tue, wed, thu, fri, sat, sun
	Holidays        []string     `yaml:"holidays,omitempty"`         // YYYY-MM-DD, local dates
	Shares          float64      `yaml:"shares"`                     // fair-share weight, > 0
	HourlyRate      money.Amount `yaml:"hourly_rate,omitempty"`      // per GPU-hour; 0: the pool's price
	MonthlyBudget   money.Amount `yaml:"monthly_budget,omitempty"`   // 0: no budget
	PreferredRegion string       `yaml:"preferred_region,omitempty"` // a region of some pool
	Users           []string     `yaml:"users,omitempty"`
	// Admins manage the team's jobs, accounting and budget (role team-admin).
	Admins []string `yaml:"admins,omitempty"`
	// GracePeriod overrides defaults.grace_period for the team's jobs; 0: the default.
	GracePeriod Duration `yaml:"grace_period,omitempty"`

	loc *time.Location // loaded by Validate
}

// WorkingHours is a team's local working day, as "HH:MM" 24-hour clock
// times. End may be before Start for a working day that crosses midnight.
type WorkingHours struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// Pool is a set of nodes with one GPU type in one region, at one price.
type Pool struct {
	Name             string       `yaml:"name"`
	GPUType          string       `yaml:"gpu_type"` // lowercase identifier: a100, h100, a800
	Region           string       `yaml:"region"`
	PricePerGPUHour  money.Amount `yaml:"price_per_gpu_hour"`
	GPUsPerNode      int          `yaml:"gpus_per_node"` // the pool's largest node, 1..64
	BillingWeight    float64      `yaml:"billing_weight"`
	DefaultTimeLimit Duration     `yaml:"default_time_limit,omitempty"` // 0: Defaults.TimeLimit
	MaxTimeLimit     Duration     `yaml:"max_time_limit,omitempty"`     // 0: Defaults.MaxTimeLimit
	// MonthlyBill is what the pool costs every calendar month, such as
	// reserved capacity; 0: none. Bills replaces it for the months it
	// names. `gpuqctl cost --model split` divides a month's bill among the
	// teams; without one it bills the pool's GPU-hours at its price.
	MonthlyBill money.Amount `yaml:"monthly_bill,omitempty"`
	// Bills are the pool's actual bills, by month.
	Bills []Bill `yaml:"bills,omitempty"`
}

// Bill is what a pool cost in one calendar month.
type Bill struct {
	Month  string       `yaml:"month"` // YYYY-MM
	Amount money.Amount `yaml:"amount"`
}

// Defaults holds the queue-wide limits and timings.
type Defaults struct {
	TimeLimit    Duration `yaml:"time_limit"`     // for jobs that ask for none
	MaxTimeLimit Duration `yaml:"max_time_limit"` // the most a job may ask for
	GracePeriod  Duration `yaml:"grace_period"`   // from the signal to SIGKILL on preemption or time limit
	KillWait     Duration `yaml:"kill_wait"`      // from the signal to SIGKILL on cancel
	// Node daemons send a heartbeat this often; one silent for NodeDownAfter
	// is DOWN and its jobs are requeued (or NODE_FAIL).
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	NodeDownAfter     Duration `yaml:"node_down_after"`
	Team              string   `yaml:"team,omitempty"` // for submissions that name no team; "" for none
	// MinJobAge is how long an ended job stays in the queue (gpuqctl queue
	// --state, show job) before gpuqd drops it, as Slurm's MinJobAge; its
	// accounting records (acct, cost) stay. 0 keeps ended jobs for good.
	MinJobAge Duration `yaml:"min_job_age"`
}

// Budgets configures what gpuqd does as teams spend their monthly budgets
// (teams[].monthly_budget): the alerts at 80% and 100%, and the hard limit.
type Budgets struct {
	// WebhookURL receives each alert as a JSON POST; "" for none. It may
	// carry a secret: gpuqd logs only its scheme and host.
	WebhookURL string `yaml:"webhook_url,omitempty"`
	// WebhookTimeout bounds each attempt; WebhookAttempts is how many times
	// an alert is tried before the next check tries again.
	WebhookTimeout  Duration `yaml:"webhook_timeout"`
	WebhookAttempts int      `yaml:"webhook_attempts"`
	// HardLimit holds the new jobs of a team that has spent its whole
	// monthly budget (reason Budget) until the budget is raised or the job
	// is released.
	HardLimit bool `yaml:"hard_limit,omitempty"`
	// CheckInterval is how often gpuqd checks the budgets besides when a
	// run ends: a new month, a webhook that failed.
	CheckInterval Duration `yaml:"check_interval"`
}

// Default returns the configuration gpuqd runs with when its file sets
// nothing. It has no teams and no pools; DefaultTeam and DefaultPool give the
// defaults of their items.
func Default() Config {
	return Config{
		Listen:  Listen{TCP: "127.0.0.1:7420", Unix: "/run/gpuq/gpuqd.sock"},
		DataDir: "/var/lib/gpuq",
		Log:     Log{Level: "info", Format: "text"},
		Defaults: Defaults{
			TimeLimit:         Duration(time.Hour),
			MaxTimeLimit:      Duration(7 * 24 * time.Hour),
			GracePeriod:       Duration(300 * time.Second),
			KillWait:          Duration(30 * time.Second),
			HeartbeatInterval: Duration(10 * time.Second),
			NodeDownAfter:     Duration(60 * time.Second),
			MinJobAge:         Duration(300 * time.Second),
		},
		Security:   DefaultSecurity(),
		Limits:     DefaultLimits(),
		Scheduling: DefaultScheduling(),
		Budgets: Budgets{
			WebhookTimeout:  Duration(5 * time.Second),
			WebhookAttempts: 3,
			CheckInterval:   Duration(time.Minute),
		},
	}
}

// DefaultTeam returns the values a team gets for the keys its YAML leaves
// out (or sets to null): 09:00 to 18:00, Monday to Friday, one share. Name
// and Timezone have no default.
func DefaultTeam() Team {
	return Team{
		WorkingHours: WorkingHours{Start: "09:00", End: "18:00"},
		WorkingDays:  []string{"mon", "tue", "wed", "thu", "fri"},
		Shares:       1,
	}
}

// DefaultPool returns the values a pool gets for the keys its YAML leaves out
// (or sets to null): 8 GPUs per node and a billing weight of 1.
func DefaultPool() Pool {
	return Pool{GPUsPerNode: 8, BillingWeight: 1}
}

// Team returns the team called name.
func (c *Config) Team(name string) (*Team, bool) {
	for i := range c.Teams {
		if c.Teams[i].Name == name {
			return &c.Teams[i], true
		}
	}
	return nil, false
}

// Pool returns the pool called name.
func (c *Config) Pool(name string) (*Pool, bool) {
	for i := range c.Pools {
		if c.Pools[i].Name == name {
			return &c.Pools[i], true
		}
	}
	return nil, false
}

// PoolsFor returns, in config order, the pools whose GPU type is gpuType, or
// every pool when gpuType is "".
func (c *Config) PoolsFor(gpuType string) []Pool {
	var out []Pool
	for _, p := range c.Pools {
		if gpuType == "" || p.GPUType == gpuType {
			out = append(out, p)
		}
	}
	return out
}

// GPUTypes returns the GPU types of the pools, sorted, each once.
func (c *Config) GPUTypes() []string {
	var out []string
	for _, p := range c.Pools {
		out = append(out, p.GPUType)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MaxGPUsPerNode returns the largest GPUsPerNode of the pools PoolsFor(gpuType)
// returns, or 0 when there are none: no job of that type can ask for more
// GPUs on one node.
func (c *Config) MaxGPUsPerNode(gpuType string) int {
	n := 0
	for _, p := range c.PoolsFor(gpuType) {
		n = max(n, p.GPUsPerNode)
	}
	return n
}

// TimeLimits returns the default and maximum time limits of jobs in pool p:
// the pool's own, or where it sets none (0), those of c.Defaults.
func (c *Config) TimeLimits(p *Pool) (def, maxLimit time.Duration) {
	def, maxLimit = time.Duration(c.Defaults.TimeLimit), time.Duration(c.Defaults.MaxTimeLimit)
	if p.DefaultTimeLimit != 0 {
		def = time.Duration(p.DefaultTimeLimit)
	}
	if p.MaxTimeLimit != 0 {
		maxLimit = time.Duration(p.MaxTimeLimit)
	}
	return def, maxLimit
}

// Location returns the team's time zone. Validate (and so Parse and Load)
// loads it once; on a Team that was never validated Location loads it on
// each call and returns UTC if Timezone is not a zone.
func (t *Team) Location() *time.Location {
	if t.loc != nil {
		return t.loc
	}
	loc, err := loadZone(t.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// SlogLevel returns the slog level that Level names, or slog.LevelInfo when
// it names none.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
