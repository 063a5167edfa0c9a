package ctl

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const queueDescription = `Lists jobs like squeue: the jobs that have not ended, running ones first,
then pending ones by priority, then by id. Pending tasks of an array job that
wait for the same reason share one line, 42_[3-99%8]; --array shows one line
per task. Filters combine with AND; a comma list or a repeated flag means OR.

FORMAT (-o): literal text and fields %[.][WIDTH]CODE. WIDTH pads the value
and cuts it to that many characters; '.' aligns it right; %% is a '%'.
The default is "` + defaultQueueFormat + `".
   %i  JOBID: 42, 42_3, or 42_[3-99%8] for pending tasks shown together
   %A  ARRAY_JOB_ID: the job id without task (%F is the same)
   %K  ARRAY_TASK_ID: the task id, the tasks shown together, or N/A
   %j  NAME           %u  USER           %a  TEAM (Slurm's account; %g too)
   %T  STATE          %t  ST: compact state (PD, R, CG, CD, F, CA, TO, ...)
   %M  TIME: run time, M:SS, H:MM:SS or D-HH:MM:SS
   %l  TIME_LIMIT     %L  TIME_LEFT
   %b  GPUS: type:count, a100:4, or the count for any type
   %R  NODELIST(REASON): the node, or (Reason) for a pending job
   %r  REASON         %N  NODELIST       %D  NODES
   %V  SUBMIT_TIME    %S  START_TIME     %e  END_TIME
   %Q  PRIORITY       %y  NICE           %P  POOL (Slurm's partition)
   %q  QOS            %C  CPUS           %m  MIN_MEMORY
   %E  DEPENDENCY     %Z  WORK_DIR       %o  COMMAND        %k  COMMENT`

func (r *runner) queueCommand() *cli.Command {
	return &cli.Command{
		Name:        "queue",
		Aliases:     []string{"squeue"},
		Usage:       "list jobs (like squeue)",
		UsageText:   "gpuqctl queue [options]",
		Description: queueDescription,
		Flags: []cli.Flag{
			newBoolFlag(&cli.BoolFlag{Name: "me", Usage: "only my jobs"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Aliases: []string{"A"}, Usage: "only the jobs of these `TEAMS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "user", Aliases: []string{"u"}, Usage: "only the jobs of these `USERS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "state", Aliases: []string{"t"}, Usage: "only jobs in these `STATES` (PENDING or PD, RUNNING or R, ..., or all); default: those not ended"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "job", Aliases: []string{"j"}, Usage: "only these `JOBS`: 42, 42_3, 44_[1-5]"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "name", Aliases: []string{"n"}, Usage: "only jobs with these `NAMES`"}),
			newStringFlag(&cli.StringFlag{Name: "format", Aliases: []string{"o"}, Usage: "output `FORMAT`, squeue's % codes (see above)"}),
			newBoolFlag(&cli.BoolFlag{Name: "noheader", Aliases: []string{"h"}, Usage: "print no header line"}),
			newBoolFlag(&cli.BoolFlag{Name: "array", Aliases: []string{"r"}, Usage: "one line per array task"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the jobs as a JSON array (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.queue,
	}
}

func (r *runner) queue(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q (use --job to select jobs)", c.Args().First())
	}
	items, err := parseFormat(cmp.Or(c.String("format"), defaultQueueFormat))
	if err != nil {
		return usagef(c, "%v", err)
	}
	f, err := r.filter(c)
	if err != nil {
		return err
	}
	if len(f.Jobs) > 0 && len(f.States) == 0 {
		// Jobs named explicitly show whatever their state, like squeue -j.
		f.IncludeEnded = true
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	view := gpuqv1.JobView_JOB_VIEW_FULL
	if !c.Bool("json") && brief(items) {
		view = gpuqv1.JobView_JOB_VIEW_BRIEF
	}
	jobs, err := cl.ListView(c.Context, f, view)
	if err != nil {
		return err
	}
	sortJobs(jobs)
	if c.Bool("json") {
		return writeJSON(r.stdout, jobs)
	}
	views := collapse(jobs, !c.Bool("array"))
	var b strings.Builder
	b.Grow(80 * (len(views) + 1)) // a line of the default format is about that long
	if !c.Bool("noheader") {
		renderLine(&b, items, nil)
	}
	now := r.cfg.now()
	for i := range views {
		v := &views[i]
		v.now, v.loc = now, r.cfg.loc
		renderLine(&b, items, v)
	}
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

// filter builds a JobFilter from the selection flags queue and cancel share.
func (r *runner) filter(c *cli.Context) (*gpuqv1.JobFilter, error) {
	f := &gpuqv1.JobFilter{
		Teams: splitLists(c.StringSlice("team")),
		Users: splitLists(c.StringSlice("user")),
		Names: splitLists(c.StringSlice("name")),
	}
	if c.Bool("me") {
		u, err := r.username()
		if err != nil {
			return nil, err
		}
		f.Users = append(f.Users, u)
	}
	states, all, err := parseStates(c.StringSlice("state"))
	if err != nil {
		return nil, usagef(c, "--state: %v", err)
	}
	f.States, f.IncludeEnded = states, all
	if c.Command.Name == "queue" {
		if f.Jobs, err = parseRefArgs(c.StringSlice("job")); err != nil {
			return nil, usagef(c, "--job: %v", err)
		}
	}
	return f, nil
}

// stateRank orders states as squeue does: running, then pending, then ended.
func stateRank(s gpuqv1.JobState) int {
	switch s {
	case gpuqv1.JobState_JOB_STATE_RUNNING, gpuqv1.JobState_JOB_STATE_COMPLETING:
		return 0
	case gpuqv1.JobState_JOB_STATE_PENDING:
		return 1
	}
	return 2
}

// sortJobs sorts like squeue: running jobs first, then pending jobs by
// priority (highest first), then ended jobs; ties by job id and task id.
func sortJobs(jobs []*gpuqv1.Job) {
	slices.SortStableFunc(jobs, func(a, b *gpuqv1.Job) int {
		if c := cmp.Compare(stateRank(a.State), stateRank(b.State)); c != 0 {
			return c
		}
		if a.State == gpuqv1.JobState_JOB_STATE_PENDING && b.State == gpuqv1.JobState_JOB_STATE_PENDING {
			if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.Id, b.Id); c != 0 {
			return c
		}
		return compareTask(a, b)
	})
}

func compareTask(a, b *gpuqv1.Job) int {
	switch {
	case a.ArrayTaskId == nil && b.ArrayTaskId == nil:
		return 0
	case a.ArrayTaskId == nil:
		return -1
	case b.ArrayTaskId == nil:
		return 1
	}
	return cmp.Compare(a.GetArrayTaskId(), b.GetArrayTaskId())
}

// collapse turns sorted jobs into lines. With together set, pending tasks of
// one array that wait for the same reason share the line of the first.
func collapse(jobs []*gpuqv1.Job, together bool) []view {
	type key struct {
		id     uint64
		reason string
	}
	var (
		out    = make([]view, 0, len(jobs))
		groups = map[key]int{} // index in out
	)
	for _, j := range jobs {
		if !together || j.ArrayTaskId == nil || j.State != gpuqv1.JobState_JOB_STATE_PENDING {
			out = append(out, view{job: j})
			continue
		}
		k := key{j.Id, j.Reason}
		if g, ok := groups[k]; ok {
			out[g].tasks = append(out[g].tasks, j.GetArrayTaskId())
			continue
		}
		groups[k] = len(out)
		out = append(out, view{job: j, tasks: []uint32{j.GetArrayTaskId()}})
	}
	for i := range out {
		v := &out[i]
		switch len(v.tasks) {
		case 0:
		case 1:
			v.tasks = nil // one task reads better as 42_3
		default:
			slices.Sort(v.tasks)
			v.tasks = slices.Compact(v.tasks)
		}
	}
	return out
}

// writeJSON writes messages (jobs, nodes) as an indented JSON array of
// protojson objects. protojson's spacing is deliberately unstable;
// json.Indent makes it stable.
func writeJSON[M proto.Message](w io.Writer, msgs []M) error {
	var raw bytes.Buffer
	raw.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			raw.WriteByte(',')
		}
		b, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		raw.Write(b)
	}
	raw.WriteByte(']')
	var out bytes.Buffer
	if err := json.Indent(&out, raw.Bytes(), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}
