// Command gpuq-shim watches over one job of gpuq-node's exec runtime: it
// starts the job, waits for it and records how it ended, so that the job
// survives restarts of gpuq-node. gpuq-node starts it; nobody else should.
// It is a binary of its own, much smaller than gpuq-node, because one is
// started for every job and starting a small binary is cheap.
package main

import (
	"fmt"
	"os"

	"github.com/gpuq/gpuq/internal/execrun"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != execrun.ShimCommand {
		fmt.Fprintf(os.Stderr, "gpuq-shim is started by gpuq-node: %s %s RUN-DIR\n", os.Args[0], execrun.ShimCommand)
		os.Exit(2)
	}
	os.Exit(execrun.ShimMain(os.Args[2:]))
}
