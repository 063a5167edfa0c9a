package sim

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/report-*.txt")

// check asserts the requirements on rep and logs every figure it
// checks.
func check(t *testing.T, rep Report) {
	t.Helper()
	for _, tm := range rep.Teams {
		// In-hours median wait far below off-hours: at most a quarter.
		if tm.In.MedianWait*4 > tm.Off.MedianWait {
			t.Errorf("team %s: in-hours median wait %v is more than a quarter of off-hours %v",
				tm.Name, tm.In.MedianWait, tm.Off.MedianWait)
		}
		// Within 10% of its shares.
		if d := tm.Share - tm.FairShare; d > 0.1*tm.FairShare || -d > 0.1*tm.FairShare {
			t.Errorf("team %s: %.1f%% of the GPU-hours, want %.1f%% ± 10%%", tm.Name, 100*tm.Share, 100*tm.FairShare)
		}
		// Fair share only matters when every team offers more than its share.
		if fair := tm.FairShare * float64(rep.Capacity) * rep.End.Sub(rep.Start).Hours(); tm.Demand <= fair {
			t.Errorf("team %s: demand %.0f GPU-hours is not above its share %.0f", tm.Name, tm.Demand, fair)
		}
	}
	if rep.WaitingUtil < 0.9 {
		t.Errorf("utilisation while work waits: %.1f%%, want at least 90%%", 100*rep.WaitingUtil)
	}
	if rep.Rejected > 0 {
		t.Errorf("%d plan items did not match the simulation's state", rep.Rejected)
	}
}

func simulate(t *testing.T, start time.Time, golden string) {
	t.Helper()
	if testing.Short() {
		t.Skip("the simulation takes seconds; skipped with -short")
	}
	o, err := DefaultOptions(start)
	if err != nil {
		t.Fatal(err)
	}
	o.BillRunning = os.Getenv("SIM_BILL_RUNNING") != ""
	began := time.Now()
	rep := Summarise(Simulate(o))
	var b bytes.Buffer
	if err := rep.Write(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("simulated %v in %v\n%s", o.Duration, time.Since(began).Round(time.Millisecond), b.String())
	path := filepath.Join("testdata", golden)
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/sim -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("report differs from %s (run with -update and read the diff)", path)
	}
	check(t, rep)
}

// TestSimulation72h is the proof: 72 hours from a Monday 00:00 UTC.
// `make sim` runs it and prints the report.
func TestSimulation72h(t *testing.T) {
	simulate(t, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), "report-72h.txt")
}

// TestSimulation72hDST runs the same from Monday 2026-10-26, the week
// between Europe's clock change (25 October) and America's (1 November):
// Berlin on CET, San Francisco still on PDT.
func TestSimulation72hDST(t *testing.T) {
	simulate(t, time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC), "report-72h-dst.txt")
}

func TestDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("the simulation takes seconds; skipped with -short")
	}
	o, err := DefaultOptions(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	o.Duration = 12 * time.Hour
	var a, b bytes.Buffer
	if err := Summarise(Simulate(o)).Write(&a); err != nil {
		t.Fatal(err)
	}
	if err := Summarise(Simulate(o)).Write(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two runs differ:\n%s\n%s", a.String(), b.String())
	}
}
