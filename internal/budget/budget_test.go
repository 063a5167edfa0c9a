package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/store"
	"github.com/gpuq/gpuq/internal/webhook"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// fakeQueue holds records and counts the releases of budget holds.
type fakeQueue struct {
	mu       sync.Mutex
	w        *Watcher
	records  []*gpuqv1.RunRecord
	held     map[string]int // jobs held for the budget, by team
	released []string
}

func (q *fakeQueue) Runs(from, to time.Time, fn func(*accounting.Run) error) error {
	for _, r := range q.records {
		end := r.EndTime.AsTime()
		if !end.Before(from) && (to.IsZero() || end.Before(to)) {
			run := accounting.RunOf(r)
			if err := fn(&run); err != nil {
				return err
			}
		}
	}
	return nil
}

func (q *fakeQueue) Paused(fn func() error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return fn()
}

func (q *fakeQueue) ReleaseBudgetHolds(team string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.held[team]
	delete(q.held, team)
	if n > 0 {
		q.released = append(q.released, team)
	}
	return n, nil
}

// run records a run of hours GPU-hours of team ending at end, as the queue
// does: stored, then handed to the watcher with the writers' lock held.
func (q *fakeQueue) run(team string, hours int, end time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := &gpuqv1.RunRecord{Job: job.Ref{ID: uint64(len(q.records) + 1)}.Proto(), Team: team, Pool: "a100-us-west1", GpuType: "a100",
		GpuCount: 1, StartTime: timestamppb.New(end.Add(-time.Duration(hours) * time.Hour)), EndTime: timestamppb.New(end)}
	q.records = append(q.records, r)
	if q.w != nil {
		q.w.Recorded([]*gpuqv1.RunRecord{r})
	}
}

func (q *fakeQueue) hold(team string, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held[team] += n
}

// endpoint is a webhook receiver that answers code and keeps the payloads.
type endpoint struct {
	mu   sync.Mutex
	code int
	got  []Payload
	keys []string
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, p)
	e.keys = append(e.keys, r.Header.Get("Idempotency-Key"))
	w.WriteHeader(e.code)
}

func (e *endpoint) setCode(c int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.code = c
}

func (e *endpoint) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, p := range e.got {
		out = append(out, p.ID)
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// pricing: sf pays 5.00 a GPU-hour against a budget of 1000.00 (200
// GPU-hours), in Los Angeles; tokyo has no budget.
func pricing(t *testing.T) accounting.Pricing {
	return accounting.Pricing{
		Teams: []accounting.TeamPricing{
			{Name: "sf", HourlyRate: 5 * money.Unit, MonthlyBudget: 1000 * money.Unit, Shares: 1, Location: mustZone(t, "America/Los_Angeles")},
			{Name: "tokyo", HourlyRate: 5 * money.Unit, Shares: 1, Location: mustZone(t, "Asia/Tokyo")},
		},
		Pools: []accounting.PoolPricing{{Name: "a100-us-west1", GPUType: "a100", PricePerGPUHour: 2 * money.Unit, BillingWeight: 1}},
	}
}

// rig is a watcher over a real store, a fake queue and a real webhook
// sender posting to an httptest server.
type rig struct {
	t     *testing.T
	dir   string
	st    *store.Store
	q     *fakeQueue
	clock *clock
	ep    *endpoint
	srv   *httptest.Server
	logs  *bytes.Buffer
	w     *Watcher
}

const secretPath = "/services/T000/B000/SECRETTOKEN"

func newRig(t *testing.T, hardLimit bool) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), q: &fakeQueue{held: map[string]int{}}, ep: &endpoint{code: 200}, logs: &bytes.Buffer{},
		clock: &clock{t: time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)}}
	r.srv = httptest.NewServer(r.ep)
	t.Cleanup(r.srv.Close)
	r.open(hardLimit)
	return r
}

// open (re)starts the watcher over the rig's store, as gpuqd does at start.
func (r *rig) open(hardLimit bool) {
	r.t.Helper()
	if r.st != nil {
		if err := r.st.Close(); err != nil {
			r.t.Fatal(err)
		}
	}
	st, err := store.Open(store.Options{Dir: r.dir})
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
	r.t.Cleanup(func() { _ = st.Close() })
	hook, err := webhook.New(webhook.Options{URL: r.srv.URL + secretPath, Timeout: time.Second, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	w, err := New(Options{Pricing: pricing(r.t), HardLimit: hardLimit, Store: st, Webhook: hook, Now: r.clock.Now,
		Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	if err != nil {
		r.t.Fatal(err)
	}
	r.q.mu.Lock()
	r.q.w = nil
	r.q.mu.Unlock()
	if err := w.Load(context.Background(), r.q); err != nil {
		r.t.Fatal(err)
	}
	r.q.mu.Lock()
	r.q.w = w
	r.q.mu.Unlock()
	r.w = w
}

func (r *rig) check() {
	r.t.Helper()
	if err := r.w.Check(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// alerts lists the recorded alerts as "team month percent delivered attempts".
func (r *rig) alerts() []string {
	r.t.Helper()
	var out []string
	err := r.st.Alerts(func(a *gpuqv1.BudgetAlertEvent) error {
		out = append(out, strings.Join([]string{a.Team, a.Month, strconv.Itoa(int(a.Percent)), a.Spent,
			map[bool]string{true: "delivered", false: "pending"}[a.DeliveredAt != nil]}, " "))
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func TestAlertsRaisedOnceAndDelivered(t *testing.T) {
	r := newRig(t, false)
	steps := []struct {
		name       string
		hours      int // GPU-hours of sf that end now, at 5.00
		want       []string
		wantPosted []string
	}{
		{"under 80%", 150, nil, nil},
		{"80%", 10, []string{"sf 2026-11 80 800.00 delivered"}, []string{"sf/2026-11/80"}},
		{"still 80%", 30, []string{"sf 2026-11 80 800.00 delivered"}, []string{"sf/2026-11/80"}},
		{"100%", 10, []string{"sf 2026-11 80 800.00 delivered", "sf 2026-11 100 1000.00 delivered"},
			[]string{"sf/2026-11/80", "sf/2026-11/100"}},
		{"more", 100, []string{"sf 2026-11 80 800.00 delivered", "sf 2026-11 100 1000.00 delivered"},
			[]string{"sf/2026-11/80", "sf/2026-11/100"}},
	}
	for _, s := range steps {
		r.clock.set(r.clock.Now().Add(time.Hour))
		r.q.run("sf", s.hours, r.clock.Now())
		r.q.run("tokyo", 1000, r.clock.Now()) // no budget: no alert
		r.check()
		if diff := cmp.Diff(s.want, r.alerts()); diff != "" {
			t.Errorf("%s: alerts (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.wantPosted, r.ep.received()); diff != "" {
			t.Errorf("%s: posted (-want +got):\n%s", s.name, diff)
		}
	}

	// A restart neither raises nor sends them again.
	r.open(false)
	r.check()
	if got := len(r.alerts()); got != 2 {
		t.Errorf("%d alerts after a restart, want 2", got)
	}
	if diff := cmp.Diff([]string{"sf/2026-11/80", "sf/2026-11/100"}, r.ep.received()); diff != "" {
		t.Errorf("posted after a restart (-want +got):\n%s", diff)
	}

	r.ep.mu.Lock()
	got := r.ep.got[1]
	keys := r.ep.keys
	r.ep.mu.Unlock()
	want := Payload{Type: "gpuq.budget_alert", ID: "sf/2026-11/100", Team: "sf", Month: "2026-11", TimeZone: "America/Los_Angeles",
		ThresholdPercent: 100, Budget: "1000.00", Spent: "1000.00", SpentPercent: "100.00", RaisedAt: time.Date(2026, 11, 16, 4, 0, 0, 0, time.UTC),
		Text: "gpuq: team sf has spent 1000.00 of its 1000.00 budget for 2026-11 (100.00%), reaching the 100% alert."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gpuq-budget/sf/2026-11/80", "gpuq-budget/sf/2026-11/100"}, keys); diff != "" {
		t.Errorf("idempotency keys (-want +got):\n%s", diff)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, `msg="budget alert" team=sf month=2026-11 percent=80`) {
		t.Errorf("no log line of the 80%% alert in:\n%s", logs)
	}
	if strings.Contains(logs, "SECRET") || strings.Contains(logs, "/services") {
		t.Errorf("the logs show the webhook URL's secret:\n%s", logs)
	}
}

func TestAlertRetriedUntilDelivered(t *testing.T) {
	r := newRig(t, false)
	r.ep.setCode(http.StatusServiceUnavailable)
	r.q.run("sf", 170, r.clock.Now())
	if err := r.w.Check(context.Background()); err != nil {
		t.Fatal(err) // a failed delivery is logged and kept, not an error of the check
	}
	got := r.w.Alerts(nil, "")
	if len(got) != 1 || got[0].DeliveredAt != nil || got[0].DeliveryAttempts != 2 || !strings.Contains(got[0].DeliveryError, "503") {
		t.Fatalf("after a failed delivery: %v", got)
	}
	if strings.Contains(got[0].DeliveryError, "SECRET") {
		t.Errorf("delivery error shows the URL's secret: %q", got[0].DeliveryError)
	}
	// Down over a restart too: the next check after it tries again.
	r.open(false)
	r.ep.setCode(http.StatusOK)
	r.check()
	got = r.w.Alerts([]string{"sf"}, "2026-11")
	if len(got) != 1 || got[0].DeliveredAt == nil || got[0].DeliveryAttempts != 3 || got[0].DeliveryError != "" {
		t.Fatalf("after the retry: %v", got)
	}
	if n := len(r.ep.received()); n != 3 {
		t.Errorf("the endpoint got %d posts, want 3", n)
	}
	// An alert of a month that has ended is not sent any more.
	r.ep.setCode(http.StatusServiceUnavailable)
	r.clock.set(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	r.q.run("tokyo", 1, r.clock.Now())
	r.check()
	r.clock.set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	r.ep.setCode(http.StatusOK)
	if err := r.st.PutAlert(&gpuqv1.BudgetAlertEvent{Team: "sf", Month: "2026-11", Percent: 100}); err != nil {
		t.Fatal(err)
	}
	r.open(false)
	r.check()
	if n := len(r.ep.received()); n != 3 {
		t.Errorf("the endpoint got %d posts, want still 3: November's alert is not sent in December", n)
	}
}

func TestHardLimit(t *testing.T) {
	r := newRig(t, true)
	r.q.run("sf", 199, r.clock.Now())
	r.check()
	if r.w.OverBudget("sf") {
		t.Fatal("over budget at 995.00 of 1000.00")
	}
	r.q.run("sf", 1, r.clock.Now())
	r.check()
	if !r.w.OverBudget("sf") || r.w.OverBudget("tokyo") {
		t.Fatalf("OverBudget: sf %v, tokyo %v; want true, false", r.w.OverBudget("sf"), r.w.OverBudget("tokyo"))
	}
	alerts := r.w.Alerts(nil, "")
	if len(alerts) != 2 || !alerts[1].HardLimit || alerts[0].HardLimit {
		t.Errorf("alerts = %v; want the 100%% one with hard_limit", alerts)
	}
	r.q.hold("sf", 3) // the queue held three new jobs

	// Still over after a restart.
	r.open(true)
	if !r.w.OverBudget("sf") {
		t.Fatal("not over budget after a restart")
	}

	for _, tc := range []struct {
		name         string
		amount       money.Amount
		clear        bool
		wantOver     bool
		wantReleased int
		wantBudget   string
		wantOperator bool
	}{
		{"raised", 1500 * money.Unit, false, false, 3, "1500.00", true},
		{"lowered again", 900 * money.Unit, false, true, 0, "900.00", true},
		{"back to the config", 0, true, true, 0, "1000.00", false},
		{"no budget", 0, false, false, 0, "0.00", true},
	} {
		b, released, err := r.w.SetBudget("sf", tc.amount, tc.clear)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if released != tc.wantReleased || b.Budget.String() != tc.wantBudget || r.w.OverBudget("sf") != tc.wantOver || r.w.SetByOperator("sf") != tc.wantOperator {
			t.Errorf("%s: released %d, budget %s, over %v, by operator %v; want %d, %s, %v, %v", tc.name, released, b.Budget,
				r.w.OverBudget("sf"), r.w.SetByOperator("sf"), tc.wantReleased, tc.wantBudget, tc.wantOver, tc.wantOperator)
		}
	}
	// The operator's budget is durable.
	r.open(true)
	pr := r.w.Pricing()
	if p, _ := pr.Team("sf"); p.MonthlyBudget != 0 || !r.w.SetByOperator("sf") {
		t.Errorf("after a restart: budget %s, by operator %v; want 0.00 set by an operator", p.MonthlyBudget, r.w.SetByOperator("sf"))
	}
	// Only two alerts this month, whatever the budget did.
	if n := len(r.w.Alerts(nil, "2026-11")); n != 2 {
		t.Errorf("%d alerts, want 2", n)
	}

	for _, tc := range []struct {
		team   string
		amount money.Amount
		field  string
	}{{"nobody", money.Unit, "team"}, {"sf", -money.Unit, "monthly_budget"}, {"sf", money.Cent / 2, "monthly_budget"}} {
		_, _, err := r.w.SetBudget(tc.team, tc.amount, false)
		var fe *job.FieldError
		if !errorsAs(err, &fe) || fe.Field != tc.field {
			t.Errorf("SetBudget(%s, %s) = %v, want a FieldError on %s", tc.team, tc.amount, err, tc.field)
		}
	}
}

func TestNewMonthReleases(t *testing.T) {
	r := newRig(t, true)
	// 2026-11-30 20:00 in Los Angeles.
	r.clock.set(time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC))
	r.q.run("sf", 200, r.clock.Now())
	r.check()
	if !r.w.OverBudget("sf") {
		t.Fatal("not over budget")
	}
	r.q.hold("sf", 2)
	// A run across midnight in Los Angeles: 2 of its 4 hours are December's.
	r.clock.set(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	r.q.run("sf", 4, r.clock.Now())
	r.check()
	if r.w.OverBudget("sf") {
		t.Error("over budget in a new month")
	}
	r.q.mu.Lock()
	released := r.q.released
	r.q.mu.Unlock()
	if diff := cmp.Diff([]string{"sf"}, released); diff != "" {
		t.Errorf("released (-want +got):\n%s", diff)
	}
	b, _, err := r.w.SetBudget("sf", 1000*money.Unit, false)
	if err != nil {
		t.Fatal(err)
	}
	if b.Month.String() != "2026-12" || b.Spent.String() != "10.00" {
		t.Errorf("December: month %s spent %s, want 2026-12 and 10.00", b.Month, b.Spent)
	}
}

func errorsAs(err error, target **job.FieldError) bool { return errors.As(err, target) }
