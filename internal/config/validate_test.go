package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gpuq/gpuq/internal/money"
)

// ignoreLoc ignores the zones Validate caches in Team.
var ignoreLoc = cmpopts.IgnoreUnexported(Team{})

// valid returns a small valid config built the way Go callers should: from
// Default, DefaultTeam and DefaultPool.
func valid() Config {
	c := Default()
	sf := DefaultTeam()
	sf.Name, sf.Timezone, sf.PreferredRegion = "sf", "America/Los_Angeles", "us-west1"
	berlin := DefaultTeam()
	berlin.Name, berlin.Timezone = "berlin", "Europe/Berlin"
	c.Teams = []Team{sf, berlin}
	a100 := DefaultPool()
	a100.Name, a100.GPUType, a100.Region, a100.PricePerGPUHour = "a100-us-west1", "a100", "us-west1", 2_900_000
	a800 := DefaultPool()
	a800.Name, a800.GPUType, a800.Region = "a800-us-east1", "a800", "us-east1"
	c.Pools = []Pool{a100, a800}
	return c
}

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"default", func(c *Config) { *c = Default() }},
		{"small", func(c *Config) {}},
		{"tcp only", func(c *Config) { c.Listen.Unix = "" }},
		{"unix only", func(c *Config) { c.Listen.TCP = "" }},
		{"port 0", func(c *Config) { c.Listen.TCP = "127.0.0.1:0" }},
		{"ipv6", func(c *Config) { c.Listen.TCP = "[::1]:7420" }},
		{"any host", func(c *Config) { c.Listen.TCP = ":7420" }},
		{"night shift", func(c *Config) { c.Teams[0].WorkingHours = WorkingHours{"22:00", "06:00"} }},
		{"until midnight", func(c *Config) { c.Teams[0].WorkingHours = WorkingHours{"14:00", "00:00"} }},
		{"weekend", func(c *Config) { c.Teams[0].WorkingDays = []string{"sat", "sun"} }},
		{"utc", func(c *Config) { c.Teams[0].Timezone = "UTC" }},
		{"holidays", func(c *Config) { c.Teams[0].Holidays = []string{"2024-02-29", "2026-12-25"} }},
		{"free pool", func(c *Config) { c.Pools[0].PricePerGPUHour = 0 }},
		{"one gpu", func(c *Config) { c.Pools[0].GPUsPerNode = 1 }},
		{"64 gpus", func(c *Config) { c.Pools[0].GPUsPerNode = 64 }},
		{"no region", func(c *Config) { c.Pools[1].Region = "" }},
		{"default team", func(c *Config) { c.Defaults.Team = "berlin" }},
		{"pool limits", func(c *Config) {
			c.Pools[0].DefaultTimeLimit = Duration(10 * 24 * time.Hour)
			c.Pools[0].MaxTimeLimit = Duration(14 * 24 * time.Hour)
		}},
		{"pool max only", func(c *Config) { c.Pools[0].MaxTimeLimit = Duration(time.Hour) }},
		{"equal limits", func(c *Config) { c.Defaults.MaxTimeLimit = c.Defaults.TimeLimit }},
		{"users", func(c *Config) { c.Teams[0].Users = []string{"alice", "bob@example.com"} }},
		{"pool bills", func(c *Config) {
			c.Pools[0].MonthlyBill = 25_000 * money.Unit
			c.Pools[0].Bills = []Bill{{"2026-10", 0}, {"2026-11", 26_123_450_000}}
		}},
		{"budget webhook and hard limit", func(c *Config) {
			c.Budgets.WebhookURL, c.Budgets.HardLimit = "https://hooks.example.com/services/T0/B0/X", true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateProblems(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []Problem
	}{
		{"listen both empty", func(c *Config) { c.Listen = Listen{} },
			[]Problem{{"listen", "tcp and unix are both empty; set at least one"}}},
		{"listen tcp no port", func(c *Config) { c.Listen.TCP = "localhost" },
			[]Problem{{"listen.tcp", `invalid address "localhost" (want host:port, such as 127.0.0.1:7420)`}}},
		{"listen tcp bad port", func(c *Config) { c.Listen.TCP = "localhost:http" },
			[]Problem{{"listen.tcp", `invalid port "http" in "localhost:http" (want 0 to 65535)`}}},
		{"listen tcp port too big", func(c *Config) { c.Listen.TCP = ":65536" },
			[]Problem{{"listen.tcp", `invalid port "65536" in ":65536" (want 0 to 65535)`}}},
		{"listen unix too long", func(c *Config) { c.Listen.Unix = "/" + strings.Repeat("s", 107) },
			[]Problem{{"listen.unix", "socket path is 108 bytes long; the limit is 107"}}},
		{"data_dir empty", func(c *Config) { c.DataDir = "" },
			[]Problem{{"data_dir", "must not be empty"}}},
		{"log", func(c *Config) { c.Log = Log{Level: "verbose", Format: "xml"} },
			[]Problem{
				{"log.level", `unknown level "verbose" (want debug, info, warn or error)`},
				{"log.format", `unknown format "xml" (want text or json)`},
			}},
		{"team name empty", func(c *Config) { c.Teams[1].Name = "" },
			[]Problem{{"teams[1].name", "must not be empty"}}},
		{"team name invalid", func(c *Config) { c.Teams[1].Name = "new york" },
			[]Problem{{"teams[1].name", `invalid team name "new york" (want letters, digits, '.', '_' and '-', starting with a letter or digit, up to 64)`}}},
		{"team name duplicate", func(c *Config) { c.Teams[1].Name = "sf" },
			[]Problem{{"teams[1].name", `duplicate team "sf"`}}},
		{"timezone unknown", func(c *Config) { c.Teams[1].Timezone = "Europe/Berln" },
			[]Problem{{"teams[1].timezone", `unknown zone "Europe/Berln"`}}},
		{"timezone empty", func(c *Config) { c.Teams[1].Timezone = "" },
			[]Problem{{"teams[1].timezone", "must not be empty (want an IANA zone such as Europe/Berlin)"}}},
		{"timezone local", func(c *Config) { c.Teams[1].Timezone = "Local" },
			[]Problem{{"teams[1].timezone", `unknown zone "Local" (want an IANA zone such as Europe/Berlin)`}}},
		{"timezone path", func(c *Config) { c.Teams[1].Timezone = "../../etc/passwd" },
			[]Problem{{"teams[1].timezone", `unknown zone "../../etc/passwd"`}}},
		{"working hours malformed", func(c *Config) { c.Teams[0].WorkingHours = WorkingHours{"9:00", "24:00"} },
			[]Problem{
				{"teams[0].working_hours.start", `invalid time "9:00" (want HH:MM on a 24-hour clock, such as 09:00)`},
				{"teams[0].working_hours.end", `invalid time "24:00" (want HH:MM on a 24-hour clock, such as 09:00)`},
			}},
		{"working hours empty", func(c *Config) { c.Teams[0].WorkingHours = WorkingHours{} },
			[]Problem{
				{"teams[0].working_hours.start", `invalid time "" (want HH:MM on a 24-hour clock, such as 09:00)`},
				{"teams[0].working_hours.end", `invalid time "" (want HH:MM on a 24-hour clock, such as 09:00)`},
			}},
		{"working hours minutes", func(c *Config) { c.Teams[0].WorkingHours.End = "18:60" },
			[]Problem{{"teams[0].working_hours.end", `invalid time "18:60" (want HH:MM on a 24-hour clock, such as 09:00)`}}},
		{"working hours equal", func(c *Config) { c.Teams[0].WorkingHours = WorkingHours{"09:00", "09:00"} },
			[]Problem{{"teams[0].working_hours.end", `equals start "09:00"; a working day needs a length`}}},
		{"working days empty", func(c *Config) { c.Teams[0].WorkingDays = nil },
			[]Problem{{"teams[0].working_days", "must name at least one day"}}},
		{"working days unknown and duplicate", func(c *Config) { c.Teams[0].WorkingDays = []string{"mon", "Tue", "monday", "mon"} },
			[]Problem{
				{"teams[0].working_days[1]", `unknown weekday "Tue" (want mon, tue, wed, thu, fri, sat or sun)`},
				{"teams[0].working_days[2]", `unknown weekday "monday" (want mon, tue, wed, thu, fri, sat or sun)`},
				{"teams[0].working_days[3]", `duplicate weekday "mon"`},
			}},
		{"holidays", func(c *Config) {
			c.Teams[0].Holidays = []string{"2026-12-25", "2026-02-29", "25.12.2026", "2026-1-1", "2026-12-25"}
		},
			[]Problem{
				{"teams[0].holidays[1]", `invalid date "2026-02-29" (want YYYY-MM-DD)`},
				{"teams[0].holidays[2]", `invalid date "25.12.2026" (want YYYY-MM-DD)`},
				{"teams[0].holidays[3]", `invalid date "2026-1-1" (want YYYY-MM-DD)`},
				{"teams[0].holidays[4]", `duplicate holiday "2026-12-25"`},
			}},
		{"shares zero", func(c *Config) { c.Teams[0].Shares = 0 },
			[]Problem{{"teams[0].shares", "must be greater than 0, got 0"}}},
		{"shares negative", func(c *Config) { c.Teams[0].Shares = -0.5 },
			[]Problem{{"teams[0].shares", "must be greater than 0, got -0.5"}}},
		{"negative money", func(c *Config) {
			c.Teams[0].HourlyRate = -1
			c.Teams[0].MonthlyBudget = -20_000_000_000
			c.Pools[0].PricePerGPUHour = -2_900_000
		}, []Problem{
			{"teams[0].hourly_rate", "must not be negative, got -0.000001"},
			{"teams[0].monthly_budget", "must not be negative, got -20000.00"},
			{"pools[0].price_per_gpu_hour", "must not be negative, got -2.90"},
		}},
		{"insecure plaintext off loopback", func(c *Config) {
			c.Listen.TCP = "0.0.0.0:7420"
			c.Security.InsecurePlaintext = true
		}, []Problem{{"security.insecure_plaintext", `only for a loopback listen.tcp address (127.0.0.1, ::1, localhost), not "0.0.0.0:7420"`}}},
		{"insecure plaintext on loopback", func(c *Config) {
			c.Listen.TCP = "[::1]:7420"
			c.Security.InsecurePlaintext = true
		}, nil},
		{"security and limits", func(c *Config) {
			c.Security.Operators = []string{"ops", ""}
			c.Security.TokenTTL = 0
			c.Limits = Limits{MaxRequestBytes: 100, SubmitRate: -1, SubmitBurst: -1, MaxPendingPerUser: -1, MaxPendingPerTeam: -2}
		}, []Problem{
			{"security.operators[1]", "must not be empty"},
			{"security.token_ttl", "must be positive, got 0s"},
			{"limits.max_request_bytes", "must be 0 (the gRPC default, 4 MiB) or at least 65536, got 100"},
			{"limits.submit_rate", "must not be negative, got -1"},
			{"limits.submit_burst", "must be at least 1 when submit_rate is set, got -1"},
			{"limits.max_pending_per_user", "must not be negative, got -1"},
			{"limits.max_pending_per_team", "must not be negative, got -2"},
		}},
		{"preferred region unknown", func(c *Config) { c.Teams[1].PreferredRegion = "us-west2" },
			[]Problem{{"teams[1].preferred_region", `no pool is in region "us-west2" (regions: us-east1, us-west1)`}}},
		{"preferred region without pools", func(c *Config) { c.Pools = nil },
			[]Problem{{"teams[0].preferred_region", `no pool is in region "us-west1"`}}},
		{"users", func(c *Config) { c.Teams[0].Users = []string{"alice", "", "bob smith", "alice"} },
			[]Problem{
				{"teams[0].users[1]", "must not be empty"},
				{"teams[0].users[2]", `invalid user "bob smith": contains white space or a control character`},
				{"teams[0].users[3]", `duplicate user "alice"`},
			}},
		{"pool name duplicate", func(c *Config) { c.Pools[1].Name = "a100-us-west1" },
			[]Problem{{"pools[1].name", `duplicate pool "a100-us-west1"`}}},
		{"pool and team may share a name", func(c *Config) { c.Pools[1].Name = "sf" }, nil},
		{"gpu type empty", func(c *Config) { c.Pools[0].GPUType = "" },
			[]Problem{{"pools[0].gpu_type", "must not be empty (want a lowercase identifier such as a100)"}}},
		{"gpu type upper case", func(c *Config) { c.Pools[0].GPUType = "A100" },
			[]Problem{{"pools[0].gpu_type", `invalid GPU type "A100" (want a lowercase identifier such as a100: a-z, 0-9, '-' and '_', starting with a letter, up to 32)`}}},
		{"gpu type with space", func(c *Config) { c.Pools[0].GPUType = "a100 80gb" },
			[]Problem{{"pools[0].gpu_type", `invalid GPU type "a100 80gb" (want a lowercase identifier such as a100: a-z, 0-9, '-' and '_', starting with a letter, up to 32)`}}},
		{"region invalid", func(c *Config) { c.Pools[1].Region = "US East" },
			[]Problem{{"pools[1].region", `invalid region "US East" (want lowercase letters, digits, '.', '_' and '-', such as us-west1)`}}},
		{"gpus per node", func(c *Config) { c.Pools[0].GPUsPerNode = 0; c.Pools[1].GPUsPerNode = 65 },
			[]Problem{
				{"pools[0].gpus_per_node", "must be from 1 to 64, got 0"},
				{"pools[1].gpus_per_node", "must be from 1 to 64, got 65"},
			}},
		{"billing weight", func(c *Config) { c.Pools[0].BillingWeight = 0 },
			[]Problem{{"pools[0].billing_weight", "must be greater than 0, got 0"}}},
		{"pool limits negative", func(c *Config) {
			c.Pools[0].DefaultTimeLimit = Duration(-time.Second)
			c.Pools[0].MaxTimeLimit = Duration(-time.Hour)
		}, []Problem{
			{"pools[0].default_time_limit", "must not be negative, got -1s (0 takes defaults.time_limit)"},
			{"pools[0].max_time_limit", "must not be negative, got -1h (0 takes defaults.max_time_limit)"},
		}},
		{"pool default over pool max", func(c *Config) {
			c.Pools[0].DefaultTimeLimit = Duration(2 * time.Hour)
			c.Pools[0].MaxTimeLimit = Duration(90 * time.Minute)
		}, []Problem{{"pools[0].default_time_limit", "2h exceeds max_time_limit 1h30m"}}},
		{"pool default over defaults max", func(c *Config) { c.Pools[0].DefaultTimeLimit = Duration(8 * 24 * time.Hour) },
			[]Problem{{"pools[0].default_time_limit", "192h exceeds defaults.max_time_limit 168h; set max_time_limit too"}}},
		{"pool max under defaults default", func(c *Config) { c.Pools[1].MaxTimeLimit = Duration(30 * time.Minute) },
			[]Problem{{"pools[1].max_time_limit", "30m is below defaults.time_limit 1h; set default_time_limit too"}}},
		{"defaults default over max", func(c *Config) { c.Defaults.TimeLimit = Duration(8 * 24 * time.Hour) },
			[]Problem{{"defaults.time_limit", "192h exceeds max_time_limit 168h"}}},
		{"defaults not positive", func(c *Config) {
			c.Defaults.TimeLimit = 0
			c.Defaults.MaxTimeLimit = Duration(-time.Hour)
			c.Defaults.GracePeriod = 0
			c.Defaults.KillWait = Duration(-time.Second)
		}, []Problem{
			{"defaults.time_limit", "must be positive, got 0s"},
			{"defaults.max_time_limit", "must be positive, got -1h"},
			{"defaults.grace_period", "must be positive, got 0s"},
			{"defaults.kill_wait", "must be positive, got -1s"},
		}},
		{"grace negative", func(c *Config) { c.Defaults.GracePeriod = Duration(-5 * time.Second) },
			[]Problem{{"defaults.grace_period", "must be positive, got -5s"}}},
		{"min job age negative", func(c *Config) { c.Defaults.MinJobAge = Duration(-time.Minute) },
			[]Problem{{"defaults.min_job_age", "must not be negative, got -1m (0: ended jobs stay)"}}},
		{"default team unknown", func(c *Config) { c.Defaults.Team = "tokyo" },
			[]Problem{{"defaults.team", `unknown team "tokyo"`}}},
		{"budgets", func(c *Config) {
			c.Budgets = Budgets{WebhookURL: "hooks.example.com/T0/SECRET", WebhookTimeout: 0, WebhookAttempts: 11, CheckInterval: Duration(time.Millisecond)}
		}, []Problem{
			// The URL is not repeated: it may hold a secret.
			{"budgets.webhook_url", "invalid webhook URL: want an http or https URL"},
			{"budgets.webhook_timeout", "must be positive, got 0s"},
			{"budgets.webhook_attempts", "must be from 1 to 10, got 11"},
			{"budgets.check_interval", "must be at least 1s, got 1ms"},
		}},
		{"pool bills", func(c *Config) {
			c.Pools[0].MonthlyBill = -money.Unit
			c.Pools[1].MonthlyBill = money.Cent / 2
			c.Pools[1].Bills = []Bill{{"2026-11", 1000 * money.Unit}, {"2026-1", 1}, {"2026-11", 5 * money.Unit}, {"2026-12", -money.Cent}}
		}, []Problem{
			{"pools[0].monthly_bill", "must not be negative, got -1.00"},
			{"pools[1].monthly_bill", "must be whole cents, got 0.005"},
			{"pools[1].bills[1].month", `invalid month "2026-1" (want YYYY-MM, such as 2026-11)`},
			{"pools[1].bills[1].amount", "must be whole cents, got 0.000001"},
			{"pools[1].bills[2].month", `duplicate month "2026-11"`},
			{"pools[1].bills[3].amount", "must not be negative, got -0.01"},
		}},
		{"budgets webhook without host", func(c *Config) { c.Budgets.WebhookURL = "https:///hook" },
			[]Problem{{"budgets.webhook_url", "invalid webhook URL: it has no host"}}},
		{"every problem at once, in file order", func(c *Config) {
			c.DataDir = ""
			c.Teams[1].Name = "sf"
			c.Teams[1].Timezone = "Europe/Berln"
			c.Pools[0].GPUType = "A100"
			c.Defaults.GracePeriod = 0
		}, []Problem{
			{"data_dir", "must not be empty"},
			{"teams[1].name", `duplicate team "sf"`},
			{"teams[1].timezone", `unknown zone "Europe/Berln"`},
			{"pools[0].gpu_type", `invalid GPU type "A100" (want a lowercase identifier such as a100: a-z, 0-9, '-' and '_', starting with a letter, up to 32)`},
			{"defaults.grace_period", "must be positive, got 0s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			var got []Problem
			if ve := (*ValidationError)(nil); errors.As(err, &ve) {
				got = ve.Problems
			} else if err != nil {
				t.Fatalf("Validate returned %T, want *ValidationError: %v", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidationErrorString(t *testing.T) {
	err := &ValidationError{Problems: []Problem{
		{"teams[1].name", `duplicate team "sf"`},
		{"teams[2].timezone", `unknown zone "Europe/Berln"`},
	}}
	want := "teams[1].name: duplicate team \"sf\"\nteams[2].timezone: unknown zone \"Europe/Berln\""
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
}

func TestValidateLoadsLocation(t *testing.T) {
	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ team, zone string }{{"sf", "America/Los_Angeles"}, {"berlin", "Europe/Berlin"}} {
		team, _ := c.Team(tt.team)
		if team.loc == nil {
			t.Errorf("team %s: Validate did not keep the zone", tt.team)
		}
		if got := team.Location().String(); got != tt.zone {
			t.Errorf("team %s: Location() = %s, want %s", tt.team, got, tt.zone)
		}
	}
	// A team that was never validated still answers, and falls back to UTC.
	if got := (&Team{Timezone: "Asia/Tokyo"}).Location().String(); got != "Asia/Tokyo" {
		t.Errorf("unvalidated Location() = %s, want Asia/Tokyo", got)
	}
	if got := (&Team{Timezone: "Nowhere/Else"}).Location(); got != time.UTC {
		t.Errorf("Location() of a bad zone = %v, want UTC", got)
	}
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:00", 0, true},
		{"09:00", 9 * time.Hour, true},
		{"18:30", 18*time.Hour + 30*time.Minute, true},
		{"23:59", 23*time.Hour + 59*time.Minute, true},
		{"24:00", 0, false},
		{"9:00", 0, false},
		{"09:0", 0, false},
		{"09-00", 0, false},
		{"+9:00", 0, false},
		{"09:00:00", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseClock(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseClock(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseWeekday(t *testing.T) {
	for i, s := range []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} {
		if got, ok := ParseWeekday(s); !ok || got != time.Weekday(i) {
			t.Errorf("ParseWeekday(%q) = %v, %v; want %v", s, got, ok, time.Weekday(i))
		}
	}
	for _, s := range []string{"", "Mon", "monday", "mo"} {
		if _, ok := ParseWeekday(s); ok {
			t.Errorf("ParseWeekday(%q) is ok, want not", s)
		}
	}
}
