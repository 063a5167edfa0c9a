package queue

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Filter selects jobs; see gpuqv1.JobFilter.
type Filter struct {
	Jobs         []job.Ref
	Teams        []string
	Users        []string
	States       []gpuqv1.JobState
	Names        []string
	IncludeEnded bool
	// Allow, when set, limits the matches to the jobs a caller may act on
	// (by team and user); the server sets it from the caller's identity.
	Allow func(team, user string) bool
}

// FilterFromProto converts the wire form.
func FilterFromProto(f *gpuqv1.JobFilter) Filter {
	if f == nil {
		return Filter{}
	}
	out := Filter{Teams: f.Teams, Users: f.Users, States: f.States, Names: f.Names, IncludeEnded: f.IncludeEnded}
	for _, r := range f.Jobs {
		out.Jobs = append(out.Jobs, job.FromProto(r))
	}
	return out
}

func (f *Filter) match(j *gpuqv1.Job) bool {
	if len(f.States) > 0 {
		if !slices.Contains(f.States, j.State) {
			return false
		}
	} else if !f.IncludeEnded && job.Ended(j.State) {
		return false
	}
	if len(f.Teams) > 0 && !slices.Contains(f.Teams, j.Spec.GetTeam()) {
		return false
	}
	if len(f.Users) > 0 && !slices.Contains(f.Users, j.Spec.GetUser()) {
		return false
	}
	if len(f.Names) > 0 && !slices.Contains(f.Names, j.Spec.GetName()) {
		return false
	}
	if f.Allow != nil && !f.Allow(j.Spec.GetTeam(), j.Spec.GetUser()) {
		return false
	}
	return true
}

// List returns the matching jobs in id order. The records are shared and
// must not be modified.
func (q *Queue) List(f Filter) []*gpuqv1.Job {
	q.mu.RLock()
	defer q.mu.RUnlock()
	var out []*gpuqv1.Job
	if len(f.Jobs) > 0 {
		// Jobs named explicitly are shown whatever their state.
		g := f
		g.IncludeEnded = true
		for _, r := range q.expand(f.Jobs) {
			if j := q.jobs[r]; j != nil && g.match(j) {
				out = append(out, j)
			}
		}
		return out
	}
	for _, r := range q.order {
		if j := q.jobs[r]; f.match(j) {
			out = append(out, j)
		}
	}
	return out
}

// expand turns refs into the refs of existing records, in order and once
// each; a ref without a task id names every task of its job.
func (q *Queue) expand(refs []job.Ref) []job.Ref {
	seen := map[job.Ref]bool{}
	var out []job.Ref
	for _, r := range refs {
		var cand []job.Ref
		if r.HasTask {
			cand = []job.Ref{r}
		} else {
			cand = q.tasks[r.ID]
		}
		for _, c := range cand {
			if _, ok := q.jobs[c]; ok && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// Get returns a job, or every task of an array job, with its script and
// environment.
func (q *Queue) Get(r job.Ref) ([]*gpuqv1.Job, error) {
	q.mu.RLock()
	var jobs []*gpuqv1.Job
	for _, x := range q.expand([]job.Ref{r}) {
		jobs = append(jobs, q.jobs[x])
	}
	q.mu.RUnlock()
	if len(jobs) == 0 {
		return nil, errJob(r, job.ErrNotFound)
	}
	payload, err := q.store.Payload(r.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*gpuqv1.Job, len(jobs))
	for i, j := range jobs {
		c := proto.CloneOf(j)
		c.Spec.Script, c.Spec.Environment = payload.Script, payload.Environment
		if c.Spec.Array != nil {
			c.Spec.Array.TaskIds = payload.Array.GetTaskIds()
		}
		out[i] = c
	}
	return out, nil
}
