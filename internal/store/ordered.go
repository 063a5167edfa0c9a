package store

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/wire"
)

// The field numbers of gpuq.v1.RunRecord's job and run, and those of
// gpuq.v1.JobRef.
const (
	fieldJob     = 1
	fieldRun     = 2
	fieldJobID   = 1
	fieldJobTask = 2
)

// MaxOrdered is the most records EncodedRecordsOrdered puts in order; a
// scan of more gives them by end time.
const MaxOrdered = 4_000_000

// EncodedRecordsOrdered is EncodedRecords with the records in the order
// gpuqctl acct lists them, when it can: by job id, the job before its
// tasks, task id, run, and records equal in these by end. fn's ordered is
// the same for every call of one scan: true when they come in that order,
// false when they come by end time, as from EncodedRecords, because more
// than hold records would have to be kept at once, or the scan holds more
// than MaxOrdered records. Where keep is not nil, the records of whose
// team and user it returns false may be left out (they are when ordered):
// a listing that shows a few teams or users, or only what its caller may
// read, then keeps and waits for none of the others.
//
// Records are stored by end, and jobs mostly end in the order of their
// ids, so the records are read twice on one snapshot of the store: first
// only their jobs, to learn when each record can be given (when no record
// after it in the store comes before it in the listing), then whole; a
// record that cannot be given yet is kept (copied) until it can. The first
// read, cut into parts read at once as RunsParallel reads, also counts how
// many would be kept at once.
func (s *Store) EncodedRecordsOrdered(from, to time.Time, parts, hold int, keep func(team, user string) bool, fn func(e *accounting.EncodedRecord, ordered bool) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		// The jobs of the records, read in parts at once (a record keep
		// leaves out has noJob: it holds back no other), then the least
		// job of the records from each one on.
		jobs := make([]jobList, max(parts, 1))
		left := make([][]bool, len(jobs))
		var total atomic.Int64
		err := inParts(txn, from, to, parts, func(p int, a, b time.Time) error {
			names := interner{}
			return scanIn(txn, a, b, func(k, v []byte) error {
				// Counted together every 1024 records: an atomic add per
				// record costs the parts more than their decoding.
				if n := jobs[p].n + 1; n%1024 == 0 && total.Add(1024) > MaxOrdered {
					return errTooMany
				}
				j, out, err := decodeFirst(v, keep, names)
				if err != nil {
					return fmt.Errorf("decode record %x: %w", k, err)
				}
				if out {
					j = noJob
				}
				jobs[p].add(j)
				if keep != nil {
					left[p] = append(left[p], out)
				}
				return nil
			})
		})
		all := join(jobs)
		defer all.release()
		if errors.Is(err, errTooMany) {
			err = errTooMany
		}
		var out []bool
		if err == nil {
			out = slices.Concat(left...)
			if all.n > MaxOrdered {
				err = errTooMany
			}
		}
		jobs, left = nil, nil
		var least jobLists
		defer least.release()
		ordered := false
		if err == nil {
			least = all.leastAfter()
			ordered = keptAtOnce(&all, &least, hold) <= hold
		}
		all.release()
		if err != nil && err != errTooMany {
			return err
		}
		names := interner{}
		var e accounting.EncodedRecord
		if !ordered {
			least.release()
			return scanIn(txn, from, to, func(k, v []byte) error {
				e.State, e.HasCost, e.Bytes = 0, false, v
				if err := decodeHead(v, &e.Run, &e, nil, names); err != nil {
					return fmt.Errorf("decode record %x: %w", k, err)
				}
				return fn(&e, false)
			})
		}
		// give gives a record whose key is known.
		give := func(v []byte) error {
			e.State, e.HasCost, e.Bytes = 0, false, v
			if err := decodeHead(v, &e.Run, &e, nil, names); err != nil {
				return err
			}
			return fn(&e, true)
		}
		// at is the least job from the record at pos on, then from the
		// next one.
		leastAt := jobCursor{ls: &least}
		at, next := leastAt.next(), leastAt.next()
		var kept keptRecords
		pos := 0
		err = scanIn(txn, from, to, func(k, v []byte) error {
			if pos >= least.n {
				return fmt.Errorf("record %x: %w", k, errSnapshotChanged)
			}
			if pos > 0 {
				at, next = next, leastAt.next()
			}
			key := listKey{pos: pos}
			e.State, e.HasCost, e.Bytes = 0, false, v
			if err := decodeHead(v, &e.Run, &e, &key, names); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			switch leftOut := keep != nil && !keep(e.Run.Team, e.Run.User); {
			case keep != nil && out[pos] && !leftOut:
				// The first read left out a record it should have kept,
				// and may have given others too early.
				return fmt.Errorf("record %x: %w", k, errFirstRead)
			case leftOut:
				pos++
				return nil
			case key.job.less(at):
				// The first read took a job that came again for the
				// record's.
				return fmt.Errorf("record %x: %w", k, errFirstRead)
			}
			pos++
			if len(kept.recs) == 0 && key.job.less(next) {
				return fn(&e, true)
			}
			kept.push(key, v)
			for len(kept.recs) > 0 && kept.recs[0].key.job.less(next) {
				if err := give(kept.pop()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for len(kept.recs) > 0 {
			if err := give(kept.pop()); err != nil {
				return err
			}
		}
		return nil
	})
}

var (
	errTooMany         = fmt.Errorf("more than %d records", MaxOrdered)
	errSnapshotChanged = errors.New("a second read of a snapshot found more records than the first")
	errFirstRead       = errors.New("a record read whole is not what its first read took of it")
)

// jobKey is a record's job in the listing's order: id, then the job before
// its tasks (task is the task id plus 1<<32 for a task).
type jobKey struct{ id, task uint64 }

// noJob comes after every job.
var noJob = jobKey{^uint64(0), ^uint64(0)}

func (a jobKey) less(b jobKey) bool { return a.id < b.id || a.id == b.id && a.task < b.task }

func minJob(a, b jobKey) jobKey {
	if b.less(a) {
		return b
	}
	return a
}

// listKey orders the records EncodedRecordsOrdered keeps: job, run, and
// place in the store.
type listKey struct {
	job      jobKey
	run, pos int
}

func (a listKey) less(b listKey) bool {
	if a.job != b.job {
		return a.job.less(b.job)
	}
	return a.run < b.run || a.run == b.run && a.pos < b.pos
}

// keptRecords is a heap of copies of records by their listKeys.
type keptRecords struct {
	recs []keptRecord
	free [][]byte
}

type keptRecord struct {
	key listKey
	b   []byte
}

func (h *keptRecords) push(key listKey, v []byte) {
	var b []byte
	if k := len(h.free); k > 0 {
		b, h.free = h.free[k-1][:0], h.free[:k-1]
	}
	h.recs = append(h.recs, keptRecord{key, append(b, v...)})
	for i := len(h.recs) - 1; i > 0; {
		up := (i - 1) / 2
		if !h.recs[i].key.less(h.recs[up].key) {
			break
		}
		h.recs[i], h.recs[up] = h.recs[up], h.recs[i]
		i = up
	}
}

// pop removes the least record and returns its bytes, valid until the
// next push.
func (h *keptRecords) pop() []byte {
	b := h.recs[0].b
	last := len(h.recs) - 1
	h.recs[0] = h.recs[last]
	h.recs = h.recs[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < last && h.recs[l].key.less(h.recs[least].key) {
			least = l
		}
		if r < last && h.recs[r].key.less(h.recs[least].key) {
			least = r
		}
		if least == i {
			break
		}
		h.recs[i], h.recs[least] = h.recs[least], h.recs[i]
		i = least
	}
	h.free = append(h.free, b)
	return b
}

// decodeFirst decodes what the first read of EncodedRecordsOrdered takes
// of the gpuq.v1.RunRecord encoded in b: its job, and whether keep (when
// not nil) leaves it out by its team and user. The store writes records
// with proto.Marshal, which writes each field once, in order of their
// numbers: the job first, the team and user soon after. So it reads only
// the fields up to the user where they come in that order, else the whole
// record; the second read decodes whole records and checks.
func decodeFirst(b []byte, keep func(team, user string) bool, names interner) (jobKey, bool, error) {
	var j jobKey
	if keep == nil && len(b) > 0 && b[0] == byte(protowire.EncodeTag(fieldJob, protowire.BytesType)) {
		v, n := wire.ConsumeBytes(b[1:])
		if n < 0 {
			return j, false, errTruncated
		}
		return j, false, mergeJob(v, &j)
	}
	if keep != nil {
		var team, user []byte
		last, whole := protowire.Number(0), false
		for rest := b; len(rest) > 0; {
			num, typ, n := wire.ConsumeTag(rest)
			if n < 0 || num <= last {
				whole = true
				break
			}
			if num > fieldUser {
				break
			}
			last, rest = num, rest[n:]
			if n = protowire.ConsumeFieldValue(num, typ, rest); n < 0 {
				return j, false, errTruncated
			}
			v := rest[:n]
			rest = rest[n:]
			if typ != protowire.BytesType {
				continue
			}
			if v, n = wire.ConsumeBytes(v); n < 0 {
				return j, false, errTruncated
			}
			switch num {
			case fieldJob:
				if err := mergeJob(v, &j); err != nil {
					return j, false, err
				}
			case fieldTeam:
				team = v
			case fieldUser:
				user = v
			}
		}
		if !whole {
			return j, !keep(names.get(team), names.get(user)), nil
		}
	}
	var key listKey
	var r accounting.Run
	if err := decodeHead(b, &r, nil, &key, names); err != nil {
		return jobKey{}, false, err
	}
	return key.job, keep != nil && !keep(r.Team, r.User), nil
}

// mergeJob decodes the gpuq.v1.JobRef in b into j.
func mergeJob(b []byte, j *jobKey) error {
	id, task, hasID, hasTask, ok := wire.VarintPair(b, fieldJobID, fieldJobTask)
	if !ok {
		return errTruncated
	}
	if hasID {
		j.id = id
	}
	if hasTask {
		j.task = 1<<32 | uint64(uint32(task))
	}
	return nil
}
