package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/store"
	"github.com/gpuq/gpuq/internal/store/storetest"
)

// The benchmarks' records end in October 2026 in UTC, a month before the
// tests' clock, so that no team's current budget month holds them; or, for
// a year of records, in the twelve months up to November 2026.
var (
	october = [2]time.Time{time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	year    = [2]time.Time{time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
)

// fillRecords writes n accounting records into a store in dir, ending
// evenly over span (see storetest.Record).
func fillRecords(b *testing.B, dir string, n int, span [2]time.Time) {
	b.Helper()
	st, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := storetest.FillRecords(st, n, span[0], span[1]); err != nil {
		b.Fatal(err)
	}
	// A store that grew over months has been compacted as it grew; one
	// written at once would be compacted by gpuqd for its first seconds,
	// under the measurements.
	if err := st.Flatten(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAcct1M holds 1,000,000 accounting records, all ending in
// October 2026, and times gpuqctl as a whole process, the median of
// several runs: acct of the month (a line per record), acct of one job by
// id, and cost of the month. Beside them, measured in the same run: a bare
// Go process that does nothing; gpuqctl acct of a window without records
// (process start, connection, an empty stream); and acct of the month that
// matches no record (every record read and decoded, none sent: the scan
// that a lookup by id made before the job-id index).
func BenchmarkAcct1M(b *testing.B) { benchAcct(b, 1_000_000, october) }

// BenchmarkAcct1MYear is BenchmarkAcct1M with the records spread over the
// twelve months up to November 2026: October holds a twelfth of them.
func BenchmarkAcct1MYear(b *testing.B) { benchAcct(b, 1_000_000, year) }

func benchAcct(b *testing.B, n int, span [2]time.Time) {
	c := newCluster(b)
	defer c.stop()
	start := time.Now()
	fillRecords(b, filepath.Join(c.dir, "data"), n, span)
	b.Logf("%d records written in %s", n, time.Since(start).Round(time.Millisecond))
	c.start()

	month := []string{"-S", "2026-10-01", "-E", "2026-11-01"}
	inMonth := n
	if span != october {
		inMonth = 0 // counted below
	}
	acct := func(args ...string) func() {
		return func() {
			// Not c.ctl: a million lines may take longer than its 30 s.
			run(b, filepath.Join(binDir, "gpuqctl"), append([]string{"--server", "unix://" + c.sock, "acct"}, args...)...)
		}
	}
	cost := func() {
		if _, errOut, code := c.ctl("cost", "--month", "2026-10"); code != 0 {
			b.Fatalf("cost: %s", errOut)
		}
	}
	// Check the answers once.
	id := fmt.Sprint(n - n/30) // a job of October
	out, _, _ := c.ctl("acct", "-j", id, "-n", "-P", "-o", "JobID")
	if strings.TrimSpace(out) != id {
		b.Fatalf("acct -j %s printed %q", id, out)
	}
	cmd := exec.Command(filepath.Join(binDir, "gpuqctl"), append([]string{"--server", "unix://" + c.sock, "acct", "-n", "-P", "-o", "JobID"}, month...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		code = -1
	}
	out, errOut := stdout.String(), stderr.String()
	lines := strings.Count(out, "\n")
	if code != 0 || inMonth > 0 && lines != inMonth || lines < n/13 {
		b.Fatalf("acct of the month printed %d lines, want %d; exit %d: %s", lines, inMonth, code, errOut)
	}
	out, errOut, code = c.ctl("cost", "--month", "2026-10")
	if code != 0 || !strings.Contains(out, "TOTAL") {
		b.Fatalf("cost: exit %d: %s%s", code, out, errOut)
	}

	const few, many = 3, 21
	bare := median(many, func() { run(b, filepath.Join(binDir, "hello")) })
	empty := median(many, acct("-S", "2030-01-01", "-E", "2030-01-02"))
	lookup := median(many, acct("-j", id))
	scan := median(few, acct(append([]string{"-u", "nobody"}, month...)...))
	// The month's million lines into a file, as `gpuqctl acct ... >
	// month.txt` writes them; through a pipe into wc -l; and through a pipe
	// into this process, which collects them (on two cores that collector
	// takes CPU from gpuqd and gpuqctl).
	file := filepath.Join(c.dir, "month.txt")
	report := median(few, func() {
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(filepath.Join(binDir, "gpuqctl"), append([]string{"--server", "unix://" + c.sock, "acct"}, month...)...)
		var errOut strings.Builder
		cmd.Stdout, cmd.Stderr = f, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("acct of the month into a file: %v\n%s", err, errOut.String())
		}
	})
	if st, err := os.Stat(file); err != nil || st.Size() < int64(lines)*50 {
		b.Fatalf("acct of the month into a file: %v, %v bytes", err, st)
	}
	// Through a pipe into wc -l, a reader that costs next to nothing.
	wc := median(few, func() {
		cmd := exec.Command("sh", "-c", `"$0" --server "$1" acct -S 2026-10-01 -E 2026-11-01 | wc -l`,
			filepath.Join(binDir, "gpuqctl"), "unix://"+c.sock)
		out, err := cmd.CombinedOutput()
		if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || n < lines {
			b.Fatalf("acct of the month into wc -l: %v: %s", err, out)
		}
	})
	piped := median(few, acct(month...))
	costs := median(few, cost)
	b.ReportMetric(report.Seconds(), "s/acct-month-median")
	b.ReportMetric(wc.Seconds(), "s/acct-month-wc-median")
	b.ReportMetric(piped.Seconds(), "s/acct-month-piped-median")
	b.ReportMetric(float64(lines), "lines/acct-month")
	b.ReportMetric(ms(lookup), "ms/acct-job-median")
	b.ReportMetric(costs.Seconds(), "s/cost-month-median")
	b.ReportMetric(ms(bare), "ms/bare-go-process-median")
	b.ReportMetric(ms(empty), "ms/acct-empty-median")
	b.ReportMetric(scan.Seconds(), "s/acct-scan-month-median")
}
