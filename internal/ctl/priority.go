package ctl

import (
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func (r *runner) priorityCommand() *cli.Command {
	return &cli.Command{
		Name:    "priority",
		Aliases: []string{"sprio"},
		Usage:   "show the priority factors of pending jobs (like sprio)",
		UsageText: "gpuqctl priority [-j JOBS] [-u USERS] [--team TEAMS] [-n] [--json]\n\n" +
			"Each pending job eligible at the last scheduling decision, highest priority\n" +
			"first: the priority and its weighted factors (fair share, time zone, age,\n" +
			"job size, QOS; -n shows the factors themselves, each in [0,1]) and nice.\n" +
			"The time-zone factor is 1 while the job's team is in its working hours, for a\n" +
			"job submitted in them; a job submitted outside them gets 0.",
		Flags: []cli.Flag{
			newStringSliceFlag(&cli.StringSliceFlag{Name: "job", Aliases: []string{"j"}, Usage: "only these `JOBS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "user", Aliases: []string{"u"}, Usage: "only these `USERS`' jobs"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Usage: "only these `TEAMS`' jobs"}),
			newBoolFlag(&cli.BoolFlag{Name: "norm", Aliases: []string{"n"}, Usage: "show the factors in [0,1] instead of weighted"}),
			newBoolFlag(&cli.BoolFlag{Name: "noheader", Aliases: []string{"h"}, Usage: "print no header line"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the factors as a JSON array (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.priority,
	}
}

func (r *runner) priority(c *cli.Context) error {
	f := &gpuqv1.JobFilter{Users: splitLists(c.StringSlice("user")), Teams: splitLists(c.StringSlice("team"))}
	for _, arg := range splitLists(c.StringSlice("job")) {
		refs, err := job.ParseRefs(arg)
		if err != nil {
			return usagef(c, "--job: %v", err)
		}
		for _, ref := range refs {
			f.Jobs = append(f.Jobs, ref.Proto())
		}
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	rows, err := cl.Priority(c.Context, f)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(r.stdout, rows)
	}
	var table [][]string
	if !c.Bool("noheader") {
		table = append(table, []string{"JOBID", "TEAM", "USER", "PRIORITY", "FAIRSHARE", "TIMEZONE", "AGE", "JOBSIZE", "QOS", "NICE"})
	}
	for _, p := range rows {
		num := func(weighted, raw float64) string {
			if c.Bool("norm") {
				return strconv.FormatFloat(raw, 'f', 4, 64)
			}
			return strconv.FormatFloat(weighted, 'f', 0, 64)
		}
		table = append(table, []string{
			job.FromProto(p.Job).String(), p.Team, p.User, strconv.FormatFloat(p.Priority, 'f', 0, 64),
			num(p.FairShareWeighted, p.FairShare), num(p.TimeZoneWeighted, p.TimeZone), num(p.AgeWeighted, p.Age),
			num(p.JobSizeWeighted, p.JobSize), num(p.QosWeighted, p.Qos), strconv.Itoa(int(p.Nice)),
		})
	}
	var b strings.Builder
	writeTable(&b, table, "lllr")
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

func (r *runner) shareCommand() *cli.Command {
	return &cli.Command{
		Name:    "share",
		Aliases: []string{"sshare"},
		Usage:   "show each team's and user's fair-share standing (like sshare)",
		UsageText: "gpuqctl share [--json]\n\n" +
			"RawShares and NormShares are the configured shares; RawUsage is billed\n" +
			"GPU-seconds decayed with the half-life (7 days), NormUsage its part of all\n" +
			"usage; FairShare is 2^(-NormUsage/NormShares); InHours is the team's\n" +
			"time-zone factor now. Users are listed under their team.",
		Flags: []cli.Flag{
			newBoolFlag(&cli.BoolFlag{Name: "noheader", Aliases: []string{"h"}, Usage: "print no header line"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the standings as a JSON array (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			cl, err := r.client(c)
			if err != nil {
				return err
			}
			rows, err := cl.Shares(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(r.stdout, rows)
			}
			var table [][]string
			if !c.Bool("noheader") {
				table = append(table, []string{"Team", "User", "RawShares", "NormShares", "RawUsage", "NormUsage", "FairShare", "InHours"})
			}
			f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
			for _, s := range rows {
				team, inHours := s.Team, f(s.TimeZone, 2)
				if s.User != "" {
					// The time-zone factor belongs to the team, shown on its row.
					team, inHours = " "+s.Team, ""
				}
				table = append(table, []string{team, s.User, f(s.Shares, 2), f(s.NormShares, 6), f(s.Usage, 0),
					f(s.NormUsage, 6), f(s.FairShare, 6), inHours})
			}
			var b strings.Builder
			writeTable(&b, table, "llr")
			_, err = io.WriteString(r.stdout, b.String())
			return err
		},
	}
}
