package ctl

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/accounting"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const costDescription = `Prints what each team's usage cost in a period: GPU-hours by GPU type, cost,
and share of the total, with a TOTAL row that is the exact sum of the rows.
The period is a calendar month in --tz (--month; the current one by default)
or any range (--starttime and --endtime). A run across the period's edges
counts the part inside it: a job that spans a month boundary is split at
the boundary, in --tz.

Models:
   chargeback  GPU-hours times the team's hourly_rate, or the pool's
               price_per_gpu_hour for a team without one (the default)
   split       each pool's actual bill divided among the teams by their
               usage of the pool: --bill, else for a calendar month the
               config's bill of the month (pools[].bills, monthly_bill),
               else its GPU-hours at its price (FROM says which);
               the part of the bill above what the GPU-hours used are worth
               at the pool's price is idle cost, shared by --idle:
                 proportional  in proportion to usage (the default)
                 shares        by the teams' fair-share shares
                 even          equally among the teams of the config
                 platform      kept by the platform, a row of its own

Money is exact: the report states its rounding, and the rows always add up
to the total, and in a split to the bills, to the cent.

` + timeSpecHelp

func (r *runner) costCommand() *cli.Command {
	return &cli.Command{
		Name:        "cost",
		Usage:       "report the cost of usage per team: chargeback or a split of the bills",
		UsageText:   "gpuqctl cost [--month YYYY-MM | -S TIME [-E TIME]] [--tz ZONE] [--model chargeback|split] [--bill POOL=AMOUNT]... [--idle POLICY] [--json]",
		Description: costDescription,
		Flags: []cli.Flag{
			newStringFlag(&cli.StringFlag{Name: "month", Aliases: []string{"m"}, Usage: "the calendar `MONTH` YYYY-MM in --tz (default: this month)"}),
			newStringFlag(&cli.StringFlag{Name: "starttime", Aliases: []string{"S"}, Usage: "start of the period, a `TIME` (instead of --month)"}),
			newStringFlag(&cli.StringFlag{Name: "endtime", Aliases: []string{"E"}, Usage: "end of the period, a `TIME` (default: now)"}),
			newStringFlag(&cli.StringFlag{Name: "tz", Usage: "IANA time `ZONE` of the month and of times: UTC, America/Los_Angeles, local, ... (default UTC)"}),
			newStringFlag(&cli.StringFlag{Name: "model", Usage: "`MODEL`: chargeback or split (default chargeback)"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "bill", Usage: "split: the bill of a pool, `POOL=AMOUNT` in whole cents, in place of the config's (repeatable)"}),
			newStringFlag(&cli.StringFlag{Name: "idle", Usage: "split: who pays idle cost, `POLICY` proportional, shares, even or platform (default proportional)"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.cost,
	}
}

func (r *runner) cost(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q", c.Args().First())
	}
	if c.IsSet("month") && (c.IsSet("starttime") || c.IsSet("endtime")) {
		return usagef(c, "--month and --starttime/--endtime cannot be used together")
	}
	if c.IsSet("endtime") && !c.IsSet("starttime") {
		return usagef(c, "--endtime needs --starttime")
	}
	loc, err := r.zone(c)
	if err != nil {
		return err
	}
	// gpuqd reads a month in the zone named; the local zone has no name
	// it can read, so for it the period goes instead.
	req := &gpuqv1.CostReportRequest{TimeZone: loc.String()}
	local := strings.EqualFold(c.String("tz"), "local")
	switch {
	case c.IsSet("starttime"):
		var window accounting.Range
		if window, err = accounting.ParseRange(c.String("starttime"), cmpOr(c.String("endtime"), "now"), r.cfg.now(), loc); err != nil {
			return usagef(c, "--starttime/--endtime: %v", err)
		}
		req.Start, req.End = timestamp(window.Start), timestamp(window.End)
	default:
		m := accounting.MonthOf(r.cfg.now(), loc)
		if c.IsSet("month") {
			if m, err = accounting.ParseMonth(c.String("month")); err != nil {
				return usagef(c, "--month: %v", err)
			}
		}
		if local {
			p := m.Range(loc)
			req.Start, req.End = timestamp(p.Start), timestamp(p.End)
		} else {
			req.Month = m.String()
		}
	}
	model := accounting.ModelChargeback
	if c.IsSet("model") {
		if model, err = accounting.ParseModel(c.String("model")); err != nil {
			return usagef(c, "--model: %v", err)
		}
	}
	if local {
		req.TimeZone = ""
	}
	if model == accounting.ModelSplit {
		req.Model = gpuqv1.CostModel_COST_MODEL_SPLIT
	} else {
		req.Model = gpuqv1.CostModel_COST_MODEL_CHARGEBACK
		if c.IsSet("bill") || c.IsSet("idle") {
			return usagef(c, "--bill and --idle are for --model split")
		}
	}
	for _, v := range splitLists(c.StringSlice("bill")) {
		pool, amount, ok := strings.Cut(v, "=")
		if !ok || pool == "" || amount == "" {
			return usagef(c, "--bill %q: want POOL=AMOUNT, such as a100-us-west1=1000.00", v)
		}
		req.Bills = append(req.Bills, &gpuqv1.PoolBill{Pool: pool, Amount: amount})
	}
	if c.IsSet("idle") {
		var p accounting.IdlePolicy
		if p, err = accounting.ParseIdlePolicy(c.String("idle")); err != nil {
			return usagef(c, "--idle: %v", err)
		}
		req.IdlePolicy = idlePolicyProto[p]
	}

	cl, err := r.client(c)
	if err != nil {
		return err
	}
	resp, err := cl.CostReport(c.Context, req)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSONMessage(r.stdout, resp)
	}
	var b strings.Builder
	writeCostReport(&b, resp, loc)
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var idlePolicyProto = map[accounting.IdlePolicy]gpuqv1.IdlePolicy{
	accounting.IdleProportional: gpuqv1.IdlePolicy_IDLE_POLICY_PROPORTIONAL,
	accounting.IdleShares:       gpuqv1.IdlePolicy_IDLE_POLICY_SHARES,
	accounting.IdleEven:         gpuqv1.IdlePolicy_IDLE_POLICY_EVEN,
	accounting.IdlePlatform:     gpuqv1.IdlePolicy_IDLE_POLICY_PLATFORM,
}

var idlePolicyWords = map[gpuqv1.IdlePolicy]string{
	gpuqv1.IdlePolicy_IDLE_POLICY_PROPORTIONAL: "proportional (idle cost in proportion to each team's usage of the pool)",
	gpuqv1.IdlePolicy_IDLE_POLICY_SHARES:       "shares (idle cost by the teams' fair-share shares)",
	gpuqv1.IdlePolicy_IDLE_POLICY_EVEN:         "even (idle cost in equal parts among the teams)",
	gpuqv1.IdlePolicy_IDLE_POLICY_PLATFORM:     "platform (idle cost kept by the platform)",
}

// writeCostReport writes a report: the period in loc, a row per team with
// GPU-hours by type, cost and share, the TOTAL, for a split the pools'
// bills, and the model, policy and rounding.
func writeCostReport(b *strings.Builder, resp *gpuqv1.CostReportResponse, loc *time.Location) {
	start, end := resp.GetStart().AsTime(), resp.GetEnd().AsTime()
	span := fmt.Sprintf("%s to %s", start.In(loc).Format(time.RFC3339), end.In(loc).Format(time.RFC3339))
	if resp.Month != "" {
		span = resp.Month + ", " + span
	}
	// The length in hours shows a month with a clock change: 743 or 745.
	fmt.Fprintf(b, "Cost report for %s (%s): %s hours\n\n", span, loc, strconv.FormatFloat(end.Sub(start).Hours(), 'f', -1, 64))

	split := resp.Model == gpuqv1.CostModel_COST_MODEL_SPLIT
	var types []string
	for _, h := range resp.GetTotal().GetGpuHours() {
		types = append(types, h.GpuType)
	}
	header := []string{"TEAM"}
	for _, t := range types {
		header = append(header, strings.ToUpper(cmpOr(t, "any"))+" GPU-H")
	}
	header = append(header, "GPU-HOURS")
	if split {
		header = append(header, "USAGE", "IDLE")
	}
	header = append(header, "COST", "SHARE")
	rows := [][]string{header}
	for _, t := range append(resp.Teams, resp.GetTotal()) {
		row := []string{t.Team}
		for _, typ := range types {
			h := 0.0
			for _, x := range t.GpuHours {
				if x.GpuType == typ {
					h = x.GpuHours
				}
			}
			row = append(row, hours(h))
		}
		row = append(row, hours(t.TotalGpuHours))
		if split {
			row = append(row, t.UsageCost, t.IdleCost)
		}
		row = append(row, t.Cost, basisPoints(uint64(t.ShareBp)))
		rows = append(rows, row)
	}
	writeTable(b, rows, "lr")

	if split && len(resp.Pools) > 0 {
		b.WriteByte('\n')
		rows = [][]string{{"POOL", "TYPE", "GPU-HOURS", "BILL", "FROM", "USAGE", "IDLE"}}
		for _, p := range resp.Pools {
			from := "price"
			switch p.BillSource {
			case gpuqv1.BillSource_BILL_SOURCE_REQUEST:
				from = "bill"
			case gpuqv1.BillSource_BILL_SOURCE_CONFIG:
				from = "config"
			}
			rows = append(rows, []string{p.Pool, p.GpuType, hours(p.GpuHours), p.Bill, from, p.UsageCost, p.IdleCost})
		}
		writeTable(b, rows, "llr")
	}
	b.WriteByte('\n')
	if split {
		fmt.Fprintf(b, "Model: split; idle: %s.\n", cmpOr(idlePolicyWords[resp.IdlePolicy], resp.IdlePolicy.String()))
	} else {
		b.WriteString("Model: chargeback (GPU-hours times the team's hourly rate, or the pool's price).\n")
	}
	fmt.Fprintf(b, "Rounding: %s.\n", resp.Rounding)
	for _, w := range resp.Warnings {
		fmt.Fprintf(b, "Warning: %s.\n", w)
	}
}

// hours writes GPU-hours with two decimals.
func hours(h float64) string { return strconv.FormatFloat(h, 'f', 2, 64) }

// basisPoints writes basis points as a percentage: 2219 is 22.19%.
func basisPoints(bp uint64) string { return fmt.Sprintf("%d.%02d%%", bp/100, bp%100) }

// writeTable writes rows as columns two spaces apart, column i aligned
// left or right as align[i] is 'l' or 'r' (the last letter for the columns
// after it); no trailing blanks.
func writeTable(b *strings.Builder, rows [][]string, align string) {
	writeAligned(b, rows, align, "  ")
}

// writeAligned writes rows as columns gap apart, each padded to its widest
// value and aligned as writeTable's align says; no trailing blanks.
func writeAligned(b *strings.Builder, rows [][]string, align, gap string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var l strings.Builder
		for i, cell := range row {
			if i > 0 {
				l.WriteString(gap)
			}
			fill := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if align[min(i, len(align)-1)] == 'l' {
				l.WriteString(cell + fill)
			} else {
				l.WriteString(fill + cell)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
}
