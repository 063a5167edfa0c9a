package ctl

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"

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
	if c.Bool("json") || !brief(items) {
		jobs, err := cl.List(c.Context, f)
		if err != nil {
			return err
		}
		sortJobs(jobs)
		if c.Bool("json") {
			return writeJSON(r.stdout, jobs)
		}
		views := collapse(jobs, !c.Bool("array"))
		return r.writeLines(c, items, len(views), func(i int) (view, error) { return views[i], nil })
	}
	// The usual columns: the brief view, read without a message per job.
	// What a listing allocates lives until the process exits, a few MB for
	// 10,000 jobs: collecting it would only cost time on a short-lived
	// process, so the collector waits for a memory limit instead.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(listMemoryLimit))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	wire, err := cl.ListBrief(c.Context, f)
	if err != nil {
		return err
	}
	rows, err := decodeRows(wire)
	if err != nil {
		return err
	}
	sortBy(rows, rowOrder)
	lines := collapseBy(rows, rowOrder, !c.Bool("array"))
	var s scratch
	return r.writeLines(c, items, len(lines), func(i int) (view, error) {
		j, err := s.load(rows[lines[i].first].msg)
		return view{job: j, tasks: lines[i].tasks}, err
	})
}

// listMemoryLimit is the soft memory limit while queue lists jobs with the
// collector off: far above the ~10 MB a queue of 10,000 jobs takes.
const listMemoryLimit = 256 << 20

// writeLines writes the header, unless -h, and n lines, the i-th line of
// line(i).
func (r *runner) writeLines(c *cli.Context, items []item, n int, line func(i int) (view, error)) error {
	// Lines go out in 64 KiB pieces: the whole output of a large queue
	// would be as many fresh pages as its size.
	b := bufio.NewWriterSize(r.stdout, 64<<10)
	if !c.Bool("noheader") {
		renderLine(b, items, nil)
	}
	now := r.cfg.now()
	for i := range n {
		v, err := line(i)
		if err != nil {
			return fmt.Errorf("read the listing: %w", err)
		}
		v.now, v.loc = now, r.cfg.loc
		renderLine(b, items, &v)
	}
	return b.Flush()
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
		if errors.Is(err, errNoLocalName) {
			// gpuqd knows whom it takes this caller for; $USER may name
			// someone else, and cancel --me acts on what it names.
			u, err = r.whoami(c)
		}
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

// order is what sorting and collapsing look at in a job.
type order struct {
	state    gpuqv1.JobState
	priority float64
	id       uint64
	task     uint32
	hasTask  bool
	reason   string
}

func jobOrder(j *gpuqv1.Job) order {
	return order{j.State, j.Priority, j.Id, j.GetArrayTaskId(), j.ArrayTaskId != nil, j.Reason}
}

func rowOrder(r row) order { return r.order }

// sortJobs sorts like squeue: running jobs first, then pending jobs by
// priority (highest first), then ended jobs; ties by job id and task id.
func sortJobs(jobs []*gpuqv1.Job) { sortBy(jobs, jobOrder) }

// sortBy sorts by key. Keys differ (a job id and task id name one job), so
// an unstable sort orders as a stable one would, and faster.
func sortBy[T any](xs []T, key func(T) order) {
	slices.SortFunc(xs, func(x, y T) int {
		a, b := key(x), key(y)
		if c := cmp.Compare(stateRank(a.state), stateRank(b.state)); c != 0 {
			return c
		}
		if a.state == gpuqv1.JobState_JOB_STATE_PENDING && b.state == gpuqv1.JobState_JOB_STATE_PENDING {
			if c := cmp.Compare(b.priority, a.priority); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		switch {
		case !a.hasTask && !b.hasTask:
			return 0
		case !a.hasTask:
			return -1
		case !b.hasTask:
			return 1
		}
		return cmp.Compare(a.task, b.task)
	})
}

// collapse turns sorted jobs into lines. With together set, pending tasks of
// one array that wait for the same reason share the line of the first.
func collapse(jobs []*gpuqv1.Job, together bool) []view {
	lines := collapseBy(jobs, jobOrder, together)
	views := make([]view, len(lines))
	for i, l := range lines {
		views[i] = view{job: jobs[l.first], tasks: l.tasks}
	}
	return views
}

// line is one line of output: the index of its first job, and the tasks of
// a collapsed line (nil otherwise).
type line struct {
	first int
	tasks []uint32
}

func collapseBy[T any](xs []T, key func(T) order, together bool) []line {
	type group struct {
		id     uint64
		reason string
	}
	var (
		out    = make([]line, 0, len(xs))
		groups = map[group]int{} // index in out
	)
	for i, x := range xs {
		k := key(x)
		if !together || !k.hasTask || k.state != gpuqv1.JobState_JOB_STATE_PENDING {
			out = append(out, line{first: i})
			continue
		}
		g := group{k.id, k.reason}
		if at, ok := groups[g]; ok {
			out[at].tasks = append(out[at].tasks, k.task)
			continue
		}
		groups[g] = len(out)
		out = append(out, line{first: i, tasks: []uint32{k.task}})
	}
	for i := range out {
		l := &out[i]
		switch len(l.tasks) {
		case 0:
		case 1:
			l.tasks = nil // one task reads better as 42_3
		default:
			slices.Sort(l.tasks)
			l.tasks = slices.Compact(l.tasks)
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
