package accounting

import (
	"math/rand/v2"
	"testing"
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
