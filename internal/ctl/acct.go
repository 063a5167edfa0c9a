package ctl

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/client"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const timeSpecHelp = `TIME (-S, -E) is YYYY-MM-DD[THH:MM[:SS]] in --tz, now, now-7days or now+2hours
(units seconds, minutes, hours, days, weeks; days count calendar days in
--tz), today or midnight, yesterday, tomorrow, or noon.`

const acctDescription = `Lists accounting records like sacct: one line per run of a job (a requeued
job has a line per run; the Run field tells them apart), for the runs that
overlap the window from --starttime to --endtime: those that started before
its end and ended after its start, as sacct selects jobs that ran during it.
A job that ended without running shows if it ended in the window. The
window's default is from midnight today in --tz to now; with --job and no
--starttime, all time. Lines are sorted by job id, task and run. Filters
combine with AND; a comma list or a repeated flag means OR.

Times are shown in --tz (UTC unless set), as sacct writes them, or with
their UTC offset in --csv; Elapsed and GPU-hours are real elapsed time, so
no hour counts twice or goes missing when clocks change. Cost is the run's
chargeback cost at the current rates, rounded to the cent; a report (gpuqctl
cost) prices sums exactly, so its totals can differ from a sum of these by
a few cents.

` + timeSpecHelp + `

FORMAT (-o): fields separated by commas, in any case, each optionally
followed by %N for a width of N (right-justified, as sacct does) or %-N
(left-justified); a value longer than its width is cut and ends in '+'.
The default is "` + accounting.DefaultFormat + `".
   field                     width  meaning
`

func (r *runner) acctCommand() *cli.Command {
	return &cli.Command{
		Name:        "acct",
		Aliases:     []string{"sacct"},
		Usage:       "list accounting records of runs (like sacct)",
		UsageText:   "gpuqctl acct [options]",
		Description: acctDescription + strings.TrimSuffix(accounting.FieldHelp(), "\n"),
		Flags: []cli.Flag{
			newStringFlag(&cli.StringFlag{Name: "starttime", Aliases: []string{"S"}, Usage: "runs that ended after `TIME` (default: midnight today in --tz)"}),
			newStringFlag(&cli.StringFlag{Name: "endtime", Aliases: []string{"E"}, Usage: "runs that started before `TIME` (default: now)"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "team", Aliases: []string{"A"}, Usage: "only the runs of these `TEAMS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "user", Aliases: []string{"u"}, Usage: "only the runs of these `USERS`"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "state", Aliases: []string{"s"}, Usage: "only runs that ended in these `STATES` (COMPLETED or CD, FAILED or F, PREEMPTED or PR, ...)"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "job", Aliases: []string{"j"}, Usage: "only these `JOBS`: 42, 42_3, 44_[1-5]"}),
			newStringFlag(&cli.StringFlag{Name: "format", Aliases: []string{"o"}, Usage: "`FIELDS` to show, as sacct --format (see above)"}),
			newBoolFlag(&cli.BoolFlag{Name: "parsable", Aliases: []string{"P"}, Usage: "fields separated by '|', without padding, as sacct -P"}),
			newBoolFlag(&cli.BoolFlag{Name: "noheader", Aliases: []string{"n"}, Usage: "print no header"}),
			newBoolFlag(&cli.BoolFlag{Name: "csv", Usage: "CSV with a header line; times in RFC 3339 with their offset"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the records as a JSON array (protojson, times in UTC)"}),
			newStringFlag(&cli.StringFlag{Name: "tz", Usage: "IANA time `ZONE` of the times read and shown: UTC, Europe/Berlin, local, ... (default UTC)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.acct,
	}
}

// zone loads --tz: an IANA zone, "local" for the local zone, UTC unless set.
func (r *runner) zone(c *cli.Context) (*time.Location, error) {
	name := c.String("tz")
	switch {
	case name == "":
		return time.UTC, nil
	case strings.EqualFold(name, "local"):
		return r.cfg.loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, usagef(c, "--tz: unknown time zone %q", name)
	}
	return loc, nil
}

// exclusive fails when more than one of the flags is set.
func exclusive(c *cli.Context, flags ...string) error {
	var set []string
	for _, f := range flags {
		if c.IsSet(f) {
			set = append(set, "--"+f)
		}
	}
	if len(set) > 1 {
		return usagef(c, "%s cannot be used together", strings.Join(set, " and "))
	}
	return nil
}

func (r *runner) acct(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "unexpected argument %q (use --job to select jobs)", c.Args().First())
	}
	if err := exclusive(c, "parsable", "csv", "json"); err != nil {
		return err
	}
	loc, err := r.zone(c)
	if err != nil {
		return err
	}
	cols, err := accounting.ParseFormat(cmp.Or(c.String("format"), accounting.DefaultFormat))
	if err != nil {
		return usagef(c, "%v", err)
	}
	req := &gpuqv1.ListRecordsRequest{
		Teams: splitLists(c.StringSlice("team")),
		Users: splitLists(c.StringSlice("user")),
	}
	if req.Jobs, err = parseRefArgs(c.StringSlice("job")); err != nil {
		return usagef(c, "--job: %v", err)
	}
	states, all, err := parseStates(c.StringSlice("state"))
	if err != nil {
		return usagef(c, "--state: %v", err)
	}
	if !all {
		req.States = states
	}
	start := c.String("starttime")
	if start == "" && len(req.Jobs) == 0 {
		start = "today"
	}
	window, err := accounting.ParseRange(start, c.String("endtime"), r.cfg.now(), loc)
	if err != nil {
		return usagef(c, "--starttime/--endtime: %v", err)
	}
	req.Start, req.End = timestamp(window.Start), timestamp(window.End)

	cl, err := r.client(c)
	if err != nil {
		return err
	}
	if c.Bool("json") || c.Bool("csv") {
		var recs []*gpuqv1.RunRecord
		err = cl.Records(c.Context, req, func(rec *gpuqv1.RunRecord) error {
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortStableFunc(recs, accounting.CompareListing)
		if c.Bool("json") {
			return writeJSON(r.stdout, recs)
		}
		return writeRecordsCSV(r.stdout, cols, recs, loc, c.Bool("noheader"))
	}
	// A month's listing can be a million lines: each page is formatted as
	// it is decoded, several at once. gpuqd is asked for the records in
	// the listing's order: when it sends them so, each page's lines are
	// written as soon as the pages before it are (pageWriter); otherwise
	// the lines are kept, only their keys sorted, and the lines written
	// at the end. The lines show only the number of a record's GPU ids
	// (AllocGPUs), not the ids: they are asked for empty.
	req.Ordered, req.EmptyGpuIds = true, true
	header, line := acctTable(cols, loc)
	if c.Bool("parsable") {
		header, line = acctParsable(cols, loc)
	}
	bw := bufio.NewWriterSize(r.stdout, 64<<10)
	if c.Bool("noheader") {
		header = func(*bufio.Writer) {}
	}
	var (
		mu       sync.Mutex
		pages    [][]acctLine
		decoders = sync.Pool{New: func() any {
			d := new(accounting.Decoder)
			d.Only(cols)
			return d
		}}
		out       = newPageWriter(bw, header, 4*runtime.GOMAXPROCS(0))
		unordered atomic.Bool
	)
	err = cl.RecordPages(c.Context, req, func(n int, page client.RecordPage) error {
		if page.Ordered() {
			if unordered.Load() {
				return out.fail(errMixedPages)
			}
			return out.page(n, func(b *bytes.Buffer) error { return formatOrdered(n, page, &decoders, b, line) })
		}
		unordered.Store(true)
		if out.started() {
			return out.fail(errMixedPages)
		}
		lines, err := formatPage(n, page, &decoders, line)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if n >= len(pages) {
			pages = append(pages, make([][]acctLine, n+1-len(pages))...)
		}
		pages[n] = lines
		return nil
	})
	if err != nil {
		return err
	}
	if out.started() {
		return bw.Flush()
	}
	sorted := slices.Concat(pages...)
	slices.SortFunc(sorted, compareLines)
	header(bw)
	for _, l := range sorted {
		bw.Write(l.text)
	}
	return bw.Flush()
}

// errMixedPages is a stream of records of which some pages were ordered
// and others not.
var errMixedPages = errors.New("gpuqd sent ordered and unordered pages of records in one stream")

// formatOrdered appends the lines of the records of page n to b.
func formatOrdered(n int, page client.RecordPage, decoders *sync.Pool, b *bytes.Buffer, line func(*bytes.Buffer, *gpuqv1.RunRecord)) error {
	dec := decoders.Get().(*accounting.Decoder)
	defer decoders.Put(dec)
	i := 0
	return page.Records(func(enc []byte) error {
		rec, err := dec.Decode(enc)
		if err != nil {
			return fmt.Errorf("record %d of page %d: %w", i, n, err)
		}
		i++
		line(b, rec)
		return nil
	})
}

// pageWriter writes pages of lines formatted by several goroutines at once
// in the order of their numbers, each as soon as those before it are
// written; the header goes before the first. A page more than ahead pages
// after the next one to write waits, so that the pages kept stay bounded.
// Its buffers are reused.
type pageWriter struct {
	w      *bufio.Writer
	header func(*bufio.Writer)
	ahead  int

	mu     sync.Mutex
	cond   sync.Cond
	next   int // the number of the next page to write
	ready  map[int]*bytes.Buffer
	err    error // the first error: no more pages are written
	begun  bool  // a page was given
	unused []*bytes.Buffer
}

func newPageWriter(w *bufio.Writer, header func(*bufio.Writer), ahead int) *pageWriter {
	p := &pageWriter{w: w, header: header, ahead: ahead, ready: map[int]*bytes.Buffer{}}
	p.cond.L = &p.mu
	return p
}

// page formats page n with format into a buffer, waiting first while n is
// too far ahead, and writes it in its turn.
func (p *pageWriter) page(n int, format func(*bytes.Buffer) error) error {
	p.mu.Lock()
	if !p.begun {
		p.begun = true
		p.header(p.w)
	}
	for n >= p.next+p.ahead && p.err == nil {
		p.cond.Wait()
	}
	var b *bytes.Buffer
	if k := len(p.unused); k > 0 {
		b, p.unused = p.unused[k-1], p.unused[:k-1]
	} else {
		b = new(bytes.Buffer)
	}
	failed := p.err
	p.mu.Unlock()
	if failed != nil {
		return failed
	}
	if err := format(b); err != nil {
		return p.fail(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready[n] = b
	for p.err == nil {
		done, ok := p.ready[p.next]
		if !ok {
			break
		}
		delete(p.ready, p.next)
		p.next++
		if _, err := p.w.Write(done.Bytes()); err != nil {
			p.err = fmt.Errorf("write: %w", err)
		}
		done.Reset()
		p.unused = append(p.unused, done)
	}
	p.cond.Broadcast()
	return p.err
}

// fail stops the writer with err, which it returns; the pages waiting
// their turn give up.
func (p *pageWriter) fail(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	return err
}

// started is whether a page was given to the writer.
func (p *pageWriter) started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.begun
}

// acctLine is a record's formatted line and what it is sorted by: the keys
// of accounting.CompareListing, then the record's place in the stream.
type acctLine struct {
	id         uint64
	hasTask    bool
	task, run  uint32
	page, item int32
	text       []byte
}

// formatPage decodes and formats the records of page n with line.
// decoders holds the Decoders of the goroutines.
func formatPage(n int, page client.RecordPage, decoders *sync.Pool, line func(*bytes.Buffer, *gpuqv1.RunRecord)) ([]acctLine, error) {
	var (
		lines []acctLine
		ends  []int
		b     bytes.Buffer
	)
	b.Grow(page.Size() / 2) // a line is about a third of its record
	dec := decoders.Get().(*accounting.Decoder)
	defer decoders.Put(dec)
	err := page.Records(func(enc []byte) error {
		rec, err := dec.Decode(enc)
		if err != nil {
			return fmt.Errorf("record %d of page %d: %w", len(lines), n, err)
		}
		line(&b, rec)
		ends = append(ends, b.Len())
		j := rec.GetJob()
		lines = append(lines, acctLine{id: j.GetId(), hasTask: j.ArrayTaskId != nil, task: j.GetArrayTaskId(), run: rec.GetRun(), page: int32(n), item: int32(len(lines))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The buffer is complete: the lines can point into it.
	text, start := b.Bytes(), 0
	for i := range lines {
		lines[i].text = text[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return lines, nil
}

// compareLines is accounting.CompareListing, then the order of the stream, as a
// stable sort of the records would leave them.
func compareLines(a, b acctLine) int {
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	if a.hasTask != b.hasTask {
		if !a.hasTask {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.task, b.task), cmp.Compare(a.run, b.run), cmp.Compare(a.page, b.page), cmp.Compare(a.item, b.item))
}

// timestamp is t as a timestamp, or nil for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// acctTable is sacct's table: a header, a line of dashes, and a line per
// record; fields are separated by a space, padded to their widths and cut
// with a '+' when longer. line may be called concurrently; it formats each
// value in a buffer on its stack, without allocating.
func acctTable(cols []accounting.Column, loc *time.Location) (header func(*bufio.Writer), line func(*bytes.Buffer, *gpuqv1.RunRecord)) {
	header = func(b *bufio.Writer) {
		var l bytes.Buffer
		for _, value := range []func(accounting.Column) string{
			func(col accounting.Column) string { return col.Field.String() },
			func(col accounting.Column) string { return strings.Repeat("-", col.Width) },
		} {
			start := l.Len()
			for i, col := range cols {
				if i > 0 {
					l.WriteByte(' ')
				}
				fit(&l, []byte(value(col)), col.Width, col.Left)
			}
			endLine(&l, start)
		}
		b.Write(l.Bytes())
	}
	opts := accounting.ValueOptions{Location: loc}
	line = func(l *bytes.Buffer, rec *gpuqv1.RunRecord) {
		var scratch [128]byte
		start := l.Len()
		for i, col := range cols {
			if i > 0 {
				l.WriteByte(' ')
			}
			fit(l, col.Field.AppendValue(scratch[:0], rec, opts), col.Width, col.Left)
		}
		endLine(l, start)
	}
	return header, line
}

// endLine ends the line that starts at start in l without its trailing
// spaces.
func endLine(l *bytes.Buffer, start int) {
	l.Truncate(start + len(bytes.TrimRight(l.Bytes()[start:], " ")))
	l.WriteByte('\n')
}

// spaces pads values (fit), a few at once.
const spaces = "                                                                "

// fit writes s padded to width, or cut to width-1 characters and a '+' as
// sacct cuts values that do not fit.
func fit(b *bytes.Buffer, s []byte, width int, left bool) {
	n := utf8.RuneCount(s)
	cut := n > width
	if cut {
		for i, k := 0, 0; i < len(s); k++ {
			if k == width-1 {
				s = s[:i]
				break
			}
			_, size := utf8.DecodeRune(s[i:])
			i += size
		}
		n = width
	}
	if left {
		b.Write(s)
		if cut {
			b.WriteByte('+')
		}
	}
	for pad := width - n; pad > 0; pad -= len(spaces) {
		b.WriteString(spaces[:min(pad, len(spaces))])
	}
	if !left {
		b.Write(s)
		if cut {
			b.WriteByte('+')
		}
	}
}

// acctParsable is sacct -P: fields separated by '|', no padding, no
// trailing '|'. line may be called concurrently.
func acctParsable(cols []accounting.Column, loc *time.Location) (header func(*bufio.Writer), line func(*bytes.Buffer, *gpuqv1.RunRecord)) {
	header = func(b *bufio.Writer) {
		for i, col := range cols {
			if i > 0 {
				b.WriteByte('|')
			}
			b.WriteString(col.Field.String())
		}
		b.WriteByte('\n')
	}
	opts := accounting.ValueOptions{Location: loc}
	line = func(l *bytes.Buffer, rec *gpuqv1.RunRecord) {
		var scratch [128]byte
		for i, col := range cols {
			if i > 0 {
				l.WriteByte('|')
			}
			l.Write(col.Field.AppendValue(scratch[:0], rec, opts))
		}
		l.WriteByte('\n')
	}
	return header, line
}

// writeRecordsCSV writes RFC 4180 CSV with times in RFC 3339.
func writeRecordsCSV(w io.Writer, cols []accounting.Column, recs []*gpuqv1.RunRecord, loc *time.Location, noHeader bool) error {
	cw := csv.NewWriter(w)
	fields := make([]string, len(cols))
	if !noHeader {
		for i, col := range cols {
			fields[i] = col.Field.String()
		}
		if err := cw.Write(fields); err != nil {
			return err
		}
	}
	opts := accounting.ValueOptions{Location: loc, Layout: time.RFC3339}
	for _, rec := range recs {
		for i, col := range cols {
			fields[i] = col.Field.Value(rec, opts)
		}
		if err := cw.Write(fields); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeJSONMessage writes one message as indented protojson.
func writeJSONMessage(w io.Writer, m proto.Message) error {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}
