package execrun

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/reclog"
)

func journalText(t testing.TB, recs ...journalRecord) []byte {
	var b []byte
	for _, rec := range recs {
		line, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, line...), '\n')
	}
	return b
}

func TestParseJournal(t *testing.T) {
	st := &state{Version: formatVersion, ID: "a", PID: 10, PIDStart: 5, ShimPID: 2, ShimStart: 1, Supervised: true}
	ex := &exitRecord{Version: formatVersion, Code: 3, Started: time.Unix(1, 0).UTC(), Ended: time.Unix(2, 0).UTC()}
	tests := []struct {
		name string
		in   []byte
		want map[string]*journalRun
	}{
		{"empty", nil, map[string]*journalRun{}},
		{"taken", journalText(t, journalRecord{Op: opTake, ID: "a"}), map[string]*journalRun{"a": {}}},
		{"started and ended", journalText(t,
			journalRecord{Op: opTake, ID: "a"},
			journalRecord{Op: opStart, ID: "a", State: st},
			journalRecord{Op: opExit, ID: "a", Exit: ex}),
			map[string]*journalRun{"a": {state: st, exit: ex}}},
		{"forgotten", journalText(t,
			journalRecord{Op: opTake, ID: "a"},
			journalRecord{Op: opStart, ID: "a", State: st},
			journalRecord{Op: opForget, ID: "a"},
			journalRecord{Op: opExit, ID: "a", Exit: ex}),
			map[string]*journalRun{}},
		{"forgotten while it started", journalText(t,
			journalRecord{Op: opTake, ID: "a"},
			journalRecord{Op: opForget, ID: "a"},
			journalRecord{Op: opStart, ID: "a", State: st},
			journalRecord{Op: opExit, ID: "a", Exit: ex}),
			map[string]*journalRun{}},
		{"garbage and a torn end skipped", append(append([]byte("not json\n{\"op\":\"take\",\"id\":\"../x\"}\n"),
			journalText(t, journalRecord{Op: opTake, ID: "b"}, journalRecord{Op: "later", ID: "b"})...), `{"op":"take","id":"c"`...),
			map[string]*journalRun{"b": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseJournal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(journalRun{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	newer := journalText(t, journalRecord{Op: opTake, ID: "a"}, journalRecord{Op: opStart, ID: "a", State: &state{Version: formatVersion + 1}})
	if _, err := parseJournal(newer); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a newer version: %v, want an error naming the line", err)
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add(journalText(f, journalRecord{Op: opTake, ID: "a"}, journalRecord{Op: opStart, ID: "a", State: &state{PID: 3}}))
	f.Add([]byte(`{"op":"exit","id":"a","exit":{"code":1}}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		runs, err := parseJournal(b)
		if err != nil {
			return
		}
		for id, run := range runs {
			if validateID(id) != nil || run == nil {
				t.Fatalf("run %q: %+v", id, run)
			}
		}
	})
}

// TestJournalCompaction: a journal that has grown is rewritten with the
// records of its live runs, which read as before.
func TestJournalCompaction(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	ex := &exitRecord{Version: formatVersion, Code: 1}
	for i := range reclog.CompactAfter / 3 {
		id := fmt.Sprintf("r%d", i)
		j.append(journalRecord{Op: opTake, ID: id}, false)
		j.append(journalRecord{Op: opStart, ID: id, State: &state{Version: formatVersion, ID: id, PID: 100 + i}}, false)
		if i%100 != 7 {
			j.append(journalRecord{Op: opExit, ID: id, Exit: ex}, true)
			j.append(journalRecord{Op: opForget, ID: id}, false)
		}
	}
	before, err := readJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.compact(); err != nil {
		t.Fatal(err)
	}
	if n := j.log.Records(); n != 2*len(before) {
		t.Fatalf("%d records after compaction, want %d", n, 2*len(before))
	}
	after, err := readJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after, cmp.AllowUnexported(journalRun{})); diff != "" {
		t.Errorf("compaction changed the runs (-before +after):\n%s", diff)
	}
	for id := range before {
		if !j.has(id) {
			t.Errorf("%s not live after compaction", id)
		}
	}
	// A journal with no live run is emptied.
	for id := range before {
		j.append(journalRecord{Op: opForget, ID: id}, false)
	}
	for range reclog.CompactAfter {
		j.append(journalRecord{Op: opForget, ID: "x"}, false)
	}
	if err := j.compact(); err != nil {
		t.Fatal(err)
	}
	if n := j.log.Records(); n != 0 {
		t.Errorf("%d records left with no live run", n)
	}
}

// TestExitReportedBeforeKept: an exit the supervisor reports of a run this
// Runtime does not keep yet (a List reading an older journal meanwhile) is
// not lost when the run is kept.
func TestExitReportedBeforeKept(t *testing.T) {
	r := newRuntime(t)
	ex := exitRecord{Version: formatVersion, Code: 5}
	r.noteExit("late", ex)
	r.keep("late", &journalRun{state: &state{Version: formatVersion, ID: "late", PID: 12}})
	ri, err := r.lookup("late", false)
	if err != nil || !ri.kept || ri.exit == nil || ri.exit.Code != 5 {
		t.Fatalf("lookup: %+v, %v; want kept with exit 5", ri, err)
	}
	if len(r.unkept) != 0 {
		t.Errorf("unkept: %v, want empty", r.unkept)
	}
}
