package queue

import (
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// maxSharedStrings bounds Queue.sharedStrings.
const maxSharedStrings = 1 << 16

// gpuRequest and timeLimit are the values of a GPU request and a time
// limit, the keys of Queue.sharedGPUs and sharedLimits.
type (
	gpuRequest struct {
		typ   string
		count uint32
	}
	timeLimit struct {
		seconds int64
		nanos   int32
	}
)

// share makes the values that the records of many jobs have in common the
// same values in memory: in its spec, one GPU request message per type and
// count, one time limit message per duration, and one copy of each team,
// user, QOS, pool, image, directory, output and error string; and the
// record's update time its submit time while they are equal (a job not yet
// changed, as a submission makes it: a restart reads them back as two).
// With 100,000 queued jobs gpuqd's peak RSS went from 284-288 MB to
// 274-282 MB (BenchmarkRestart100k): less live heap, which the collector
// lets grow by half again (daemon.GCPercent). insert shares new records,
// commitRecords changed ones (deep clones); with spec false the spec is
// left as it is (one a held record still has). It changes j, which must
// not be published yet (the caller holds mu); sharing is safe because the
// queue never changes a record or its messages in place once it holds them
// (every change clones first, see withReason). Messages with fields this
// gpuqd does not know are left as they are.
func (q *Queue) share(j *gpuqv1.Job, spec bool) {
	if s, u := j.SubmitTime, j.UpdateTime; s != nil && u != nil && s != u &&
		s.Seconds == u.Seconds && s.Nanos == u.Nanos &&
		len(s.ProtoReflect().GetUnknown()) == 0 && len(u.ProtoReflect().GetUnknown()) == 0 {
		j.UpdateTime = s
	}
	sp := j.Spec
	if sp == nil || !spec {
		return
	}
	if g := sp.Gpus; g != nil && len(g.ProtoReflect().GetUnknown()) == 0 {
		sp.Gpus = shared(&q.sharedGPUs, gpuRequest{g.Type, g.Count}, g)
	}
	if d := sp.TimeLimit; d != nil && len(d.ProtoReflect().GetUnknown()) == 0 {
		sp.TimeLimit = shared(&q.sharedLimits, timeLimit{d.Seconds, d.Nanos}, d)
	}
	for _, s := range []*string{&sp.Team, &sp.User, &sp.Qos, &sp.Pool, &sp.Image, &sp.Chdir, &sp.Output, &sp.Error} {
		if *s == "" {
			continue
		}
		// The table keeps strings of jobs that have left; past a bound it
		// starts again.
		if len(q.sharedStrings) >= maxSharedStrings {
			q.sharedStrings = nil
		}
		*s = shared(&q.sharedStrings, *s, *s)
	}
}

// shared returns the value *m holds for k, after making it v if there is
// none.
func shared[K comparable, V any](m *map[K]V, k K, v V) V {
	if s, ok := (*m)[k]; ok {
		return s
	}
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
	return v
}
