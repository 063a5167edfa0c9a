package accounting

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/money"
)

// TestHundredthsFast: the int64 arithmetic gives what big.Int does, up to
// its bound and on both sides of every rounding.
func TestHundredthsFast(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 100_000 {
		g := GPUTime{sec: rng.Int64N(1 << 32), nsec: rng.Int64N(1e9)}
		switch i % 4 {
		case 0: // at a rounding: 18 s past a hundredth
			g = GPUTime{sec: rng.Int64N(1<<32/36)*36 + 18, nsec: 0}
		case 1: // just below it
			g = GPUTime{sec: rng.Int64N(1<<32/36)*36 + 17, nsec: 999_999_999}
		case 2:
			g.sec = 1<<32 - 1 - rng.Int64N(100)
		}
		if got, want := g.hundredths(), g.bigHundredths(); got != want {
			t.Fatalf("%+v: %s, want %s", g, got, want)
		}
	}
}

// TestGPUTimeString: two decimals, rounded half up, zeros before them
// where the time is under a GPU-hour; the same appended.
func TestGPUTimeString(t *testing.T) {
	for _, tt := range []struct {
		g    GPUTime
		want string
	}{
		{GPUTime{}, "0.00"}, {GPUTimeOf(17*time.Second, 1), "0.00"}, {GPUTimeOf(18*time.Second, 1), "0.01"},
		{GPUTimeOf(3*time.Minute, 1), "0.05"}, {GPUTimeOf(36*time.Minute, 1), "0.60"}, {GPUTimeOf(90*time.Minute, 3), "4.50"},
		{GPUTimeOf(1000*time.Hour, 8), "8000.00"}, {GPUTime{sec: 1 << 40}, "305419896.60"},
	} {
		if got := tt.g.String(); got != tt.want {
			t.Errorf("%+v: String() = %q, want %q", tt.g, got, tt.want)
		}
		if got := string(tt.g.Append([]byte("x"))); got != "x"+tt.want {
			t.Errorf("%+v: Append = %q, want %q", tt.g, got, "x"+tt.want)
		}
	}
}

func TestElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "00:00:00", -time.Second: "00:00:00", 59*time.Second + 999*time.Millisecond: "00:00:59", 3661 * time.Second: "01:01:01",
		25*time.Hour + 2*time.Minute + 3*time.Second: "1-01:02:03", 100*24*time.Hour + 23*time.Hour + 59*time.Minute: "100-23:59:00",
	} {
		if got := Elapsed(d); got != want {
			t.Errorf("Elapsed(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestCostFast: 128-bit arithmetic prices as big.Int does, on both sides
// of every rounding and at its bounds.
func TestCostFast(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 100_000 {
		g := GPUTime{sec: rng.Int64N(1 << 33), nsec: rng.Int64N(1e9)}
		rate := money.Amount(rng.Int64N(1e9))
		switch i % 5 {
		case 0: // small, where halves happen
			g, rate = GPUTime{sec: rng.Int64N(1e5), nsec: rng.Int64N(2) * 5e8}, money.Amount(rng.Int64N(1e7))
		case 1:
			g.sec = 1<<33 - 1 - rng.Int64N(100)
		case 2:
			rate = money.Amount(1<<62 + rng.Int64N(1<<62))
		case 3: // exactly half a micro-unit: 1,800 s at 1 per hour is 0.5
			g, rate = GPUTime{sec: 1800 * (2*rng.Int64N(1e6) + 1)}, 1
		}
		if got, want := g.Cost(rate), g.bigCost(rate); got != want {
			t.Fatalf("%+v at %d: %d, want %d", g, rate, got, want)
		}
	}
}
