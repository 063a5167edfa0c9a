package ctl

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func (r *runner) cancelCommand() *cli.Command {
	return &cli.Command{
		Name:    "cancel",
		Aliases: []string{"scancel"},
		Usage:   "cancel jobs (like scancel)",
		UsageText: "gpuqctl cancel [options] [JOB...]\n\n" +
			"JOB is 42, 42_3 for one task, or 44_[1-5,7] for some tasks of an array job.\n" +
			"Filters narrow the jobs named, or select jobs by themselves; give at least one\n" +
			"job or filter. Errors are reported per job; the exit status is 1 if any failed.",
		Flags: []cli.Flag{
			newBoolFlag(&cli.BoolFlag{Name: "me", Usage: "only my jobs"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Aliases: []string{"A"}, Usage: "only the jobs of these `TEAMS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "user", Aliases: []string{"u"}, Usage: "only the jobs of these `USERS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "state", Aliases: []string{"t"}, Usage: "only jobs in these `STATES`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "name", Aliases: []string{"n"}, Usage: "only jobs with these `NAMES`"}),
			newStringFlag(&cli.StringFlag{Name: "reason", Usage: "`REASON` recorded with the cancellation (default CancelledByUser)"}),
			newBoolFlag(&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say which jobs were cancelled"}),
		},
		OnUsageError: onUsageError,
		Action:       r.cancel,
	}
}

func (r *runner) cancel(c *cli.Context) error {
	f, err := r.filter(c)
	if err != nil {
		return err
	}
	if f.Jobs, err = parseRefArgs(c.Args().Slice()); err != nil {
		return usagef(c, "%v", err)
	}
	if len(f.Jobs) == 0 && len(f.Teams) == 0 && len(f.Users) == 0 && len(f.Names) == 0 && len(f.States) == 0 && !f.IncludeEnded {
		return usagef(c, "name the jobs to cancel, or select them with --me, --team, --user, --state or --name")
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	outs, err := cl.Cancel(c.Context, f, c.String("reason"))
	if err != nil {
		return err
	}
	return r.outcomes(outs, c.Bool("verbose"), "cancelled")
}

func (r *runner) holdCommand(name, usage string) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		UsageText: "gpuqctl " + name + " JOB...\n\n" +
			"JOB is 42, 42_3 for one task, or 44_[1-5,7] for some tasks of an array job.",
		Flags: []cli.Flag{
			newBoolFlag(&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say which jobs were " + name + "d"}),
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			refs, err := parseRefArgs(c.Args().Slice())
			if err != nil {
				return usagef(c, "%v", err)
			}
			if len(refs) == 0 {
				return usagef(c, "name the jobs to %s", name)
			}
			cl, err := r.client(c)
			if err != nil {
				return err
			}
			call := cl.Hold
			done := "held"
			if name == "release" {
				call, done = cl.Release, "released"
			}
			outs, err := call(c.Context, &gpuqv1.JobFilter{Jobs: refs})
			if err != nil {
				return err
			}
			return r.outcomes(outs, c.Bool("verbose"), done)
		},
	}
}

// outcomes reports the jobs an action failed for, one line each, and fails
// when there is any.
func (r *runner) outcomes(outs []*gpuqv1.JobOutcome, verbose bool, done string) error {
	failed := 0
	for _, o := range outs {
		if err := client.OutcomeErr(o); err != nil {
			r.errorf("%v", err)
			failed++
		} else if verbose {
			fmt.Fprintf(r.stdout, "job %s %s\n", job.FromProto(o.GetJob()), done)
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}
