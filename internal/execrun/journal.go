package execrun

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"github.com/gpuq/gpuq/internal/reclog"
)

// The journal of runs (format version 3): StateDir/runs.log, written by
// the supervisor that holds the lock, one JSON record a line
// (internal/reclog). See the package comment.
const journalFile = "runs.log"

// Operations of the journal's records.
const (
	opTake   = "take"   // the supervisor took the run; it may be starting
	opStart  = "start"  // the job runs; State says how to find it
	opExit   = "exit"   // the job ended; Exit says how (synced)
	opForget = "forget" // Delete: the run is gone
)

// journalRecord is one line of the journal.
type journalRecord struct {
	Op    string      `json:"op"`
	ID    string      `json:"id"`
	State *state      `json:"state,omitempty"`
	Exit  *exitRecord `json:"exit,omitempty"`
}

// journalRun is what the journal says of one run that is not forgotten.
type journalRun struct {
	state *state // nil: taken, never recorded as started
	exit  *exitRecord
}

// readJournal reads the journal in dir: the runs taken and not forgotten.
// A missing journal has no runs.
func readJournal(dir string) (map[string]*journalRun, error) {
	b, err := reclog.Read(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, err
	}
	return parseJournal(b)
}

// parseJournal parses a journal. A line that is not a record is skipped; a
// record of a newer format version is an error.
func parseJournal(b []byte) (map[string]*journalRun, error) {
	runs := map[string]*journalRun{}
	newer := func(n, v int) error {
		return fmt.Errorf("%s line %d: version %d is newer than this gpuq-node's %d", journalFile, n, v, formatVersion)
	}
	for n, line := range reclog.Lines(b) {
		var rec journalRecord
		if json.Unmarshal(line, &rec) != nil || validateID(rec.ID) != nil {
			continue
		}
		run := runs[rec.ID]
		switch rec.Op {
		case opTake:
			if run == nil {
				runs[rec.ID] = &journalRun{}
			}
		case opStart:
			// Without a take not forgotten since: a run forgotten while it
			// was starting, which the supervisor kills.
			if run == nil || rec.State == nil {
				continue
			}
			if rec.State.Version > formatVersion {
				return nil, newer(n, rec.State.Version)
			}
			run.state = rec.State
		case opExit:
			if run == nil || rec.Exit == nil {
				continue
			}
			if rec.Exit.Version > formatVersion {
				return nil, newer(n, rec.Exit.Version)
			}
			run.exit = rec.Exit
		case opForget:
			delete(runs, rec.ID)
		}
	}
	return runs, nil
}

// journal is the supervisor's writer of the journal.
type journal struct {
	dir string
	log *reclog.Log

	mu   sync.Mutex
	live map[string]bool // runs taken and not forgotten
}

// openJournal opens dir's journal for appending. The caller holds the
// supervisor's lock, so it is the only writer.
func openJournal(dir string) (*journal, error) {
	log, b, err := reclog.Open(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, err
	}
	runs, err := parseJournal(b)
	if err != nil {
		log.Close()
		return nil, err
	}
	j := &journal{dir: dir, log: log, live: map[string]bool{}}
	for id := range runs {
		j.live[id] = true
	}
	return j, nil
}

// has reports whether run id is taken and not forgotten.
func (j *journal) has(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.live[id]
}

// append records rec; with durable it returns once rec is on disk. It
// returns the record as written (one line of JSON), which the supervisor
// also sends its clients; nil when rec could not be encoded.
func (j *journal) append(rec journalRecord, durable bool) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", journalFile, err)
	}
	if err := j.log.Append(b, durable); err != nil {
		return b, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch rec.Op {
	case opTake:
		j.live[rec.ID] = true
	case opForget:
		delete(j.live, rec.ID)
	}
	return b, nil
}

// compact rewrites the journal with the records of its live runs (or
// empties it when there are none) once it has grown enough
// (reclog.Log.CompactionDue).
func (j *journal) compact() error {
	j.mu.Lock()
	live := len(j.live)
	j.mu.Unlock()
	if !j.log.CompactionDue(live) {
		return nil
	}
	return j.log.Rewrite(func() ([][]byte, error) {
		runs, err := readJournal(j.dir)
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(runs))
		for id := range runs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		var recs [][]byte
		add := func(rec journalRecord) {
			b, _ := json.Marshal(rec)
			recs = append(recs, b)
		}
		for _, id := range ids {
			run := runs[id]
			add(journalRecord{Op: opTake, ID: id})
			if run.state != nil {
				add(journalRecord{Op: opStart, ID: id, State: run.state})
			}
			if run.exit != nil {
				add(journalRecord{Op: opExit, ID: id, Exit: run.exit})
			}
		}
		return recs, nil
	})
}

// close closes the journal's file.
func (j *journal) close() { j.log.Close() }
