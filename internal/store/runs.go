package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/wire"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// The field numbers of gpuq.v1.RunRecord that decodeRun reads, and those
// of google.protobuf.Timestamp.
const (
	fieldTeam      = 4
	fieldUser      = 5
	fieldPool      = 6
	fieldGPUType   = 9
	fieldGPUCount  = 10
	fieldGPUIDs    = 11
	fieldStartTime = 14
	fieldEndTime   = 15
	fieldState     = 16
	fieldCost      = 23
	fieldSeconds   = 1
	fieldNanos     = 2
)

// Runs calls fn for the run of every accounting record that ended in
// [from, to), in order of the end, as Records does, but decodes only what
// accounting.Run holds: several times faster than Records for the reports
// of usage and cost, which read nothing else. fn must not keep r: it is
// reused for the next record.
func (s *Store) Runs(from, to time.Time, fn func(r *accounting.Run) error) error {
	names := interner{}
	var r accounting.Run
	return s.scanRecords(from, to, func(k, v []byte) error {
		if err := decodeRun(v, &r, names); err != nil {
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		return fn(&r)
	})
}

// RunsParallel is Runs with the span cut into parts scanned at once, each
// by a goroutine of its own, on one snapshot of the store: fn(part, r) gets
// the runs of part in order of their end. fn is called concurrently for
// different parts, never for one part; it must not keep r. A caller that
// adds up what it is given keeps a sum per part and adds the sums at the
// end. A zero to means no upper bound.
func (s *Store) RunsParallel(from, to time.Time, parts int, fn func(part int, r *accounting.Run) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return inParts(txn, from, to, parts, func(p int, a, b time.Time) error {
			names := interner{}
			var r accounting.Run
			return scanIn(txn, a, b, func(k, v []byte) error {
				if err := decodeRun(v, &r, names); err != nil {
					return fmt.Errorf("decode record %x: %w", k, err)
				}
				return fn(p, &r)
			})
		})
	})
}

// inParts cuts [from, to) into parts spans of time of the records of txn
// (a zero to: up to the last record's end) and calls fn(part, a, b) for
// each span [a, b), each in a goroutine of its own, at once.
func inParts(txn *badger.Txn, from, to time.Time, parts int, fn func(part int, a, b time.Time) error) error {
	lo, hi := from, to
	if hi.IsZero() {
		last, ok := lastRecordEnd(txn)
		if !ok {
			return nil
		}
		hi = last.Add(1)
	}
	if lo.Before(time.Unix(0, 0)) {
		lo = time.Unix(0, 0)
	}
	if parts < 1 || !hi.After(lo) {
		parts = 1
	}
	span := hi.Sub(lo)
	errs := make(chan error, parts)
	for p := range parts {
		a := lo.Add(time.Duration(float64(span) * float64(p) / float64(parts)))
		b := lo.Add(time.Duration(float64(span) * float64(p+1) / float64(parts)))
		if p == 0 {
			a = from
		}
		if p == parts-1 {
			b = to
		}
		go func() { errs <- fn(p, a, b) }()
	}
	var all []error
	for range parts {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// EncodedRecords calls fn for every accounting record that ended in
// [from, to), in order of the end, as Records does, but with the record's
// bytes as stored and only its run, state and whether it has a cost
// decoded. fn must not keep e or its bytes: both are reused.
func (s *Store) EncodedRecords(from, to time.Time, fn func(e *accounting.EncodedRecord) error) error {
	names := interner{}
	var e accounting.EncodedRecord
	return s.scanRecords(from, to, func(k, v []byte) error {
		e.State, e.HasCost, e.Bytes = 0, false, v
		if err := decodeHead(v, &e.Run, &e, nil, names); err != nil {
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		return fn(&e)
	})
}

// lastRecordEnd is the end of the last record's run.
func lastRecordEnd(txn *badger.Txn) (time.Time, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixRecord, Reverse: true})
	defer it.Close()
	// Past every key of the prefix: the prefix and 0xff.
	it.Seek(append(append([]byte{}, prefixRecord...), 0xff))
	if !it.Valid() {
		return time.Time{}, false
	}
	k := it.Item().Key()
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefixRecord):]))), true
}

// scanRecords calls fn with the key and value of every record that ended
// in [from, to), in order of the end.
func (s *Store) scanRecords(from, to time.Time, fn func(k, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error { return scanIn(txn, from, to, fn) })
}

func scanIn(txn *badger.Txn, from, to time.Time, fn func(k, v []byte) error) error {
	start := prefixRecord
	if from.After(time.Unix(0, 0)) {
		start = recordKey(from, "")
	}
	// Records are small and kept in the LSM tree: prefetching their values
	// would only start goroutines.
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixRecord})
	defer it.Close()
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if !to.IsZero() && binary.BigEndian.Uint64(k[len(prefixRecord):]) >= uint64(to.UnixNano()) {
			return nil
		}
		if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// interner shares the strings of repeated names (teams, users, pools, GPU
// types) between records, up to a bound.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in) < 4096 {
		in[s] = s
	}
	return s
}

var errTruncated = errors.New("truncated or malformed record")

// decodeRun decodes the run of the gpuq.v1.RunRecord encoded in b into r,
// skipping the fields accounting.Run does not hold. It reads what
// proto.Unmarshal and accounting.RunOf would: the last value of a field
// that appears twice, gpu_count or else the number of gpu_ids.
func decodeRun(b []byte, r *accounting.Run, names interner) error {
	return decodeHead(b, r, nil, nil, names)
}

// decodeHead is decodeRun that also reads the state and whether a cost is
// set into e when e is not nil, and the job and run into key when key is
// not nil.
func decodeHead(b []byte, r *accounting.Run, e *accounting.EncodedRecord, key *listKey, names interner) error {
	*r = accounting.Run{}
	ids := uint32(0)
	// A message field that appears twice is merged, as proto.Unmarshal
	// merges it.
	var start, end timestamp
	whole := len(b)
	split := false // the gpu_ids are not one after the other
	if e != nil {
		e.IDs = accounting.IDSpan{}
	}
	for len(b) > 0 {
		at := whole - len(b)
		// The tag, then the value: v for a length-delimited one, x for a
		// varint. Tags and lengths of one byte, most of them, are read
		// here without a call.
		var (
			num protowire.Number
			typ protowire.Type
			v   []byte
			x   uint64
		)
		if c := b[0]; c >= 1<<3 && c < 0x80 {
			num, typ, b = protowire.Number(c>>3), protowire.Type(c&7), b[1:]
		} else {
			var n int
			if num, typ, n = protowire.ConsumeTag(b); n < 0 {
				return errTruncated
			}
			b = b[n:]
		}
		switch typ {
		case protowire.BytesType:
			if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
				v, b = b[1:1+b[0]], b[1+b[0]:]
				break
			}
			var n int
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return errTruncated
			}
			b = b[n:]
		case protowire.VarintType:
			var n int
			if x, n = wire.ConsumeVarint(b); n < 0 {
				return errTruncated
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errTruncated
			}
			b = b[n:]
			continue
		}
		switch {
		case typ == protowire.BytesType:
			switch num {
			case fieldTeam:
				r.Team = names.get(v)
			case fieldUser:
				r.User = names.get(v)
			case fieldPool:
				r.Pool = names.get(v)
			case fieldGPUType:
				r.GPUType = names.get(v)
			case fieldGPUIDs:
				ids++
				if e != nil && !split {
					if e.IDs.N > 0 && e.IDs.To != at {
						split, e.IDs = true, accounting.IDSpan{}
					} else {
						if e.IDs.N == 0 {
							e.IDs.From = at
						}
						e.IDs.To, e.IDs.N = whole-len(b), e.IDs.N+1
					}
				}
			case fieldCost:
				if e != nil {
					e.HasCost = len(v) > 0
				}
			case fieldStartTime:
				if err := start.merge(v); err != nil {
					return err
				}
			case fieldEndTime:
				if err := end.merge(v); err != nil {
					return err
				}
			case fieldJob:
				if key != nil {
					if err := mergeJob(v, &key.job); err != nil {
						return err
					}
				}
			}
		case num == fieldRun:
			if key != nil {
				key.run = int(uint32(x))
			}
		case num == fieldGPUCount:
			r.GPUs = uint32(x)
		case num == fieldState:
			if e != nil {
				e.State = gpuqv1.JobState(int32(x))
			}
		}
	}
	if r.GPUs == 0 {
		r.GPUs = ids
	}
	if start.set {
		r.Start = time.Unix(start.sec, start.nsec).UTC()
	}
	if end.set {
		r.End = time.Unix(end.sec, end.nsec).UTC()
	}
	r.Normalize()
	return nil
}

// timestamp is a google.protobuf.Timestamp being decoded.
type timestamp struct {
	sec, nsec int64
	set       bool
}

// merge decodes b into t, as proto.Unmarshal merges a message into one it
// has: the fields b holds replace t's.
func (t *timestamp) merge(b []byte) error {
	t.set = true
	sec, nsec, hasSec, hasNsec, ok := wire.VarintPair(b, fieldSeconds, fieldNanos)
	if !ok {
		return errTruncated
	}
	if hasSec {
		t.sec = int64(sec)
	}
	if hasNsec {
		t.nsec = int64(int32(nsec))
	}
	return nil
}
