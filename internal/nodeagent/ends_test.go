package nodeagent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gpuq/gpuq/internal/reclog"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func endsAgent(state string) *Agent {
	return &Agent{opts: Options{StateDir: state, Info: &gpuqv1.NodeInfo{Name: "n1"}}, log: slog.New(slog.DiscardHandler),
		runs: map[string]*run{}, finished: map[string]*gpuqv1.JobUpdate{}}
}

func endOf(alloc string, code int32) *gpuqv1.JobUpdate {
	return &gpuqv1.JobUpdate{AllocationId: alloc, State: gpuqv1.JobState_JOB_STATE_FAILED, ExitCode: code, Message: "NonZeroExitCode"}
}

// TestEndsSurviveRestart: ends not acknowledged are read again by the next
// agent, acknowledged ones are not; ends of an older version, a file each,
// are moved into the log.
func TestEndsSurviveRestart(t *testing.T) {
	state := t.TempDir()
	old := filepath.Join(state, "finished")
	os.Mkdir(old, 0o755)
	b, _ := proto.Marshal(endOf("7.0.aa", 7))
	os.WriteFile(filepath.Join(old, "7.0.aa.pb"), b, 0o644)
	os.WriteFile(filepath.Join(old, "8.0.bb.pb"), []byte("not a record"), 0o644)

	a := endsAgent(state)
	if err := a.loadFinished(); err != nil {
		t.Fatal(err)
	}
	a.finish(endOf("1.0.x", 1))
	a.finish(endOf("2.0.y", 2))
	a.acked("1.0.x")
	a.acked("unknown")
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the directory of older ends is still there: %v", err)
	}

	b2 := endsAgent(state) // the next agent, after a kill -9
	if err := b2.loadFinished(); err != nil {
		t.Fatal(err)
	}
	want := map[string]*gpuqv1.JobUpdate{"2.0.y": endOf("2.0.y", 2), "7.0.aa": endOf("7.0.aa", 7)}
	if diff := cmp.Diff(want, b2.finished, protocmp.Transform()); diff != "" {
		t.Errorf("ends after a restart (-want +got):\n%s", diff)
	}
}

// TestEndsCompaction: once every end is acknowledged the log is emptied;
// with ends outstanding it is rewritten to them once it has grown.
func TestEndsCompaction(t *testing.T) {
	state := t.TempDir()
	a := endsAgent(state)
	if err := a.loadFinished(); err != nil {
		t.Fatal(err)
	}
	for i := range emptyEndsAfter / 2 {
		alloc := fmt.Sprintf("%d.0.a", i)
		a.finish(endOf(alloc, 1))
		a.acked(alloc)
	}
	if n := a.ends.Records(); n >= emptyEndsAfter {
		t.Errorf("%d records with every end acknowledged", n)
	}
	a.finish(endOf("kept", 3))
	for i := range reclog.CompactAfter {
		alloc := fmt.Sprintf("%d.1.a", i)
		a.finish(endOf(alloc, 1))
		a.acked(alloc)
	}
	if n := a.ends.Records(); n >= reclog.CompactAfter {
		t.Errorf("%d records with one end outstanding", n)
	}
	b, err := reclog.Read(filepath.Join(state, endsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := parseEnds(b); len(got) != 1 || got["kept"] == nil {
		t.Errorf("ends in the log: %v, want only kept", got)
	}
}

func FuzzParseEnds(f *testing.F) {
	rec, _ := endRecord(endOf("1.0.a", 1))
	f.Add(append(append(rec, '\n'), "A 1.0.a\n"...))
	f.Add([]byte("E {\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for alloc, u := range parseEnds(b) {
			if alloc == "" || u.AllocationId != alloc {
				t.Fatalf("%q: %v", alloc, u)
			}
		}
	})
}
