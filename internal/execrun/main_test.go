package execrun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"testing"

	"github.com/gpuq/gpuq/internal/jobrun"
)

// The test binary plays three more parts, chosen by environment variables:
//   - the supervisor (as gpuq-node does when given SupervisorCommand), so
//     tests need no other binary;
//   - a node daemon that starts one run and exits at once, for re-attaching
//     after a real restart;
//   - a job that allocates memory until the cgroup's limit stops it.
const (
	envShim    = "GPUQ_EXECRUN_TEST_SHIM"
	envStarter = "GPUQ_EXECRUN_TEST_STARTER" // JSON of starterRequest
	envHog     = "GPUQ_EXECRUN_TEST_HOG"
)

// starterRequest is what the starter part is asked to start.
type starterRequest struct {
	Options Options
	Spec    jobrun.Spec
}

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envHog) != "":
		os.Exit(hog())
	case os.Getenv(envStarter) != "":
		os.Exit(starter())
	case os.Getenv(envShim) != "" && len(os.Args) > 1 && os.Args[1] == SupervisorCommand:
		os.Exit(SupervisorMain(os.Args[2:]))
	}
	// Supervisors started by the tests inherit this, and so act as such.
	os.Setenv(envShim, "1")
	if os.Getenv("GORACE") == "" {
		// A race-enabled supervisor would sleep a second before it exits.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// starter starts one run and exits, leaving its shim an orphan.
func starter() int {
	var req starterRequest
	if err := json.Unmarshal([]byte(os.Getenv(envStarter)), &req); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		return 2
	}
	os.Unsetenv(envStarter) // the shim is to be a shim, not a starter
	r, err := New(req.Options)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx, req.Spec); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		return 1
	}
	return 0
}

// hog touches memory, 1 MiB at a time, up to 2 GiB.
func hog() int {
	var keep [][]byte
	for range 2048 {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println("allocated", len(keep), "MiB")
	return 0
}
