package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Store is what the watcher keeps durably; *store.Store has it.
type Store interface {
	Alerts(fn func(*gpuqv1.BudgetAlertEvent) error) error
	PutAlert(a *gpuqv1.BudgetAlertEvent) error
	BudgetOverrides() (map[string]*gpuqv1.BudgetOverride, error)
	PutBudgetOverride(o *gpuqv1.BudgetOverride) error
	DeleteBudgetOverride(team string) error
}

// Queue is what the watcher needs of the queue; *queue.Queue has it.
type Queue interface {
	// Runs calls fn for the run of every record that ended in [from, to);
	// a zero to means no upper bound. fn must not keep the run.
	Runs(from, to time.Time, fn func(*accounting.Run) error) error
	// Paused runs fn while no writer runs: no record is written, and so
	// none is handed to Recorded, while fn runs.
	Paused(fn func() error) error
	// ReleaseBudgetHolds releases the team's jobs held with reason Budget
	// and returns how many it released.
	ReleaseBudgetHolds(team string) (int, error)
}

// Poster delivers alerts; *webhook.Sender has it.
type Poster interface {
	// Post sends body as JSON and returns how many attempts it made.
	Post(ctx context.Context, id string, body any) (int, error)
	// Endpoint names the receiver in a form safe to log.
	Endpoint() string
}

// Options configure a Watcher.
type Options struct {
	// Pricing holds the teams' budgets, rates and zones from the config.
	Pricing accounting.Pricing
	// HardLimit holds the new jobs of a team at or over its budget.
	HardLimit bool
	Store     Store
	// Webhook receives the alerts; nil for none.
	Webhook Poster
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Interval is how often Run checks besides when runs end (default 1m).
	Interval time.Duration
}

// ErrNotLoaded is a Watcher used before Load.
var ErrNotLoaded = errors.New("budget watcher not loaded")

type alertKey struct {
	team, month string
	percent     uint32
}

func keyOf(a *gpuqv1.BudgetAlertEvent) alertKey { return alertKey{a.Team, a.Month, a.Percent} }

// id names an alert in the webhook's idempotency key: sf/2026-11/80.
func (k alertKey) id() string { return fmt.Sprintf("%s/%s/%d", k.team, k.month, k.percent) }

// Watcher watches the budgets. Create it with New, Load it, then Run it.
type Watcher struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}

	// checkMu serialises the checks.
	checkMu sync.Mutex
	// deliverMu serialises the deliveries.
	deliverMu sync.Mutex

	// mu guards the fields below. Lock order: the queue's writers' lock,
	// then mu (Recorded is called with the first held).
	mu        sync.RWMutex
	q         Queue
	pricing   accounting.Pricing // the config's, with the operators' budgets
	overrides map[string]*gpuqv1.BudgetOverride
	spending  *accounting.Spending
	alerts    map[alertKey]*gpuqv1.BudgetAlertEvent // each replaced, never changed
	// limited holds the teams whose new jobs are held; a team not in it
	// has not been checked yet.
	limited map[string]bool
}

// New returns a watcher; Load it before use.
func New(opts Options) (*Watcher, error) {
	if opts.Store == nil {
		return nil, errors.New("budget watcher: no store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	return &Watcher{
		opts: opts, log: opts.Logger, kick: make(chan struct{}, 1),
		pricing: opts.Pricing, alerts: map[alertKey]*gpuqv1.BudgetAlertEvent{}, limited: map[string]bool{},
	}, nil
}

// Load reads the operators' budgets and the alerts raised from the store,
// and the records of the teams' current months from q, then checks the
// budgets once (which releases the Budget holds of teams under their
// budgets). Call it before the queue runs.
func (w *Watcher) Load(ctx context.Context, q Queue) error {
	overrides, err := w.opts.Store.BudgetOverrides()
	if err != nil {
		return fmt.Errorf("load budgets: %w", err)
	}
	alerts := map[alertKey]*gpuqv1.BudgetAlertEvent{}
	err = w.opts.Store.Alerts(func(a *gpuqv1.BudgetAlertEvent) error {
		alerts[keyOf(a)] = a
		return nil
	})
	if err != nil {
		return fmt.Errorf("load budget alerts: %w", err)
	}
	now := w.opts.Now()
	err = q.Paused(func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.q, w.overrides, w.alerts = q, overrides, alerts
		w.pricing = w.withOverrides()
		w.spending = accounting.NewSpending(w.pricing, now)
		return q.Runs(w.spending.From(), time.Time{}, func(r *accounting.Run) error {
			w.spending.AddRun(r)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load budgets: read this month's records: %w", err)
	}
	_, err = w.evaluate()
	return err
}

// withOverrides is the config's pricing with the operators' budgets. The
// caller holds mu.
func (w *Watcher) withOverrides() accounting.Pricing {
	p := w.opts.Pricing
	p.Teams = slices.Clone(p.Teams)
	for i := range p.Teams {
		o, ok := w.overrides[p.Teams[i].Name]
		if !ok {
			continue
		}
		a, err := money.Parse(o.MonthlyBudget)
		if err != nil {
			w.log.Warn("ignoring a stored budget that does not parse", "team", o.Team, "err", err)
			continue
		}
		p.Teams[i].MonthlyBudget = a
	}
	return p
}

// Recorded counts the records of runs that just ended and asks for a
// check. The queue calls it after each commit, with its writers' lock held;
// it does not call the queue.
func (w *Watcher) Recorded(recs []*gpuqv1.RunRecord) {
	w.mu.Lock()
	if w.spending != nil {
		for _, r := range recs {
			w.spending.Add(r)
		}
	}
	w.mu.Unlock()
	w.Kick()
}

// Kick asks Run for a check soon.
func (w *Watcher) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// OverBudget reports whether the team's new jobs are to be held: the hard
// limit is on and the team has spent its whole budget.
func (w *Watcher) OverBudget(team string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.limited[team]
}

// HardLimit reports whether the hard limit is on.
func (w *Watcher) HardLimit() bool { return w.opts.HardLimit }

// Pricing is the config's pricing with the operators' budgets.
func (w *Watcher) Pricing() accounting.Pricing {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.pricing
}

// SetByOperator reports whether the team's budget was set by SetBudget.
func (w *Watcher) SetByOperator(team string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	_, ok := w.overrides[team]
	return ok
}

// Alerts returns the alerts raised, by month, team and threshold: those of
// teams (every team when empty) in month (every month when "").
func (w *Watcher) Alerts(teams []string, month string) []*gpuqv1.BudgetAlertEvent {
	w.mu.RLock()
	var out []*gpuqv1.BudgetAlertEvent
	for k, a := range w.alerts {
		if (month == "" || k.month == month) && (len(teams) == 0 || slices.Contains(teams, k.team)) {
			out = append(out, a)
		}
	}
	w.mu.RUnlock()
	slices.SortFunc(out, func(a, b *gpuqv1.BudgetAlertEvent) int {
		return cmpOr(strings.Compare(a.Month, b.Month), strings.Compare(a.Team, b.Team), int(a.Percent)-int(b.Percent))
	})
	return out
}

func cmpOr(c ...int) int {
	for _, x := range c {
		if x != 0 {
			return x
		}
	}
	return 0
}

// Run checks the budgets when runs end and every Interval, and delivers
// the alerts, until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	tick := time.NewTicker(w.opts.Interval)
	defer tick.Stop()
	for {
		if err := w.Check(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("check budgets", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.kick:
		}
	}
}

// Check checks the budgets now: it starts new months, raises and records
// the alerts reached, holds or releases, and delivers the alerts the
// webhook has not taken.
func (w *Watcher) Check(ctx context.Context) error {
	if _, err := w.evaluate(); err != nil {
		return err
	}
	return w.deliver(ctx)
}

// evaluate runs one check without the deliveries and returns how many jobs
// it released by team.
func (w *Watcher) evaluate() (map[string]int, error) {
	w.checkMu.Lock()
	defer w.checkMu.Unlock()
	w.mu.RLock()
	q, s := w.q, w.spending
	w.mu.RUnlock()
	if q == nil {
		return nil, ErrNotLoaded
	}
	now := w.opts.Now()
	if err := w.roll(q, now); err != nil {
		return nil, err
	}

	w.mu.RLock()
	budgets := s.Budgets(now)
	crossings := accounting.Crossings(budgets, func(team string, m accounting.Month, pct uint32) bool {
		_, ok := w.alerts[alertKey{team, m.String(), pct}]
		return ok
	})
	w.mu.RUnlock()

	var errs []error
	for _, c := range crossings {
		if err := w.raise(c, now); err != nil {
			errs = append(errs, err)
		}
	}
	released := map[string]int{}
	for _, b := range budgets {
		limited := w.opts.HardLimit && b.Over()
		w.mu.Lock()
		was, known := w.limited[b.Team]
		w.limited[b.Team] = limited
		w.mu.Unlock()
		switch {
		case limited && (!known || !was):
			w.log.Warn("team over its budget: its new jobs are held", "team", b.Team, "month", b.Month.String(),
				"spent", b.Spent.String(), "budget", b.Budget.String())
		case !limited && (!known || was):
			// Under its budget again, or the first check since gpuqd
			// started: release what the limit held.
			n, err := q.ReleaseBudgetHolds(b.Team)
			if err != nil {
				errs = append(errs, fmt.Errorf("release the budget holds of team %s: %w", b.Team, err))
				w.mu.Lock()
				delete(w.limited, b.Team) // try again at the next check
				w.mu.Unlock()
				continue
			}
			released[b.Team] = n
			if n > 0 {
				w.log.Info("released jobs held for the budget", "team", b.Team, "jobs", n)
			}
		}
	}
	return released, errors.Join(errs...)
}

// roll starts the new month of each team whose month has ended, and counts
// the records that belong in it, with the queue's writers paused so that
// no record is counted twice or missed.
func (w *Watcher) roll(q Queue, now time.Time) error {
	w.mu.RLock()
	current := w.spending.Current(now)
	w.mu.RUnlock()
	if current {
		return nil
	}
	return q.Paused(func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		r := w.spending.Roll(now)
		if r == nil {
			return nil
		}
		w.log.Info("new budget month", "teams", strings.Join(r.Teams(), ","))
		err := q.Runs(r.From(), time.Time{}, func(run *accounting.Run) error {
			r.AddRun(run)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read the records of the new month: %w", err)
		}
		return nil
	})
}

// raise records a new alert, then logs it.
func (w *Watcher) raise(c accounting.Crossing, now time.Time) error {
	b := c.Budget
	a := &gpuqv1.BudgetAlertEvent{
		Team: b.Team, Month: b.Month.String(), TimeZone: b.Location.String(), Percent: c.Percent,
		Budget: b.Budget.String(), Spent: b.Spent.String(), SpentBp: uint64(b.SpentBP),
		RaisedAt: timestamppb.New(now), HardLimit: w.opts.HardLimit && c.Percent >= accounting.ExceededPercent,
	}
	if err := w.opts.Store.PutAlert(a); err != nil {
		return fmt.Errorf("record the %d%% budget alert of team %s: %w", c.Percent, b.Team, err)
	}
	w.mu.Lock()
	w.alerts[keyOf(a)] = a
	w.mu.Unlock()
	w.log.Warn("budget alert", "team", a.Team, "month", a.Month, "percent", a.Percent,
		"spent", a.Spent, "budget", a.Budget, "hard_limit", a.HardLimit)
	return nil
}

// deliver posts the alerts of the teams' current months that the webhook
// has not taken, one at a time, and records each attempt.
func (w *Watcher) deliver(ctx context.Context) error {
	if w.opts.Webhook == nil {
		return nil
	}
	w.deliverMu.Lock()
	defer w.deliverMu.Unlock()
	var pending []*gpuqv1.BudgetAlertEvent
	w.mu.RLock()
	months := map[string]string{}
	for _, b := range w.spending.Budgets(w.opts.Now()) {
		months[b.Team] = b.Month.String()
	}
	for k, a := range w.alerts {
		if a.DeliveredAt == nil && months[k.team] == k.month {
			pending = append(pending, a)
		}
	}
	w.mu.RUnlock()
	slices.SortFunc(pending, func(a, b *gpuqv1.BudgetAlertEvent) int {
		return cmpOr(a.RaisedAt.AsTime().Compare(b.RaisedAt.AsTime()), strings.Compare(a.Team, b.Team), int(a.Percent)-int(b.Percent))
	})
	var errs []error
	for _, a := range pending {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		k := keyOf(a)
		n, err := w.opts.Webhook.Post(ctx, "gpuq-budget/"+k.id(), payloadOf(a))
		next := proto.CloneOf(a)
		next.DeliveryAttempts += uint32(n)
		if err != nil {
			next.DeliveryError = err.Error()
			w.log.Warn("budget alert not delivered", "team", a.Team, "month", a.Month, "percent", a.Percent,
				"webhook", w.opts.Webhook.Endpoint(), "attempts", next.DeliveryAttempts, "err", err)
		} else {
			next.DeliveredAt, next.DeliveryError = timestamppb.New(w.opts.Now()), ""
			w.log.Info("budget alert delivered", "team", a.Team, "month", a.Month, "percent", a.Percent,
				"webhook", w.opts.Webhook.Endpoint(), "attempts", next.DeliveryAttempts)
		}
		if err := w.opts.Store.PutAlert(next); err != nil {
			errs = append(errs, fmt.Errorf("record the delivery of budget alert %s: %w", k.id(), err))
			continue
		}
		w.mu.Lock()
		w.alerts[k] = next
		w.mu.Unlock()
	}
	return errors.Join(errs...)
}

// SetBudget sets the team's monthly budget in place of the config's, or
// with clear goes back to the config's, durably; then checks the budgets.
// It returns the team's budget now and how many of its jobs held for the
// budget it released. An unknown team or a bad amount is a
// *job.FieldError.
func (w *Watcher) SetBudget(team string, amount money.Amount, clear bool) (accounting.Budget, int, error) {
	if _, ok := w.opts.Pricing.Team(team); !ok {
		return accounting.Budget{}, 0, &job.FieldError{Field: "team", Problem: fmt.Sprintf("no team %q in the config", team)}
	}
	switch {
	case clear:
	case amount < 0:
		return accounting.Budget{}, 0, &job.FieldError{Field: "monthly_budget", Problem: fmt.Sprintf("must not be negative, got %s", amount)}
	case amount%money.Cent != 0:
		return accounting.Budget{}, 0, &job.FieldError{Field: "monthly_budget", Problem: fmt.Sprintf("must be whole cents, got %s", amount)}
	}
	w.checkMu.Lock()
	var err error
	o := &gpuqv1.BudgetOverride{Team: team, MonthlyBudget: amount.String(), SetAt: timestamppb.New(w.opts.Now())}
	if clear {
		err = w.opts.Store.DeleteBudgetOverride(team)
	} else {
		err = w.opts.Store.PutBudgetOverride(o)
	}
	if err != nil {
		w.checkMu.Unlock()
		return accounting.Budget{}, 0, fmt.Errorf("set the budget of team %s: %w", team, err)
	}
	w.mu.Lock()
	if w.overrides == nil {
		w.overrides = map[string]*gpuqv1.BudgetOverride{}
	}
	if clear {
		delete(w.overrides, team)
	} else {
		w.overrides[team] = o
	}
	w.pricing = w.withOverrides()
	if w.spending != nil {
		w.spending.SetPricing(w.pricing)
	}
	w.mu.Unlock()
	w.checkMu.Unlock()
	if clear {
		w.log.Info("budget set back to the config's", "team", team)
	} else {
		w.log.Info("budget set by an operator", "team", team, "budget", amount.String())
	}

	released, err := w.evaluate()
	w.Kick() // deliver any alert the change raised
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.spending == nil {
		return accounting.Budget{}, 0, ErrNotLoaded
	}
	for _, b := range w.spending.Budgets(w.opts.Now()) {
		if b.Team == team {
			return b, released[team], err
		}
	}
	return accounting.Budget{}, released[team], err
}
