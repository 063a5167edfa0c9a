package ctl

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
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
	var recs []*gpuqv1.RunRecord
	err = cl.Records(c.Context, req, func(rec *gpuqv1.RunRecord) error {
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(recs, compareRecords)
	switch {
	case c.Bool("json"):
		return writeJSON(r.stdout, recs)
	case c.Bool("csv"):
		return writeRecordsCSV(r.stdout, cols, recs, loc, c.Bool("noheader"))
	}
	// Straight to stdout: a month's report can be a million lines.
	bw := bufio.NewWriterSize(r.stdout, 64<<10)
	if c.Bool("parsable") {
		writeParsable(bw, cols, recs, loc, c.Bool("noheader"))
	} else {
		writeAcctTable(bw, cols, recs, loc, c.Bool("noheader"))
	}
	return bw.Flush()
}

// timestamp is t as a timestamp, or nil for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// compareRecords orders records by job id, task (the job itself first)
// and run.
func compareRecords(a, b *gpuqv1.RunRecord) int {
	ja, jb := a.GetJob(), b.GetJob()
	if c := cmp.Compare(ja.GetId(), jb.GetId()); c != 0 {
		return c
	}
	switch {
	case ja.ArrayTaskId == nil && jb.ArrayTaskId != nil:
		return -1
	case ja.ArrayTaskId != nil && jb.ArrayTaskId == nil:
		return 1
	}
	return cmp.Or(cmp.Compare(ja.GetArrayTaskId(), jb.GetArrayTaskId()), cmp.Compare(a.GetRun(), b.GetRun()))
}

// writeAcctTable writes sacct's table: a header, a line of dashes, and a
// line per record; fields are separated by a space, padded to their widths
// and cut with a '+' when longer.
func writeAcctTable(b *bufio.Writer, cols []accounting.Column, recs []*gpuqv1.RunRecord, loc *time.Location, noHeader bool) {
	line := func(l *bytes.Buffer, value func(accounting.Column) string) {
		start := l.Len()
		for i, col := range cols {
			if i > 0 {
				l.WriteByte(' ')
			}
			fit(l, value(col), col.Width, col.Left)
		}
		l.Truncate(start + len(bytes.TrimRight(l.Bytes()[start:], " ")))
		l.WriteByte('\n')
	}
	if !noHeader {
		var l bytes.Buffer
		line(&l, func(col accounting.Column) string { return col.Field.String() })
		line(&l, func(col accounting.Column) string { return strings.Repeat("-", col.Width) })
		b.Write(l.Bytes())
	}
	opts := accounting.ValueOptions{Location: loc}
	writeLines(b, recs, func(l *bytes.Buffer, rec *gpuqv1.RunRecord) {
		line(l, func(col accounting.Column) string { return col.Field.Value(rec, opts) })
	})
}

// writeLines writes what line writes for each record, in order: the
// records are cut into chunks formatted at once, by GOMAXPROCS goroutines,
// since a month's listing can be a million lines. line is called
// concurrently for different records.
func writeLines(w *bufio.Writer, recs []*gpuqv1.RunRecord, line func(l *bytes.Buffer, rec *gpuqv1.RunRecord)) {
	const chunk = 2048
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || len(recs) <= chunk {
		var l bytes.Buffer
		for _, rec := range recs {
			line(&l, rec)
			w.Write(l.Bytes())
			l.Reset()
		}
		return
	}
	n := (len(recs) + chunk - 1) / chunk
	done := make([]chan *bytes.Buffer, n)
	for i := range done {
		done[i] = make(chan *bytes.Buffer, 1)
	}
	// At most workers+1 chunks are formatted and not yet written; their
	// buffers go round.
	free := make(chan *bytes.Buffer, workers+1)
	for range workers + 1 {
		free <- new(bytes.Buffer)
	}
	go func() {
		for i := range n {
			l := <-free
			go func() {
				for _, rec := range recs[i*chunk : min((i+1)*chunk, len(recs))] {
					line(l, rec)
				}
				done[i] <- l
			}()
		}
	}()
	for i := range n {
		l := <-done[i]
		w.Write(l.Bytes())
		l.Reset()
		free <- l
	}
}

// fit writes s padded to width, or cut to width-1 characters and a '+' as
// sacct cuts values that do not fit.
func fit(b *bytes.Buffer, s string, width int, left bool) {
	n := utf8.RuneCountInString(s)
	if n > width {
		cut := 0
		for i := range s {
			if cut == width-1 {
				s = s[:i]
				break
			}
			cut++
		}
		s, n = s+"+", width
	}
	if left {
		b.WriteString(s)
	}
	for range width - n {
		b.WriteByte(' ')
	}
	if !left {
		b.WriteString(s)
	}
}

// writeParsable writes sacct -P: fields separated by '|', no padding, no
// trailing '|'.
func writeParsable(b *bufio.Writer, cols []accounting.Column, recs []*gpuqv1.RunRecord, loc *time.Location, noHeader bool) {
	if !noHeader {
		fields := make([]string, len(cols))
		for i, col := range cols {
			fields[i] = col.Field.String()
		}
		b.WriteString(strings.Join(fields, "|"))
		b.WriteByte('\n')
	}
	opts := accounting.ValueOptions{Location: loc}
	writeLines(b, recs, func(l *bytes.Buffer, rec *gpuqv1.RunRecord) {
		for i, col := range cols {
			if i > 0 {
				l.WriteByte('|')
			}
			l.WriteString(col.Field.Value(rec, opts))
		}
		l.WriteByte('\n')
	})
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
