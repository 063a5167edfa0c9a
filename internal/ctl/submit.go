package ctl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"

	"github.com/gpuq/gpuq/internal/batch"
	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// submitUsage is the help text of each option internal/batch supports; the
// options themselves (names, aliases, short letters, whether they take a
// value) come from batch.Flags, so the command line and the directives know
// the same options. Slurm options gpuq ignores are hidden flags that warn.
var submitUsage = map[string]string{
	"gpus":          "`GPUS` as [TYPE:]COUNT: 4, a100:4",
	"gres":          "`GRES`: GPUs the Slurm way, gpu[:TYPE]:COUNT",
	"time":          "time `LIMIT`: MINUTES, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]",
	"team":          "charge the job to `TEAM` (default $GPUQ_TEAM)",
	"job-name":      "job `NAME` (default: the script's file name)",
	"output":        "stdout `FILE`; %j job id, %A array job id, %a task id, %x name, %u user",
	"error":         "stderr `FILE`, as --output",
	"chdir":         "working `DIR` of the job (default: the current one)",
	"export":        "environment `VARS` to pass: ALL (default), NONE, or [ALL,]NAME[=VALUE],...",
	"image":         "container `IMAGE` (default: the node's)",
	"signal":        "`SIGNAL` to send before the time limit: [R:]SIG[@SECONDS]",
	"requeue":       "requeue after preemption or node failure (the default)",
	"no-requeue":    "never requeue",
	"array":         "array `TASKS`: 0-99, 1,3,5-7:2, 0-99%8 for at most 8 at once",
	"dependency":    "`DEPS`: TYPE:JOB[:JOB...][,...] with TYPE after, afterany, afterok or afternotok; or singleton",
	"hold":          "submit the job held (release it with gpuqctl release)",
	"nice":          "lower the priority by `N` (--nice alone: 100; negative raises it)",
	"begin":         "not before `TIME`: now+1hour, 16:00, 2026-11-27T09:00, tomorrow",
	"partition":     "run in `POOL`",
	"qos":           "quality of service `QOS`",
	"cpus-per-task": "`CPUS` (default: the node's)",
	"mem":           "`MEM` per job: 32G, 512M (default: the node's)",
	"comment":       "free-form `TEXT`",
	"nodes":         "`N` nodes: gpuq runs every job on one node",
	"ntasks":        "`N` tasks: gpuq runs one task per job",
}

const submitDescription = `Submits a batch script like sbatch. Options come from #SBATCH and #GPUQ lines
at the top of the script (#GPUQ lines win over #SBATCH lines); flags on the
command line win over both. Slurm options gpuq cannot honour are accepted with
a warning. Arguments after the script are passed to it. The script is read
from standard input when it is "-" or missing (and input is not a terminal).

Defaults, like sbatch: the team is $GPUQ_TEAM; the job name is the script's
file name ("wrap" with --wrap); the working directory is the current one; the
user is the one running gpuqctl.

Prints "Submitted job 42", or "42" with --parsable. A submission gpuqd did
not take is retried once with the same request id, so it never runs twice.

With --wait, gpuqctl waits until every task ended and exits with the job's
exit code (the highest of an array's tasks), 128+N for a job killed by
signal N, or 1 for a job that ended FAILED, CANCELLED, TIMEOUT, ... with
exit code 0. An exit code of 2 or 3 may then come from the job or from
gpuqctl: check standard error.`

// ownFlag reports whether submit handles an option itself rather than
// through batch (as a directive these only warn).
func ownFlag(name string) bool { return name == "wrap" || name == "parsable" || name == "wait" }

func (r *runner) submitCommand() *cli.Command {
	flags := []cli.Flag{
		newStringFlag(&cli.StringFlag{Name: "wrap", Usage: "submit `COMMAND` wrapped in a /bin/sh script instead of a script file"}),
		newBoolFlag(&cli.BoolFlag{Name: "parsable", Usage: "print only the job id"}),
		newBoolFlag(&cli.BoolFlag{Name: "wait", Aliases: []string{"W"}, Usage: "wait for the job to end and exit with its exit code"}),
		newStringFlag(&cli.StringFlag{Name: "request-id", Usage: "idempotency `KEY`: a submission with a key gpuqd has seen returns that job (default: random)"}),
	}
	const category = "Job options (also #SBATCH / #GPUQ directives)"
	for _, o := range batch.Flags() {
		if ownFlag(o.Name) {
			continue
		}
		usage, hidden := submitUsage[o.Name], !o.Supported
		if o.Value {
			flags = append(flags, newStringFlag(&cli.StringFlag{Name: o.Name, Aliases: o.Aliases, Usage: usage, Category: category, Hidden: hidden}))
		} else {
			flags = append(flags, newBoolFlag(&cli.BoolFlag{Name: o.Name, Aliases: o.Aliases, Usage: usage, Category: category, Hidden: hidden}))
		}
	}
	return &cli.Command{
		Name:         "submit",
		Aliases:      []string{"sbatch"},
		Usage:        "submit a batch script (like sbatch)",
		UsageText:    "gpuqctl submit [options] SCRIPT [ARGS...]\ngpuqctl submit [options] --wrap COMMAND",
		Description:  submitDescription,
		Flags:        flags,
		OnUsageError: onUsageError,
		Action:       r.submit,
	}
}

func (r *runner) submit(c *cli.Context) error {
	script, source, err := r.readScript(c)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	if len(args) > 0 {
		args = args[1:]
	}
	if c.Bool("requeue") && c.Bool("no-requeue") {
		return usagef(c, "--requeue and --no-requeue contradict each other")
	}
	spec, err := r.buildSpec(c, script, source)
	if err != nil {
		return err
	}
	spec.Args = args

	cl, err := r.client(c)
	if err != nil {
		return err
	}
	requestID := c.String("request-id")
	if requestID == "" {
		requestID = r.cfg.requestID()
	}
	resp, err := r.submitOnce(c.Context, cl, spec, requestID)
	if err != nil {
		return err
	}
	for _, w := range resp.Warnings {
		r.warn("%s", w)
	}
	if c.Bool("parsable") {
		fmt.Fprintf(r.stdout, "%d\n", resp.JobId)
	} else {
		fmt.Fprintf(r.stdout, "Submitted job %d\n", resp.JobId)
	}
	if !c.Bool("wait") {
		return nil
	}
	code, err := r.wait(c.Context, cl, resp.JobId)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// scriptSource names a script in messages and says what it defaults.
type scriptSource struct {
	display string // "train.sh", "--wrap", "standard input"
	path    string // absolute path recorded in the spec; empty if none
	name    string // default job name
}

func (r *runner) readScript(c *cli.Context) ([]byte, scriptSource, error) {
	args := c.Args().Slice()
	if c.IsSet("wrap") {
		if len(args) > 0 {
			return nil, scriptSource{}, usagef(c, "--wrap takes no script, got %q", args[0])
		}
		if c.String("wrap") == "" {
			return nil, scriptSource{}, usagef(c, "--wrap needs a command")
		}
		return batch.Wrap(c.String("wrap")), scriptSource{display: "--wrap", name: "wrap"}, nil
	}
	if len(args) == 0 || args[0] == "-" {
		if r.cfg.stdin == nil || len(args) == 0 && isTerminal(r.cfg.stdin) {
			return nil, scriptSource{}, usagef(c, "missing batch script: give a file, - to read standard input, or --wrap COMMAND")
		}
		script, err := io.ReadAll(io.LimitReader(r.cfg.stdin, batch.MaxScriptSize+1))
		if err != nil {
			return nil, scriptSource{}, fmt.Errorf("read standard input: %w", err)
		}
		return script, scriptSource{display: "standard input", name: "stdin"}, nil
	}
	path := args[0]
	script, err := readFileLimited(path, batch.MaxScriptSize+1)
	if err != nil {
		return nil, scriptSource{}, &inputError{err: err}
	}
	abs := path
	if !filepath.IsAbs(abs) {
		wd, err := r.cfg.getwd()
		if err != nil {
			return nil, scriptSource{}, err
		}
		abs = filepath.Join(wd, path)
	}
	return script, scriptSource{display: path, path: abs, name: filepath.Base(path)}, nil
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// isTerminal reports whether r is a terminal, where sbatch would not wait
// for a script to be typed.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// buildSpec applies the script's directives, then the flags, then the
// defaults gpuqctl fills in.
func (r *runner) buildSpec(c *cli.Context, script []byte, src scriptSource) (*gpuqv1.JobSpec, error) {
	ds, warnings, err := batch.ParseDirectives(script)
	if err != nil {
		return nil, scriptError(src, err)
	}
	var o batch.Options
	more, err := o.ApplyDirectives(ds)
	if err != nil {
		return nil, scriptError(src, err)
	}
	for _, w := range append(warnings, more...) {
		r.warn("%s", w)
	}
	for _, opt := range batch.Flags() {
		if ownFlag(opt.Name) || !c.IsSet(opt.Name) {
			continue
		}
		value := c.String(opt.Name)
		if !opt.Value {
			value = ""
			if !c.Bool(opt.Name) {
				value = "false"
			}
		}
		w, err := o.Set(opt.Name, value)
		if err != nil {
			return nil, &inputError{err: err}
		}
		if w != "" {
			r.warn("%s", w)
		}
	}
	if o.Team == "" {
		o.Team = r.cfg.getenv("GPUQ_TEAM")
	}
	now := r.cfg.now().In(r.cfg.loc)
	spec, err := o.Spec(script, now, r.cfg.environ())
	if err != nil {
		return nil, &inputError{err: err}
	}
	if spec.Name == "" {
		spec.Name = src.name
	}
	switch spec.User, err = r.username(); {
	case errors.Is(err, errNoLocalName):
		// gpuqd names the caller: by its uid on the socket, by its
		// credentials on TCP.
		spec.User = ""
	case err != nil:
		return nil, err
	}
	wd, err := r.cfg.getwd()
	if err != nil {
		return nil, fmt.Errorf("current directory: %w", err)
	}
	switch {
	case spec.Chdir == "":
		spec.Chdir = wd
	case !filepath.IsAbs(spec.Chdir):
		spec.Chdir = filepath.Join(wd, spec.Chdir)
	}
	spec.ScriptPath = src.path
	return spec, nil
}

// scriptError names the script in an error about it as a whole; an error
// about one line names the line.
func scriptError(src scriptSource, err error) error {
	var fe *job.FieldError
	if errors.As(err, &fe) {
		return &inputError{err: err}
	}
	return &inputError{source: src.display, err: err}
}

// submitOnce submits, and retries once with the same request id when gpuqd
// did not answer: the first attempt may have been stored, and the request
// id makes sure the job exists once. The retry waits for the connection.
func (r *runner) submitOnce(ctx context.Context, cl *client.Client, spec *gpuqv1.JobSpec, requestID string) (*gpuqv1.SubmitJobResponse, error) {
	resp, err := cl.Submit(ctx, spec, requestID)
	if err == nil || !errors.Is(err, job.ErrUnavailable) || ctx.Err() != nil {
		return resp, err
	}
	if err := sleep(ctx, r.cfg.retryPause); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.retryWait)
	defer cancel()
	return cl.Submit(rctx, spec, requestID, grpc.WaitForReady(true))
}

// wait polls the job until every task ended and returns the exit code
// submit --wait exits with.
func (r *runner) wait(ctx context.Context, cl *client.Client, id uint64) (int, error) {
	delay := r.cfg.pollMin
	warned := false
	for {
		jobs, err := cl.Get(ctx, job.Ref{ID: id})
		switch {
		case ctx.Err() != nil:
			r.warn("stopped waiting; job %d goes on (gpuqctl cancel %d stops it)", id, id)
			return 0, ctx.Err()
		case err == nil:
			if done, code := finished(jobs); done {
				return code, nil
			}
		case errors.Is(err, job.ErrUnavailable):
			// gpuqd restarts; the job is stored and goes on.
			if !warned {
				r.warn("%v; still waiting for job %d", err, id)
				warned = true
			}
		default:
			return 0, fmt.Errorf("wait for job %d: %w", id, err)
		}
		// A cancelled sleep is seen by the next round.
		_ = sleep(ctx, delay)
		delay = min(delay*2, r.cfg.pollMax)
	}
}

// finished reports whether every task ended, and the exit code that stands
// for them: the highest task's, or 1 for a task that did not complete yet
// exited 0.
func finished(jobs []*gpuqv1.Job) (bool, int) {
	if len(jobs) == 0 {
		return false, 0
	}
	code := 0
	for _, j := range jobs {
		if !job.Ended(j.State) {
			return false, 0
		}
		code = max(code, taskExitCode(j))
	}
	return true, code
}

func taskExitCode(j *gpuqv1.Job) int {
	switch {
	case j.ExitCode > 0 && j.ExitCode < 256:
		return int(j.ExitCode)
	case j.ExitSignal > 0 && j.ExitSignal < 128:
		return 128 + int(j.ExitSignal)
	case j.State != gpuqv1.JobState_JOB_STATE_COMPLETED || j.ExitCode != 0:
		return 1
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newRequestID returns a random idempotency key for one invocation.
func newRequestID() string { return rand.Text() }
