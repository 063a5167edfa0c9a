package accounting

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"

	"github.com/gpuq/gpuq/internal/money"
)

// Model is how a cost report prices usage.
type Model int

// The models.
const (
	// ModelChargeback prices GPU-hours at the team's hourly rate, or the
	// pool's price where the team has none.
	ModelChargeback Model = iota + 1
	// ModelSplit divides each pool's actual bill among the teams.
	ModelSplit
)

var modelNames = map[Model]string{ModelChargeback: "chargeback", ModelSplit: "split"}

func (m Model) String() string {
	if s, ok := modelNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Model(%d)", int(m))
}

// ParseModel reads a model's name: chargeback or split, in any case.
func ParseModel(s string) (Model, error) {
	for m, name := range modelNames {
		if strings.EqualFold(s, name) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown cost model %q (want chargeback or split)", s)
}

// IdlePolicy says who pays the idle part of a pool's bill in a split.
type IdlePolicy int

// The idle policies.
const (
	// IdleProportional shares idle cost in proportion to the teams' usage
	// of the pool, or of every pool when nobody used it.
	IdleProportional IdlePolicy = iota + 1
	// IdleShares shares it in proportion to the teams' fair-share shares.
	IdleShares
	// IdleEven shares it equally among the teams of the config.
	IdleEven
	// IdlePlatform keeps it: the platform's row pays it.
	IdlePlatform
)

var policyNames = map[IdlePolicy]string{IdleProportional: "proportional", IdleShares: "shares", IdleEven: "even", IdlePlatform: "platform"}

func (p IdlePolicy) String() string {
	if s, ok := policyNames[p]; ok {
		return s
	}
	return fmt.Sprintf("IdlePolicy(%d)", int(p))
}

// ParseIdlePolicy reads a policy's name: proportional, shares, even or
// platform, in any case.
func ParseIdlePolicy(s string) (IdlePolicy, error) {
	for p, name := range policyNames {
		if strings.EqualFold(s, name) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown idle policy %q (want proportional, shares, even or platform)", s)
}

// PlatformRow is the name of the platform's row in a report.
const PlatformRow = "(platform)"

// UnknownPool names the pool of runs whose node's pool was not known.
const UnknownPool = "(unknown)"

// How reports round, in words, printed with them.
const (
	ChargebackRounding = "each team's cost is its exact GPU time times its rate, rounded once to the cent (half to even); the total is the sum of the rows; shares are basis points by largest remainder"
	SplitRounding      = "each pool's bill is divided in whole cents by largest remainder (exact quotas rounded down, the cents left over to the largest remainders, ties to the earlier row), so the parts add up exactly to the bill; shares are basis points by largest remainder"
)

// TypeTime is GPU time of one GPU type.
type TypeTime struct {
	GPUType string
	Time    GPUTime
}

// TeamCost is one row of a report. Amounts are whole cents.
type TeamCost struct {
	Team     string
	Platform bool       // the platform's row
	ByType   []TypeTime // sorted by type
	Time     GPUTime    // the sum of ByType
	// Usage is the cost of the GPU-hours used; Idle the share of idle cost
	// (split only); Cost their sum.
	Usage, Idle, Cost money.Amount
	// ShareBP is Cost's share of the total in basis points; the rows' add
	// up to 10000 when the total is not zero.
	ShareBP int64
}

// PoolCost is one pool's bill in a split. Amounts are whole cents.
type PoolCost struct {
	Pool     string // UnknownPool for runs whose pool was not known
	GPUType  string
	Time     GPUTime
	Bill     money.Amount
	FromBill bool // the bill was given; false: priced at the pool's price
	// Usage is the GPU time used at the pool's price, at most the bill;
	// Idle the rest of the bill.
	Usage, Idle money.Amount
}

// Report is a cost report over a period.
type Report struct {
	Period   Range
	Model    Model
	Policy   IdlePolicy // split only
	Teams    []TeamCost // config teams in config order, other teams by name, then the platform
	Total    TeamCost   // the sum of the rows, amount by amount
	Pools    []PoolCost // split only
	Rounding string
	Warnings []string
}

// rows builds a report's rows in order: the config's teams, then the other
// teams of the cells by name.
type rows struct {
	list []*TeamCost
	by   map[string]*TeamCost
}

func newRows(p *Pricing, cells []Cell) *rows {
	rs := &rows{by: map[string]*TeamCost{}}
	for _, t := range p.Teams {
		rs.row(t.Name)
	}
	for _, c := range cells { // sorted by team
		row := rs.row(c.Team)
		row.Time = row.Time.Add(c.Time)
		row.ByType = addType(row.ByType, c.GPUType, c.Time)
	}
	return rs
}

// addType adds g to the time of gpuType in list, sorted by type.
func addType(list []TypeTime, gpuType string, g GPUTime) []TypeTime {
	i, found := slices.BinarySearchFunc(list, gpuType, func(tt TypeTime, t string) int { return strings.Compare(tt.GPUType, t) })
	if !found {
		list = slices.Insert(list, i, TypeTime{GPUType: gpuType})
	}
	list[i].Time = list[i].Time.Add(g)
	return list
}

func (rs *rows) row(team string) *TeamCost {
	if r, ok := rs.by[team]; ok {
		return r
	}
	r := &TeamCost{Team: team, Platform: team == PlatformRow}
	rs.by[team] = r
	rs.list = append(rs.list, r)
	return r
}

// finish fills in costs, shares and the total and returns the rows; the
// platform's row goes last, and only when it has a cost.
func (rs *rows) finish(rep *Report) {
	var total TeamCost
	total.Team = "TOTAL"
	for _, r := range rs.list {
		if r.Platform && r.Usage == 0 && r.Idle == 0 {
			continue
		}
		r.Cost = r.Usage + r.Idle
		rep.Teams = append(rep.Teams, *r)
	}
	slices.SortStableFunc(rep.Teams, func(a, b TeamCost) int {
		switch {
		case a.Platform == b.Platform:
			return 0
		case a.Platform:
			return 1
		}
		return -1
	})
	weights := make([]*big.Rat, len(rep.Teams))
	for i, r := range rep.Teams {
		weights[i] = new(big.Rat).SetInt64(int64(r.Cost))
		total.Usage += r.Usage
		total.Idle += r.Idle
		total.Cost += r.Cost
		total.Time = total.Time.Add(r.Time)
		for _, tt := range r.ByType {
			total.ByType = addType(total.ByType, tt.GPUType, tt.Time)
		}
	}
	if total.Cost > 0 {
		for i, bp := range apportion(10000, weights) {
			rep.Teams[i].ShareBP = bp
		}
		total.ShareBP = 10000
	}
	rep.Total = total
}

// Chargeback prices the tally's GPU time: each team's at its hourly rate,
// or at the pool's price where it has none. Usage without either is left
// out of the costs and named in the warnings.
func Chargeback(t *Tally, p Pricing) Report {
	rep := Report{Period: t.Period(), Model: ModelChargeback, Rounding: ChargebackRounding}
	cells := t.Cells()
	rs := newRows(&p, cells)
	values := map[string]*big.Int{}
	for _, c := range cells {
		rate, ok := p.Rate(c.Team, c.Pool, c.GPUType)
		if !ok {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("team %s: %s GPU-hours of %s in pool %s have no rate or price and are not charged",
				c.Team, c.Time, orNone(c.GPUType), poolName(c.Pool)))
			continue
		}
		v, ok := values[c.Team]
		if !ok {
			v = new(big.Int)
			values[c.Team] = v
		}
		v.Add(v, c.Time.value(rate))
	}
	for team, v := range values {
		r := rs.by[team]
		r.Usage = centsOf(v)
	}
	rs.finish(&rep)
	return rep
}

// Errors of the bills given to Split, wrapped in a *BillError.
var (
	ErrUnknownPool     = errors.New("no such pool in the config")
	ErrNegativeBill    = errors.New("negative bill")
	ErrFractionalCents = errors.New("not a whole number of cents")
)

// BillError is a bill Split cannot divide.
type BillError struct {
	Pool   string
	Amount money.Amount
	Err    error // ErrUnknownPool, ErrNegativeBill or ErrFractionalCents
}

func (e *BillError) Error() string {
	return fmt.Sprintf("bill %s for pool %q: %v", e.Amount, e.Pool, e.Err)
}

func (e *BillError) Unwrap() error { return e.Err }

// Split divides each pool's bill among the teams. bills holds the bills
// given, by pool; a pool with usage in the tally and no bill is billed at
// its price (which leaves it no idle cost), or left out with a warning when
// it has no price either.
//
// Of a pool's bill B, the usage part is what its GPU-hours are worth at the
// pool's price, at most B (all of B when the pool has no price or a price
// of zero and was used); it goes to the teams in proportion to their GPU
// time in the pool, which within one pool is their billed usage, every
// GPU-hour there having the same billing weight. The rest, the idle part,
// goes by policy. Both are divided in whole cents by largest remainder, so
// the parts add up exactly to B, and the report's total to the sum of the
// bills. Idle cost that policy gives no team (nobody used any pool, or the
// config has no teams) goes to the platform's row.
func Split(t *Tally, p Pricing, bills map[string]money.Amount, policy IdlePolicy) (Report, error) {
	for _, pool := range slices.Sorted(maps.Keys(bills)) {
		b := bills[pool]
		var err error
		switch {
		case !hasPool(&p, pool):
			err = ErrUnknownPool
		case b < 0:
			err = ErrNegativeBill
		case b%money.Cent != 0:
			err = ErrFractionalCents
		}
		if err != nil {
			return Report{}, &BillError{Pool: pool, Amount: b, Err: err}
		}
	}
	if policy == 0 {
		policy = IdleProportional
	}
	rep := Report{Period: t.Period(), Model: ModelSplit, Policy: policy, Rounding: SplitRounding}
	cells := t.Cells()
	rs := newRows(&p, cells)
	teams := make([]*TeamCost, len(rs.list)) // the teams, without the platform
	copy(teams, rs.list)

	// Usage per pool and team, and per team over every pool.
	byPool := map[string]map[string]GPUTime{}
	types := map[string]map[string]bool{}
	all := map[string]GPUTime{}
	for _, c := range cells {
		if byPool[c.Pool] == nil {
			byPool[c.Pool], types[c.Pool] = map[string]GPUTime{}, map[string]bool{}
		}
		byPool[c.Pool][c.Team] = byPool[c.Pool][c.Team].Add(c.Time)
		types[c.Pool][c.GPUType] = true
		all[c.Team] = all[c.Team].Add(c.Time)
	}
	var pools []string
	for _, pl := range p.Pools {
		if _, used := byPool[pl.Name]; used || hasKey(bills, pl.Name) {
			pools = append(pools, pl.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byPool)) {
		if !hasPool(&p, name) {
			pools = append(pools, name)
		}
	}

	for _, pool := range pools {
		usage := byPool[pool]
		pc := PoolCost{Pool: poolName(pool)}
		if pl, ok := p.Pool(pool); ok {
			pc.GPUType = pl.GPUType
		} else if ts := slices.Sorted(maps.Keys(types[pool])); len(ts) == 1 {
			pc.GPUType = ts[0]
		}
		weights := make([]*big.Rat, len(teams))
		for i, r := range teams {
			g := usage[r.Team]
			pc.Time = pc.Time.Add(g)
			weights[i] = new(big.Rat).SetInt(g.nanos())
		}
		price, priced := p.poolPrice(pool, pc.GPUType)
		worth := centsOf(pc.Time.value(price))
		switch b, ok := bills[pool]; {
		case ok:
			pc.Bill, pc.FromBill = b, true
		case priced:
			pc.Bill = worth
		default:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("pool %s: %s GPU-hours have no bill and no price and are not charged", pc.Pool, pc.Time))
			continue
		}
		switch {
		case priced && price > 0:
			pc.Usage = min(pc.Bill, worth)
		case !pc.Time.IsZero():
			pc.Usage = pc.Bill
		}
		pc.Idle = pc.Bill - pc.Usage
		for i, c := range apportion(int64(pc.Usage/money.Cent), weights) {
			teams[i].Usage += money.Amount(c) * money.Cent
		}
		if iw := idleWeights(policy, &p, teams, weights, all); iw == nil {
			rs.row(PlatformRow).Idle += pc.Idle
		} else {
			for i, c := range apportion(int64(pc.Idle/money.Cent), iw) {
				teams[i].Idle += money.Amount(c) * money.Cent
			}
		}
		rep.Pools = append(rep.Pools, pc)
	}
	rs.finish(&rep)
	return rep, nil
}

// idleWeights returns the weights by which policy shares a pool's idle
// cost among teams (usage: their usage of the pool), or nil when it gives
// it to the platform.
func idleWeights(policy IdlePolicy, p *Pricing, teams []*TeamCost, usage []*big.Rat, all map[string]GPUTime) []*big.Rat {
	w := make([]*big.Rat, len(teams))
	for i := range w {
		w[i] = new(big.Rat)
	}
	switch policy {
	case IdleProportional:
		copy(w, usage)
		if nonZero(w) {
			return w
		}
		for i, r := range teams {
			w[i] = new(big.Rat).SetInt(all[r.Team].nanos())
		}
	case IdleShares:
		for i, r := range teams {
			if t, ok := p.Team(r.Team); ok && t.Shares > 0 {
				w[i].SetFloat64(t.Shares) // exact
			}
		}
	case IdleEven:
		for i, r := range teams {
			if _, ok := p.Team(r.Team); ok {
				w[i].SetInt64(1)
			}
		}
	}
	if !nonZero(w) {
		return nil
	}
	return w
}

func nonZero(w []*big.Rat) bool {
	for _, x := range w {
		if x.Sign() > 0 {
			return true
		}
	}
	return false
}

// apportion divides total (cents, basis points; >= 0) in proportion to
// weights (>= 0) by the largest-remainder method: each part is its exact
// quota rounded down, and what is left goes one each to the parts with the
// largest remainders, ties to the earlier part. The parts add up to total
// exactly; a part whose weight is zero gets nothing. With every weight zero
// every part is zero.
func apportion(total int64, weights []*big.Rat) []int64 {
	parts := make([]int64, len(weights))
	sum := new(big.Rat)
	for _, w := range weights {
		sum.Add(sum, w)
	}
	if sum.Sign() == 0 || total <= 0 {
		return parts
	}
	type remainder struct {
		i int
		r *big.Rat
	}
	rems := make([]remainder, len(weights))
	left := total
	t := new(big.Rat).SetInt64(total)
	for i, w := range weights {
		q := new(big.Rat).Mul(t, w)
		q.Quo(q, sum)
		floor := new(big.Int).Quo(q.Num(), q.Denom()) // q >= 0: truncation is the floor
		parts[i] = floor.Int64()
		left -= parts[i]
		rems[i] = remainder{i, q.Sub(q, new(big.Rat).SetInt(floor))}
	}
	slices.SortStableFunc(rems, func(a, b remainder) int { return b.r.Cmp(a.r) })
	for k := 0; left > 0; k++ {
		parts[rems[k].i]++
		left--
	}
	return parts
}

func hasPool(p *Pricing, name string) bool {
	_, ok := p.Pool(name)
	return ok
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func poolName(pool string) string {
	if pool == "" {
		return UnknownPool
	}
	return pool
}

func orNone(s string) string {
	if s == "" {
		return "any GPU type"
	}
	return s
}
