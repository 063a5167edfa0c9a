package nodeagent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/reclog"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// The ends of runs that gpuqd has not acknowledged are kept in
// StateDir/finished.log (internal/reclog), one record a line:
//
//	E <JobUpdate as protojson>   an end, synced before it is reported
//	A <allocation id>            gpuqd recorded it
//
// Once every end is acknowledged the log is emptied; while some are not
// (gpuqd away) it is rewritten with those once it has grown enough.
// Before, each end was a file of its own (StateDir/finished/<id>.pb): a new
// inode per job, costly on a journal-less ext4. Such files are still read,
// moved into the log and removed.
const endsFile = "finished.log"

// emptyEndsAfter is how many records the log of ends may hold with every
// end acknowledged before it is emptied; see rewriteEnds.
const emptyEndsAfter = 256

// parseEnds parses the log of ends: those not acknowledged, by allocation.
// A line that is not a record is skipped.
func parseEnds(b []byte) map[string]*gpuqv1.JobUpdate {
	ends := map[string]*gpuqv1.JobUpdate{}
	for _, line := range reclog.Lines(b) {
		op, rest, _ := bytes.Cut(line, []byte{' '})
		switch string(op) {
		case "E":
			u := &gpuqv1.JobUpdate{}
			if protojson.Unmarshal(rest, u) == nil && u.AllocationId != "" {
				ends[u.AllocationId] = u
			}
		case "A":
			delete(ends, string(rest))
		}
	}
	return ends
}

func endRecord(u *gpuqv1.JobUpdate) ([]byte, error) {
	b, err := protojson.Marshal(u)
	if err != nil {
		return nil, err
	}
	return append([]byte("E "), b...), nil
}

// loadFinished opens the log of the ends an earlier agent had not had
// acknowledged, and reads them.
func (a *Agent) loadFinished() error {
	log, b, err := reclog.Open(filepath.Join(a.opts.StateDir, endsFile))
	if err != nil {
		return err
	}
	ends := parseEnds(b)
	// Ends of an older gpuq-node, a file each: into the log.
	old := filepath.Join(a.opts.StateDir, "finished")
	files, _ := filepath.Glob(filepath.Join(old, "*.pb"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Close()
			return fmt.Errorf("read %s: %w", f, err)
		}
		u := &gpuqv1.JobUpdate{}
		if err := proto.Unmarshal(b, u); err != nil || u.AllocationId == "" {
			a.log.Warn("unreadable run record; removing it", "file", f, "err", err)
		} else {
			rec, err := endRecord(u)
			if err == nil {
				err = log.Append(rec, true)
			}
			if err != nil {
				log.Close()
				return fmt.Errorf("move %s into %s: %w", f, endsFile, err)
			}
			ends[u.AllocationId] = u
		}
		_ = os.Remove(f)
	}
	if err := os.Remove(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("remove the directory of ends of older versions", "err", err)
	}
	a.mu.Lock()
	a.ends = log
	for id, u := range ends {
		a.finished[id] = u
	}
	a.mu.Unlock()
	return nil
}

// finish keeps a run's end on disk until gpuqd acknowledges it, and reports it.
func (a *Agent) finish(u *gpuqv1.JobUpdate) {
	a.mu.Lock()
	// Kept before it is logged, so that a rewrite of the log in between
	// keeps it.
	a.finished[u.AllocationId] = u
	log := a.ends
	a.mu.Unlock()
	rec, err := endRecord(u)
	switch {
	case err != nil:
	case log == nil:
		err = errors.New("the log of ends is not open")
	default:
		err = log.Append(rec, true)
	}
	if err != nil {
		a.log.Error("record the end of a run", "allocation", u.AllocationId, "err", err)
	}
	a.log.Info("job ended", "allocation", u.AllocationId, "state", job.StateName(u.State), "exit", u.ExitCode)
	a.send(&gpuqv1.NodeMessage{Msg: &gpuqv1.NodeMessage_JobUpdate{JobUpdate: u}})
}

// acked forgets a run's end once gpuqd has recorded it.
func (a *Agent) acked(alloc string) {
	a.mu.Lock()
	_, had := a.finished[alloc]
	delete(a.finished, alloc)
	log := a.ends
	a.mu.Unlock()
	if !had || log == nil {
		return
	}
	// Not synced: an acknowledgement lost in a crash has gpuqd told of the
	// end again, which it takes as it took the first.
	if err := log.Append([]byte("A "+alloc), false); err != nil {
		a.log.Warn("forget acknowledged run", "allocation", alloc, "err", err)
	}
	if err := a.rewriteEnds(log); err != nil {
		a.log.Warn("compact "+endsFile, "err", err)
	}
}

// rewriteEnds empties the log of ends once all are acknowledged and it
// holds emptyEndsAfter records, or rewrites it with the ends not
// acknowledged once compaction is due (reclog.Log.CompactionDue).
func (a *Agent) rewriteEnds(log *reclog.Log) error {
	a.mu.Lock()
	pending := len(a.finished)
	a.mu.Unlock()
	if !(pending == 0 && log.Records() >= emptyEndsAfter) && !log.CompactionDue(pending) {
		return nil
	}
	return log.Rewrite(func() ([][]byte, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		var recs [][]byte
		for _, u := range a.finished {
			rec, err := endRecord(u)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		return recs, nil
	})
}
