package config

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() is not valid: %v", err)
	}
	if len(c.Teams) != 0 || len(c.Pools) != 0 {
		t.Errorf("Default() has %d teams and %d pools, want none", len(c.Teams), len(c.Pools))
	}
	// Each call returns fresh lists: a caller changing one changes no other.
	a := DefaultTeam()
	a.WorkingDays[0] = "sun"
	if got := DefaultTeam().WorkingDays[0]; got != "mon" {
		t.Errorf("DefaultTeam shares its WorkingDays: got %q", got)
	}
}

func helperConfig() Config {
	c := valid()
	big := DefaultPool()
	big.Name, big.GPUType, big.Region, big.GPUsPerNode = "a100-big", "a100", "us-west1", 16
	big.DefaultTimeLimit = Duration(2 * time.Hour)
	c.Pools = append(c.Pools, big)
	return c
}

func TestTeamAndPool(t *testing.T) {
	c := helperConfig()
	team, ok := c.Team("berlin")
	if !ok || team.Name != "berlin" || team != &c.Teams[1] {
		t.Errorf("Team(berlin) = %v, %v; want &c.Teams[1]", team, ok)
	}
	if team, ok := c.Team("paris"); ok || team != nil {
		t.Errorf("Team(paris) = %v, %v; want nil, false", team, ok)
	}
	pool, ok := c.Pool("a100-big")
	if !ok || pool != &c.Pools[2] {
		t.Errorf("Pool(a100-big) = %v, %v; want &c.Pools[2]", pool, ok)
	}
	if _, ok := c.Pool("nope"); ok {
		t.Error("Pool(nope) found a pool")
	}
}

func TestPoolQueries(t *testing.T) {
	c := helperConfig()
	names := func(ps []Pool) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	tests := []struct {
		gpuType   string
		wantPools []string
		wantMax   int
	}{
		{"", []string{"a100-us-west1", "a800-us-east1", "a100-big"}, 16},
		{"a100", []string{"a100-us-west1", "a100-big"}, 16},
		{"a800", []string{"a800-us-east1"}, 8},
		{"h100", nil, 0},
	}
	for _, tt := range tests {
		t.Run("type="+tt.gpuType, func(t *testing.T) {
			if diff := cmp.Diff(tt.wantPools, names(c.PoolsFor(tt.gpuType))); diff != "" {
				t.Errorf("PoolsFor (-want +got):\n%s", diff)
			}
			if got := c.MaxGPUsPerNode(tt.gpuType); got != tt.wantMax {
				t.Errorf("MaxGPUsPerNode = %d, want %d", got, tt.wantMax)
			}
		})
	}
	if diff := cmp.Diff([]string{"a100", "a800"}, c.GPUTypes()); diff != "" {
		t.Errorf("GPUTypes (-want +got):\n%s", diff)
	}
	d := Default()
	if got := d.GPUTypes(); len(got) != 0 {
		t.Errorf("GPUTypes of no pools = %v", got)
	}
}

func TestTimeLimits(t *testing.T) {
	c := helperConfig()
	c.Pools[1].MaxTimeLimit = Duration(3 * 24 * time.Hour)
	tests := []struct {
		pool             int
		wantDef, wantMax time.Duration
	}{
		{0, time.Hour, 7 * 24 * time.Hour},
		{1, time.Hour, 3 * 24 * time.Hour},
		{2, 2 * time.Hour, 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(c.Pools[tt.pool].Name, func(t *testing.T) {
			def, maxLimit := c.TimeLimits(&c.Pools[tt.pool])
			if def != tt.wantDef || maxLimit != tt.wantMax {
				t.Errorf("TimeLimits = %v, %v; want %v, %v", def, maxLimit, tt.wantDef, tt.wantMax)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo,
	} {
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("Log{Level: %q}.SlogLevel() = %v, want %v", level, got, want)
		}
	}
}
