package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/logging"
)

// GCPercent is the serving gpuqd's GOGC unless its environment sets one.
// The queue is a large heap of long-lived jobs (~1.2 KB each) that every
// scheduling cycle re-reads, and Go's default lets the heap grow to twice
// what is live before it collects: with 100,000 pending jobs that was
// ~350 MB of RSS a minute after a start, 50 holds it under 300 MB
// (BenchmarkRestart100k). The collector then runs twice as often, which
// costs under 1% of a core at that size (GODEBUG=gctrace=1 during
// BenchmarkRestart100k, read by hand: a collection of 40-130 ms of CPU
// every ~16 s).
const GCPercent = 50

// Main is gpuqd's command line. It returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "gpuqd",
		Usage:     "the gpuq queue daemon",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config file (YAML)", EnvVars: []string{"GPUQD_CONFIG"}},
			&cli.StringFlag{Name: "listen", Usage: "TCP address to serve on, overriding listen.tcp (\"\" disables nothing)"},
			&cli.StringFlag{Name: "socket", Usage: "unix socket to serve on, overriding listen.unix"},
			&cli.StringFlag{Name: "data-dir", Usage: "state directory, overriding data_dir"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error, overriding log.level"},
			&cli.BoolFlag{Name: "insecure-plaintext", Usage: "INSECURE: serve TCP without TLS (loopback addresses only), overriding security.insecure_plaintext"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := load(c)
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(GCPercent)
			}
			return Serve(c.Context, cfg, logging.New(stderr, cfg.Log.Level, cfg.Log.Format), nil)
		},
		Commands: []*cli.Command{{
			Name:  "init",
			Usage: "create the CA, server certificate, token key and node join token (kept if they exist)",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "host", Usage: "a name or address nodes and users reach gpuqd by (repeatable), added to security.hosts"},
			},
			Action: func(c *cli.Context) error {
				cfg, err := load(c)
				if err != nil {
					return err
				}
				return initSecurity(stdout, &cfg, c.StringSlice("host"))
			},
		}, {
			Name:  "config",
			Usage: "inspect the configuration",
			Subcommands: []*cli.Command{{
				Name:  "print",
				Usage: "print the effective configuration (file, flags and defaults)",
				Action: func(c *cli.Context) error {
					cfg, err := load(c)
					if err != nil {
						return err
					}
					b, err := config.Marshal(cfg)
					if err != nil {
						return err
					}
					_, err = stdout.Write(b)
					return err
				},
			}, {
				Name:  "check",
				Usage: "validate the configuration and exit",
				Action: func(c *cli.Context) error {
					_, err := load(c)
					if err == nil {
						fmt.Fprintln(stdout, "config ok")
					}
					return err
				},
			}},
		}},
	}
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "gpuqd: %v\n", err)
		return 1
	}
	return 0
}

// load reads the config file (or the defaults), applies flag overrides and
// validates the result.
func load(c *cli.Context) (config.Config, error) {
	cfg := config.Default()
	if p := c.String("config"); p != "" {
		var err error
		if cfg, err = config.Load(p); err != nil {
			return cfg, err
		}
	}
	if c.IsSet("listen") {
		cfg.Listen.TCP = c.String("listen")
	}
	if c.IsSet("socket") {
		cfg.Listen.Unix = c.String("socket")
	}
	if c.IsSet("data-dir") {
		cfg.DataDir = c.String("data-dir")
	}
	if c.IsSet("log-level") {
		cfg.Log.Level = c.String("log-level")
	}
	if c.IsSet("insecure-plaintext") {
		cfg.Security.InsecurePlaintext = c.Bool("insecure-plaintext")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}
