package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// SchemaVersion is the version of the key schema this package writes.
const SchemaVersion = "2"

var (
	keySchema = []byte("m/schema")
	keyNextID = []byte("m/next_id")
	keyMaxRun = []byte("m/max_run")

	prefixSpec     = []byte("j/")
	prefixPayload  = []byte("p/")
	prefixTask     = []byte("t/")
	prefixRequest  = []byte("r/")
	prefixRecord   = []byte("a/")
	prefixUsage    = []byte("u/")
	prefixJobIndex = []byte("x/")
	prefixAlert    = []byte("b/")
	prefixOverride = []byte("o/")
)

func idKey(prefix []byte, id uint64) []byte {
	k := make([]byte, 0, len(prefix)+8)
	k = append(k, prefix...)
	return binary.BigEndian.AppendUint64(k, id)
}

func taskKey(r job.Ref) []byte {
	k := make([]byte, 0, len(prefixTask)+8+1+5)
	k = append(k, prefixTask...)
	k = binary.BigEndian.AppendUint64(k, r.ID)
	k = append(k, '/')
	return appendTask(k, r)
}

func requestKey(id string) []byte {
	return append(append([]byte{}, prefixRequest...), id...)
}

func decodeUint64(v []byte, what string) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%s: want 8 bytes, have %d", what, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// recordKey sorts accounting records by the end of their run.
func recordKey(end time.Time, alloc string) []byte {
	k := make([]byte, 0, len(prefixRecord)+8+1+len(alloc))
	k = append(k, prefixRecord...)
	k = binary.BigEndian.AppendUint64(k, uint64(end.UnixNano()))
	k = append(k, '/')
	return append(k, alloc...)
}

// recordKeyOf is the key of r's record: by the end of its run, then its
// allocation id (or, for a job that never ran, its job and run).
func recordKeyOf(r *gpuqv1.RunRecord) []byte {
	id := r.AllocationId
	if id == "" {
		id = fmt.Sprintf("%s.%d.-", job.FromProto(r.Job), r.Run)
	}
	return recordKey(r.EndTime.AsTime(), id)
}

// jobIndexKey is x/<id>/<task>/<record key without its prefix>: the
// index of the records of a job, sorted by job, task and end.
func jobIndexKey(ref job.Ref, recKey []byte) []byte {
	k := make([]byte, 0, jobIndexHeader+len(recKey)-len(prefixRecord))
	k = append(k, prefixJobIndex...)
	k = binary.BigEndian.AppendUint64(k, ref.ID)
	k = append(k, '/')
	k = appendTask(k, ref)
	k = append(k, '/')
	return append(k, recKey[len(prefixRecord):]...)
}

// jobIndexHeader is the length of x/<id>/<task>/.
const jobIndexHeader = 2 + 8 + 1 + 5 + 1

// jobIndexPrefix selects the index keys of job id, or of one of its tasks.
func jobIndexPrefix(id uint64, task *uint32) []byte {
	k := append([]byte{}, prefixJobIndex...)
	k = binary.BigEndian.AppendUint64(k, id)
	k = append(k, '/')
	if task == nil {
		return k
	}
	k = appendTask(k, job.Ref{ID: id, Task: *task, HasTask: true})
	return append(k, '/')
}

// appendTask appends the 5 bytes of <task>.
func appendTask(k []byte, r job.Ref) []byte {
	if r.HasTask {
		k = append(k, 1)
	} else {
		k = append(k, 0)
	}
	return binary.BigEndian.AppendUint32(k, r.Task)
}
