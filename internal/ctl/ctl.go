package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/client"
	"github.com/gpuq/gpuq/internal/job"
)

// Exit codes; doc.go and `gpuqctl help` describe them.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitInterrupted = 130
)

// config is what the commands take from the environment. Tests replace it.
type config struct {
	now      func() time.Time
	loc      *time.Location
	getenv   func(string) string
	environ  func() []string
	stdin    io.Reader
	username func() (string, error)
	getwd    func() (string, error)
	// requestID makes the idempotency key of a submission.
	requestID func() string
	// Backoff of submit --wait polling.
	pollMin, pollMax time.Duration
	// Pause before, and bound of, the retry of a submission gpuqd did not take.
	retryPause, retryWait time.Duration
}

func defaultConfig() config {
	return config{
		now:        time.Now,
		loc:        time.Local,
		getenv:     os.Getenv,
		environ:    os.Environ,
		stdin:      os.Stdin,
		username:   currentUser,
		getwd:      os.Getwd,
		requestID:  newRequestID,
		pollMin:    100 * time.Millisecond,
		pollMax:    2 * time.Second,
		retryPause: 250 * time.Millisecond,
		retryWait:  time.Second,
	}
}

// errNoLocalName: the user database has no name for gpuqctl's uid.
// gpuqctl is linked without cgo (it starts faster without the dynamic
// loader), so its database is /etc/passwd, not NSS: users known only
// through LDAP or SSSD are not in it. gpuqd, which is linked with cgo,
// names them from their uid on the socket.
var errNoLocalName = errors.New("no name for this uid in /etc/passwd")

// currentUser is the name of gpuqctl's uid in /etc/passwd. It does not
// trust $USER, which may name someone else (after su, say), as
// os/user.Current does without cgo.
func currentUser() (string, error) {
	uid := strconv.Itoa(os.Getuid())
	u, err := user.LookupId(uid)
	if err != nil || u.Username == "" {
		return "", fmt.Errorf("%w (uid %s)", errNoLocalName, uid)
	}
	return u.Username, nil
}

// Run runs gpuqctl with args (args[0] is the program name) and returns the
// process exit code. Output goes to stdout, messages to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, defaultConfig(), args, stdout, stderr)
}

func run(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) int {
	r := &runner{cfg: cfg, stdout: stdout, stderr: stderr}
	defer r.close()
	app := r.app()
	if len(args) == 0 {
		args = []string{"gpuqctl"}
	}
	err := app.RunContext(ctx, normalizeArgs(app, args))
	return r.exit(ctx, err)
}

// runner holds one invocation's state.
type runner struct {
	cfg            config
	stdout, stderr io.Writer
	conn           *client.Client
	token          string // a token to use instead of the stored one (login)
}

// client dials gpuqd on first use; the connection itself is made by the
// first call.
func (r *runner) client(c *cli.Context) (*client.Client, error) {
	if r.conn != nil {
		return r.conn, nil
	}
	creds, err := r.readCredentials()
	if err != nil {
		return nil, err
	}
	if r.token != "" {
		creds.Token = r.token
	}
	target := c.String("server")
	if target == "" && r.cfg.getenv(client.EnvServer) == "" && creds.Server != "" {
		target = creds.Server
	}
	if target == "" {
		target = client.Target("", r.cfg.getenv)
	}
	sec, err := r.security(c, creds)
	if err != nil {
		return nil, err
	}
	conn, err := client.Dial(target, sec)
	if err != nil {
		return nil, err
	}
	r.conn = conn
	return conn, nil
}

func (r *runner) close() {
	if r.conn != nil {
		_ = r.conn.Close()
	}
}

func (r *runner) warn(format string, args ...any) {
	fmt.Fprintf(r.stderr, "gpuqctl: warning: "+format+"\n", args...)
}

func (r *runner) errorf(format string, args ...any) {
	fmt.Fprintf(r.stderr, "gpuqctl: error: "+format+"\n", args...)
}

// usageError is a bad command line; inputError is bad input such as a batch
// script. Both exit with exitUsage; a usage error also points at --help.
type usageError struct {
	cmd string // command whose help to point at; empty for the whole program
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(c *cli.Context, format string, args ...any) error {
	return &usageError{cmd: commandPath(c), err: fmt.Errorf(format, args...)}
}

// commandPath is "submit" or "show job"; empty at the top level.
func commandPath(c *cli.Context) string {
	if c == nil || c.Command == nil {
		return ""
	}
	var names []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" && x.Command.Name != c.App.Name {
			names = append([]string{x.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

type inputError struct {
	source string // "train.sh", "--time"; may be empty
	err    error
}

func (e *inputError) Error() string {
	if e.source == "" {
		return e.err.Error()
	}
	return e.source + ": " + e.err.Error()
}
func (e *inputError) Unwrap() error { return e.err }

// exitError ends the program with a code and no message: a job's exit code
// (submit --wait), or failures that were reported already.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exit reports err on stderr and returns the exit code it stands for.
func (r *runner) exit(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var (
		ee  *exitError
		ue  *usageError
		ie  *inputError
		inv *job.InvalidError
	)
	switch {
	case errors.As(err, &ee):
		return ee.code
	case ctx.Err() != nil:
		// Whatever failed, it failed because the user stopped it.
		r.errorf("interrupted")
		return exitInterrupted
	case errors.As(err, &ue):
		r.errorf("%v", ue.err)
		help := "gpuqctl --help"
		if ue.cmd != "" {
			help = "gpuqctl " + ue.cmd + " --help"
		}
		fmt.Fprintf(r.stderr, "Run '%s' for usage.\n", help)
		return exitUsage
	case errors.As(err, &inv):
		prefix := ""
		if errors.As(err, &ie) && ie.source != "" {
			prefix = ie.source + ": "
		}
		for _, f := range inv.Fields {
			if f.Field == "" {
				r.errorf("%s%s", prefix, f.Problem)
			} else {
				r.errorf("%s%s: %s", prefix, f.Field, f.Problem)
			}
		}
		return exitUsage
	case errors.As(err, &ie):
		r.errorf("%v", err)
		return exitUsage
	case errors.As(err, new(cli.ExitCoder)):
		// Only urfave/cli's own help returns these: "No help topic for 'x'".
		r.errorf("%v", err)
		return exitUsage
	case errors.Is(err, job.ErrUnavailable):
		r.errorf("%v", err)
		return exitUnreachable
	}
	r.errorf("%v", err)
	return exitFailed
}

// setHelpFlag makes --help the only help flag: -h is squeue's --noheader.
// urfave/cli reads its HelpFlag global everywhere; it is set once, before
// the first app runs, and never changed after.
func setHelpFlag() {
	helpFlagOnce.Do(func() {
		cli.HelpFlag = &cli.BoolFlag{Name: "help", Usage: "show help", DisableDefaultText: true}
	})
}

var helpFlagOnce sync.Once

const appDescription = `gpuqctl submits batch jobs to gpuqd and shows and controls them, and shows,
drains and resumes the cluster's nodes, with the commands, options and output
formats of Slurm's sbatch, squeue, scancel, sinfo and scontrol.

The server is --server, else $GPUQ_SERVER, else the one gpuqctl login stored,
else unix:///run/gpuq/gpuqd.sock. It is "unix:///path", a socket path, or
"host:port". On the unix socket gpuqd knows you by your unix user; over TCP
(TLS) by the token gpuqctl login stored, or $GPUQ_TOKEN.

EXIT STATUS:
   0    success
   1    the action failed for at least one job or node (not found, wrong
        state), gpuqd refused it (not logged in, permission denied, a
        limit reached), or gpuqd failed
   2    usage error or bad input: bad flags, a bad batch script, or input
        gpuqd rejected as invalid
   3    gpuqd cannot be reached or is unavailable; retrying later may work
   130  interrupted (SIGINT or SIGTERM)
   submit --wait exits with the job's exit code instead (see submit --help).`

func (r *runner) app() *cli.App {
	setHelpFlag()
	return &cli.App{
		Name:        "gpuqctl",
		Usage:       "submit and control jobs on a gpuq GPU cluster",
		Description: appDescription,
		Version:     version(),
		Writer:      r.stdout,
		ErrWriter:   r.stderr,
		// Lists are split by gpuqctl, which keeps 44_[1,3] whole.
		DisableSliceFlagSeparator: true,
		// Errors are reported and turned into exit codes by Run, never by os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &usageError{cmd: commandPath(c), err: err}
		},
		Flags: []cli.Flag{
			newStringFlag(&cli.StringFlag{Name: "server", Usage: "gpuqd address: unix:///path, a socket path or host:port (default $GPUQ_SERVER, else the one gpuqctl login stored, else " + client.DefaultTarget + ")"}),
			newStringFlag(&cli.StringFlag{Name: "ca", Usage: "trust gpuqd's TLS certificate through this CA certificate `FILE` (default $GPUQ_CA; a token carries the CA's fingerprint)"}),
			newStringFlag(&cli.StringFlag{Name: "cert", Usage: "present this client certificate `FILE` instead of a token (default $GPUQ_CERT; gpuqctl cert create makes one)"}),
			newStringFlag(&cli.StringFlag{Name: "key", Usage: "the key `FILE` of --cert (default $GPUQ_KEY)"}),
			newBoolFlag(&cli.BoolFlag{Name: "insecure-plaintext", Usage: "INSECURE: speak plaintext TCP, for a gpuqd in its loopback-only insecure mode (default $GPUQ_INSECURE=1)"}),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "unknown command %q", c.Args().First())
			}
			// No command: the help, as a usage error, on stderr.
			cli.HelpPrinter(r.stderr, cli.AppHelpTemplate, c.App)
			return &exitError{code: exitUsage}
		},
		Commands: []*cli.Command{
			r.submitCommand(),
			r.queueCommand(),
			r.cancelCommand(),
			r.holdCommand("hold", "keep pending jobs from starting (like scontrol hold)"),
			r.holdCommand("release", "let held jobs start (like scontrol release)"),
			r.showCommand(),
			r.nodesCommand(),
			r.nodeCommand(),
			r.acctCommand(),
			r.costCommand(),
			r.budgetCommand(),
			r.reportCommand(),
			r.priorityCommand(),
			r.shareCommand(),
			r.loginCommand(),
			r.logoutCommand(),
			r.whoamiCommand(),
			r.tokenCommand(),
			r.certCommand(),
		},
	}
}

// version is the module version gpuqctl was built from: a tag when built by
// go install, else "(devel)", with the commit when the build recorded it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// onUsageError makes a command's flag errors usage errors.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return &usageError{cmd: commandPath(c), err: err}
}
