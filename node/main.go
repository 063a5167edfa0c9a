// Command gpuq-node is the gpuq node daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gpuq/gpuq/internal/execrun"
	"github.com/gpuq/gpuq/internal/nodeagent"
)

func main() {
	// The exec runtime runs each job under a shim: this same binary.
	if len(os.Args) > 1 && os.Args[1] == execrun.ShimCommand {
		os.Exit(execrun.ShimMain(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := nodeagent.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
