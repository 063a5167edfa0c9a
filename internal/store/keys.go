package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gpuq/gpuq/internal/job"
)

// SchemaVersion is the version of the key schema this package writes.
const SchemaVersion = "1"

var (
	keySchema = []byte("m/schema")
	keyNextID = []byte("m/next_id")

	prefixSpec     = []byte("j/")
	prefixPayload  = []byte("p/")
	prefixTask     = []byte("t/")
	prefixRequest  = []byte("r/")
	prefixRecord   = []byte("a/")
	prefixUsage    = []byte("u/")
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
	if r.HasTask {
		k = append(k, 1)
	} else {
		k = append(k, 0)
	}
	return binary.BigEndian.AppendUint32(k, r.Task)
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
