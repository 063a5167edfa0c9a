package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// ErrSchema means the data directory was written by an incompatible version.
var ErrSchema = errors.New("unsupported store schema")

// Options configure Open.
type Options struct {
	// Dir is the data directory; ignored when InMemory is set.
	Dir string
	// InMemory keeps everything in memory (tests).
	InMemory bool
	// NoSync skips the fsync at commit. Only for benchmarks of the rest of the
	// path: an acknowledged write may then be lost on a crash.
	NoSync bool
	// Logger receives badger's own messages at debug level and above.
	Logger *slog.Logger
}

// Store is gpuqd's durable state.
type Store struct {
	db *badger.DB
	// maxRun is the longest run of any record, in nanoseconds (m/max_run):
	// a run that overlaps a period ends before the period's end plus it.
	maxRun atomic.Int64
}

// Open opens (creating if needed) the store and checks its schema version.
func Open(opts Options) (*Store, error) {
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(!opts.NoSync).
		WithLogger(badgerLogger{log: logger(opts.Logger)}).
		// Small tables and caches: gpuqd's hot state lives in its own memory,
		// the store is read at start and written at every change.
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		// Blocks are not compressed, and so need no block cache: a scan
		// of a month of accounting records (a million in the benchmarks)
		// spends most of its time decompressing blocks and keeping them in
		// the cache otherwise. Tables are read through the OS's page cache;
		// the store takes about 2.5 times the space on disk. Tables written
		// compressed before keep their compression until compacted.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(16 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store in %q: %w", opts.Dir, err)
	}
	s := &Store{db: db}
	if err := s.checkSchema(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadMaxRun(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkSchema() error {
	var version string
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			version = SchemaVersion
			return txn.Set(keySchema, []byte(SchemaVersion))
		}
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		version = string(v)
		return nil
	})
	if err != nil {
		return err
	}
	switch version {
	case SchemaVersion:
		return nil
	case "1":
		return s.migrate1to2()
	}
	return fmt.Errorf("%w: data has version %q, this gpuqd reads %q", ErrSchema, version, SchemaVersion)
}

func (s *Store) loadMaxRun() error {
	return s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyMaxRun)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the longest run: %w", err)
		}
		return item.Value(func(v []byte) error {
			n, err := decodeUint64(v, "longest run")
			s.maxRun.Store(int64(n))
			return err
		})
	})
}

// migrate1to2 adds the job-id index of the records and the longest run,
// then marks the schema version 2. Run again after a crash, it writes the same keys again.
func (s *Store) migrate1to2() error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	var longest time.Duration
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, prefixRecord, func(k, v []byte) error {
			r := &gpuqv1.RunRecord{}
			if err := proto.Unmarshal(v, r); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			longest = max(longest, runLength(r))
			return wb.Set(jobIndexKey(job.FromProto(r.Job), k), nil)
		})
	})
	if err == nil {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(longest))
		err = wb.Set(keyMaxRun, b[:])
	}
	if err == nil {
		err = wb.Set(keySchema, []byte("2"))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("migrate the store to schema 2 (index the records by job): %w", err)
	}
	return nil
}

// Flatten compacts every level of the store into one, with two workers:
// after a bulk load (a migration, a benchmark's fill) it does at once what
// badger's background compaction would otherwise do for a while after the
// next start. Nothing else should write meanwhile.
func (s *Store) Flatten() error {
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("flatten store: %w", err)
	}
	return nil
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Tx is one read-write transaction. It is only valid inside Update.
type Tx struct {
	txn *badger.Txn
	s   *Store
}

// Update runs fn in a transaction and commits it, durably unless NoSync.
// Nothing is written when fn returns an error.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return fn(&Tx{txn: txn, s: s})
	})
}

func (tx *Tx) putProto(key []byte, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := tx.txn.Set(key, b); err != nil {
		return fmt.Errorf("write %q: %w", key, err)
	}
	return nil
}

// PutSpec stores a submission. Its bulky parts (see SplitPayload) go to a
// separate key so that loading the queue does not read them.
func (tx *Tx) PutSpec(id uint64, spec *gpuqv1.JobSpec) error {
	slim, payload := SplitPayload(spec)
	if err := tx.putProto(idKey(prefixSpec, id), slim); err != nil {
		return err
	}
	return tx.putProto(idKey(prefixPayload, id), payload)
}

// PutJob stores one job or array task; its Spec is not stored. j must not
// be shared with readers yet: PutJob detaches the spec while it encodes.
func (tx *Tx) PutJob(j *gpuqv1.Job) error {
	spec := j.Spec
	j.Spec = nil
	err := tx.putProto(taskKey(job.RefOf(j)), j)
	j.Spec = spec
	return err
}

// DeleteJob removes a job (its spec and payload), the records of its
// tasks refs and the request ids that name it from the queue's keys; its
// accounting records stay.
func (tx *Tx) DeleteJob(id uint64, refs []job.Ref, requestIDs []string) error {
	keys := [][]byte{idKey(prefixSpec, id), idKey(prefixPayload, id)}
	for _, r := range refs {
		keys = append(keys, taskKey(r))
	}
	for _, rid := range requestIDs {
		keys = append(keys, requestKey(rid))
	}
	for _, k := range keys {
		if err := tx.txn.Delete(k); err != nil {
			return fmt.Errorf("delete %q: %w", k, err)
		}
	}
	return nil
}

// PutRecord stores the accounting record of one run, and its entry in the
// job-id index. A job that never ran has a record without an allocation id.
func (tx *Tx) PutRecord(r *gpuqv1.RunRecord) error {
	k := recordKeyOf(r)
	if err := tx.putProto(k, r); err != nil {
		return err
	}
	if err := tx.txn.Set(jobIndexKey(job.FromProto(r.Job), k), nil); err != nil {
		return fmt.Errorf("index record %q: %w", k, err)
	}
	return tx.noteRun(r)
}

// noteRun raises m/max_run to r's run when it is longer. The bound only
// grows: one raised by a transaction that then fails is still a bound.
func (tx *Tx) noteRun(r *gpuqv1.RunRecord) error {
	d := runLength(r)
	for {
		cur := tx.s.maxRun.Load()
		if int64(d) <= cur {
			return nil
		}
		if tx.s.maxRun.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(d))
	if err := tx.txn.Set(keyMaxRun, b[:]); err != nil {
		return fmt.Errorf("write the longest run: %w", err)
	}
	return nil
}

// runLength is how long r's run lasted; 0 without a run.
func runLength(r *gpuqv1.RunRecord) time.Duration {
	if r.StartTime == nil || r.EndTime == nil {
		return 0
	}
	return max(r.EndTime.AsTime().Sub(r.StartTime.AsTime()), 0)
}

// MaxRun is the longest run of any record: a run that overlaps a period
// ended before the period's end plus MaxRun, so a scan for the runs of a
// period can stop there.
func (s *Store) MaxRun() time.Duration { return time.Duration(s.maxRun.Load()) }

// PutUsage stores the decayed usage of a team ("sf") or user ("sf/alice").
func (tx *Tx) PutUsage(key string, u *gpuqv1.DecayedUsage) error {
	return tx.putProto(append(append([]byte{}, prefixUsage...), key...), u)
}

// SetNextID records the next job id to hand out.
func (tx *Tx) SetNextID(next uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], next)
	if err := tx.txn.Set(keyNextID, b[:]); err != nil {
		return fmt.Errorf("write next id: %w", err)
	}
	return nil
}

// PutRequest remembers which job a request id created.
func (tx *Tx) PutRequest(requestID string, id uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	if err := tx.txn.Set(requestKey(requestID), b[:]); err != nil {
		return fmt.Errorf("write request %q: %w", requestID, err)
	}
	return nil
}

// Payload reads the bulky parts of job id's submission (see SplitPayload).
func (s *Store) Payload(id uint64) (*gpuqv1.JobSpec, error) {
	p := &gpuqv1.JobSpec{}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(idKey(prefixPayload, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("payload of job %d: %w", id, job.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("payload of job %d: %w", id, err)
		}
		return item.Value(func(v []byte) error { return proto.Unmarshal(v, p) })
	})
	return p, err
}

// SplitPayload returns a copy of spec without its bulky parts (script,
// environment, the expanded array task ids), and a spec holding only those.
// The slim spec is what the queue keeps in memory and lists.
func SplitPayload(spec *gpuqv1.JobSpec) (slim, payload *gpuqv1.JobSpec) {
	slim = proto.CloneOf(spec)
	slim.Script, slim.Environment = nil, nil
	payload = &gpuqv1.JobSpec{Script: spec.Script, Environment: spec.Environment}
	if spec.Array != nil {
		slim.Array.TaskIds = nil
		payload.Array = &gpuqv1.ArraySpec{TaskIds: spec.Array.TaskIds}
	}
	return slim, payload
}

// Records calls fn for every accounting record of a run that ended in
// [from, to), in order of the end; a zero to means no upper bound.
func (s *Store) Records(from, to time.Time, fn func(*gpuqv1.RunRecord) error) error {
	return s.scanRecords(from, to, func(k, v []byte) error {
		r := &gpuqv1.RunRecord{}
		if err := proto.Unmarshal(v, r); err != nil {
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		return fn(r)
	})
}

// JobRecords calls fn for every accounting record of job id, or of its
// task when task is set, in order of task and end, through the job-id
// index: it reads only that job's records.
func (s *Store) JobRecords(id uint64, task *uint32, fn func(*gpuqv1.RunRecord) error) error {
	prefix := jobIndexPrefix(id, task)
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ik := it.Item().Key()
			k := append(append([]byte{}, prefixRecord...), ik[jobIndexHeader:]...)
			item, err := txn.Get(k)
			if err != nil {
				return fmt.Errorf("record %x of index entry %x: %w", k, ik, err)
			}
			r := &gpuqv1.RunRecord{}
			if err := item.Value(func(v []byte) error { return proto.Unmarshal(v, r) }); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}
