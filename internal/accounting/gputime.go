package accounting

import (
	"math/big"
	"math/bits"
	"strconv"
	"time"

	"github.com/gpuq/gpuq/internal/money"
)

// GPUTime is an exact amount of GPU time: whole GPU-seconds and
// GPU-nanoseconds (0 <= nsec < 1e9). The zero value is none. It holds a
// million years of a million GPUs.
type GPUTime struct {
	sec, nsec int64
}

// GPUTimeOf is d of each of n GPUs; a negative d is none.
func GPUTimeOf(d time.Duration, n uint32) GPUTime {
	if d <= 0 {
		return GPUTime{}
	}
	s, ns := int64(d/time.Second), int64(d%time.Second)
	g := GPUTime{sec: s * int64(n), nsec: ns * int64(n)} // each at most 2^63/1e9 * 2^32 and 1e9 * 2^32
	return g.norm()
}

func (g GPUTime) norm() GPUTime {
	g.sec += g.nsec / int64(time.Second)
	g.nsec %= int64(time.Second)
	return g
}

// Add returns g + h.
func (g GPUTime) Add(h GPUTime) GPUTime {
	return GPUTime{sec: g.sec + h.sec, nsec: g.nsec + h.nsec}.norm()
}

// IsZero reports whether g is none.
func (g GPUTime) IsZero() bool { return g.sec == 0 && g.nsec == 0 }

// Seconds is g in GPU-seconds, as a float for display.
func (g GPUTime) Seconds() float64 { return float64(g.sec) + float64(g.nsec)/1e9 }

// Hours is g in GPU-hours, as a float for display.
func (g GPUTime) Hours() float64 { return g.Seconds() / 3600 }

// String writes g in GPU-hours with two decimals, rounded half up: 12.50.
func (g GPUTime) String() string { return string(g.Append(nil)) }

// Append appends String to b.
func (g GPUTime) Append(b []byte) []byte {
	var buf [32]byte
	s := g.appendHundredths(buf[:0])
	if n := len(s); n < 3 { // 5 hundredths are 0.05
		copy(buf[3-n:], s)
		for i := range 3 - n {
			buf[i] = '0'
		}
		s = buf[:3]
	}
	b = append(b, s[:len(s)-2]...)
	return append(append(b, '.'), s[len(s)-2:]...)
}

// hundredths is g in hundredths of a GPU-hour, rounded half up, in
// decimal.
func (g GPUTime) hundredths() string { return string(g.appendHundredths(nil)) }

// appendHundredths appends hundredths to b; in int64 arithmetic where it
// cannot overflow (up to 2^32 GPU-seconds), which listings of a million
// records need.
func (g GPUTime) appendHundredths(b []byte) []byte {
	// Hundredths of an hour are 36 s: round on the exact value.
	if g.sec >= 0 && g.sec < 1<<32 && g.nsec >= 0 {
		return strconv.AppendInt(b, (g.sec*int64(time.Second)+g.nsec+18e9)/36e9, 10)
	}
	return append(b, g.bigHundredths()...)
}

func (g GPUTime) bigHundredths() string {
	n := new(big.Int).Add(g.nanos(), big.NewInt(18e9))
	return n.Quo(n, big.NewInt(36e9)).String()
}

// nanos is g in GPU-nanoseconds.
func (g GPUTime) nanos() *big.Int {
	n := big.NewInt(g.sec)
	n.Mul(n, big.NewInt(int64(time.Second)))
	return n.Add(n, big.NewInt(g.nsec))
}

// Compare returns -1, 0 or +1 as g is less than, equal to or more than h.
func (g GPUTime) Compare(h GPUTime) int {
	switch {
	case g.sec < h.sec || g.sec == h.sec && g.nsec < h.nsec:
		return -1
	case g == h:
		return 0
	}
	return 1
}

// nsPerHour is GPU-nanoseconds per GPU-hour.
var nsPerHour = big.NewInt(int64(time.Hour))

// value returns g times rate (per GPU-hour) in micro-units times
// GPU-nanoseconds per hour: exact, to be divided once when rounded.
func (g GPUTime) value(rate money.Amount) *big.Int {
	return new(big.Int).Mul(g.nanos(), big.NewInt(int64(rate)))
}

// Cost is g at rate per GPU-hour, rounded half to even to the micro-unit.
func (g GPUTime) Cost(rate money.Amount) money.Amount {
	// In 128-bit products where they hold (up to 2^33 GPU-seconds and a
	// quotient below 2^63): a listing prices a million records.
	if g.sec >= 0 && g.sec < 1<<33 && g.nsec >= 0 && rate >= 0 {
		const d = uint64(time.Hour)
		hi, lo := bits.Mul64(uint64(g.sec*int64(time.Second)+g.nsec), uint64(rate))
		if hi < d {
			q, r := bits.Div64(hi, lo, d)
			if 2*r > d || 2*r == d && q%2 == 1 {
				q++
			}
			if q < 1<<63 {
				return money.Amount(q)
			}
		}
	}
	return g.bigCost(rate)
}

func (g GPUTime) bigCost(rate money.Amount) money.Amount {
	return money.Amount(roundQuo(g.value(rate), nsPerHour))
}

// roundQuo returns n/d rounded half to even; d > 0. The result must fit in
// an int64.
func roundQuo(n, d *big.Int) int64 {
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	switch c := r2.Cmp(d); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		if n.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// centsOf is value/(nsPerHour) rounded half to even to the cent, as an
// Amount: value is what GPUTime.value returns, summed.
func centsOf(value *big.Int) money.Amount {
	d := new(big.Int).Mul(nsPerHour, big.NewInt(int64(money.Cent)))
	return money.Amount(roundQuo(value, d)) * money.Cent
}

// roundCents rounds a half to even to the cent.
func roundCents(a money.Amount) money.Amount { return money.Amount(a.Cents()) * money.Cent }
