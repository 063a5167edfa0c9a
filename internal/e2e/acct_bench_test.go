package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/store"
	"github.com/gpuq/gpuq/internal/store/storetest"
)

// accountingMonth is the month the benchmark's records end in: October
// 2026 in UTC, a month before the tests' clock, so that no team's current
// budget month holds them.
var accountingMonth = [2]time.Time{time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}

// fillRecords writes n accounting records into a store in dir, ending
// evenly over accountingMonth (see storetest.Record).
func fillRecords(b *testing.B, dir string, n int) {
	b.Helper()
	st, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := storetest.FillRecords(st, n, accountingMonth[0], accountingMonth[1]); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAcct1M holds 1,000,000 accounting records, all ending in one
// month, and times gpuqctl as a whole process (the medians of several
// runs): acct of the month (a line per record), acct of one job by id, and
// cost of the month. Beside them, measured in the same run: gpuqctl acct of
// an empty window (process start, connection and an empty stream), and an
// acct that reads and filters every record of the month but prints none
// (the scan every report makes, and what a lookup by id cost before the
// job-id index).
func BenchmarkAcct1M(b *testing.B) {
	benchAcct(b, 1_000_000)
}

func benchAcct(b *testing.B, n int) {
	c := newCluster(b)
	defer c.stop()
	start := time.Now()
	fillRecords(b, filepath.Join(c.dir, "data"), n)
	b.Logf("%d records written in %s", n, time.Since(start).Round(time.Millisecond))
	c.start()

	month := []string{"-S", "2026-10-01", "-E", "2026-11-01"}
	acct := func(args ...string) func() {
		return func() {
			out, errOut, code := c.ctl(append([]string{"acct"}, args...)...)
			if code != 0 {
				b.Fatalf("gpuqctl acct %v: exit %d: %s", args, code, errOut)
			}
			_ = out
		}
	}
	// Check the answers once.
	out, _, _ := c.ctl("acct", "-j", fmt.Sprint(n/2), "-n", "-P", "-o", "JobID")
	if strings.TrimSpace(out) != fmt.Sprint(n/2) {
		b.Fatalf("acct -j %d printed %q", n/2, out)
	}
	out, errOut, code := c.ctl(append([]string{"acct", "-n", "-P", "-o", "JobID"}, month...)...)
	if got := strings.Count(out, "\n"); got != n || code != 0 {
		b.Fatalf("acct of the month printed %d lines, want %d; exit %d: %s", got, n, code, errOut)
	}
	out, errOut, code = c.ctl("cost", "--month", "2026-10")
	if code != 0 || !strings.Contains(out, "TOTAL") {
		b.Fatalf("cost: exit %d: %s%s", code, out, errOut)
	}

	const few, many = 5, 21
	empty := median(many, acct("-S", "2020-01-01", "-E", "2020-01-02"))
	lookup := median(many, acct("-j", fmt.Sprint(n/3)))
	scan := median(few, acct(append([]string{"-u", "nobody"}, month...)...))
	report := median(few, acct(month...))
	cost := median(few, func() {
		if _, errOut, code := c.ctl("cost", "--month", "2026-10"); code != 0 {
			b.Fatalf("cost: %s", errOut)
		}
	})
	b.ReportMetric(report.Seconds(), "s/acct-month-median")
	b.ReportMetric(ms(lookup), "ms/acct-job-median")
	b.ReportMetric(cost.Seconds(), "s/cost-month-median")
	b.ReportMetric(ms(empty), "ms/acct-empty-median")
	b.ReportMetric(scan.Seconds(), "s/scan-month-median")
}

// BenchmarkAcct100k is BenchmarkAcct1M with a tenth of the records.
func BenchmarkAcct100k(b *testing.B) {
	benchAcct(b, 100_000)
}
