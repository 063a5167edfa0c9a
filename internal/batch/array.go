package batch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// ParseArray parses an sbatch --array value: task ids and ranges with an
// optional step ("0-99", "1,3,5-7:2", "7"), then an optional "%N" that lets
// at most N tasks run at once. Expr keeps the input; an array holds at most
// job.MaxArrayTasks tasks.
func ParseArray(s string) (*gpuqv1.ArraySpec, error) {
	list, limit, hasLimit := strings.Cut(s, "%")
	ids, err := job.ParseTaskList(list)
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", s, err)
	}
	spec := &gpuqv1.ArraySpec{Expr: s, TaskIds: ids}
	if hasLimit {
		n, err := strconv.ParseUint(limit, 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("array %q: the limit after %% must be a positive number", s)
		}
		spec.MaxConcurrent = uint32(n)
	}
	return spec, nil
}
