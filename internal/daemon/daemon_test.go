package daemon

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/logging"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/sched"
)

func TestConfigPrintAppliesFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"gpuqd", "--config", "../../examples/gpuqd.yaml",
		"--data-dir", "/srv/gpuq", "--listen", "127.0.0.1:9999", "config", "print"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	cfg, err := config.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("config print output does not parse: %v\n%s", err, out.String())
	}
	if cfg.DataDir != "/srv/gpuq" || cfg.Listen.TCP != "127.0.0.1:9999" || len(cfg.Teams) != 3 {
		t.Errorf("effective config: data_dir %q, listen %q, %d teams", cfg.DataDir, cfg.Listen.TCP, len(cfg.Teams))
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(p, []byte("teams:\n  - name: sf\n    timezone: Europe/Berln\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"gpuqd", "--config", p, "config", "check"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), `teams[0].timezone`) || !strings.Contains(errOut.String(), "Europe/Berln") {
		t.Errorf("error does not name the field: %s", errOut.String())
	}
}

// TestServeNotifiesReadiness starts gpuqd in-process with NOTIFY_SOCKET set
// and reads READY=1 the way systemd would, then stops it.
func TestServeNotifiesReadiness(t *testing.T) {
	dir, err := os.MkdirTemp("", "gpuqd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	notifySock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifySock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", notifySock)

	cfg := config.Default()
	cfg.Listen.TCP = "127.0.0.1:0"
	cfg.Listen.Unix = filepath.Join(dir, "gpuqd.sock")
	cfg.DataDir = filepath.Join(dir, "data")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, logging.New(&bytes.Buffer{}, cfg.Log.Level, cfg.Log.Format), nil) }()

	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("notify socket read %q, %v; want READY=1", buf[:n], err)
	}
	if c, err := net.Dial("unix", cfg.Listen.Unix); err != nil {
		t.Errorf("gpuqd is ready but its socket does not answer: %v", err)
	} else {
		c.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(cfg.Listen.Unix); !os.IsNotExist(err) {
		t.Errorf("socket left behind after shutdown: %v", err)
	}
}

// TestSchedulingDefaults: the config's scheduling defaults are
// sched.DefaultPolicy's, and what a config sets reaches the policy.
func TestSchedulingDefaults(t *testing.T) {
	c := config.Default()
	_, got, err := Scheduling(&c)
	if err != nil {
		t.Fatal(err)
	}
	// All of sched.DefaultPolicy but what comes from elsewhere in the
	// config (time limits, the grace period).
	want := sched.DefaultPolicy()
	want.DefaultTimeLimit, want.PoolTimeLimit, want.Preemption.Grace = got.DefaultTimeLimit, got.PoolTimeLimit, got.Preemption.Grace
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("policy from the default config differs from sched.DefaultPolicy (-want +got):\n%s", diff)
	}

	c.Scheduling.MaxAge = config.Duration(48 * time.Hour)
	c.Scheduling.QOS = config.QOSLevels{"normal": 0, "urgent": 1}
	c.Scheduling.Backfill = config.Backfill{Enabled: false, ReserveTop: 3}
	if _, got, err = Scheduling(&c); err != nil {
		t.Fatal(err)
	}
	if got.MaxAge != 48*time.Hour || !cmp.Equal(got.QOS, map[string]float64{"normal": 0, "urgent": 1}) || got.Backfill || got.ReserveTop != 3 {
		t.Errorf("policy: max age %s, QOS %v, backfill %v, reserve top %d", got.MaxAge, got.QOS, got.Backfill, got.ReserveTop)
	}
	if r := Rules(&c); !cmp.Equal(r.QOS, []string{"normal", "urgent"}) {
		t.Errorf("rules: QOS %v", r.QOS)
	}

	c.Scheduling.Weights.TimeZone = 0
	c.Scheduling.Preemption = config.Preemption{Enabled: false, MinRuntime: config.Duration(time.Hour), MaxPerDay: 0}
	_, got, err = Scheduling(&c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Weights.TimeZone != 0 || got.Weights.FairShare != want.Weights.FairShare || got.Preemption.Enabled ||
		got.Preemption.MinRuntime != time.Hour || got.Preemption.MaxPerDay != 0 {
		t.Errorf("policy: weights %+v, preemption %+v", got.Weights, got.Preemption)
	}
}

// TestPricingFromExample: the example's pool bills reach the split.
func TestPricingFromExample(t *testing.T) {
	cfg, err := config.Load("../../examples/gpuqd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pools[1].MonthlyBill = 500 * money.Unit
	p := Pricing(&cfg)
	for _, tc := range []struct {
		pool  string
		month accounting.Month
		want  string
		ok    bool
	}{
		{"a100-us-west1", accounting.Month{Year: 2026, Month: time.November}, "14850.00", true},
		{"a100-us-west1", accounting.Month{Year: 2026, Month: time.December}, "0.00", false},
		{"a100-europe-west3", accounting.Month{Year: 2026, Month: time.December}, "500.00", true},
	} {
		if got, ok := p.Bill(tc.pool, tc.month); got.String() != tc.want || ok != tc.ok {
			t.Errorf("Bill(%s, %s) = %s, %v; want %s, %v", tc.pool, tc.month, got, ok, tc.want, tc.ok)
		}
	}
}
