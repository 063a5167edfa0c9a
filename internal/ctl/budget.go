package ctl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/accounting"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const budgetDescription = `Shows each team's monthly budget from gpuqd's config against what it has
spent this month, the calendar month in the team's own time zone: the
chargeback cost of its runs that ended so far, and a forecast that carries
the month's average daily rate so far to month end. ALERT is WARNING at 80%
of the budget and EXCEEDED at 100%; AT MONTH END is the alert the forecast
would raise. RAISED lists the alerts gpuqd has raised this month: each is
raised once per team, month and threshold, logged, and posted to the
webhook when budgets.webhook_url is set. A team without a budget shows '-'.
Runs are counted when they end: a job still running is not in SPENT yet.

A budget marked * was set by an operator (gpuqctl budget set). With the
hard limit on (budgets.hard_limit), a team at 100% of its budget has its
new jobs held with reason Budget until its budget is raised, a new month
begins, or the job is released (gpuqctl release).

--alerts lists the alerts raised instead, with their webhook delivery.

` + timeSpecHelp

func (r *runner) budgetCommand() *cli.Command {
	return &cli.Command{
		Name:    "budget",
		Aliases: []string{"budgets"},
		Usage:   "show the teams' monthly budgets, spending, forecasts and alerts; set a budget",
		UsageText: "gpuqctl budget [-A TEAMS] [--at TIME] [--tz ZONE] [--json]\n" +
			"gpuqctl budget --alerts [-A TEAMS] [--month YYYY-MM] [--tz ZONE] [--json]\n" +
			"gpuqctl budget set TEAM AMOUNT | gpuqctl budget set --clear TEAM",
		Description: budgetDescription,
		Flags: []cli.Flag{
			newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Aliases: []string{"A"}, Usage: "only these `TEAMS` (default: every team of the config)"}),
			newStringFlag(&cli.StringFlag{Name: "at", Usage: "report as of `TIME`, read in --tz (default: now)"}),
			newStringFlag(&cli.StringFlag{Name: "tz", Usage: "IANA time `ZONE` in which --at is read and times are shown (default UTC)"}),
			newBoolFlag(&cli.BoolFlag{Name: "alerts", Usage: "list the alerts raised, with their webhook delivery"}),
			newStringFlag(&cli.StringFlag{Name: "month", Aliases: []string{"m"}, Usage: "--alerts: only those of `MONTH` YYYY-MM (default: every month)"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the budgets or alerts as JSON (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.budget,
		Subcommands: []*cli.Command{{
			Name:  "set",
			Usage: "set a team's monthly budget in place of the config's, or go back to it (an operator's action)",
			UsageText: "gpuqctl budget set TEAM AMOUNT\ngpuqctl budget set --clear TEAM\n\n" +
				"AMOUNT is in whole cents, such as 30000 or 30000.00; 0 is no budget. The budget\n" +
				"holds until set again or cleared, across restarts of gpuqd. Raising the budget of\n" +
				"a team over its hard limit releases its jobs held with reason Budget.",
			Flags: []cli.Flag{
				newBoolFlag(&cli.BoolFlag{Name: "clear", Usage: "go back to the budget in the config"}),
				newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the response as JSON (protojson)"}),
			},
			OnUsageError: onUsageError,
			Action:       r.budgetSet,
		}},
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
	if c.Bool("alerts") {
		if c.IsSet("at") {
			return usagef(c, "--at is not for --alerts (use --month)")
		}
		return r.budgetAlerts(c)
	}
	if c.IsSet("month") {
		return usagef(c, "--month is for --alerts (use --at for another month's budgets)")
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
	var b strings.Builder
	writeBudgets(&b, resp.Teams)
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

// writeBudgets writes the budgets' table and the notes its marks need.
func writeBudgets(b *strings.Builder, teams []*gpuqv1.TeamBudget) {
	rows := [][]string{{"TEAM", "MONTH", "ZONE", "BUDGET", "SPENT", "USED", "FORECAST", "OF BUDGET", "ALERT", "AT MONTH END", "RAISED"}}
	operator, limited := false, false
	for _, t := range teams {
		budget, used, fused := "-", "-", "-"
		if t.Budget != "" {
			budget, used, fused = t.Budget, basisPoints(t.SpentBp), basisPoints(t.ForecastBp)
		}
		if t.BudgetSetByOperator {
			budget += "*"
			operator = true
		}
		limited = limited || t.HardLimit
		rows = append(rows, []string{t.Team, t.Month, t.TimeZone, budget, t.Spent, used, t.Forecast, fused,
			alertWords[t.Alert], alertWords[t.ForecastAlert], percents(t.AlertsRaised)})
	}
	writeTable(b, rows, "lllrrrrrl")
	if operator {
		b.WriteString("\n* set by an operator (gpuqctl budget set), in place of the config's.\n")
	}
	if limited {
		if !operator {
			b.WriteByte('\n')
		}
		b.WriteString("Hard limit: a team at 100% of its budget has its new jobs held (reason Budget).\n")
	}
}

// percents writes thresholds as "80%,100%", or "-".
func percents(ps []uint32) string {
	if len(ps) == 0 {
		return "-"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%d%%", p)
	}
	return strings.Join(parts, ",")
}

func (r *runner) budgetAlerts(c *cli.Context) error {
	loc, err := r.zone(c)
	if err != nil {
		return err
	}
	req := &gpuqv1.ListBudgetAlertsRequest{Teams: splitLists(c.StringSlice("team"))}
	if c.IsSet("month") {
		m, err := accounting.ParseMonth(c.String("month"))
		if err != nil {
			return usagef(c, "--month: %v", err)
		}
		req.Month = m.String()
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	resp, err := cl.BudgetAlerts(c.Context, req)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSONMessage(r.stdout, resp)
	}
	var b strings.Builder
	writeBudgetAlerts(&b, resp.Alerts, loc)
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

// writeBudgetAlerts writes one line per alert, its webhook delivery last.
func writeBudgetAlerts(b *strings.Builder, alerts []*gpuqv1.BudgetAlertEvent, loc *time.Location) {
	rows := [][]string{{"TEAM", "MONTH", "ALERT", "SPENT", "BUDGET", "USED", "RAISED", "HELD", "WEBHOOK"}}
	const layout = "2006-01-02T15:04:05"
	for _, a := range alerts {
		held := "-"
		if a.HardLimit {
			held = "new jobs"
		}
		var hook string
		switch {
		case a.DeliveredAt != nil:
			hook = "delivered " + a.DeliveredAt.AsTime().In(loc).Format(layout)
		case a.DeliveryAttempts > 0:
			hook = fmt.Sprintf("failed (%d attempts): %s", a.DeliveryAttempts, a.DeliveryError)
		default:
			hook = "not sent"
		}
		rows = append(rows, []string{a.Team, a.Month, fmt.Sprintf("%d%%", a.Percent), a.Spent, a.Budget, basisPoints(a.SpentBp),
			a.RaisedAt.AsTime().In(loc).Format(layout), held, hook})
	}
	writeTable(b, rows, "lllrrrlll")
}

func (r *runner) budgetSet(c *cli.Context) error {
	req := &gpuqv1.SetBudgetRequest{Clear: c.Bool("clear")}
	switch {
	case req.Clear && c.NArg() != 1:
		return usagef(c, "want one TEAM with --clear")
	case !req.Clear && c.NArg() != 2:
		return usagef(c, "want TEAM and AMOUNT (gpuqctl budget set sf 30000), or --clear TEAM")
	}
	req.Team = c.Args().Get(0)
	if !req.Clear {
		req.MonthlyBudget = c.Args().Get(1)
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	resp, err := cl.SetBudget(c.Context, req)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSONMessage(r.stdout, resp)
	}
	t := resp.GetBudget()
	budget, from := cmpOr(t.GetBudget(), "none"), "the config's"
	if t.GetBudgetSetByOperator() {
		from = "set by an operator"
	}
	fmt.Fprintf(r.stdout, "Team %s: monthly budget %s (%s); spent %s in %s", t.GetTeam(), budget, from, t.GetSpent(), t.GetMonth())
	if t.GetBudget() != "" {
		fmt.Fprintf(r.stdout, " (%s)", basisPoints(t.GetSpentBp()))
	}
	fmt.Fprintln(r.stdout, ".")
	if n := resp.ReleasedJobs; n > 0 {
		fmt.Fprintf(r.stdout, "Released %d job%s held for the budget.\n", n, map[bool]string{true: "", false: "s"}[n == 1])
	}
	return nil
}
