// Command gpuqctl is the command-line client of gpuqd: submit, queue,
// cancel, hold, release and show, like Slurm's sbatch, squeue, scancel and
// scontrol. See internal/ctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gpuq/gpuq/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
