package ctl

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func (r *runner) showCommand() *cli.Command {
	return &cli.Command{
		Name:         "show",
		Usage:        "show details (like scontrol show)",
		UsageText:    "gpuqctl show job JOB\ngpuqctl show node [NAME...]",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef(c, "show what? (gpuqctl show job JOB, or show node [NAME])")
			}
			return usagef(c, "cannot show %q (gpuqctl show job JOB, or show node [NAME])", c.Args().First())
		},
		Subcommands: []*cli.Command{{
			Name:      "job",
			Aliases:   []string{"jobs"},
			Usage:     "show a job, or every task of an array job, as scontrol show job does",
			UsageText: "gpuqctl show job [--json] JOB\n\nJOB is 42, 42_3 for one task, or 42 for every task of an array job.",
			Flags: []cli.Flag{
				newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the jobs as a JSON array (protojson)"}),
			},
			OnUsageError: onUsageError,
			Action:       r.showJob,
		}, r.showNodeCommand()},
	}
}

func (r *runner) showJob(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef(c, "want one job, 42 or 42_3")
	}
	refs, err := job.ParseRefs(c.Args().First())
	if err != nil {
		return usagef(c, "%v", err)
	}
	if len(refs) != 1 {
		return usagef(c, "want one job, 42 or 42_3, not %q", c.Args().First())
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	jobs, err := cl.Get(c.Context, refs[0])
	if errors.Is(err, job.ErrNotFound) {
		// As scontrol: a job leaves the queue a while after it ends.
		return fmt.Errorf("%w (an ended job leaves the queue defaults.min_job_age after its end; gpuqctl acct -j %s has its record)", err, refs[0])
	}
	if err != nil {
		return err
	}
	sortJobsByID(jobs)
	if c.Bool("json") {
		return writeJSON(r.stdout, jobs)
	}
	var b strings.Builder
	for _, j := range jobs {
		writeJobRecord(&b, j, r.cfg.now(), r.cfg.loc)
	}
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

func sortJobsByID(jobs []*gpuqv1.Job) {
	sort.SliceStable(jobs, func(i, k int) bool {
		if jobs[i].Id != jobs[k].Id {
			return jobs[i].Id < jobs[k].Id
		}
		return compareTask(jobs[i], jobs[k]) < 0
	})
}

// writeJobRecord writes one job as scontrol show job does: Key=Value pairs,
// a few to a line, continuation lines indented, a blank line after.
func writeJobRecord(b *strings.Builder, j *gpuqv1.Job, now time.Time, loc *time.Location) {
	s := j.Spec
	if s == nil {
		s = &gpuqv1.JobSpec{}
	}
	first := []string{"JobId=" + job.RefOf(j).String()}
	if j.ArrayTaskId != nil {
		first = append(first, "ArrayJobId="+strconv.FormatUint(j.Id, 10),
			"ArrayTaskId="+strconv.FormatUint(uint64(j.GetArrayTaskId()), 10))
		if m := s.GetArray().GetMaxConcurrent(); m > 0 {
			first = append(first, "ArrayTaskThrottle="+strconv.FormatUint(uint64(m), 10))
		}
	}
	first = append(first, "JobName="+orNull(s.Name))
	gpuType := s.GetGpus().GetType()
	if gpuType == "" {
		gpuType = "any"
	}
	requeue := "1"
	if s.NoRequeue {
		requeue = "0"
	}
	held := "0"
	if j.Held {
		held = "1"
	}
	lines := [][]string{
		first,
		{"UserId=" + orNull(s.User), "Team=" + orNull(s.Team)},
		{"Priority=" + priorityString(j.Priority), "Nice=" + strconv.Itoa(int(s.Nice)), "QOS=" + orNull(s.Qos), "Pool=" + orNull(s.Pool)},
		{"JobState=" + job.StateName(j.State), "Reason=" + orNone(j.Reason), "Held=" + held, "Dependency=" + orNull(dependencyString(s))},
		{"Requeue=" + requeue, "Restarts=" + strconv.FormatUint(uint64(j.Restarts), 10), "ExitCode=" + strconv.Itoa(int(j.ExitCode)) + ":" + strconv.Itoa(int(j.ExitSignal))},
		{"RunTime=" + slurmDuration(elapsed(j, now)), "TimeLimit=" + limitString(s.GetTimeLimit().AsDuration(), slurmDuration)},
		{"SubmitTime=" + slurmTime(j.SubmitTime, loc, "Unknown"), "EligibleTime=" + slurmTime(j.EligibleTime, loc, "Unknown")},
		{"BeginTime=" + slurmTime(s.Begin, loc, "None"), "StartTime=" + slurmTime(j.StartTime, loc, "Unknown"), "EndTime=" + slurmTime(j.EndTime, loc, "Unknown")},
		{"NodeList=" + orNull(j.Node), "GPUIDs=" + orNull(strings.Join(j.GpuIds, ","))},
		{"NumGPUs=" + strconv.FormatUint(uint64(s.GetGpus().GetCount()), 10), "GPUType=" + gpuType,
			"NumCPUs=" + zeroNA(uint64(s.Cpus), strconv.FormatUint), "MinMemory=" + memoryString(s.MemoryBytes)},
		{"Image=" + orNull(s.Image), "Signal=" + orNull(signalString(s.Signal))},
		{"Command=" + orNull(commandString(s))},
		{"WorkDir=" + orNull(s.Chdir)},
		{"StdOut=" + orNull(s.Output)},
		{"StdErr=" + orNull(s.Error)},
	}
	if s.Array != nil {
		lines = append(lines, []string{"ArraySpec=" + orNull(s.Array.Expr)})
	}
	if s.Comment != "" {
		lines = append(lines, []string{"Comment=" + s.Comment})
	}
	// The scheduler's recorded decisions: why it started here, why it was
	// preempted.
	for _, d := range j.Decisions {
		lines = append(lines, []string{"Decision=" + d.GetTime().AsTime().In(loc).Format("2006-01-02T15:04:05") + " " + d.Kind + ": " + d.Detail})
	}
	for i, l := range lines {
		if i > 0 {
			b.WriteString("   ")
		}
		b.WriteString(strings.Join(l, " "))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

// signalString spells a warning signal as --signal takes it: USR1@90.
func signalString(w *gpuqv1.WarningSignal) string {
	if w == nil || w.Name == "" {
		return ""
	}
	return fmt.Sprintf("%s@%d", w.Name, int64(w.GetBefore().AsDuration()/time.Second))
}
