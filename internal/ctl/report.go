package ctl

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/chart"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const utilizationDescription = `Adds up the GPU-hours of the runs in a period per team (or user, or pool)
and hour, to show how the GPUs pass from one team to the next over the day:
with --per hour a row for each hour of the period on the clock of --tz (a
day has 23 or 25 when the clocks change), with --per hour-of-day the hours
folded into the 24 hours of the day (the hour repeated when the clocks fall
back counts twice). A run across an hour's edge is split at it, exactly:
the rows add up to the TOTAL row, and each row to its TOTAL column.

The period is from --starttime to --endtime; the default is the 24 hours
before the start of the current hour in --tz. Runs are counted when they
end: a job still running is not in the report yet.

--svg FILE writes the report as a stacked bar chart too, an SVG image ('-'
writes it to stdout instead of the table).

` + timeSpecHelp

func (r *runner) reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "reports over the accounting records: utilization",
		UsageText: "gpuqctl report utilization [options]",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef(c, "which report? (gpuqctl report utilization)")
			}
			return usagef(c, "no report %q (gpuqctl report utilization)", c.Args().First())
		},
		OnUsageError: onUsageError,
		Subcommands: []*cli.Command{{
			Name:    "utilization",
			Aliases: []string{"util"},
			Usage:   "GPU-hours per team and hour, as a table and an SVG chart",
			UsageText: "gpuqctl report utilization [--by team|user|pool] [--per hour|hour-of-day]\n" +
				"    [-S TIME] [-E TIME] [--tz ZONE] [--svg FILE] [--json]",
			Description: utilizationDescription,
			Flags: []cli.Flag{
				newStringFlag(&cli.StringFlag{Name: "by", Usage: "count by `GROUP`: team, user or pool (default team)"}),
				newStringFlag(&cli.StringFlag{Name: "per", Usage: "a row per `BUCKET`: hour or hour-of-day (default hour)"}),
				newStringFlag(&cli.StringFlag{Name: "starttime", Aliases: []string{"S", "start"}, Usage: "start of the period, a `TIME`"}),
				newStringFlag(&cli.StringFlag{Name: "endtime", Aliases: []string{"E", "end"}, Usage: "end of the period, a `TIME` (default: now, or with no --starttime the start of this hour)"}),
				newStringFlag(&cli.StringFlag{Name: "tz", Usage: "IANA time `ZONE` of the hours and times: UTC, America/Los_Angeles, local, ... (default UTC)"}),
				newStringFlag(&cli.StringFlag{Name: "svg", Usage: "write a stacked bar chart to `FILE` ('-': stdout, instead of the table)"}),
				newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (protojson)"}),
			},
			OnUsageError: onUsageError,
			Action:       r.utilization,
		}},
	}
}

func (r *runner) utilization(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q", c.Args().First())
	}
	if c.String("svg") == "-" && c.Bool("json") {
		return usagef(c, "--svg - and --json cannot be used together")
	}
	by, per := accounting.ByTeam, accounting.PerHour
	var err error
	if c.IsSet("by") {
		if by, err = accounting.ParseGrouping(c.String("by")); err != nil {
			return usagef(c, "--by: %v", err)
		}
	}
	if c.IsSet("per") {
		if per, err = accounting.ParseBucketing(c.String("per")); err != nil {
			return usagef(c, "--per: %v", err)
		}
	}
	loc, err := r.zone(c)
	if err != nil {
		return err
	}
	var window accounting.Range
	if c.IsSet("starttime") {
		if window, err = accounting.ParseRange(c.String("starttime"), cmpOr(c.String("endtime"), "now"), r.cfg.now(), loc); err != nil {
			return usagef(c, "--starttime/--endtime: %v", err)
		}
	} else {
		if c.IsSet("endtime") {
			return usagef(c, "--endtime needs --starttime")
		}
		now := r.cfg.now().In(loc)
		end := accounting.LocalTime(loc, now.Year(), now.Month(), now.Day(), now.Hour(), 0, 0)
		if end.After(now) { // the hour skipped when the clocks spring forward
			end = now
		}
		window = accounting.Range{Start: end.Add(-24 * time.Hour), End: end}
	}
	req := &gpuqv1.UtilizationRequest{Start: timestamp(window.Start), End: timestamp(window.End), By: accounting.GroupingProto[by], Per: accounting.BucketingProto[per],
		TimeZone: loc.String()}
	if strings.EqualFold(c.String("tz"), "local") {
		// gpuqd cannot read the local zone by name: the same period in
		// UTC hours.
		req.TimeZone = ""
	}

	cl, err := r.client(c)
	if err != nil {
		return err
	}
	resp, err := cl.Utilization(c.Context, req)
	if err != nil {
		return err
	}
	respLoc := loc
	if req.TimeZone == "" {
		respLoc = time.UTC
	}
	if path := c.String("svg"); path != "" {
		if err := writeUtilizationSVG(path, r.stdout, resp, respLoc); err != nil {
			return err
		}
		if path == "-" {
			return nil
		}
	}
	if c.Bool("json") {
		return writeJSONMessage(r.stdout, resp)
	}
	var b strings.Builder
	writeUtilization(&b, resp, respLoc)
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

var (
	groupWords = map[gpuqv1.UtilizationGroup]string{
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_TEAM: "team",
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_USER: "user",
		gpuqv1.UtilizationGroup_UTILIZATION_GROUP_POOL: "pool",
	}
	bucketWords = map[gpuqv1.UtilizationBucket]string{
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR:        "per hour",
		gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY: "per hour of the day",
	}
)

// utilizationTitle is the report's first line: what it counts, over what.
func utilizationTitle(resp *gpuqv1.UtilizationResponse, loc *time.Location) (title, period string) {
	title = fmt.Sprintf("GPU-hours by %s %s", cmpOr(groupWords[resp.By], "team"), cmpOr(bucketWords[resp.Per], "per hour"))
	const layout = "2006-01-02 15:04"
	period = fmt.Sprintf("%s to %s (%s)", resp.GetStart().AsTime().In(loc).Format(layout), resp.GetEnd().AsTime().In(loc).Format(layout), loc)
	return title, period
}

// rowLabels names the rows: their hour of the day, or their local start,
// with the zone's abbreviation when the period has a clock change and the
// date when it spans more than a day (long says whether to add it for the
// table).
func rowLabels(resp *gpuqv1.UtilizationResponse, loc *time.Location, long bool) []string {
	out := make([]string, len(resp.Rows))
	if resp.Per == gpuqv1.UtilizationBucket_UTILIZATION_BUCKET_HOUR_OF_DAY {
		for i, r := range resp.Rows {
			out[i] = fmt.Sprintf("%02d:00", r.Hour)
		}
		return out
	}
	offsets, days := map[int]bool{}, map[string]bool{}
	for _, r := range resp.Rows {
		t := r.GetStart().AsTime().In(loc)
		_, off := t.Zone()
		offsets[off] = true
		days[t.Format(time.DateOnly)] = true
	}
	layout := "15:04"
	if long || len(days) > 1 {
		layout = "2006-01-02 15:04"
		if !long {
			layout = "01-02 15:04"
		}
	}
	if len(offsets) > 1 {
		layout += " MST"
	}
	for i, r := range resp.Rows {
		out[i] = r.GetStart().AsTime().In(loc).Format(layout)
	}
	return out
}

// writeUtilization writes the report as a table: a row per hour, a column
// per group and the TOTAL, and a TOTAL row.
func writeUtilization(b *strings.Builder, resp *gpuqv1.UtilizationResponse, loc *time.Location) {
	title, period := utilizationTitle(resp, loc)
	fmt.Fprintf(b, "%s, %s\n\n", title, period)
	header := []string{"HOUR"}
	header = append(header, resp.Groups...)
	header = append(header, "TOTAL")
	rows := [][]string{header}
	labels := rowLabels(resp, loc, true)
	for i, r := range resp.Rows {
		row := []string{labels[i]}
		for _, h := range r.GpuHours {
			row = append(row, hours(h))
		}
		rows = append(rows, append(row, hours(r.TotalGpuHours)))
	}
	total := []string{"TOTAL"}
	for _, h := range resp.TotalGpuHours {
		total = append(total, hours(h))
	}
	rows = append(rows, append(total, hours(resp.Total)))
	writeTable(b, rows, "lr")
}

// writeUtilizationSVG writes the report as a stacked bar chart to path, or
// to stdout for "-".
func writeUtilizationSVG(path string, stdout io.Writer, resp *gpuqv1.UtilizationResponse, loc *time.Location) error {
	title, period := utilizationTitle(resp, loc)
	ch := &chart.StackedBars{Title: title, Subtitle: period, YLabel: "GPU-hours", Labels: rowLabels(resp, loc, false)}
	for gi, g := range resp.Groups {
		s := chart.Series{Name: g, Values: make([]float64, len(resp.Rows))}
		for i, r := range resp.Rows {
			if gi < len(r.GpuHours) {
				s.Values[i] = r.GpuHours[gi]
			}
		}
		ch.Series = append(ch.Series, s)
	}
	if path == "-" {
		return ch.WriteSVG(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return &inputError{source: "--svg", err: err}
	}
	if err := ch.WriteSVG(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	return nil
}
