package job

import gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"

// Brief returns jobs in JOB_VIEW_BRIEF: new messages that carry only
// the fields of gpuqctl queue's usual columns. The messages it does not
// copy (timestamps, durations, GPU requests) are shared with jobs, read
// only, as full listings share the jobs themselves. The messages come from
// a few slabs rather than one allocation each.
func Brief(jobs []*gpuqv1.Job) []*gpuqv1.Job {
	var (
		out   = make([]*gpuqv1.Job, len(jobs))
		js    = make([]gpuqv1.Job, len(jobs))
		specs = make([]gpuqv1.JobSpec, len(jobs))
		// The tasks of an array share one spec and come one after another:
		// one brief ArraySpec each run of them.
		lastArray, brief *gpuqv1.ArraySpec
	)
	for i, j := range jobs {
		b := &js[i]
		b.Id, b.ArrayTaskId, b.State, b.Reason = j.Id, j.ArrayTaskId, j.State, j.Reason
		b.StartTime, b.EndTime, b.Node, b.Priority = j.StartTime, j.EndTime, j.Node, j.Priority
		if s := j.Spec; s != nil {
			bs := &specs[i]
			bs.Name, bs.Team, bs.User, bs.Gpus, bs.TimeLimit = s.Name, s.Team, s.User, s.Gpus, s.TimeLimit
			if a := s.Array; a != nil {
				if a != lastArray {
					lastArray, brief = a, &gpuqv1.ArraySpec{Expr: a.Expr, MaxConcurrent: a.MaxConcurrent}
				}
				bs.Array = brief
			}
			b.Spec = bs
		}
		out[i] = b
	}
	return out
}
