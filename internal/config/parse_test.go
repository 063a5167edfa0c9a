package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// examplesDir holds the configs shipped with gpuq, relative to this package.
const examplesDir = "../../examples"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func() Config
	}{
		{"empty", "", Default},
		{"comments only", "# nothing set\n", Default},
		{"null document", "~\n", Default},
		{"empty mapping", "{}\n", Default},
		{"top-level keys merge over defaults", "listen:\n  tcp: \"\"\nlog: {level: debug}\ndefaults: {grace_period: 60}\n", func() Config {
			c := Default()
			c.Listen.TCP = ""
			c.Log.Level = "debug"
			c.Defaults.GracePeriod = Duration(time.Minute)
			return c
		}},
		{"null keeps the default", "data_dir: ~\nlisten:\ndefaults:\n  time_limit:\n", Default},
		{"team and pool defaults", `
teams:
  - name: sf
    timezone: America/Los_Angeles
pools:
  - name: p
    gpu_type: a100
`, func() Config {
			c := Default()
			sf := DefaultTeam()
			sf.Name, sf.Timezone = "sf", "America/Los_Angeles"
			c.Teams = []Team{sf}
			p := DefaultPool()
			p.Name, p.GPUType = "p", "a100"
			c.Pools = []Pool{p}
			return c
		}},
		{"keys set are kept, null ones defaulted", `
teams:
  - name: night
    timezone: UTC
    working_hours: {start: "22:00"}
    working_days: [sat, sun]
    shares: 2.5
    holidays: []
    users: []
  - name: nulls
    timezone: UTC
    working_hours: ~
    working_days: ~
    shares: ~
pools:
  - {name: p, gpu_type: h100, gpus_per_node: 4, billing_weight: 2, max_time_limit: 2d}
  - {name: q, gpu_type: h100, gpus_per_node: ~, billing_weight: ~}
`, func() Config {
			c := Default()
			c.Teams = []Team{
				{Name: "night", Timezone: "UTC", WorkingHours: WorkingHours{"22:00", "18:00"}, WorkingDays: []string{"sat", "sun"}, Shares: 2.5},
				DefaultTeam(),
			}
			c.Teams[1].Name, c.Teams[1].Timezone = "nulls", "UTC"
			p, q := DefaultPool(), DefaultPool()
			p.Name, p.GPUType, p.GPUsPerNode, p.BillingWeight, p.MaxTimeLimit = "p", "h100", 4, 2, Duration(48*time.Hour)
			q.Name, q.GPUType = "q", "h100"
			c.Pools = []Pool{p, q}
			return c
		}},
		{"money and durations in every form", `
teams:
  - {name: a, timezone: UTC, hourly_rate: "3.50", monthly_budget: 20000}
pools:
  - {name: p, gpu_type: a100, price_per_gpu_hour: 2.9, default_time_limit: 7200, max_time_limit: 1d12h}
`, func() Config {
			c := Default()
			a := DefaultTeam()
			a.Name, a.Timezone, a.HourlyRate, a.MonthlyBudget = "a", "UTC", 3_500_000, 20_000_000_000
			c.Teams = []Team{a}
			p := DefaultPool()
			p.Name, p.GPUType, p.PricePerGPUHour = "p", "a100", 2_900_000
			p.DefaultTimeLimit, p.MaxTimeLimit = Duration(2*time.Hour), Duration(36*time.Hour)
			c.Pools = []Pool{p}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want(), got, ignoreLoc); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMergeKeys(t *testing.T) {
	in := `
defaults: &d
  time_limit: 2h
  max_time_limit: 3d
  grace_period: 60s
  kill_wait: 10s
teams:
  - &sf
    name: sf
    timezone: America/Los_Angeles
    shares: 3
  - <<: *sf
    name: sf2
  - <<: [{shares: 5, working_days: [mon]}, *sf]
    name: sf3
    timezone: UTC
`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Name   string
		Zone   string
		Shares float64
		Days   []string
	}
	var sums []summary
	for _, tm := range got.Teams {
		sums = append(sums, summary{tm.Name, tm.Timezone, tm.Shares, tm.WorkingDays})
	}
	want := []summary{
		{"sf", "America/Los_Angeles", 3, DefaultTeam().WorkingDays},
		{"sf2", "America/Los_Angeles", 3, DefaultTeam().WorkingDays},
		{"sf3", "UTC", 5, []string{"mon"}},
	}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("teams (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the error, or for validation errors a substring
	}{
		{"unknown top-level key", "listen: {}\ndatadir: /x\n",
			"yaml: unmarshal errors:\n  line 2: field datadir not found in type config.Config"},
		{"unknown team key", "teams:\n  - name: sf\n    timezone: UTC\n    timzone: UTC\n",
			"yaml: unmarshal errors:\n  line 4: field timzone not found in type config.Team"},
		{"unknown nested key", "teams:\n  - name: sf\n    working_hours: {begin: \"09:00\"}\n",
			"yaml: unmarshal errors:\n  line 3: field begin not found in type config.WorkingHours"},
		{"every decode error", "data_dir: [x]\npools:\n  - {name: p, gpu_type: a100, price_per_gpu_hour: 1.0000001, gpus_per_node: eight}\ndefaults: {time_limit: forever}\n",
			"yaml: unmarshal errors:\n" +
				"  line 1: cannot unmarshal !!seq into string\n" +
				"  line 3: parse amount \"1.0000001\": more than 6 decimal places (want a decimal such as 3.50)\n" +
				"  line 3: cannot unmarshal !!str `eight` into int\n" +
				"  line 4: invalid duration \"forever\": not a duration (want a duration such as 300s, 1h30m or 7d, or whole seconds)"},
		{"duplicate key", "data_dir: /a\ndata_dir: /b\n",
			`yaml: unmarshal errors:` + "\n" + `  line 2: mapping key "data_dir" already defined at line 1`},
		{"syntax", "teams: [\n", "yaml: line 1: did not find expected node content"},
		{"not a mapping", "- a\n", "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into config.Config"},
		{"two documents", "data_dir: /a\n---\ndata_dir: /b\n", "yaml: line 2: a second document; a config is one document"},
		{"explicit zero is not defaulted", "teams:\n  - {name: a, timezone: UTC, shares: 0, working_days: []}\npools:\n  - {name: p, gpu_type: a100, gpus_per_node: 0, billing_weight: 0}\n",
			"teams[0].working_days: must name at least one day\n" +
				"teams[0].shares: must be greater than 0, got 0\n" +
				"pools[0].gpus_per_node: must be from 1 to 64, got 0\n" +
				"pools[0].billing_weight: must be greater than 0, got 0"},
		{"nan and inf", "teams:\n  - {name: a, timezone: UTC, shares: .nan}\npools:\n  - {name: p, gpu_type: a100, billing_weight: .inf}\n",
			"teams[0].shares: must be a finite number, got NaN\npools[0].billing_weight: must be a finite number, got +Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", got)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseValidationError(t *testing.T) {
	in := "teams:\n  - {name: sf, timezone: America/Los_Angeles}\n  - {name: sf, timezone: Europe/Berln}\n"
	_, err := Parse([]byte(in))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error %v is not a *ValidationError", err)
	}
	want := []Problem{
		{"teams[1].name", `duplicate team "sf"`},
		{"teams[1].timezone", `unknown zone "Europe/Berln"`},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v; want a not-exist error naming %s", err, missing)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("data_dir: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) = %v; want a *ValidationError naming %s", err, bad)
	}
}

// TestMarshalRoundTrip checks that Parse reads back what Marshal writes, for
// configs with every key set and with keys left at zero.
func TestMarshalRoundTrip(t *testing.T) {
	full := valid()
	full.Listen.Unix = ""
	full.Teams[0].Holidays = []string{"2026-12-25"}
	full.Teams[0].HourlyRate = 3_500_000
	full.Teams[0].MonthlyBudget = 1
	full.Teams[0].Users = []string{"alice"}
	full.Teams[1].WorkingHours = WorkingHours{"22:00", "06:00"}
	full.Teams[1].Shares = 0.25
	full.Pools[0].DefaultTimeLimit = Duration(90 * time.Minute)
	full.Pools[0].MaxTimeLimit = Duration(36 * time.Hour)
	full.Pools[1].BillingWeight = 1e-3
	full.Defaults.Team = "sf"
	for name, c := range map[string]Config{"default": Default(), "valid": valid(), "full": full} {
		t.Run(name, func(t *testing.T) {
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
			}
			if diff := cmp.Diff(c, got, ignoreLoc); diff != "" {
				t.Errorf("round trip (-want +got):\n%s\n%s", diff, out)
			}
		})
	}
}

// gpuqdExamples returns the gpuqd configs under examples/: the files named
// gpuqd.yaml or gpuqd-*.yaml. Other YAML files there belong to other
// programs.
func gpuqdExamples(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"gpuqd.yaml", "gpuqd-*.yaml"} {
		m, err := filepath.Glob(filepath.Join(examplesDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 || filepath.Base(paths[0]) != "gpuqd.yaml" {
		t.Fatalf("no %s/gpuqd.yaml", examplesDir)
	}
	return paths
}

func TestExamples(t *testing.T) {
	for _, path := range gpuqdExamples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Teams) == 0 || len(c.Pools) == 0 {
				t.Errorf("%s has %d teams and %d pools; an example should show both", path, len(c.Teams), len(c.Pools))
			}
		})
	}
}

// TestExampleGolden checks what `gpuqd config print` shows for the shipped
// example. Run `go test ./internal/config -run Golden -update` to rewrite
// testdata/gpuqd.golden.yaml, and read the diff before committing it.
func TestExampleGolden(t *testing.T) {
	c, err := Load(filepath.Join(examplesDir, "gpuqd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "gpuqd.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Marshal(Load(examples/gpuqd.yaml)) differs from %s (-want +got):\n%s", golden, diff)
	}

	// The example is what the three teams run: check what it says, not
	// only that it parses.
	type team struct {
		Zone, Rate, Region string
	}
	gotTeams := map[string]team{}
	for _, tm := range c.Teams {
		gotTeams[tm.Name] = team{tm.Location().String(), tm.HourlyRate.String(), tm.PreferredRegion}
	}
	wantTeams := map[string]team{
		"sf":     {"America/Los_Angeles", "3.50", "us-west1"},
		"berlin": {"Europe/Berlin", "3.20", "europe-west3"},
		"tokyo":  {"Asia/Tokyo", "3.80", "asia-northeast1"},
	}
	if diff := cmp.Diff(wantTeams, gotTeams); diff != "" {
		t.Errorf("teams (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a100", "a800"}, c.GPUTypes()); diff != "" {
		t.Errorf("GPUTypes (-want +got):\n%s", diff)
	}
}
