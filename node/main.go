// Command gpuq-node is the gpuq node daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gpuq/gpuq/internal/execrun"
	"github.com/gpuq/gpuq/internal/nodeagent"
	"github.com/gpuq/gpuq/internal/timerslack"
)

func main() {
	if !timerslack.Setup("gpuq-node", os.Stderr) {
		os.Exit(2)
	}
	// The exec runtime's jobs are children of a supervisor: gpuq-shim, or
	// without it this same binary.
	if len(os.Args) > 1 && os.Args[1] == execrun.SupervisorCommand {
		os.Exit(execrun.SupervisorMain(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := nodeagent.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
