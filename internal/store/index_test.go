package store

import (
	"fmt"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// indexFixture stores records of jobs 5 (three runs), 7 (an array: tasks 1
// and 2), 700 and 1792 (7 and 1792 share their low byte), and a job that
// never ran.
func indexFixture(t *testing.T, s *Store) {
	t.Helper()
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	var recs []*gpuqv1.RunRecord
	add := func(ref job.Ref, run uint32, alloc string, end time.Duration) {
		r := &gpuqv1.RunRecord{Job: ref.Proto(), Run: run, AllocationId: alloc, EndTime: timestamppb.New(t0.Add(end))}
		if alloc != "" { // ran for as long as its job id's last digit in hours
			r.StartTime = timestamppb.New(t0.Add(end - time.Duration(ref.ID%10)*time.Hour))
		}
		recs = append(recs, r)
	}
	add(job.Ref{ID: 5}, 2, "5.2", 9*time.Hour)
	add(job.Ref{ID: 5}, 0, "5.0", time.Hour)
	add(job.Ref{ID: 5}, 1, "5.1", 3*time.Hour)
	add(job.Ref{ID: 7, Task: 2, HasTask: true}, 0, "7_2.0", 2*time.Hour)
	add(job.Ref{ID: 7, Task: 1, HasTask: true}, 0, "7_1.0", 4*time.Hour)
	add(job.Ref{ID: 700}, 0, "700.0", 5*time.Hour)
	add(job.Ref{ID: 1792}, 0, "", 6*time.Hour) // never ran
	err := s.Update(func(tx *Tx) error {
		for _, r := range recs {
			if err := tx.PutRecord(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func jobRecords(t *testing.T, s *Store, id uint64, task *uint32) []string {
	t.Helper()
	var out []string
	err := s.JobRecords(id, task, func(r *gpuqv1.RunRecord) error {
		out = append(out, fmt.Sprintf("%s run %d", job.FromProto(r.Job), r.Run))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkIndex(t *testing.T, s *Store) {
	t.Helper()
	if got := s.MaxRun(); got != 7*time.Hour {
		t.Errorf("MaxRun = %v, want 7h (job 7's)", got)
	}
	for _, tc := range []struct {
		id   uint64
		task *uint32
		want []string
	}{
		{5, nil, []string{"5 run 0", "5 run 1", "5 run 2"}},
		{7, nil, []string{"7_1 run 0", "7_2 run 0"}},
		{7, proto.Uint32(2), []string{"7_2 run 0"}},
		{7, proto.Uint32(3), nil},
		{700, nil, []string{"700 run 0"}},
		{1792, nil, []string{"1792 run 0"}},
		{6, nil, nil},
	} {
		if diff := cmp.Diff(tc.want, jobRecords(t, s, tc.id, tc.task)); diff != "" {
			t.Errorf("JobRecords(%d, %v) (-want +got):\n%s", tc.id, tc.task, diff)
		}
	}
}

func TestJobRecords(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	indexFixture(t, s)
	checkIndex(t, s)
}

// TestMigrate1to2: a store of schema 1 has records and no index; opening
// it indexes them.
func TestMigrate1to2(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	indexFixture(t, s)
	// Make it what schema 1 wrote: no index.
	err = s.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixJobIndex})
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		if err := txn.Delete(keyMaxRun); err != nil {
			return err
		}
		return txn.Set(keySchema, []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := jobRecords(t, s, 5, nil); got != nil {
		t.Fatalf("index left after its removal: %v", got)
	}
	// The longest run survives a restart (checkIndex after the migration).
	s = reopen(t, s, dir)
	checkIndex(t, s)
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if string(v) != SchemaVersion {
			t.Errorf("schema after the migration = %q, want %q", v, SchemaVersion)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
