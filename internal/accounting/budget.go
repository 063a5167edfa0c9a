package accounting

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Alert is how much of its budget a team has spent.
type Alert int

// The alerts.
const (
	AlertNone     Alert = iota // the team has no budget
	AlertOK                    // under WarningPercent
	AlertWarning               // WarningPercent or more
	AlertExceeded              // ExceededPercent or more
)

// The alert levels, in percent of the budget.
const (
	WarningPercent  = 80
	ExceededPercent = 100
)

func (a Alert) String() string {
	switch a {
	case AlertOK:
		return "ok"
	case AlertWarning:
		return "warning"
	case AlertExceeded:
		return "exceeded"
	}
	return "none"
}

// alertOf is the alert of spent against budget.
func alertOf(spent, budget money.Amount) Alert {
	if budget <= 0 {
		return AlertNone
	}
	s, b := big.NewInt(int64(spent)), big.NewInt(int64(budget))
	s100 := new(big.Int).Mul(s, big.NewInt(100))
	switch {
	case s100.Cmp(new(big.Int).Mul(b, big.NewInt(ExceededPercent))) >= 0:
		return AlertExceeded
	case s100.Cmp(new(big.Int).Mul(b, big.NewInt(WarningPercent))) >= 0:
		return AlertWarning
	}
	return AlertOK
}

// basisPoints is a/b in basis points, rounded down; 0 when b is not
// positive.
func basisPoints(a, b money.Amount) int64 {
	if b <= 0 || a <= 0 {
		return 0
	}
	n := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(10000))
	return n.Quo(n, big.NewInt(int64(b))).Int64()
}

// Budget is one team's month against its budget. Amounts are whole cents,
// priced as chargeback.
type Budget struct {
	Team     string
	Location *time.Location
	Month    Month
	Period   Range        // the whole month in the team's zone
	Budget   money.Amount // 0: none
	// Spent is the cost of the team's runs in the month up to the report's
	// instant. Forecast carries the month's average daily rate so far to
	// month end: Spent times the month's length over the time elapsed.
	Spent, Forecast     money.Amount
	SpentBP, ForecastBP int64 // of Budget, rounded down; 0 without a budget
	Alert               Alert
	ForecastAlert       Alert // the alert the forecast would raise at month end
}

// ErrUnknownTeam is a team the config does not have.
var ErrUnknownTeam = errors.New("no such team in the config")

// BudgetTally adds up the teams' spending in their current months. Feed it
// the records of Span, in any order.
type BudgetTally struct {
	at    time.Time
	p     Pricing
	teams []*budgetTeam
	by    map[string]*budgetTeam
	span  Range
}

type budgetTeam struct {
	t      TeamPricing
	month  Month
	period Range
	tally  *Tally // the month up to at
}

// NewBudgetTally starts the budgets of teams (every team of p when empty)
// at the instant at. A team p does not have is an error wrapping
// ErrUnknownTeam.
func NewBudgetTally(at time.Time, p Pricing, teams []string) (*BudgetTally, error) {
	b := &BudgetTally{at: at, p: p, by: map[string]*budgetTeam{}}
	add := func(t TeamPricing) {
		if _, dup := b.by[t.Name]; dup {
			return
		}
		m := MonthOf(at, t.location())
		period := m.Range(t.location())
		bt := &budgetTeam{t: t, month: m, period: period, tally: NewTally(Range{Start: period.Start, End: at})}
		b.teams = append(b.teams, bt)
		b.by[t.Name] = bt
		if b.span.Start.IsZero() || period.Start.Before(b.span.Start) {
			b.span.Start = period.Start
		}
	}
	if len(teams) == 0 {
		for _, t := range p.Teams {
			add(t)
		}
	}
	for _, name := range teams {
		t, ok := p.Team(name)
		if !ok {
			return nil, fmt.Errorf("team %q: %w", name, ErrUnknownTeam)
		}
		add(*t)
	}
	b.span.End = at
	return b, nil
}

// Span is the range whose records the budgets need: from the earliest
// team's month start to the report's instant.
func (b *BudgetTally) Span() Range { return b.span }

// Add counts rec for its team.
func (b *BudgetTally) Add(rec *gpuqv1.RunRecord) {
	r := RunOf(rec)
	b.AddRun(&r)
}

// AddRun counts r for its team.
func (b *BudgetTally) AddRun(r *Run) { addToTeam(b.by, r) }

// addToTeam counts r in the month of its team, when by has the team.
func addToTeam(by map[string]*budgetTeam, r *Run) {
	if bt, ok := by[r.Team]; ok {
		bt.tally.AddRun(r)
	}
}

// Budgets returns the teams' budgets, in the order they were asked for.
func (b *BudgetTally) Budgets() []Budget {
	out := make([]Budget, 0, len(b.teams))
	for _, bt := range b.teams {
		out = append(out, bt.budget(b.at, &b.p))
	}
	return out
}

// budget prices the team's tally as its budget at the instant at.
func (bt *budgetTeam) budget(at time.Time, p *Pricing) Budget {
	centsDiv := new(big.Int).Mul(nsPerHour, big.NewInt(int64(money.Cent)))
	value := new(big.Int)
	for _, c := range bt.tally.Cells() {
		if rate, ok := p.Rate(c.Team, c.Pool, c.GPUType); ok {
			value.Add(value, c.Time.value(rate))
		}
	}
	bu := Budget{
		Team: bt.t.Name, Location: bt.t.location(), Month: bt.month, Period: bt.period,
		Budget: bt.t.MonthlyBudget, Spent: centsOf(value),
	}
	bu.Forecast = bu.Spent
	if elapsed := at.Sub(bt.period.Start); elapsed > 0 {
		// value * month / (elapsed * ns per hour * cent), rounded once.
		n := new(big.Int).Mul(value, big.NewInt(int64(bt.period.Duration())))
		d := new(big.Int).Mul(centsDiv, big.NewInt(int64(elapsed)))
		bu.Forecast = money.Amount(roundQuo(n, d)) * money.Cent
	}
	bu.SpentBP, bu.ForecastBP = basisPoints(bu.Spent, bu.Budget), basisPoints(bu.Forecast, bu.Budget)
	bu.Alert, bu.ForecastAlert = alertOf(bu.Spent, bu.Budget), alertOf(bu.Forecast, bu.Budget)
	return bu
}

// Merge adds o's counts to b; o must be a tally made with the same
// arguments.
func (b *BudgetTally) Merge(o *BudgetTally) {
	for name, ot := range o.by {
		if bt, ok := b.by[name]; ok {
			bt.tally.Merge(ot.tally)
		}
	}
}
