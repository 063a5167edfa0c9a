package accounting

import (
	"errors"
	"math"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/wire"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// ErrMalformed is a record a Decoder could not decode.
var ErrMalformed = errors.New("truncated or malformed record")

// A Decoder decodes encoded gpuq.v1.RunRecords one after the other into
// one record it reuses, without copying its strings: a listing of a
// million records formats each as it is decoded, several times faster
// than proto.Unmarshal. It reads what
// proto.Unmarshal would (a field that comes again replaces a value, or is
// merged into a message), except the GPU ids: the record gets as many
// empty ones, since accounting reads only their number. Unknown fields are
// dropped. A Decoder is not safe for concurrent use.
type Decoder struct {
	rec                          gpuqv1.RunRecord
	job                          gpuqv1.JobRef
	task                         uint32
	submit, eligible, start, end timestamppb.Timestamp
	usage                        gpuqv1.GPUUsage
	ids                          []string
	names                        map[string]string
	// skip holds the record fields (by number) left unset; nil for none.
	skip []bool
}

// shownFields are the fields of a gpuq.v1.RunRecord, by number, that
// each Field's value reads.
var shownFields = [numFields][]protowire.Number{
	FieldJobID:          {1},
	FieldJobName:        {3},
	FieldRun:            {2},
	FieldTeam:           {4},
	FieldUser:           {5},
	FieldPool:           {6},
	FieldRegion:         {7},
	FieldNodeList:       {8},
	FieldState:          {16},
	FieldExitCode:       {17, 18},
	FieldElapsed:        {14, 15},
	FieldAllocGPUs:      {10, 11},
	FieldGPUType:        {9},
	FieldSubmit:         {12},
	FieldEligible:       {13},
	FieldStart:          {14},
	FieldEnd:            {15},
	FieldGPUHours:       {10, 11, 14, 15},
	FieldBilledGPUHours: {19},
	FieldCost:           {23},
	FieldGPUUtil:        {21},
	FieldGPUUtilMax:     {21},
}

// Only makes d decode only the fields of a record that cols show, and
// its job and run, by which a listing sorts: a listing of a million
// records decodes and checks no more than it shows. The other fields are
// left unset.
func (d *Decoder) Only(cols []Column) {
	d.skip = make([]bool, 24) // RunRecord's fields are 1 to 23
	for num := range d.skip {
		d.skip[num] = num > 2
	}
	for _, col := range cols {
		if col.Field <= 0 || col.Field >= numFields || len(shownFields[col.Field]) == 0 {
			d.skip = nil // a field this does not know: decode all
			return
		}
		for _, num := range shownFields[col.Field] {
			d.skip[num] = false
		}
	}
}

// Decode decodes b into the Decoder's record and returns it. The record
// is valid until the next call, and its strings point into b: only while b
// is unchanged.
func (d *Decoder) Decode(b []byte) (*gpuqv1.RunRecord, error) {
	r := &d.rec
	*r = gpuqv1.RunRecord{}
	d.job, d.task = gpuqv1.JobRef{}, 0
	d.submit, d.eligible, d.start, d.end = timestamppb.Timestamp{}, timestamppb.Timestamp{}, timestamppb.Timestamp{}, timestamppb.Timestamp{}
	d.usage = gpuqv1.GPUUsage{}
	d.ids = d.ids[:0]
	for len(b) > 0 {
		// Tags and lengths of one byte, most of them, are read here
		// without a call.
		var (
			num protowire.Number
			typ protowire.Type
			n   int
		)
		if c := b[0]; c >= 1<<3 && c < 0x80 {
			num, typ, b = protowire.Number(c>>3), protowire.Type(c&7), b[1:]
		} else {
			num, typ, n = protowire.ConsumeTag(b)
			if n < 0 || num > protowire.MaxValidNumber {
				return nil, ErrMalformed
			}
			b = b[n:]
		}
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
				v, n = b[1:1+b[0]], 1+int(b[0])
			} else {
				v, n = protowire.ConsumeBytes(b)
			}
		case protowire.VarintType:
			x, n = wire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, ErrMalformed
		}
		b = b[n:]
		if int(num) < len(d.skip) && d.skip[num] {
			continue
		}
		if err := d.field(num, typ, v, x); err != nil {
			return nil, err
		}
	}
	r.GpuIds = d.ids
	return r, nil
}

// field sets the field num of the record: v for a length-delimited value,
// x for a number.
func (d *Decoder) field(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
	r := &d.rec
	switch typ {
	case protowire.BytesType:
		var s *string
		switch num {
		case 1:
			r.Job = &d.job
			return d.merge(v, func(num protowire.Number, typ protowire.Type, x uint64) {
				switch {
				case typ != protowire.VarintType:
				case num == 1:
					d.job.Id = x
				case num == 2:
					d.task = uint32(x)
					d.job.ArrayTaskId = &d.task
				}
			})
		case 3:
			s = &r.Name
		case 4:
			s = &r.Team
		case 5:
			s = &r.User
		case 6:
			s = &r.Pool
		case 7:
			s = &r.Region
		case 8:
			s = &r.Node
		case 9:
			s = &r.GpuType
		case 11:
			if !utf8.Valid(v) {
				return ErrMalformed
			}
			d.ids = append(d.ids, "")
		case 12:
			r.SubmitTime = &d.submit
			return d.mergeTime(v, &d.submit)
		case 13:
			r.EligibleTime = &d.eligible
			return d.mergeTime(v, &d.eligible)
		case 14:
			r.StartTime = &d.start
			return d.mergeTime(v, &d.start)
		case 15:
			r.EndTime = &d.end
			return d.mergeTime(v, &d.end)
		case 21:
			r.Usage = &d.usage
			return d.mergeUsage(v)
		case 22:
			s = &r.AllocationId
		case 23:
			s = &r.Cost
		}
		if s != nil {
			if !utf8.Valid(v) {
				return ErrMalformed
			}
			*s = d.name(v)
		}
	case protowire.VarintType:
		switch num {
		case 2:
			r.Run = uint32(x)
		case 10:
			r.GpuCount = uint32(x)
		case 16:
			r.State = gpuqv1.JobState(int32(x))
		case 17:
			r.ExitCode = int32(x)
		case 18:
			r.ExitSignal = int32(x)
		}
	case protowire.Fixed64Type:
		switch num {
		case 19:
			r.BilledGpuSeconds = math.Float64frombits(x)
		case 20:
			r.GpuSeconds = math.Float64frombits(x)
		}
	}
	return nil
}

// name is b as a string, without a copy.
func (d *Decoder) name(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// merge calls set for each varint and each fixed64 field of the message
// b, skipping the others.
func (d *Decoder) merge(b []byte, set func(num protowire.Number, typ protowire.Type, x uint64)) error {
	for len(b) > 0 {
		num, typ, n := wire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return ErrMalformed
		}
		b = b[n:]
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = wire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			typ = -1
		}
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		if typ >= 0 {
			set(num, typ, x)
		}
	}
	return nil
}

func (d *Decoder) mergeTime(b []byte, t *timestamppb.Timestamp) error {
	return d.merge(b, func(num protowire.Number, typ protowire.Type, x uint64) {
		switch {
		case typ != protowire.VarintType:
		case num == 1:
			t.Seconds = int64(x)
		case num == 2:
			t.Nanos = int32(x)
		}
	})
}

func (d *Decoder) mergeUsage(b []byte) error {
	return d.merge(b, func(num protowire.Number, typ protowire.Type, x uint64) {
		switch {
		case typ == protowire.Fixed64Type && num == 1:
			d.usage.UtilizationMean = math.Float64frombits(x)
		case typ == protowire.Fixed64Type && num == 2:
			d.usage.UtilizationMax = math.Float64frombits(x)
		case typ == protowire.VarintType && num == 3:
			d.usage.MemoryUsedMaxBytes = x
		}
	})
}
