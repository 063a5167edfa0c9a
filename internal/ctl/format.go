package ctl

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// defaultQueueFormat is squeue's default with TEAM for PARTITION and GPUS
// for NODES.
const defaultQueueFormat = "%.18i %.9a %.10j %.8u %.2t %.10M %.9b %R"

// maxFieldWidth bounds a field width in a --format string.
const maxFieldWidth = 1024

// item is one piece of a --format string: literal text, or a field.
type item struct {
	text  string // literal text when code is 0
	code  byte
	width int  // 0: as wide as the value
	right bool // %.N: right-justified
}

// column is one format code: its header and how to get its value.
type column struct {
	header string
	value  func(v *view) string
}

// columns maps squeue's % codes to gpuq's fields; codes without a header
// are unknown. An array, not a map, so that it costs nothing at start-up.
// Read only.
var columns = [128]column{
	'i': {"JOBID", func(v *view) string { return v.jobID() }},
	'A': {"ARRAY_JOB_ID", func(v *view) string { return strconv.FormatUint(v.job.Id, 10) }},
	'F': {"ARRAY_JOB_ID", func(v *view) string { return strconv.FormatUint(v.job.Id, 10) }},
	'K': {"ARRAY_TASK_ID", func(v *view) string { return v.taskID() }},
	'j': {"NAME", func(v *view) string { return orNull(v.job.Spec.GetName()) }},
	'u': {"USER", func(v *view) string { return orNull(v.job.Spec.GetUser()) }},
	'a': {"TEAM", func(v *view) string { return orNull(v.job.Spec.GetTeam()) }},
	'g': {"TEAM", func(v *view) string { return orNull(v.job.Spec.GetTeam()) }},
	'T': {"STATE", func(v *view) string { return job.StateName(v.job.State) }},
	't': {"ST", func(v *view) string { return job.StateShort(v.job.State) }},
	'M': {"TIME", func(v *view) string { return squeueDuration(v.elapsed()) }},
	'l': {"TIME_LIMIT", func(v *view) string { return limitString(v.job.Spec.GetTimeLimit().AsDuration(), squeueDuration) }},
	'L': {"TIME_LEFT", func(v *view) string { return v.timeLeft() }},
	'b': {"GPUS", func(v *view) string { return gpuString(v.job.Spec.GetGpus()) }},
	'R': {"NODELIST(REASON)", func(v *view) string { return v.nodeOrReason() }},
	'r': {"REASON", func(v *view) string { return orNone(v.job.Reason) }},
	'N': {"NODELIST", func(v *view) string { return v.job.Node }},
	'D': {"NODES", func(*view) string { return "1" }},
	'V': {"SUBMIT_TIME", func(v *view) string { return v.time(v.job.SubmitTime, "N/A") }},
	'S': {"START_TIME", func(v *view) string { return v.time(v.job.StartTime, "N/A") }},
	'e': {"END_TIME", func(v *view) string { return v.time(v.job.EndTime, "N/A") }},
	'Q': {"PRIORITY", func(v *view) string { return priorityString(v.job.Priority) }},
	'y': {"NICE", func(v *view) string { return strconv.Itoa(int(v.job.Spec.GetNice())) }},
	'P': {"POOL", func(v *view) string { return orNull(v.job.Spec.GetPool()) }},
	'q': {"QOS", func(v *view) string { return orNull(v.job.Spec.GetQos()) }},
	'C': {"CPUS", func(v *view) string { return zeroNA(uint64(v.job.Spec.GetCpus()), strconv.FormatUint) }},
	'm': {"MIN_MEMORY", func(v *view) string { return memoryString(v.job.Spec.GetMemoryBytes()) }},
	'E': {"DEPENDENCY", func(v *view) string { return orNull(dependencyString(v.job.Spec)) }},
	'Z': {"WORK_DIR", func(v *view) string { return orNull(v.job.Spec.GetChdir()) }},
	'o': {"COMMAND", func(v *view) string { return orNull(commandString(v.job.Spec)) }},
	'k': {"COMMENT", func(v *view) string { return orNull(v.job.Spec.GetComment()) }},
}

// briefCodes are the format codes whose values JOB_VIEW_BRIEF carries, with
// what sorting and collapsing the lines needs. Read only.
var briefCodes = [128]bool{
	'i': true, 'A': true, 'F': true, 'K': true, 'j': true, 'u': true, 'a': true, 'g': true,
	'T': true, 't': true, 'M': true, 'l': true, 'L': true, 'b': true, 'R': true, 'r': true,
	'N': true, 'D': true, 'S': true, 'e': true, 'Q': true,
}

// brief reports whether JOB_VIEW_BRIEF carries every field items show.
func brief(items []item) bool {
	for _, it := range items {
		if it.code != 0 && !briefCodes[it.code] {
			return false
		}
	}
	return true
}

// parseFormat parses an squeue --format string: literal text and fields
// %[.][WIDTH]CODE. A width pads the value and cuts it to that many
// characters; '.' right-justifies. "%%" is a literal '%'.
func parseFormat(s string) ([]item, error) {
	var (
		items []item
		text  strings.Builder
	)
	flush := func() {
		if text.Len() > 0 {
			items = append(items, item{text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			text.WriteByte(s[i])
			continue
		}
		start := i
		i++
		if i < len(s) && s[i] == '%' {
			text.WriteByte('%')
			continue
		}
		var it item
		if i < len(s) && s[i] == '.' {
			it.right = true
			i++
		}
		digits := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i > digits {
			w, err := strconv.Atoi(s[digits:i])
			if err != nil || w > maxFieldWidth {
				return nil, fmt.Errorf("format %q: width %s is more than %d", s, s[digits:i], maxFieldWidth)
			}
			it.width = w
		} else if it.right {
			return nil, fmt.Errorf("format %q: %q needs a width after the '.'", s, s[start:i])
		}
		if i == len(s) {
			return nil, fmt.Errorf("format %q: %q ends without a field code", s, s[start:])
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if size != 1 || c >= utf8.RuneSelf || columns[c].header == "" {
			return nil, fmt.Errorf("format %q: unknown field code %%%c (see gpuqctl queue --help)", s, c)
		}
		it.code = s[i]
		flush()
		items = append(items, it)
	}
	flush()
	return items, nil
}

// formatString spells items back as a --format string.
func formatString(items []item) string {
	var b strings.Builder
	for _, it := range items {
		if it.code == 0 {
			b.WriteString(strings.ReplaceAll(it.text, "%", "%%"))
			continue
		}
		b.WriteByte('%')
		if it.right {
			b.WriteByte('.')
		}
		if it.width > 0 || it.right {
			b.WriteString(strconv.Itoa(it.width))
		}
		b.WriteByte(it.code)
	}
	return b.String()
}

// renderLine writes one line: the headers when v is nil, else v's values.
// squeue keeps trailing blanks; they only make diffs and pipes noisy, so
// the line ends without them.
func renderLine(b textWriter, items []item, v *view) {
	w := lineWriter{b: b}
	for _, it := range items {
		if it.code == 0 {
			w.WriteString(it.text)
			continue
		}
		col := columns[it.code]
		s := col.header
		if v != nil {
			s = col.value(v)
		}
		pad(&w, s, it.width, it.right)
	}
	b.WriteByte('\n')
}

// textWriter is where lines go: a strings.Builder, or a bufio.Writer in
// front of stdout.
type textWriter interface {
	WriteString(s string) (int, error)
	WriteByte(c byte) error
}

// lineWriter writes to b and holds back blanks until something else
// follows them, so a line ends without trailing blanks and without being
// built twice.
type lineWriter struct {
	b      textWriter
	blanks int // held back
}

func (w *lineWriter) WriteString(s string) {
	head := strings.TrimRight(s, " ")
	if head == "" {
		w.blanks += len(s)
		return
	}
	w.writeBlanks()
	w.b.WriteString(head)
	w.blanks = len(s) - len(head)
}

// writeBlanks writes the blanks held back.
func (w *lineWriter) writeBlanks() {
	for w.blanks > 0 {
		n := min(w.blanks, len(blanks))
		w.b.WriteString(blanks[:n])
		w.blanks -= n
	}
}

const blanks = "                                                                "

// pad writes s cut to width characters and padded to width; width 0 writes s.
func pad(w *lineWriter, s string, width int, right bool) {
	if width == 0 {
		w.WriteString(s)
		return
	}
	n := 0
	for i := range s {
		if n == width {
			s = s[:i]
			break
		}
		n++
	}
	if right {
		w.blanks += width - n
		w.WriteString(s)
	} else {
		w.WriteString(s)
		w.blanks += width - n
	}
}

// view is one line of queue output: a job or task, or pending tasks of an
// array shown together.
type view struct {
	job   *gpuqv1.Job
	tasks []uint32 // the tasks of a collapsed line; nil otherwise
	now   time.Time
	loc   *time.Location
}

func (v *view) jobID() string {
	if v.tasks != nil {
		return fmt.Sprintf("%d_[%s]", v.job.Id, v.taskExpr())
	}
	return job.RefOf(v.job).String()
}

func (v *view) taskID() string {
	switch {
	case v.tasks != nil:
		return v.taskExpr()
	case v.job.ArrayTaskId != nil:
		return strconv.FormatUint(uint64(v.job.GetArrayTaskId()), 10)
	}
	return "N/A"
}

// taskExpr is the collapsed tasks as squeue shows them: 3-5,7,9-99%8.
func (v *view) taskExpr() string {
	s := taskRanges(v.tasks)
	if m := v.job.Spec.GetArray().GetMaxConcurrent(); m > 0 {
		s += "%" + strconv.FormatUint(uint64(m), 10)
	}
	return s
}

// taskRanges writes ascending task ids as ranges: 1-3,5,7-9.
func taskRanges(ids []uint32) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(ids[i]), 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(uint64(ids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// elapsed is how long the job has run: up to now while it runs, up to its
// end once it ended, zero before it starts.
func (v *view) elapsed() time.Duration { return elapsed(v.job, v.now) }

func elapsed(j *gpuqv1.Job, now time.Time) time.Duration {
	if j.StartTime == nil {
		return 0
	}
	end := now
	if job.Ended(j.State) {
		if j.EndTime == nil {
			return 0
		}
		end = j.EndTime.AsTime()
	} else if j.State == gpuqv1.JobState_JOB_STATE_PENDING {
		return 0
	}
	return max(end.Sub(j.StartTime.AsTime()), 0)
}

func (v *view) timeLeft() string {
	limit := v.job.Spec.GetTimeLimit().AsDuration()
	if limit <= 0 {
		return "N/A"
	}
	if job.Ended(v.job.State) {
		return squeueDuration(0)
	}
	return squeueDuration(max(limit-v.elapsed(), 0))
}

// nodeOrReason is squeue's %R: the node of a job that runs or ran, else the
// reason in parentheses.
func (v *view) nodeOrReason() string {
	if v.job.State != gpuqv1.JobState_JOB_STATE_PENDING && v.job.Node != "" {
		return v.job.Node
	}
	return "(" + orNone(v.job.Reason) + ")"
}

func (v *view) time(ts *timestamppb.Timestamp, unset string) string {
	return slurmTime(ts, v.loc, unset)
}

// slurmTime formats a timestamp as Slurm does, in loc: 2026-11-27T09:00:00.
// An unset timestamp is unset.
func slurmTime(ts *timestamppb.Timestamp, loc *time.Location, unset string) string {
	if ts == nil || !ts.IsValid() || ts.AsTime().Unix() == 0 {
		return unset
	}
	return ts.AsTime().In(loc).Format("2006-01-02T15:04:05")
}

// squeueDuration formats a duration as squeue's TIME column: M:SS, H:MM:SS
// or D-HH:MM:SS; seconds are cut, not rounded.
func squeueDuration(d time.Duration) string {
	if d < time.Second {
		return "0:00" // every pending job
	}
	days, h, m, s := splitDuration(d)
	switch {
	case days > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// slurmDuration formats a duration as scontrol does: HH:MM:SS or D-HH:MM:SS.
func slurmDuration(d time.Duration) string {
	days, h, m, s := splitDuration(d)
	if days > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

func splitDuration(d time.Duration) (days, h, m, s int64) {
	secs := max(int64(d/time.Second), 0)
	return secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60
}

// limitString formats a time limit; zero means the pool's default.
func limitString(d time.Duration, f func(time.Duration) string) string {
	if d <= 0 {
		return "default"
	}
	return f(d)
}

// gpuString is a GPU request as "a100:4", or "4" for any type.
func gpuString(g *gpuqv1.GPURequest) string {
	if g.GetType() == "" {
		return strconv.FormatUint(uint64(g.GetCount()), 10)
	}
	return g.GetType() + ":" + strconv.FormatUint(uint64(g.GetCount()), 10)
}

func priorityString(p float64) string {
	if math.IsNaN(p) || math.IsInf(p, 0) {
		return "N/A"
	}
	return strconv.FormatFloat(math.Round(p*1e4)/1e4, 'f', -1, 64)
}

// memoryString writes bytes with the largest unit that divides them: 32G.
func memoryString(b uint64) string {
	if b == 0 {
		return "N/A"
	}
	for _, u := range []struct {
		suffix string
		size   uint64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b%u.size == 0 {
			return strconv.FormatUint(b/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatUint(b, 10)
}

func zeroNA(n uint64, f func(uint64, int) string) string {
	if n == 0 {
		return "N/A"
	}
	return f(n, 10)
}

// dependencyNames are sbatch's names of the dependency types, by value.
var dependencyNames = [...]string{
	gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER:        "after",
	gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY:    "afterany",
	gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK:     "afterok",
	gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_NOT_OK: "afternotok",
}

// dependencyString spells dependencies as sbatch takes them: afterok:12,singleton.
func dependencyString(spec *gpuqv1.JobSpec) string {
	var parts []string
	for _, d := range spec.GetDependencies() {
		name := "unknown"
		if t := int(d.Type); t > 0 && t < len(dependencyNames) {
			name = dependencyNames[t]
		}
		ref := strconv.FormatUint(d.JobId, 10)
		if d.ArrayTaskId != nil {
			ref += "_" + strconv.FormatUint(uint64(d.GetArrayTaskId()), 10)
		}
		parts = append(parts, name+":"+ref)
	}
	if spec.GetSingleton() {
		parts = append(parts, "singleton")
	}
	return strings.Join(parts, ",")
}

// commandString is the script path and its arguments.
func commandString(spec *gpuqv1.JobSpec) string {
	path := spec.GetScriptPath()
	if path == "" && len(spec.GetArgs()) > 0 {
		path = "(stdin)"
	}
	return strings.Join(append([]string{path}, spec.GetArgs()...), " ")
}

func orNull(s string) string {
	if s == "" {
		return "(null)"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}
