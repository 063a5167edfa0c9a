package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/budget"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/logging"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/store"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// hook is a webhook receiver that keeps the alerts' ids.
type hook struct {
	mu  sync.Mutex
	ids []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p budget.Payload
	_ = json.Unmarshal(body, &p)
	h.mu.Lock()
	h.ids = append(h.ids, p.ID)
	h.mu.Unlock()
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, h.ids...)
}

// TestBudgetHardLimit runs gpuqd in-process over a store in which team sf
// has spent more than its budget this month: the 80% and 100% alerts are
// posted to the webhook once, even across a restart; sf's new job is held
// with reason Budget; raising the budget releases it.
func TestBudgetHardLimit(t *testing.T) {
	dir, err := os.MkdirTemp("", "gpuqd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()

	cfg := config.Default()
	cfg.Listen.TCP = ""
	cfg.Listen.Unix = filepath.Join(dir, "gpuqd.sock")
	cfg.DataDir = filepath.Join(dir, "data")
	sf := config.DefaultTeam()
	sf.Name, sf.Timezone, sf.HourlyRate, sf.MonthlyBudget = "sf", "UTC", 1000*money.Unit, 50*money.Unit
	tokyo := config.DefaultTeam()
	tokyo.Name, tokyo.Timezone = "tokyo", "Asia/Tokyo"
	cfg.Teams = []config.Team{sf, tokyo}
	pool := config.DefaultPool()
	pool.Name, pool.GPUType = "a100-us-west1", "a100"
	cfg.Pools = []config.Pool{pool}
	cfg.Budgets.HardLimit = true
	cfg.Budgets.WebhookURL = srv.URL + "/hook/SECRET"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// sf spent 8 GPUs x 1 minute at 1000.00 an hour this month: 133.33.
	now := time.Now().UTC()
	st, err := store.Open(store.Options{Dir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(tx *store.Tx) error {
		return tx.PutRecord(&gpuqv1.RunRecord{Job: job.Ref{ID: 1000}.Proto(), Team: "sf", User: "alice", Pool: pool.Name, GpuType: "a100",
			GpuCount: 8, StartTime: timestamppb.New(now.Add(-2 * time.Minute)), EndTime: timestamppb.New(now.Add(-time.Minute)),
			State: gpuqv1.JobState_JOB_STATE_COMPLETED, AllocationId: "1000.0.x"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	var logMu sync.Mutex
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ready := make(chan struct{})
		go func() {
			done <- Serve(ctx, cfg, logging.New(syncWriter{&logMu, &logs}, "info", "text"), func(net.Addr) { close(ready) })
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Serve: %v", err)
		case <-time.After(15 * time.Second):
			t.Fatal("gpuqd did not start")
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	stop := start()
	c, err := client.Dial("unix://"+cfg.Listen.Unix, client.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	want := []string{"sf/" + now.Format("2006-01") + "/80", "sf/" + now.Format("2006-01") + "/100"}
	waitFor(t, "the two alerts posted", func() bool { return len(h.got()) >= 2 })
	if got := h.got(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("posted %v, want %v", got, want)
	}

	spec := &gpuqv1.JobSpec{Name: "train", Team: "sf", User: "alice", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 1}, Script: []byte("#!/bin/sh\n")}
	res, err := c.Submit(ctx, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	other := &gpuqv1.JobSpec{Name: "eval", Team: "tokyo", User: "kenji", Gpus: spec.Gpus, Script: spec.Script}
	ores, err := c.Submit(ctx, other, "")
	if err != nil {
		t.Fatal(err)
	}
	reason := func(id uint64) string {
		jobs, err := c.Get(ctx, job.Ref{ID: id})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("get job %d: %v", id, err)
		}
		return jobs[0].Reason
	}
	if got := reason(res.JobId); got != "Budget" {
		t.Errorf("sf's new job: reason %q, want Budget", got)
	}
	waitFor(t, "tokyo's job to be scheduled", func() bool { return reason(ores.JobId) != "None" })
	if got := reason(ores.JobId); got == "Budget" {
		t.Errorf("tokyo's job: reason %q, want anything but Budget", got)
	}

	// alice may not release her own job past the budget, nor raise it.
	tok, err := c.CreateToken(ctx, "alice", "user", []string{"sf"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := client.Dial("unix://"+cfg.Listen.Unix, client.Security{Token: tok.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Release(ctx, &gpuqv1.JobFilter{Jobs: []*gpuqv1.JobRef{{Id: res.JobId}}}); !errors.Is(err, job.ErrPermissionDenied) {
		t.Errorf("alice releases her budget-held job: %v, want permission denied", err)
	}
	if _, err := alice.SetBudget(ctx, &gpuqv1.SetBudgetRequest{Team: "sf", MonthlyBudget: "100000"}); !errors.Is(err, job.ErrPermissionDenied) {
		t.Errorf("alice raises sf's budget: %v, want permission denied", err)
	}

	set, err := c.SetBudget(ctx, &gpuqv1.SetBudgetRequest{Team: "sf", MonthlyBudget: "100000"})
	if err != nil {
		t.Fatal(err)
	}
	if set.ReleasedJobs != 1 || !set.Budget.BudgetSetByOperator || set.Budget.Budget != "100000.00" {
		t.Errorf("SetBudget = %v", set)
	}
	waitFor(t, "sf's job released", func() bool { return reason(res.JobId) != "Budget" })

	// A restart sends nothing again, and keeps the operator's budget.
	c.Close()
	stop()
	stop = start()
	defer stop()
	c2, err := client.Dial("unix://"+cfg.Listen.Unix, client.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	budgets, err := c2.Budgets(ctx, &gpuqv1.BudgetsRequest{Teams: []string{"sf"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := budgets.Teams[0]; b.Budget != "100000.00" || len(b.AlertsRaised) != 2 {
		t.Errorf("after a restart: budget %s, alerts raised %v", b.Budget, b.AlertsRaised)
	}
	time.Sleep(500 * time.Millisecond)
	if got := h.got(); len(got) != 2 {
		t.Errorf("posted %v after a restart, want the same two", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the log shows the webhook URL's secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `msg="budget alert" team=sf`) {
		t.Errorf("no budget alert in the log:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
