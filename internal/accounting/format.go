package accounting

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Field is a column of `gpuqctl acct`, named as sacct names it where sacct
// has it.
type Field int

// The fields.
const (
	FieldJobID Field = iota + 1
	FieldJobName
	FieldRun
	FieldTeam
	FieldUser
	FieldPool
	FieldRegion
	FieldNodeList
	FieldState
	FieldExitCode
	FieldElapsed
	FieldAllocGPUs
	FieldGPUType
	FieldSubmit
	FieldEligible
	FieldStart
	FieldEnd
	FieldGPUHours
	FieldBilledGPUHours
	FieldCost
	FieldGPUUtil
	FieldGPUUtilMax
	numFields
)

type fieldInfo struct {
	name    string
	width   int      // sacct's default width
	aliases []string // sacct's names for it
	help    string
}

var fields = [numFields]fieldInfo{
	FieldJobID:          {"JobID", 12, nil, "job id: 42, or 44_3 for a task of an array job"},
	FieldJobName:        {"JobName", 10, nil, "job name"},
	FieldRun:            {"Run", 4, nil, "which run of the job: 0, then 1 after a requeue, ..."},
	FieldTeam:           {"Team", 10, []string{"Account"}, "team (Slurm's account)"},
	FieldUser:           {"User", 9, nil, "user"},
	FieldPool:           {"Pool", 10, []string{"Partition"}, "pool (Slurm's partition)"},
	FieldRegion:         {"Region", 12, nil, "region of the pool"},
	FieldNodeList:       {"NodeList", 15, nil, "node the run ran on"},
	FieldState:          {"State", 10, nil, "how the run ended: COMPLETED, FAILED, PREEMPTED, ..."},
	FieldExitCode:       {"ExitCode", 8, nil, "exit code:signal, as sacct writes it"},
	FieldElapsed:        {"Elapsed", 10, nil, "run time, [D-]HH:MM:SS"},
	FieldAllocGPUs:      {"AllocGPUs", 9, nil, "GPUs held"},
	FieldGPUType:        {"GPUType", 8, nil, "GPU type"},
	FieldSubmit:         {"Submit", 19, nil, "submit time"},
	FieldEligible:       {"Eligible", 19, nil, "time the job became eligible to run"},
	FieldStart:          {"Start", 19, nil, "start of the run"},
	FieldEnd:            {"End", 19, nil, "end of the run"},
	FieldGPUHours:       {"GPUHours", 10, nil, "GPU-hours held: elapsed times GPUs"},
	FieldBilledGPUHours: {"BilledGPUHours", 14, nil, "GPU-hours times the pool's billing weight"},
	FieldCost:           {"Cost", 10, nil, "chargeback cost of the run"},
	FieldGPUUtil:        {"GPUUtil", 7, nil, "mean GPU utilisation in percent, where measured"},
	FieldGPUUtilMax:     {"GPUUtilMax", 10, nil, "highest GPU utilisation in percent, where measured"},
}

// DefaultFormat is acct's field list when --format is not given.
const DefaultFormat = "JobID,JobName,Team,User,State,ExitCode,Elapsed,AllocGPUs,GPUType,GPUHours,Cost"

// maxWidth bounds a %N width.
const maxWidth = 1024

// String is the field's name, which is also its header.
func (f Field) String() string {
	if f > 0 && f < numFields {
		return fields[f].name
	}
	return fmt.Sprintf("Field(%d)", int(f))
}

// FieldHelp lists the fields for --help, one per line: name, default
// width and meaning.
func FieldHelp() string {
	var b strings.Builder
	for f := Field(1); f < numFields; f++ {
		fi := fields[f]
		name := fi.name
		if len(fi.aliases) > 0 {
			name += " (" + strings.Join(fi.aliases, ", ") + ")"
		}
		fmt.Fprintf(&b, "   %-26s %4d  %s\n", name, fi.width, fi.help)
	}
	return b.String()
}

// Column is one field of a --format list with its width.
type Column struct {
	Field Field
	Width int  // characters; values are cut to it
	Left  bool // left-justified; sacct's default is right
}

// ParseFormat reads an sacct --format list: field names separated by
// commas, in any case, each optionally followed by %N for a width of N
// characters (right-justified, as sacct does) or %-N (left-justified):
// "JobID,JobName%30,State%-12". A field without a width has sacct's
// default width. Blanks around names are ignored.
func ParseFormat(s string) ([]Column, error) {
	fail := func(msg string, args ...any) ([]Column, error) {
		return nil, &ParseError{What: "format", Input: s, Err: fmt.Errorf(msg, args...)}
	}
	var out []Column
	for elem := range strings.SplitSeq(s, ",") {
		elem = strings.TrimSpace(elem)
		if elem == "" {
			return fail("empty field name")
		}
		name, width, hasWidth := strings.Cut(elem, "%")
		name = strings.TrimSpace(name)
		f := fieldByName(name)
		if f == 0 {
			return fail("unknown field %q (see gpuqctl acct --help)", name)
		}
		c := Column{Field: f, Width: fields[f].width}
		if hasWidth {
			spec := "%" + width
			if rest, ok := strings.CutPrefix(width, "-"); ok {
				c.Left, width = true, rest
			}
			n, ok := digits(width)
			if !ok || n < 1 || n > maxWidth {
				return fail("width %q of %s: want %%N or %%-N with N from 1 to %d", spec, fields[f].name, maxWidth)
			}
			c.Width = n
		}
		out = append(out, c)
	}
	return out, nil
}

func fieldByName(name string) Field {
	for f := Field(1); f < numFields; f++ {
		if strings.EqualFold(name, fields[f].name) {
			return f
		}
		for _, a := range fields[f].aliases {
			if strings.EqualFold(name, a) {
				return f
			}
		}
	}
	return 0
}

// FormatString spells columns back as a --format list that ParseFormat
// reads into the same columns.
func FormatString(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Field.String()
		switch {
		case c.Left:
			parts[i] += "%-" + strconv.Itoa(c.Width)
		case c.Width != fields[c.Field].width:
			parts[i] += "%" + strconv.Itoa(c.Width)
		}
	}
	return strings.Join(parts, ",")
}

// TimeLayout is how sacct writes times; times are in the location asked for.
const TimeLayout = "2006-01-02T15:04:05"

// ValueOptions says how Value writes times.
type ValueOptions struct {
	Location *time.Location // nil: UTC
	Layout   string         // "": TimeLayout
}

// Value writes f of rec as acct shows it. Unknown times are "Unknown",
// unmeasured utilisation "N/A", an unpriced cost "" (rec.Cost as it came).
func (f Field) Value(rec *gpuqv1.RunRecord, o ValueOptions) string {
	return string(f.AppendValue(nil, rec, o))
}

// AppendValue appends Value to b: a listing of a million records formats
// each field of each into a buffer it reuses, without allocating.
func (f Field) AppendValue(b []byte, rec *gpuqv1.RunRecord, o ValueOptions) []byte {
	switch f {
	case FieldJobID:
		j := rec.GetJob()
		if j == nil {
			return append(b, "Unknown"...)
		}
		b = strconv.AppendUint(b, j.GetId(), 10)
		if j.ArrayTaskId != nil {
			b = strconv.AppendUint(append(b, '_'), uint64(j.GetArrayTaskId()), 10)
		}
		return b
	case FieldJobName:
		return append(b, rec.GetName()...)
	case FieldRun:
		return strconv.AppendUint(b, uint64(rec.GetRun()), 10)
	case FieldTeam:
		return append(b, rec.GetTeam()...)
	case FieldUser:
		return append(b, rec.GetUser()...)
	case FieldPool:
		return append(b, rec.GetPool()...)
	case FieldRegion:
		return append(b, rec.GetRegion()...)
	case FieldNodeList:
		if rec.GetNode() == "" {
			return append(b, "None assigned"...)
		}
		return append(b, rec.GetNode()...)
	case FieldState:
		return append(b, job.StateName(rec.GetState())...)
	case FieldExitCode:
		b = strconv.AppendInt(b, int64(rec.GetExitCode()), 10)
		return strconv.AppendInt(append(b, ':'), int64(rec.GetExitSignal()), 10)
	case FieldElapsed:
		start, end := span(rec)
		return appendElapsed(b, end.Sub(start))
	case FieldAllocGPUs:
		return strconv.AppendUint(b, uint64(gpus(rec)), 10)
	case FieldGPUType:
		return append(b, rec.GetGpuType()...)
	case FieldSubmit:
		return o.appendTime(b, rec.GetSubmitTime())
	case FieldEligible:
		return o.appendTime(b, rec.GetEligibleTime())
	case FieldStart:
		return o.appendTime(b, rec.GetStartTime())
	case FieldEnd:
		return o.appendTime(b, rec.GetEndTime())
	case FieldGPUHours:
		start, end := span(rec)
		return GPUTimeOf(end.Sub(start), gpus(rec)).Append(b)
	case FieldBilledGPUHours:
		return strconv.AppendFloat(b, rec.GetBilledGpuSeconds()/3600, 'f', 2, 64)
	case FieldCost:
		return append(b, rec.GetCost()...)
	case FieldGPUUtil:
		if rec.GetUsage() == nil {
			return append(b, "N/A"...)
		}
		return strconv.AppendFloat(b, rec.GetUsage().GetUtilizationMean(), 'f', 1, 64)
	case FieldGPUUtilMax:
		if rec.GetUsage() == nil {
			return append(b, "N/A"...)
		}
		return strconv.AppendFloat(b, rec.GetUsage().GetUtilizationMax(), 'f', 1, 64)
	}
	return b
}

func (o ValueOptions) appendTime(b []byte, ts *timestamppb.Timestamp) []byte {
	if ts == nil || !ts.IsValid() || ts.AsTime().Unix() == 0 {
		return append(b, "Unknown"...)
	}
	loc, layout := o.Location, o.Layout
	if loc == nil {
		loc = time.UTC
	}
	if layout == "" {
		layout = TimeLayout
	}
	return ts.AsTime().In(loc).AppendFormat(b, layout)
}

// Elapsed writes a duration as sacct's Elapsed: HH:MM:SS, or D-HH:MM:SS
// from a day on; fractions of a second are cut.
func Elapsed(d time.Duration) string { return string(appendElapsed(nil, d)) }

func appendElapsed(b []byte, d time.Duration) []byte {
	secs := max(int64(d/time.Second), 0)
	days, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if days > 0 {
		b = append(strconv.AppendInt(b, days, 10), '-')
	}
	for i, v := range [3]int64{h, m, s} {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, byte('0'+v/10), byte('0'+v%10))
	}
	return b
}
