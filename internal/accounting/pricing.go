package accounting

import (
	"time"

	"github.com/gpuq/gpuq/internal/money"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Pricing is what accounting needs of the config: the teams' rates,
// budgets, shares and zones, and the pools' prices. gpuqd builds it from
// its config; tests build it by hand.
type Pricing struct {
	Teams []TeamPricing // in config order
	Pools []PoolPricing
}

// TeamPricing is one team's side of Pricing.
type TeamPricing struct {
	Name          string
	HourlyRate    money.Amount   // per GPU-hour; 0: the pool's price
	MonthlyBudget money.Amount   // 0: no budget
	Shares        float64        // fair-share weight, > 0
	Location      *time.Location // the team's zone; nil: UTC
}

// PoolPricing is one pool's side of Pricing.
type PoolPricing struct {
	Name            string
	GPUType         string
	Region          string
	PricePerGPUHour money.Amount
	BillingWeight   float64
	// MonthlyBill is the pool's bill for every calendar month; 0: none.
	// Bills replaces it for the months it holds.
	MonthlyBill money.Amount
	Bills       map[Month]money.Amount
}

// Team returns the team called name.
func (p *Pricing) Team(name string) (*TeamPricing, bool) {
	for i := range p.Teams {
		if p.Teams[i].Name == name {
			return &p.Teams[i], true
		}
	}
	return nil, false
}

// Pool returns the pool called name.
func (p *Pricing) Pool(name string) (*PoolPricing, bool) {
	for i := range p.Pools {
		if p.Pools[i].Name == name {
			return &p.Pools[i], true
		}
	}
	return nil, false
}

// Bill is the pool's bill for month m from the config: its bill for m, or
// its monthly bill. ok is false when it has neither.
func (p *Pricing) Bill(pool string, m Month) (money.Amount, bool) {
	pl, ok := p.Pool(pool)
	if !ok {
		return 0, false
	}
	if b, ok := pl.Bills[m]; ok {
		return b, true
	}
	return pl.MonthlyBill, pl.MonthlyBill > 0
}

// Location is the team's zone, or UTC.
func (t *TeamPricing) location() *time.Location {
	if t.Location == nil {
		return time.UTC
	}
	return t.Location
}

// poolPrice is the price of a GPU-hour in pool, or where the config has no
// such pool (a record from before the pool was removed, or of a run whose
// node was never known) the price of gpuType when every pool of that type
// has the same price. ok is false when there is none.
func (p *Pricing) poolPrice(pool, gpuType string) (money.Amount, bool) {
	if pl, ok := p.Pool(pool); ok {
		return pl.PricePerGPUHour, true
	}
	var price money.Amount
	found := false
	for _, pl := range p.Pools {
		if gpuType == "" || pl.GPUType != gpuType {
			continue
		}
		if found && pl.PricePerGPUHour != price {
			return 0, false
		}
		price, found = pl.PricePerGPUHour, true
	}
	return price, found
}

// Rate is the chargeback price of a GPU-hour of team in pool: the team's
// hourly rate, else the pool's price (see poolPrice). ok is false when there
// is neither.
func (p *Pricing) Rate(team, pool, gpuType string) (money.Amount, bool) {
	if t, ok := p.Team(team); ok && t.HourlyRate > 0 {
		return t.HourlyRate, true
	}
	return p.poolPrice(pool, gpuType)
}

// RecordCost is the chargeback cost of the whole run of rec, rounded half to
// even to the micro-unit; ok is false when it has no rate.
func (p *Pricing) RecordCost(rec *gpuqv1.RunRecord) (money.Amount, bool) {
	r := RunOf(rec)
	return p.RunCost(&r)
}

// RunCost is RecordCost of the record whose run is r.
func (p *Pricing) RunCost(r *Run) (money.Amount, bool) {
	rate, ok := p.Rate(r.Team, r.Pool, r.GPUType)
	if !ok {
		return 0, false
	}
	return GPUTimeOf(r.End.Sub(r.Start), r.GPUs).Cost(rate), true
}
