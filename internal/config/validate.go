package config

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gpuq/gpuq/internal/ident"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/webhook"
)

// Problem is one thing wrong with a config: the path of the field, as its
// YAML keys spell it ("teams[2].timezone"), and what is wrong with it.
type Problem struct {
	Field   string
	Message string
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// ValidationError lists every problem Validate found, in the order of the
// fields in the file.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems one per line, as "field.path: message".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// maxUnixPath is the longest Unix socket path Linux accepts (sun_path less
// its NUL).
const maxUnixPath = 107

// Validate checks c and returns a *ValidationError listing every problem,
// or nil. It loads each team's time zone, which Team.Location then returns.
// It applies no defaults: a config built in Go should start from Default,
// DefaultTeam and DefaultPool.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateListen(v)
	if c.DataDir == "" {
		v.add("data_dir", "must not be empty")
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		v.add("log.level", "unknown level %q (want %s)", c.Log.Level, orList(logLevels))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		v.add("log.format", "unknown format %q (want %s)", c.Log.Format, orList(logFormats))
	}

	regions := make(map[string]bool)
	for _, p := range c.Pools {
		if p.Region != "" {
			regions[p.Region] = true
		}
	}
	seen := make(map[string]bool)
	for i := range c.Teams {
		t := &c.Teams[i]
		path := fmt.Sprintf("teams[%d]", i)
		checkName(v, path+".name", "team", t.Name, seen)
		t.validate(v, path, regions)
	}
	clear(seen)
	for i := range c.Pools {
		p := &c.Pools[i]
		path := fmt.Sprintf("pools[%d]", i)
		checkName(v, path+".name", "pool", p.Name, seen)
		c.validatePool(v, path, p)
	}
	c.validateDefaults(v)
	c.validateSecurity(v)
	c.Scheduling.validate(v, c.Teams)
	c.validateBudgets(v)
	return v.err()
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

func (c *Config) validateListen(v *validator) {
	l := c.Listen
	if l.TCP == "" && l.Unix == "" {
		v.add("listen", "tcp and unix are both empty; set at least one")
	}
	if l.TCP != "" {
		if _, port, err := net.SplitHostPort(l.TCP); err != nil {
			v.add("listen.tcp", "invalid address %q (want host:port, such as 127.0.0.1:7420)", l.TCP)
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > math.MaxUint16 {
			v.add("listen.tcp", "invalid port %q in %q (want 0 to 65535)", port, l.TCP)
		}
	}
	if len(l.Unix) > maxUnixPath {
		v.add("listen.unix", "socket path is %d bytes long; the limit is %d", len(l.Unix), maxUnixPath)
	}
}

func (t *Team) validate(v *validator, path string, regions map[string]bool) {
	t.loc = nil
	switch loc, err := loadZone(t.Timezone); {
	case t.Timezone == "":
		v.add(path+".timezone", "must not be empty (want an IANA zone such as Europe/Berlin)")
	case err != nil:
		v.add(path+".timezone", "%v", err)
	default:
		t.loc = loc
	}

	start, errStart := ParseClock(t.WorkingHours.Start)
	if errStart != nil {
		v.add(path+".working_hours.start", "%v", errStart)
	}
	end, errEnd := ParseClock(t.WorkingHours.End)
	if errEnd != nil {
		v.add(path+".working_hours.end", "%v", errEnd)
	}
	if errStart == nil && errEnd == nil && start == end {
		v.add(path+".working_hours.end", "equals start %q; a working day needs a length", t.WorkingHours.Start)
	}

	if len(t.WorkingDays) == 0 {
		v.add(path+".working_days", "must name at least one day")
	}
	days := make(map[time.Weekday]bool)
	for j, d := range t.WorkingDays {
		wd, ok := ParseWeekday(d)
		switch {
		case !ok:
			v.add(fmt.Sprintf("%s.working_days[%d]", path, j), "unknown weekday %q (want %s)", d, orList(weekdayOrder))
		case days[wd]:
			v.add(fmt.Sprintf("%s.working_days[%d]", path, j), "duplicate weekday %q", d)
		}
		days[wd] = true
	}

	holidays := make(map[string]bool)
	for j, h := range t.Holidays {
		field := fmt.Sprintf("%s.holidays[%d]", path, j)
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			v.add(field, "invalid date %q (want YYYY-MM-DD)", h)
		} else if holidays[h] {
			v.add(field, "duplicate holiday %q", h)
		}
		holidays[h] = true
	}

	checkPositive(v, path+".shares", t.Shares)
	if t.HourlyRate < 0 {
		v.add(path+".hourly_rate", "must not be negative, got %s", t.HourlyRate)
	}
	if t.MonthlyBudget < 0 {
		v.add(path+".monthly_budget", "must not be negative, got %s", t.MonthlyBudget)
	}
	if t.GracePeriod < 0 {
		v.add(path+".grace_period", "must not be negative, got %s", t.GracePeriod)
	}
	if t.PreferredRegion != "" && !regions[t.PreferredRegion] {
		known := make([]string, 0, len(regions))
		for r := range regions {
			known = append(known, r)
		}
		slices.Sort(known)
		msg := "no pool is in region %q"
		if len(known) > 0 {
			msg += " (regions: " + strings.Join(known, ", ") + ")"
		}
		v.add(path+".preferred_region", msg, t.PreferredRegion)
	}

	users := make(map[string]bool)
	for j, u := range t.Users {
		field := fmt.Sprintf("%s.users[%d]", path, j)
		switch {
		case u == "":
			v.add(field, "must not be empty")
		case strings.ContainsFunc(u, isSpaceOrControl):
			v.add(field, "invalid user %q: contains white space or a control character", u)
		case users[u]:
			v.add(field, "duplicate user %q", u)
		}
		users[u] = true
	}
}

func (c *Config) validatePool(v *validator, path string, p *Pool) {
	switch {
	case p.GPUType == "":
		v.add(path+".gpu_type", "must not be empty (want a lowercase identifier such as a100)")
	case !ident.GPUType(p.GPUType):
		v.add(path+".gpu_type", "invalid GPU type %q (want a lowercase identifier such as a100: a-z, 0-9, '-' and '_', starting with a letter, up to 32)", p.GPUType)
	}
	if p.Region != "" && !ident.Region(p.Region) {
		v.add(path+".region", "invalid region %q (want lowercase letters, digits, '.', '_' and '-', such as us-west1)", p.Region)
	}
	if p.PricePerGPUHour < 0 {
		v.add(path+".price_per_gpu_hour", "must not be negative, got %s", p.PricePerGPUHour)
	}
	if p.GPUsPerNode < 1 || p.GPUsPerNode > 64 {
		v.add(path+".gpus_per_node", "must be from 1 to 64, got %d", p.GPUsPerNode)
	}
	checkPositive(v, path+".billing_weight", p.BillingWeight)
	checkBill(v, path+".monthly_bill", p.MonthlyBill)
	months := make(map[string]bool)
	for j, b := range p.Bills {
		field := fmt.Sprintf("%s.bills[%d]", path, j)
		if _, err := time.Parse("2006-01", b.Month); err != nil || len(b.Month) != 7 {
			v.add(field+".month", "invalid month %q (want YYYY-MM, such as 2026-11)", b.Month)
		} else if months[b.Month] {
			v.add(field+".month", "duplicate month %q", b.Month)
		}
		months[b.Month] = true
		checkBill(v, field+".amount", b.Amount)
	}

	badLimit := false
	if p.DefaultTimeLimit < 0 {
		v.add(path+".default_time_limit", "must not be negative, got %s (0 takes defaults.time_limit)", p.DefaultTimeLimit)
		badLimit = true
	}
	if p.MaxTimeLimit < 0 {
		v.add(path+".max_time_limit", "must not be negative, got %s (0 takes defaults.max_time_limit)", p.MaxTimeLimit)
		badLimit = true
	}
	if badLimit || (p.DefaultTimeLimit == 0 && p.MaxTimeLimit == 0) {
		return // both inherited: validateDefaults reports them
	}
	def, maxLimit := c.TimeLimits(p)
	if def <= maxLimit || c.Defaults.TimeLimit <= 0 || c.Defaults.MaxTimeLimit <= 0 {
		return
	}
	switch {
	case p.DefaultTimeLimit != 0 && p.MaxTimeLimit != 0:
		v.add(path+".default_time_limit", "%s exceeds max_time_limit %s", p.DefaultTimeLimit, p.MaxTimeLimit)
	case p.DefaultTimeLimit != 0:
		v.add(path+".default_time_limit", "%s exceeds defaults.max_time_limit %s; set max_time_limit too", p.DefaultTimeLimit, c.Defaults.MaxTimeLimit)
	default:
		v.add(path+".max_time_limit", "%s is below defaults.time_limit %s; set default_time_limit too", p.MaxTimeLimit, c.Defaults.TimeLimit)
	}
}

func (c *Config) validateDefaults(v *validator) {
	d := c.Defaults
	for _, f := range []struct {
		name string
		val  Duration
	}{
		{"time_limit", d.TimeLimit},
		{"max_time_limit", d.MaxTimeLimit},
		{"grace_period", d.GracePeriod},
		{"kill_wait", d.KillWait},
		{"heartbeat_interval", d.HeartbeatInterval},
		{"node_down_after", d.NodeDownAfter},
	} {
		if f.val <= 0 {
			v.add("defaults."+f.name, "must be positive, got %s", f.val)
		}
	}
	if d.TimeLimit > 0 && d.MaxTimeLimit > 0 && d.TimeLimit > d.MaxTimeLimit {
		v.add("defaults.time_limit", "%s exceeds max_time_limit %s", d.TimeLimit, d.MaxTimeLimit)
	}
	if d.HeartbeatInterval > 0 && d.NodeDownAfter > 0 && d.NodeDownAfter < 2*d.HeartbeatInterval {
		v.add("defaults.node_down_after", "%s is less than two heartbeat intervals (%s)", d.NodeDownAfter, d.HeartbeatInterval)
	}
	if d.MinJobAge < 0 {
		v.add("defaults.min_job_age", "must not be negative, got %s (0: ended jobs stay)", d.MinJobAge)
	}
	if d.Team != "" {
		if _, ok := c.Team(d.Team); !ok {
			v.add("defaults.team", "unknown team %q", d.Team)
		}
	}
}

func (c *Config) validateBudgets(v *validator) {
	b := c.Budgets
	if b.WebhookURL != "" {
		// The URL is not repeated: it may carry a secret.
		if err := webhook.CheckURL(b.WebhookURL); err != nil {
			v.add("budgets.webhook_url", "%v", err)
		}
	}
	if b.WebhookTimeout <= 0 {
		v.add("budgets.webhook_timeout", "must be positive, got %s", b.WebhookTimeout)
	}
	if b.WebhookAttempts < 1 || b.WebhookAttempts > 10 {
		v.add("budgets.webhook_attempts", "must be from 1 to 10, got %d", b.WebhookAttempts)
	}
	if b.CheckInterval < Duration(time.Second) {
		v.add("budgets.check_interval", "must be at least 1s, got %s", b.CheckInterval)
	}
}

// checkBill checks an amount that a split divides in whole cents.
func checkBill(v *validator, field string, a money.Amount) {
	switch {
	case a < 0:
		v.add(field, "must not be negative, got %s", a)
	case a%money.Cent != 0:
		v.add(field, "must be whole cents, got %s", a)
	}
}

func checkName(v *validator, field, kind, name string, seen map[string]bool) {
	switch {
	case name == "":
		v.add(field, "must not be empty")
	case !ident.Name(name):
		v.add(field, "invalid %s name %q (want letters, digits, '.', '_' and '-', starting with a letter or digit, up to 64)", kind, name)
	case seen[name]:
		v.add(field, "duplicate %s %q", kind, name)
	}
	seen[name] = true
}

func checkPositive(v *validator, field string, f float64) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		v.add(field, "must be a finite number, got %v", f)
	case f <= 0:
		v.add(field, "must be greater than 0, got %v", f)
	}
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// loadZone loads an IANA zone. "Local" is refused: it would make the
// config's meaning depend on the host.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("unknown zone %q (want an IANA zone such as Europe/Berlin)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown zone %q", name)
	}
	return loc, nil
}

// ParseClock parses a 24-hour "HH:MM" time of day, "00:00" to "23:59", and
// returns its offset from midnight.
func ParseClock(s string) (time.Duration, error) {
	if len(s) == 5 && s[2] == ':' && allDigits(s[:2]) && allDigits(s[3:]) {
		h, _ := strconv.Atoi(s[:2])
		m, _ := strconv.Atoi(s[3:])
		if h < 24 && m < 60 {
			return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
		}
	}
	return 0, fmt.Errorf("invalid time %q (want HH:MM on a 24-hour clock, such as 09:00)", s)
}

var (
	weekdays     = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} // by time.Weekday
	weekdayOrder = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
)

// ParseWeekday parses a working day as a config spells it: mon, tue, wed,
// thu, fri, sat or sun.
func ParseWeekday(s string) (time.Weekday, bool) {
	i := slices.Index(weekdays[:], s)
	return time.Weekday(i), i >= 0
}

func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

type validator struct {
	problems []Problem
}

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

var _ error = (*ValidationError)(nil)
