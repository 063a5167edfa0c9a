package budget

import (
	"fmt"
	"time"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Payload is the JSON body of an alert posted to the webhook. Text is a
// sentence for chat webhooks (Slack, Mattermost and Teams show it).
type Payload struct {
	Type             string    `json:"type"` // "gpuq.budget_alert"
	ID               string    `json:"id"`   // team/month/percent: sf/2026-11/80
	Team             string    `json:"team"`
	Month            string    `json:"month"`
	TimeZone         string    `json:"time_zone"`
	ThresholdPercent uint32    `json:"threshold_percent"`
	Budget           string    `json:"budget"`
	Spent            string    `json:"spent"`
	SpentPercent     string    `json:"spent_percent"` // two decimals, rounded down: "80.06"
	HardLimit        bool      `json:"hard_limit"`    // new jobs of the team are held
	RaisedAt         time.Time `json:"raised_at"`
	Text             string    `json:"text"`
}

func payloadOf(a *gpuqv1.BudgetAlertEvent) Payload {
	pct := fmt.Sprintf("%d.%02d", a.SpentBp/100, a.SpentBp%100)
	text := fmt.Sprintf("gpuq: team %s has spent %s of its %s budget for %s (%s%%), reaching the %d%% alert.",
		a.Team, a.Spent, a.Budget, a.Month, pct, a.Percent)
	if a.HardLimit {
		text += " Its new jobs are held until the budget is raised."
	}
	return Payload{
		Type: "gpuq.budget_alert", ID: keyOf(a).id(), Team: a.Team, Month: a.Month, TimeZone: a.TimeZone,
		ThresholdPercent: a.Percent, Budget: a.Budget, Spent: a.Spent, SpentPercent: pct,
		HardLimit: a.HardLimit, RaisedAt: a.RaisedAt.AsTime().UTC(), Text: text,
	}
}
