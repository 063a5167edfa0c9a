// Command gpuq-shim is the supervisor of gpuq-node's exec runtime: one per
// node, started by gpuq-node when it first starts a job, it starts the jobs,
// waits for them and records how they ended, so that jobs survive restarts
// of gpuq-node. It is a binary of its own, much smaller than gpuq-node,
// and exits by itself once it has no jobs and gpuq-node is gone. gpuq-node
// starts it; nobody else should.
package main

import (
	"fmt"
	"os"

	"github.com/gpuq/gpuq/internal/execrun"
	"github.com/gpuq/gpuq/internal/timerslack"
)

func main() {
	if !timerslack.Setup("gpuq-shim", os.Stderr) {
		os.Exit(2)
	}
	if len(os.Args) < 2 || os.Args[1] != execrun.SupervisorCommand {
		fmt.Fprintf(os.Stderr, "gpuq-shim is started by gpuq-node: %s %s STATE-DIR\n", os.Args[0], execrun.SupervisorCommand)
		os.Exit(2)
	}
	os.Exit(execrun.SupervisorMain(os.Args[2:]))
}
