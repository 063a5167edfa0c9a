package job

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// MaxArrayTasks bounds the tasks of one array job and of one expanded range.
const MaxArrayTasks = 100_000

// Ref is a job id with an optional array task id; it is comparable and can key a map.
type Ref struct {
	ID      uint64
	Task    uint32
	HasTask bool
}

// RefOf returns the Ref of a proto job.
func RefOf(j *gpuqv1.Job) Ref {
	if j.ArrayTaskId != nil {
		return Ref{ID: j.Id, Task: j.GetArrayTaskId(), HasTask: true}
	}
	return Ref{ID: j.Id}
}

// FromProto converts a proto reference.
func FromProto(r *gpuqv1.JobRef) Ref {
	if r.ArrayTaskId != nil {
		return Ref{ID: r.Id, Task: r.GetArrayTaskId(), HasTask: true}
	}
	return Ref{ID: r.Id}
}

// Proto converts r to its wire form.
func (r Ref) Proto() *gpuqv1.JobRef {
	p := &gpuqv1.JobRef{Id: r.ID}
	if r.HasTask {
		t := r.Task
		p.ArrayTaskId = &t
	}
	return p
}

// String formats r as users type it: 42, or 42_3 for an array task.
func (r Ref) String() string {
	if r.HasTask {
		return strconv.FormatUint(r.ID, 10) + "_" + strconv.FormatUint(uint64(r.Task), 10)
	}
	return strconv.FormatUint(r.ID, 10)
}

// ParseRefs parses one job reference argument: 42, 42_3, or 42_[1-5,7].
func ParseRefs(arg string) ([]Ref, error) {
	s := strings.TrimSpace(arg)
	idPart, taskPart, hasTask := strings.Cut(s, "_")
	id, err := strconv.ParseUint(idPart, 10, 64)
	if err != nil || id == 0 {
		return nil, fmt.Errorf("job id %q: want a positive number, 42_3 or 42_[1-5]", arg)
	}
	if !hasTask {
		return []Ref{{ID: id}}, nil
	}
	if strings.HasPrefix(taskPart, "[") && strings.HasSuffix(taskPart, "]") {
		taskPart = taskPart[1 : len(taskPart)-1]
	}
	tasks, err := ParseTaskList(taskPart)
	if err != nil {
		return nil, fmt.Errorf("job id %q: %w", arg, err)
	}
	out := make([]Ref, len(tasks))
	for i, t := range tasks {
		out[i] = Ref{ID: id, Task: t, HasTask: true}
	}
	return out, nil
}

// ParseTaskList parses comma-separated task ids and ranges with an optional
// step: "1-5,7,10-20:2". The result is ascending and unique.
func ParseTaskList(s string) ([]uint32, error) {
	if s == "" {
		return nil, fmt.Errorf("empty task list")
	}
	seen := make(map[uint32]bool)
	var out []uint32
	for part := range strings.SplitSeq(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, ":")
		step := uint64(1)
		if hasStep {
			v, err := strconv.ParseUint(stepStr, 10, 32)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("task range %q: step must be a positive number", part)
			}
			step = v
		}
		loStr, hiStr, isRange := strings.Cut(rng, "-")
		lo, err := strconv.ParseUint(loStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("task id %q: want a number", loStr)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(hiStr, 10, 32); err != nil {
				return nil, fmt.Errorf("task id %q: want a number", hiStr)
			}
			if hi < lo {
				return nil, fmt.Errorf("task range %q: end before start", rng)
			}
		} else if hasStep {
			return nil, fmt.Errorf("task range %q: a step needs a range", part)
		}
		if (hi-lo)/step+1 > MaxArrayTasks || len(out) > MaxArrayTasks {
			return nil, fmt.Errorf("task range %q: more than %d tasks", part, MaxArrayTasks)
		}
		for v := lo; v <= hi; v += step {
			if !seen[uint32(v)] {
				seen[uint32(v)] = true
				out = append(out, uint32(v))
			}
		}
	}
	if len(out) > MaxArrayTasks {
		return nil, fmt.Errorf("more than %d tasks", MaxArrayTasks)
	}
	slices.Sort(out)
	return out, nil
}

// Compare orders refs by job id, then task: -1, 0 or +1.
func (r Ref) Compare(o Ref) int {
	if c := cmp.Compare(r.ID, o.ID); c != 0 {
		return c
	}
	if c := cmp.Compare(r.Task, o.Task); c != 0 {
		return c
	}
	switch {
	case r.HasTask == o.HasTask:
		return 0
	case o.HasTask:
		return -1
	}
	return 1
}
