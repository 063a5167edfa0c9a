package ctl

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/accounting"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const budgetDescription = `Shows each team's monthly budget from gpuqd's config against what it has
spent this month, the calendar month in the team's own time zone: the
chargeback cost of its runs that ended so far, and a forecast that carries
the month's average daily rate so far to month end. ALERT is WARNING at 80%
of the budget and EXCEEDED at 100%; AT MONTH END is the alert the forecast
would raise. A team without a budget shows '-'. Runs are counted when they
end: a job still running is not in SPENT yet.

` + timeSpecHelp

func (r *runner) budgetCommand() *cli.Command {
	return &cli.Command{
		Name:        "budget",
		Aliases:     []string{"budgets"},
		Usage:       "show the teams' monthly budgets, spending, forecasts and alerts",
		UsageText:   "gpuqctl budget [-A TEAMS] [--at TIME] [--tz ZONE] [--json]",
		Description: budgetDescription,
		Flags: []cli.Flag{
			newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Aliases: []string{"A"}, Usage: "only these `TEAMS` (default: every team of the config)"}),
			newStringFlag(&cli.StringFlag{Name: "at", Usage: "report as of `TIME`, read in --tz (default: now)"}),
			newStringFlag(&cli.StringFlag{Name: "tz", Usage: "IANA time `ZONE` in which --at is read (default UTC)"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the budgets as JSON (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.budget,
	}
}

var alertWords = map[gpuqv1.BudgetAlert]string{
	gpuqv1.BudgetAlert_BUDGET_ALERT_UNSPECIFIED: "-",
	gpuqv1.BudgetAlert_BUDGET_ALERT_OK:          "ok",
	gpuqv1.BudgetAlert_BUDGET_ALERT_WARNING:     fmt.Sprintf("WARNING (%d%%)", accounting.WarningPercent),
	gpuqv1.BudgetAlert_BUDGET_ALERT_EXCEEDED:    fmt.Sprintf("EXCEEDED (%d%%)", accounting.ExceededPercent),
}

func (r *runner) budget(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q (use --team to select teams)", c.Args().First())
	}
	req := &gpuqv1.BudgetsRequest{Teams: splitLists(c.StringSlice("team"))}
	if c.IsSet("at") {
		loc, err := r.zone(c)
		if err != nil {
			return err
		}
		at, err := accounting.ParseTime(c.String("at"), r.cfg.now(), loc)
		if err != nil {
			return usagef(c, "--at: %v", err)
		}
		req.At = timestamp(at)
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	resp, err := cl.Budgets(c.Context, req)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSONMessage(r.stdout, resp)
	}
	rows := [][]string{{"TEAM", "MONTH", "ZONE", "BUDGET", "SPENT", "USED", "FORECAST", "OF BUDGET", "ALERT", "AT MONTH END"}}
	for _, t := range resp.Teams {
		budget, used, fused := "-", "-", "-"
		if t.Budget != "" {
			budget, used, fused = t.Budget, basisPoints(t.SpentBp), basisPoints(t.ForecastBp)
		}
		rows = append(rows, []string{t.Team, t.Month, t.TimeZone, budget, t.Spent, used, t.Forecast, fused,
			alertWords[t.Alert], alertWords[t.ForecastAlert]})
	}
	var b strings.Builder
	writeTable(&b, rows, "lllrrrrrl")
	_, err = io.WriteString(r.stdout, b.String())
	return err
}
