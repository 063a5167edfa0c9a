package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Snapshot is everything gpuqd needs in memory at start.
type Snapshot struct {
	// NextID is the next job id to hand out (at least 1).
	NextID uint64
	// Specs by job id, without their bulky parts (see SplitPayload).
	Specs map[uint64]*gpuqv1.JobSpec
	// Jobs in key order (by id, then task), each with Spec pointing into Specs.
	Jobs []*gpuqv1.Job
	// Requests maps idempotency request ids to job ids.
	Requests map[string]uint64
	// Usage by team ("sf") and user ("sf/alice").
	Usage map[string]*gpuqv1.DecayedUsage
}

// Load reads the whole queue.
func (s *Store) Load() (*Snapshot, error) {
	snap := &Snapshot{NextID: 1, Specs: map[uint64]*gpuqv1.JobSpec{}, Requests: map[string]uint64{}, Usage: map[string]*gpuqv1.DecayedUsage{}}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyNextID)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read next id: %w", err)
		default:
			if err := item.Value(func(v []byte) error {
				n, err := decodeUint64(v, "next id")
				snap.NextID = max(n, 1)
				return err
			}); err != nil {
				return err
			}
		}
		if err := scan(txn, prefixSpec, func(k, v []byte) error {
			id, err := decodeUint64(k[len(prefixSpec):], "spec key")
			if err != nil {
				return err
			}
			sp := &gpuqv1.JobSpec{}
			if err := proto.Unmarshal(v, sp); err != nil {
				return fmt.Errorf("decode spec of job %d: %w", id, err)
			}
			snap.Specs[id] = sp
			return nil
		}); err != nil {
			return err
		}
		if err := scan(txn, prefixTask, func(k, v []byte) error {
			j := &gpuqv1.Job{}
			if err := proto.Unmarshal(v, j); err != nil {
				return fmt.Errorf("decode job key %x: %w", k, err)
			}
			j.Spec = snap.Specs[j.Id]
			if j.Spec == nil {
				return fmt.Errorf("job %d has no stored spec", j.Id)
			}
			snap.Jobs = append(snap.Jobs, j)
			return nil
		}); err != nil {
			return err
		}
		if err := scan(txn, prefixUsage, func(k, v []byte) error {
			u := &gpuqv1.DecayedUsage{}
			if err := proto.Unmarshal(v, u); err != nil {
				return fmt.Errorf("decode usage %q: %w", k, err)
			}
			snap.Usage[string(k[len(prefixUsage):])] = u
			return nil
		}); err != nil {
			return err
		}
		return scan(txn, prefixRequest, func(k, v []byte) error {
			id, err := decodeUint64(v, "request")
			snap.Requests[string(k[len(prefixRequest):])] = id
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	return snap, nil
}

func scan(txn *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
			return err
		}
	}
	return nil
}
