package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// TestEncodedRecordsOrdered: the records come in the listing's order (a
// stable sort of those by end), from a store where jobs end in and out of
// the order of their ids, with requeued runs and array tasks; and by end,
// as EncodedRecords gives them, where that would keep more than hold;
// without the records keep leaves out.
func TestEncodedRecordsOrdered(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(5, 6))
	err = s.Update(func(tx *Tx) error {
		for i := range 400 {
			ref := job.Ref{ID: uint64(1 + i/2 + rng.IntN(30))}
			if i%5 == 0 {
				ref.Task, ref.HasTask = uint32(rng.IntN(3)), true
			}
			end := t0.Add(time.Duration(i/2) * time.Minute) // two records end at once
			rec := &gpuqv1.RunRecord{Job: ref.Proto(), Run: uint32(rng.IntN(3)), Team: "sf", User: []string{"alice", "bob", "carol"}[i%3],
				StartTime: timestamppb.New(end.Add(-time.Hour)), EndTime: timestamppb.New(end), AllocationId: fmt.Sprintf("%s.%d", ref, i)}
			if err := tx.PutRecord(rec); err != nil {
				return err
			}
		}
		// A job that ran long ends last.
		return tx.PutRecord(&gpuqv1.RunRecord{Job: job.Ref{ID: 1}.Proto(), Run: 1, Team: "sf", User: "alice", EndTime: timestamppb.New(t0.Add(300 * time.Minute))})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to time.Time
		parts    int
		hold     int
		keep     func(team, user string) bool
		ordered  bool
	}{
		{time.Time{}, time.Time{}, 1, 1000, nil, true},
		{time.Time{}, time.Time{}, 3, 1000, nil, true},
		{t0.Add(30 * time.Minute), t0.Add(150 * time.Minute), 4, 1000, nil, true},
		{t0.Add(30 * time.Minute), time.Time{}, 2, 1000, nil, true},
		{time.Time{}, time.Time{}, 2, 0, nil, false}, // the job that ended last keeps every other
		{t0.Add(30 * time.Minute), t0.Add(150 * time.Minute), 1, 2, nil, false},
		{t0.Add(time.Hour), t0.Add(time.Hour), 2, 10, nil, true}, // none
		// Only bob's and carol's: the job that ended last is alice's, and
		// holds back no other.
		{time.Time{}, time.Time{}, 2, 100, nil, false},
		{time.Time{}, time.Time{}, 2, 100, func(_, user string) bool { return user != "alice" }, true},
		{t0.Add(30 * time.Minute), time.Time{}, 3, 1000, func(_, user string) bool { return user == "bob" }, true},
		{time.Time{}, time.Time{}, 1, 1000, func(string, string) bool { return false }, true},
	} {
		var byEnd []*gpuqv1.RunRecord
		err := s.EncodedRecords(tc.from, tc.to, func(e *accounting.EncodedRecord) error {
			byEnd = append(byEnd, decodeRecord(t, e))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := byEnd
		if tc.ordered {
			want = slices.DeleteFunc(slices.Clone(byEnd), func(r *gpuqv1.RunRecord) bool {
				return tc.keep != nil && !tc.keep(r.Team, r.User)
			})
			slices.SortStableFunc(want, accounting.CompareListing)
			if len(want) == 0 {
				want = nil
			}
		}
		var got []*gpuqv1.RunRecord
		err = s.EncodedRecordsOrdered(tc.from, tc.to, tc.parts, tc.hold, tc.keep, func(e *accounting.EncodedRecord, ordered bool) error {
			if ordered != tc.ordered {
				return fmt.Errorf("record %d: ordered %v, want %v", len(got), ordered, tc.ordered)
			}
			got = append(got, decodeRecord(t, e))
			return nil
		})
		if err != nil {
			t.Fatalf("%v to %v, %d parts, hold %d: %v", tc.from, tc.to, tc.parts, tc.hold, err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%v to %v, hold %d (-want +got):\n%s", tc.from, tc.to, tc.hold, diff)
		}
	}
}

// decodeRecord decodes e's bytes and checks what EncodedRecords decoded
// of them.
func decodeRecord(t *testing.T, e *accounting.EncodedRecord) *gpuqv1.RunRecord {
	t.Helper()
	rec := &gpuqv1.RunRecord{}
	if err := proto.Unmarshal(e.Bytes, rec); err != nil {
		t.Fatal(err)
	}
	if run := accounting.RunOf(rec); e.Run != run || e.State != rec.State {
		t.Errorf("record %v: decoded run %v and state %v, want %v and %v", rec.Job, e.Run, e.State, run, rec.State)
	}
	return rec
}

// TestKeptAtOnce: keptAtOnce counts what a simulation of the second read
// of EncodedRecordsOrdered keeps at most.
func TestKeptAtOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	ns := []int{9000} // jobLists of several chunks
	for n := range 40 {
		ns = append(ns, n)
	}
	for _, n := range ns {
		for spread := range 4 {
			jobs := make([]jobKey, n)
			for i := range jobs {
				jobs[i] = jobKey{id: uint64(i/2 + rng.IntN(1+spread*spread)), task: uint64(rng.IntN(2))}
			}
			if got, want := keptAtOnceOf(jobs), simulateKept(jobs); got != want {
				t.Errorf("keptAtOnce(%v) = %d, want %d", jobs, got, want)
			}
		}
	}
}

// keptAtOnceOf is keptAtOnce of jobs, some of them left out (noJob), in
// two parts.
func keptAtOnceOf(jobs []jobKey) int {
	var parts [2]jobList
	for i, j := range jobs {
		if i%5 == 4 {
			j = noJob
		}
		parts[min(i/7, 1)].add(j)
	}
	all := join(parts[:])
	defer all.release()
	least := all.leastAfter()
	defer least.release()
	return keptAtOnce(&all, &least, len(jobs))
}

func simulateKept(jobs []jobKey) int {
	jobs = slices.Clone(jobs)
	for i := range jobs {
		if i%5 == 4 {
			jobs[i] = noJob
		}
	}
	jobs = slices.DeleteFunc(jobs, func(j jobKey) bool { return j == noJob })
	var kept []jobKey
	most := 0
	for p, j := range jobs {
		kept = append(kept, j)
		if p+1 == len(jobs) {
			break
		}
		least := slices.MinFunc(jobs[p+1:], compareJobKeys)
		kept = slices.DeleteFunc(kept, func(k jobKey) bool { return k.less(least) })
		most = max(most, len(kept))
	}
	return most
}

// TestEncodedRecordsOrderedFirstRead: a record that names its team twice
// (proto.Marshal never writes one) is read whole by the second read, which
// finds that the first read left it out wrongly and fails rather than give
// records out of order.
func TestEncodedRecordsOrderedFirstRead(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	rec := &gpuqv1.RunRecord{Job: job.Ref{ID: 7}.Proto(), Team: "sf", User: "alice", EndTime: timestamppb.New(t0)}
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendString(protowire.AppendTag(b, fieldTeam, protowire.BytesType), "tokyo")
	err = s.Update(func(tx *Tx) error { return tx.txn.Set(recordKeyOf(rec), b) })
	if err != nil {
		t.Fatal(err)
	}
	keep := func(team, _ string) bool { return team == "tokyo" }
	err = s.EncodedRecordsOrdered(time.Time{}, time.Time{}, 1, 10, keep, func(*accounting.EncodedRecord, bool) error { return nil })
	if !errors.Is(err, errFirstRead) {
		t.Errorf("EncodedRecordsOrdered = %v, want %v", err, errFirstRead)
	}
}

// compareJobKeys orders job keys as jobKey.less does.
func compareJobKeys(a, b jobKey) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}
