package nodeagent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// jobEnv is the environment of one run: the submitted environment, then
// gpuq's variables, the SLURM_* ones common training code reads, and
// those of whom the job runs as (userEnv). gpuq's win over submitted ones
// of the same name.
func jobEnv(a *gpuqv1.Assignment, node, checkpointDir string, gpuEnv, userEnv map[string]string) []string {
	j := a.Job
	sp := j.Spec
	env := map[string]string{}
	for k, v := range sp.Environment {
		env[k] = v
	}
	id := strconv.FormatUint(j.Id, 10)
	task := ""
	if j.ArrayTaskId != nil {
		task = strconv.FormatUint(uint64(j.GetArrayTaskId()), 10)
	}
	restarts := strconv.FormatUint(uint64(j.Restarts), 10)
	ref := job.RefOf(j).String()
	set := map[string]string{
		"GPUQ_JOB_ID":         ref,
		"GPUQ_ARRAY_JOB_ID":   id,
		"GPUQ_ARRAY_TASK_ID":  task,
		"GPUQ_JOB_NAME":       sp.Name,
		"GPUQ_TEAM":           sp.Team,
		"GPUQ_USER":           sp.User,
		"GPUQ_RESTART_COUNT":  restarts,
		"GPUQ_CHECKPOINT_DIR": checkpointDir,
		"GPUQ_GPUS":           strings.Join(a.GpuIds, ","),
		"GPUQ_NODE":           node,
		"GPUQ_ALLOCATION_ID":  a.AllocationId,
		"SLURM_JOB_ID":        id,
		"SLURM_JOBID":         id,
		"SLURM_JOB_NAME":      sp.Name,
		"SLURM_JOB_ACCOUNT":   sp.Team,
		"SLURM_JOB_USER":      sp.User,
		"SLURM_RESTART_COUNT": restarts,
		"SLURM_JOB_NUM_NODES": "1",
		"SLURM_NNODES":        "1",
		"SLURM_JOB_NODELIST":  node,
		"SLURM_NODELIST":      node,
		"SLURMD_NODENAME":     node,
		"SLURM_NTASKS":        "1",
		"SLURM_NPROCS":        "1",
		"SLURM_PROCID":        "0",
		"SLURM_LOCALID":       "0",
		"SLURM_NODEID":        "0",
		"SLURM_GPUS_ON_NODE":  strconv.Itoa(len(a.GpuIds)),
		"SLURM_SUBMIT_DIR":    sp.Chdir,
		"SLURM_JOB_PARTITION": sp.Pool,
		"SLURM_CPUS_PER_TASK": "",
		"SLURM_ARRAY_JOB_ID":  "",
		"SLURM_ARRAY_TASK_ID": "",
	}
	if task != "" {
		set["SLURM_ARRAY_JOB_ID"], set["SLURM_ARRAY_TASK_ID"] = id, task
		set["SLURM_JOB_ID"] = id + "_" + task
	}
	if sp.Cpus > 0 {
		set["SLURM_CPUS_PER_TASK"] = strconv.FormatUint(uint64(sp.Cpus), 10)
	}
	for k, v := range gpuEnv {
		set[k] = v
	}
	for k, v := range userEnv {
		set[k] = v
	}
	for k, v := range set {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// userEnv is USER, LOGNAME and HOME for a job that runs as id, as login
// and Slurm set them. HOME is set only where the home directory exists on
// the node; otherwise the submitted HOME, if any, is left.
func userEnv(id Identity) map[string]string {
	env := map[string]string{"USER": id.Name, "LOGNAME": id.Name}
	if id.Home != "" {
		if fi, err := os.Stat(id.Home); err == nil && fi.IsDir() {
			env["HOME"] = id.Home
		}
	}
	return env
}

// outputPath expands sbatch's filename patterns (%j %A %a %x %u %N %%) and
// makes the path absolute against the job's working directory. An empty
// pattern gives the default, gpuq-%j.out (slurm-%j.out under Slurm).
func outputPath(pattern string, j *gpuqv1.Job, node string) string {
	if pattern == "" {
		pattern = "gpuq-%j.out"
	}
	id := strconv.FormatUint(j.Id, 10)
	task := ""
	jobID := id
	if j.ArrayTaskId != nil {
		task = strconv.FormatUint(uint64(j.GetArrayTaskId()), 10)
		jobID = id + "_" + task
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteByte(c)
			continue
		}
		i++
		switch pattern[i] {
		case 'j':
			b.WriteString(jobID)
		case 'A':
			b.WriteString(id)
		case 'a':
			b.WriteString(task)
		case 'x':
			b.WriteString(j.Spec.Name)
		case 'u':
			b.WriteString(j.Spec.User)
		case 'N':
			b.WriteString(node)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(pattern[i])
		}
	}
	p := b.String()
	if !filepath.IsAbs(p) {
		p = filepath.Join(j.Spec.Chdir, p)
	}
	return p
}

// checkpointName names a job's checkpoint directory; it is the same for
// every run of the job, so a requeued run resumes from it.
func checkpointName(j *gpuqv1.Job) string {
	if j.ArrayTaskId != nil {
		return fmt.Sprintf("%d_%d", j.Id, j.GetArrayTaskId())
	}
	return strconv.FormatUint(j.Id, 10)
}
