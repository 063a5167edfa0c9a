// Command gpuqd is the gpuq queue daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gpuq/gpuq/internal/daemon"
	"github.com/gpuq/gpuq/internal/timerslack"
)

func main() {
	if !timerslack.Setup("gpuqd", os.Stderr) {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := daemon.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
