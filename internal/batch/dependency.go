package batch

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// dependencyTypes maps sbatch's dependency type names to gpuq's. Read only.
var dependencyTypes = map[string]gpuqv1.DependencyType{
	"after":      gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER,
	"afterany":   gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY,
	"afterok":    gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK,
	"afternotok": gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_NOT_OK,
}

const dependencyTypeNames = "after, afterany, afterok, afternotok or singleton"

// ParseDependency parses an sbatch --dependency value: comma-separated
// elements that must all be satisfied, each TYPE:JOB[:JOB...] where JOB is a
// job id or JOBID_TASK for one task of an array ("afterok:12:13,afterany:14",
// "afterok:12_3"), or "singleton". Slurm's '?' (any of), its +TIME delays and
// its other types are errors.
func ParseDependency(s string) (deps []*gpuqv1.Dependency, singleton bool, err error) {
	if s == "" {
		return nil, false, fmt.Errorf("empty dependency (want TYPE:JOBID[:JOBID...] with TYPE %s)", dependencyTypeNames)
	}
	if strings.Contains(s, "?") {
		return nil, false, fmt.Errorf("dependency %q: gpuq supports only ','-separated all-of lists, not '?' any-of lists", s)
	}
	for elem := range strings.SplitSeq(s, ",") {
		if elem == "singleton" {
			singleton = true
			continue
		}
		found, err := parseDependencyElem(elem)
		if err != nil {
			return nil, false, fmt.Errorf("dependency %q: %w", s, err)
		}
		deps = append(deps, found...)
	}
	return deps, singleton, nil
}

// parseDependencyElem parses one TYPE:JOB[:JOB...] element.
func parseDependencyElem(elem string) ([]*gpuqv1.Dependency, error) {
	name, jobs, _ := strings.Cut(elem, ":")
	typ, ok := dependencyTypes[name]
	if !ok {
		return nil, fmt.Errorf("unknown dependency type %q (want %s)", name, dependencyTypeNames)
	}
	if jobs == "" {
		return nil, fmt.Errorf("%q: want %s:JOBID[:JOBID...]", elem, name)
	}
	var deps []*gpuqv1.Dependency
	for ref := range strings.SplitSeq(jobs, ":") {
		d, err := parseDependencyJob(typ, ref)
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
	}
	return deps, nil
}

// parseDependencyJob parses JOBID or JOBID_TASK.
func parseDependencyJob(typ gpuqv1.DependencyType, ref string) (*gpuqv1.Dependency, error) {
	if strings.Contains(ref, "+") {
		return nil, fmt.Errorf("job %q: delays (+TIME) are not supported by gpuq", ref)
	}
	idStr, taskStr, hasTask := strings.Cut(ref, "_")
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil || id == 0 {
		return nil, fmt.Errorf("job %q: want a positive job id, or JOBID_TASK for one task of an array", ref)
	}
	d := &gpuqv1.Dependency{Type: typ, JobId: id}
	if hasTask {
		task, err := strconv.ParseUint(taskStr, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("job %q: array task %q: want a number", ref, taskStr)
		}
		d.ArrayTaskId = proto.Uint32(uint32(task))
	}
	return d, nil
}
