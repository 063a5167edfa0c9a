package ctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func utcTS(t *testing.T, s string) *timestamppb.Timestamp {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return timestamppb.New(v)
}

// fixtureRecords: a requeued job's three runs, an array task that failed,
// a run across the night clocks fall back in Los Angeles, a job cancelled
// while pending, and a long name; costs as gpuqd fills them in.
func fixtureRecords(t *testing.T) []*gpuqv1.RunRecord {
	run := func(id uint64, run uint32, name, team, user, node string, n uint32, start, end string, state gpuqv1.JobState, cost string) *gpuqv1.RunRecord {
		r := &gpuqv1.RunRecord{Job: &gpuqv1.JobRef{Id: id}, Run: run, Name: name, Team: team, User: user, Pool: "a100-us-west1",
			Region: "us-west1", Node: node, GpuType: "a100", GpuCount: n, EndTime: utcTS(t, end), State: state, Cost: cost,
			SubmitTime: utcTS(t, "2026-10-31T12:00:00Z")}
		if start != "" {
			r.StartTime = utcTS(t, start)
			r.GpuSeconds = r.EndTime.AsTime().Sub(r.StartTime.AsTime()).Seconds() * float64(n)
			r.BilledGpuSeconds = r.GpuSeconds
		} else {
			r.Pool, r.Region, r.GpuCount = "", "", 0
		}
		return r
	}
	const (
		cd = gpuqv1.JobState_JOB_STATE_COMPLETED
		pr = gpuqv1.JobState_JOB_STATE_PREEMPTED
		nf = gpuqv1.JobState_JOB_STATE_NODE_FAIL
		f  = gpuqv1.JobState_JOB_STATE_FAILED
		ca = gpuqv1.JobState_JOB_STATE_CANCELLED
	)
	recs := []*gpuqv1.RunRecord{
		run(12, 0, "dst-night", "sf", "alice", "gpu-a01", 2, "2026-11-01T07:30:00Z", "2026-11-01T11:30:00Z", cd, "28.00"),
		run(11, 2, "train", "berlin", "bob", "gpu-b01", 2, "2026-11-04T00:00:00Z", "2026-11-04T10:00:00Z", cd, "64.00"),
		run(11, 0, "train", "berlin", "bob", "gpu-b01", 2, "2026-11-03T08:00:00Z", "2026-11-03T13:00:00Z", pr, "32.00"),
		run(11, 1, "train", "berlin", "bob", "gpu-b02", 2, "2026-11-03T14:00:00Z", "2026-11-03T15:30:00Z", nf, "9.60"),
		run(14, 0, "a-very-long-job-name", "computer-vision", "bartholomew", "gpu-c01", 8, "2026-11-05T00:00:00Z", "2026-11-06T01:02:03Z", cd, "729.60"),
		run(13, 0, "sweep", "tokyo", "kenji", "gpu-d01", 1, "2026-11-07T00:00:00Z", "2026-11-07T00:45:10Z", f, "2.86"),
		run(15, 0, "never", "sf", "carol", "", 0, "", "2026-11-08T00:00:00Z", ca, ""),
	}
	recs[5].Job.ArrayTaskId = proto.Uint32(7)
	recs[5].ExitCode = 3
	recs[1].Usage = &gpuqv1.GPUUsage{UtilizationMean: 91.5, UtilizationMax: 100}
	return recs
}

func TestAcctGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"acct_default.golden", []string{"acct", "-S", "2026-11-01"}},
		{"acct_tz.golden", []string{"sacct", "-S2026-10-31", "--tz", "America/Los_Angeles", "-o", "JobID,Run,State,Submit,Start,End,Elapsed,GPUHours"}},
		{"acct_parsable.golden", []string{"acct", "-P", "--starttime=2026-11-01", "-o", "jobid,jobname%5,account,partition,exitcode,nodelist,allocgpus,billedgpuhours,gpuutil,gpuutilmax,cost"}},
		{"acct_csv.golden", []string{"acct", "--csv", "-S", "2026-11-01", "--tz", "Europe/Berlin", "-o", "JobID,JobName,Start,End,Cost"}},
		{"acct_widths.golden", []string{"acct", "-n", "-S", "2026-11-01", "-o", "JobID%-6,JobName%4,State%-9,User%3,Team%-15"}},
		{"acct_json.golden", []string{"acct", "--json", "-j", "13_7"}},
	}
	for _, tt := range tests {
		// The same, whether gpuqd sends the records in the listing's order
		// (written as they come) or by end (kept and sorted).
		for _, ordered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s ordered %v", tt.golden, ordered), func(t *testing.T) {
				e := newEnv(t)
				e.srv.SetRecords(fixtureRecords(t), 3)
				e.srv.SetOrdered(ordered)
				r := e.run(t, tt.args...)
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
				}
				golden(t, tt.golden, r.stdout)
			})
		}
	}
}

func TestAcctRequest(t *testing.T) {
	ref := func(id uint64, task ...uint32) *gpuqv1.JobRef {
		r := &gpuqv1.JobRef{Id: id}
		if len(task) > 0 {
			r.ArrayTaskId = proto.Uint32(task[0])
		}
		return r
	}
	tests := []struct {
		args []string
		want *gpuqv1.ListRecordsRequest
	}{
		// Since midnight today in --tz, like sacct.
		{[]string{"acct"}, &gpuqv1.ListRecordsRequest{Start: utcTS(t, "2026-11-27T00:00:00Z")}},
		{[]string{"acct", "--tz", "America/Los_Angeles"}, &gpuqv1.ListRecordsRequest{Start: utcTS(t, "2026-11-27T08:00:00Z")}},
		{[]string{"acct", "--tz", "local"}, &gpuqv1.ListRecordsRequest{Start: utcTS(t, "2026-11-26T23:00:00Z")}},
		// A job alone: all time.
		{[]string{"acct", "-j", "42,44_[1-2]"}, &gpuqv1.ListRecordsRequest{Jobs: []*gpuqv1.JobRef{ref(42), ref(44, 1), ref(44, 2)}}},
		{[]string{"acct", "-j", "42", "-S", "now-7days", "-E", "now-1h"}, &gpuqv1.ListRecordsRequest{
			Jobs: []*gpuqv1.JobRef{ref(42)}, Start: utcTS(t, "2026-11-20T10:00:00Z"), End: utcTS(t, "2026-11-27T09:00:00Z")}},
		{[]string{"acct", "-A", "sf,berlin", "-u", "alice", "--user=bob", "-s", "F,preempted", "-S", "2026-11-01T09:30"}, &gpuqv1.ListRecordsRequest{
			Teams: []string{"sf", "berlin"}, Users: []string{"alice", "bob"}, Start: utcTS(t, "2026-11-01T09:30:00Z"),
			States: []gpuqv1.JobState{gpuqv1.JobState_JOB_STATE_FAILED, gpuqv1.JobState_JOB_STATE_PREEMPTED}}},
		{[]string{"acct", "-s", "all", "-S", "2026-01-01", "-E", "2026-02-01", "--tz", "Asia/Tokyo"}, &gpuqv1.ListRecordsRequest{
			Start: utcTS(t, "2025-12-31T15:00:00Z"), End: utcTS(t, "2026-01-31T15:00:00Z")}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := newEnv(t)
			r := e.run(t, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			// The table asks for the listing's order, and shows only the
			// number of GPU ids.
			tt.want.Ordered, tt.want.EmptyGpuIds = true, true
			if diff := cmp.Diff([]proto.Message{tt.want}, e.srv.Calls(), protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccountingUsageErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"acct", "42"}, "gpuqctl: error: unexpected argument \"42\" (use --job to select jobs)\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"acct", "-o", "JobID,Bogus"}, "gpuqctl: error: invalid format \"JobID,Bogus\": unknown field \"Bogus\" (see gpuqctl acct --help)\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"acct", "-S", "yesterday-ish"}, "gpuqctl: error: --starttime/--endtime: invalid time \"yesterday-ish\": want YYYY-MM-DD[THH:MM[:SS]], now[{+|-}COUNT[UNIT]], today, midnight, noon, yesterday or tomorrow\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"acct", "-S", "now", "-E", "today"}, "gpuqctl: error: --starttime/--endtime: the start 2026-11-27T10:00:00Z is not before the end 2026-11-27T00:00:00Z\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"acct", "-P", "--json"}, "gpuqctl: error: --parsable and --json cannot be used together\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"acct", "--tz", "Europe/Berln"}, "gpuqctl: error: --tz: unknown time zone \"Europe/Berln\"\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"acct", "-s", "SLEEPING"}, "gpuqctl: error: --state: unknown job state \"SLEEPING\"\nRun 'gpuqctl acct --help' for usage.\n"},
		{[]string{"cost", "--month", "2026-13"}, "gpuqctl: error: --month: invalid month \"2026-13\": want YYYY-MM, such as 2026-11\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"cost", "--month", "2026-11", "-S", "now-1days"}, "gpuqctl: error: --month and --starttime/--endtime cannot be used together\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"cost", "-E", "now"}, "gpuqctl: error: --endtime needs --starttime\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"cost", "--model", "fair"}, "gpuqctl: error: --model: unknown cost model \"fair\" (want chargeback or split)\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"cost", "--bill", "a100=1"}, "gpuqctl: error: --bill and --idle are for --model split\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"cost", "--model", "split", "--bill", "a100"}, "gpuqctl: error: --bill \"a100\": want POOL=AMOUNT, such as a100-us-west1=1000.00\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"cost", "--model", "split", "--idle", "random"}, "gpuqctl: error: --idle: unknown idle policy \"random\" (want proportional, shares, even or platform)\nRun 'gpuqctl cost --help' for usage.\n"},
		{[]string{"budget", "--at", "soon"}, "gpuqctl: error: --at: invalid time \"soon\": want YYYY-MM-DD[THH:MM[:SS]], now[{+|-}COUNT[UNIT]], today, midnight, noon, yesterday or tomorrow\nRun 'gpuqctl budget --help' for usage.\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e.run(t, tt.args...).check(t, 2, "", tt.stderr)
		})
	}
	if calls := e.srv.Calls(); len(calls) != 0 {
		t.Errorf("usage errors reached gpuqd: %v", calls)
	}
}

// TestPageWriter: pages formatted by several goroutines at once, finishing
// in any order, are written in the order of their numbers after the header,
// never more than ahead pages kept; an error stops the pages waiting.
func TestPageWriter(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w := newPageWriter(bw, func(b *bufio.Writer) { b.WriteString("header\n") }, 3)
	pages := make(chan int)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := range pages {
				err := w.page(n, func(b *bytes.Buffer) error {
					if (n+g)%3 == 0 {
						runtime.Gosched()
					}
					w.mu.Lock()
					if len(w.ready) > 3 {
						t.Errorf("%d pages kept", len(w.ready))
					}
					w.mu.Unlock()
					fmt.Fprintf(b, "page %d\n", n)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	var want strings.Builder
	want.WriteString("header\n")
	for n := range 200 {
		pages <- n
		fmt.Fprintf(&want, "page %d\n", n)
	}
	close(pages)
	wg.Wait()
	bw.Flush()
	if diff := cmp.Diff(want.String(), out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Page 1 fails while page 5 waits for its turn.
	w = newPageWriter(bufio.NewWriter(io.Discard), func(*bufio.Writer) {}, 2)
	waiting := make(chan error)
	go func() { waiting <- w.page(5, func(*bytes.Buffer) error { return nil }) }()
	boom := errors.New("boom")
	if err := w.page(1, func(*bytes.Buffer) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("page 1: %v, want boom", err)
	}
	if err := <-waiting; !errors.Is(err, boom) {
		t.Errorf("page 5: %v, want boom", err)
	}
}
