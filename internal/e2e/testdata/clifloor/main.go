// Command clifloor parses gpuqctl submit's usual flags with urfave/cli/v2
// and does nothing else: the floor of a client on that library, which
// BenchmarkCtlSubmit measures beside gpuqctl submit.
package main

import (
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{Name: "clifloor", Commands: []*cli.Command{{
		Name: "submit",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server"}, &cli.StringFlag{Name: "team"},
			&cli.StringFlag{Name: "gpus"}, &cli.StringFlag{Name: "wrap"},
		},
		Action: func(*cli.Context) error { return nil },
	}}}
	if err := app.Run(os.Args); err != nil {
		os.Exit(1)
	}
}
