package accounting

import (
	"math/big"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Thresholds are the budget alerts' thresholds, in percent of the budget,
// in order.
var Thresholds = [...]uint32{WarningPercent, ExceededPercent}

// reached reports whether spent is at least percent of budget; never
// without a budget.
func reached(spent, budget money.Amount, percent uint32) bool {
	if budget <= 0 {
		return false
	}
	s := new(big.Int).Mul(big.NewInt(int64(spent)), big.NewInt(100))
	return s.Cmp(new(big.Int).Mul(big.NewInt(int64(budget)), big.NewInt(int64(percent)))) >= 0
}

// Over reports whether the team has spent its whole budget: the hard
// limit's test.
func (b Budget) Over() bool { return reached(b.Spent, b.Budget, ExceededPercent) }

// Crossing is a threshold of its budget that a team's spending in a month
// has reached.
type Crossing struct {
	Budget  Budget
	Percent uint32
}

// Crossings returns the thresholds the budgets have reached that raised
// does not report as raised already, in the order of the budgets and then
// of Thresholds. A team without a budget reaches none.
func Crossings(budgets []Budget, raised func(team string, m Month, percent uint32) bool) []Crossing {
	var out []Crossing
	for _, b := range budgets {
		for _, pct := range Thresholds {
			if reached(b.Spent, b.Budget, pct) && !raised(b.Team, b.Month, pct) {
				out = append(out, Crossing{Budget: b, Percent: pct})
			}
		}
	}
	return out
}

// Spending keeps the teams' spending in their current budget months as
// runs end: gpuqd feeds it the record of each run as it writes it and asks
// for the budgets at any instant of those months. Unlike a BudgetTally it
// counts the whole of each month, so it takes records in any order and at
// any time. Roll starts a team's next month when its month ends.
type Spending struct {
	p     Pricing
	teams []*budgetTeam
	by    map[string]*budgetTeam
}

// NewSpending starts the spending of every team of p in the month that
// contains at in the team's zone.
func NewSpending(p Pricing, at time.Time) *Spending {
	s := &Spending{p: p, by: map[string]*budgetTeam{}}
	for _, t := range p.Teams {
		if _, dup := s.by[t.Name]; dup {
			continue
		}
		bt := newMonth(t, at)
		s.teams = append(s.teams, bt)
		s.by[t.Name] = bt
	}
	return s
}

func newMonth(t TeamPricing, at time.Time) *budgetTeam {
	m := MonthOf(at, t.location())
	period := m.Range(t.location())
	return &budgetTeam{t: t, month: m, period: period, tally: NewTally(period)}
}

// From is the earliest start of the teams' months: feed the spending the
// records of the runs that ended at or after it.
func (s *Spending) From() time.Time { return earliest(s.teams) }

func earliest(teams []*budgetTeam) time.Time {
	var from time.Time
	for _, bt := range teams {
		if from.IsZero() || bt.period.Start.Before(from) {
			from = bt.period.Start
		}
	}
	return from
}

// Add counts the part of rec's run in its team's month.
func (s *Spending) Add(rec *gpuqv1.RunRecord) {
	r := RunOf(rec)
	s.AddRun(&r)
}

// AddRun counts the part of r in its team's month.
func (s *Spending) AddRun(r *Run) { addToTeam(s.by, r) }

// SetPricing prices the spending with p from now on: an operator changed a
// budget. Teams p does not have keep their old pricing.
func (s *Spending) SetPricing(p Pricing) {
	s.p = p
	for _, bt := range s.teams {
		if t, ok := p.Team(bt.t.Name); ok {
			bt.t = *t
		}
	}
}

// Budgets returns the teams' budgets at the instant at, in config order.
// at should lie in the teams' months: call Roll first.
func (s *Spending) Budgets(at time.Time) []Budget {
	out := make([]Budget, 0, len(s.teams))
	for _, bt := range s.teams {
		out = append(out, bt.budget(at, &s.p))
	}
	return out
}

// Roll starts the next month of each team whose month does not contain at,
// empty. It returns nil when every month does, or a Refill to feed the
// records that belong in the new months.
func (s *Spending) Roll(at time.Time) *Refill {
	var rolled []*budgetTeam
	for i, bt := range s.teams {
		if bt.period.Contains(at) {
			continue
		}
		nb := newMonth(bt.t, at)
		s.teams[i], s.by[bt.t.Name] = nb, nb
		rolled = append(rolled, nb)
	}
	if len(rolled) == 0 {
		return nil
	}
	return &Refill{teams: rolled}
}

// Refill counts the records of the teams whose months Roll started anew.
type Refill struct {
	teams []*budgetTeam
}

// From is the earliest start of the new months: feed the Refill the
// records of the runs that ended at or after it.
func (r *Refill) From() time.Time { return earliest(r.teams) }

// Teams are the teams whose months were started anew, in config order.
func (r *Refill) Teams() []string {
	out := make([]string, len(r.teams))
	for i, bt := range r.teams {
		out[i] = bt.t.Name
	}
	return out
}

// Add counts the part of rec's run in the new month of its team, when it
// is one of the Refill's.
func (r *Refill) Add(rec *gpuqv1.RunRecord) {
	run := RunOf(rec)
	r.AddRun(&run)
}

// AddRun counts the part of run in the new month of its team, when it is
// one of the Refill's.
func (r *Refill) AddRun(run *Run) {
	i := slices.IndexFunc(r.teams, func(bt *budgetTeam) bool { return bt.t.Name == run.Team })
	if i >= 0 {
		r.teams[i].tally.AddRun(run)
	}
}

// Current reports whether every team's month contains at: whether Budgets
// may be asked at at without a Roll.
func (s *Spending) Current(at time.Time) bool {
	for _, bt := range s.teams {
		if !bt.period.Contains(at) {
			return false
		}
	}
	return true
}
