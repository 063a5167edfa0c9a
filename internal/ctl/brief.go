package ctl

import (
	"fmt"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// row is one job of a brief listing (JOB_VIEW_BRIEF) as it came on the
// wire: what sorting and collapsing look at, and the job's bytes, read
// again into a scratch message when its line is written. A protobuf message
// per job and its spec would cost a 10,000-job queue several MB of fresh
// memory, and a process pays for every page of it.
type row struct {
	order
	msg []byte // the Job message, within the listing's bytes
}

// decodeRows reads the wire form of a ListJobsResponse, checking every
// job's message. Fields it does not know are skipped, so a full listing
// reads as well.
func decodeRows(b []byte) ([]row, error) {
	n := 0
	err := eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) error {
		if num == 1 && typ == protowire.BytesType {
			n++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the listing: %w", err)
	}
	var (
		rows = make([]row, 0, n)
		s    scratch
	)
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		j, err := s.load(v)
		if err != nil {
			return err
		}
		rows = append(rows, row{order: jobOrder(j), msg: v}) // the reason points into b

		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the listing: %w", err)
	}
	return rows, nil
}

// scratch is one Job that jobs of a listing are read into, one at a time,
// so that the columns read them as they read any job. Its strings point
// into the listing's bytes.
type scratch struct {
	job        gpuqv1.Job
	spec       gpuqv1.JobSpec
	gpus       gpuqv1.GPURequest
	limit      durationpb.Duration
	start, end timestamppb.Timestamp
	array      gpuqv1.ArraySpec
	task       uint32
}

// load reads the fields of JOB_VIEW_BRIEF from a Job message into s.job
// and returns it.
func (s *scratch) load(b []byte) (*gpuqv1.Job, error) {
	j, sp := &s.job, &s.spec
	j.Id, j.ArrayTaskId, j.State, j.Reason, j.Node, j.Priority = 0, nil, 0, "", "", 0
	j.StartTime, j.EndTime, j.Spec = nil, nil, sp
	sp.Name, sp.Team, sp.User, sp.Gpus, sp.TimeLimit, sp.Array = "", "", "", nil, nil, nil
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			j.Id = n
		case num == 2 && typ == protowire.VarintType:
			s.task = uint32(n)
			j.ArrayTaskId = &s.task
		case num == 3 && typ == protowire.BytesType:
			return s.loadSpec(v)
		case num == 4 && typ == protowire.VarintType:
			j.State = gpuqv1.JobState(int32(n))
		case num == 5 && typ == protowire.BytesType:
			j.Reason = str(v)
		case num == 8 && typ == protowire.BytesType:
			j.StartTime = &s.start
			return readStamp(&s.start.Seconds, &s.start.Nanos, v)
		case num == 9 && typ == protowire.BytesType:
			j.EndTime = &s.end
			return readStamp(&s.end.Seconds, &s.end.Nanos, v)
		case num == 10 && typ == protowire.BytesType:
			j.Node = str(v)
		case num == 16 && typ == protowire.Fixed64Type:
			j.Priority = math.Float64frombits(n)
		}
		return nil
	})
	return j, err
}

func (s *scratch) loadSpec(b []byte) error {
	sp := &s.spec
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			sp.Name = str(v)
		case 2:
			sp.Team = str(v)
		case 3:
			sp.User = str(v)
		case 4:
			g := &s.gpus
			g.Type, g.Count, sp.Gpus = "", 0, g
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					g.Type = str(v)
				case num == 2 && typ == protowire.VarintType:
					g.Count = uint32(n)
				}
				return nil
			})
		case 5:
			sp.TimeLimit = &s.limit
			return readStamp(&s.limit.Seconds, &s.limit.Nanos, v)
		case 15:
			a := &s.array
			a.Expr, a.MaxConcurrent, sp.Array = "", 0, a
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					a.Expr = str(v)
				case num == 3 && typ == protowire.VarintType:
					a.MaxConcurrent = uint32(n)
				}
				return nil
			})
		}
		return nil
	})
}

// str is b as a string without a copy: the listing's bytes are never
// written to.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// readStamp reads a Timestamp or a Duration: seconds = 1, nanos = 2.
func readStamp(seconds *int64, nanos *int32, b []byte) error {
	*seconds, *nanos = 0, 0
	return eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			*seconds = int64(n)
		case num == 2 && typ == protowire.VarintType:
			*nanos = int32(n)
		}
		return nil
	})
}

// eachField calls fn for each field of a message: v for bytes, n for the
// other types (a fixed64 as its bits).
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		var (
			v []byte
			n uint64
		)
		switch typ {
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			n, l = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x uint32
			x, l = protowire.ConsumeFixed32(b)
			n = uint64(x)
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}
