package nodeagent

import (
	"context"
	"syscall"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// Runtime runs jobs. internal/execrun and internal/ctrdrun implement it.
// Wait returns an error wrapping jobrun.ErrLost for a run that is gone
// without a record of its end.
type Runtime interface {
	Start(ctx context.Context, spec jobrun.Spec) error
	Wait(ctx context.Context, id string) (jobrun.Exit, error)
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	Delete(ctx context.Context, id string) error
	List(ctx context.Context) ([]jobrun.Running, error)
	Close() error
}

// Labels the agent keeps with every run, so that a restarted agent knows
// what it finds.
const (
	labelAllocation = "gpuq.allocation"
	labelJob        = "gpuq.job"
	labelDeadline   = "gpuq.deadline"  // RFC 3339: the time limit
	labelSignal     = "gpuq.signal"    // warning signal name
	labelSignalAt   = "gpuq.signal-at" // RFC 3339: when to send it before the limit
	labelGrace      = "gpuq.grace"     // Go duration
)
