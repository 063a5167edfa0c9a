package store

import (
	"errors"
	badger "github.com/dgraph-io/badger/v4"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// reopen closes s and opens the store in dir again, as gpuqd does after a
// restart; the new one is closed when the test ends.
func reopen(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	spec := &gpuqv1.JobSpec{Name: "train", Team: "sf", Script: []byte("#!/bin/sh\n"), Environment: map[string]string{"A": "1"}}
	task := uint32(7)
	jobs := []*gpuqv1.Job{{Id: 300, Spec: spec}, {Id: 2, ArrayTaskId: &task, Spec: spec}}
	err = s.Update(func(tx *Tx) error {
		for _, j := range jobs {
			if err := tx.PutSpec(j.Id, spec); err != nil {
				return err
			}
			if err := tx.PutJob(j); err != nil {
				return err
			}
		}
		if err := tx.PutRequest("req", 300); err != nil {
			return err
		}
		return tx.SetNextID(301)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed transaction writes nothing.
	boom := errors.New("boom")
	if err := s.Update(func(tx *Tx) error { _ = tx.SetNextID(999); return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	s = reopen(t, s, dir)
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if snap.NextID != 301 {
		t.Errorf("NextID = %d, want 301", snap.NextID)
	}
	if diff := cmp.Diff(map[string]uint64{"req": 300}, snap.Requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	slim := &gpuqv1.JobSpec{Name: "train", Team: "sf"}
	want := []*gpuqv1.Job{{Id: 2, ArrayTaskId: &task, Spec: slim}, {Id: 300, Spec: slim}} // key order: by id
	if diff := cmp.Diff(want, snap.Jobs, protocmp.Transform()); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	p, err := s.Payload(300)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Script) != "#!/bin/sh\n" || p.Environment["A"] != "1" {
		t.Errorf("payload = %v", p)
	}
}

func TestSchemaMismatch(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keySchema, []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrSchema) {
		t.Fatalf("Open = %v, want ErrSchema", err)
	}
}
