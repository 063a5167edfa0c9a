package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Amount is an amount of money in micro-units: millionths of the currency
// unit. The zero value is zero.
type Amount int64

// Handy amounts.
const (
	Micro Amount = 1
	Cent  Amount = 10_000
	Unit  Amount = 1_000_000
)

// Decimals is the number of decimal places an Amount holds.
const Decimals = 6

// Sentinel errors wrapped by *ParseError.
var (
	// ErrSyntax: the text is not a decimal number such as 3.50 or -12.
	ErrSyntax = errors.New("not a decimal amount")
	// ErrPrecision: the text has more than six decimal places.
	ErrPrecision = errors.New("more than 6 decimal places")
	// ErrRange: the amount does not fit in an Amount.
	ErrRange = errors.New("amount out of range")
)

// ParseError is an amount that could not be parsed.
type ParseError struct {
	Input string
	Err   error // ErrSyntax, ErrPrecision or ErrRange
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("parse amount %q: %v", e.Input, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads a decimal amount: an optional leading '-', at least one digit,
// and optionally a '.' followed by one to six digits. "3.5", "3.50", "20000",
// "0.000001" and "-1.25" are amounts; "+1", ".5", "1.", "1e3", "1,000",
// " 1" and "0.0000001" are not.
func Parse(s string) (Amount, error) {
	fail := func(err error) (Amount, error) { return 0, &ParseError{Input: s, Err: err} }
	rest := s
	neg := false
	if strings.HasPrefix(rest, "-") {
		neg = true
		rest = rest[1:]
	}
	whole, frac, hasDot := strings.Cut(rest, ".")
	if whole == "" || !allDigits(whole) || (hasDot && (frac == "" || !allDigits(frac))) {
		return fail(ErrSyntax)
	}
	if len(frac) > Decimals {
		return fail(ErrPrecision)
	}
	// Accumulate as a magnitude in uint64: math.MinInt64 has no positive
	// counterpart, so the sign is applied at the end.
	var mag uint64
	for _, c := range whole + frac + strings.Repeat("0", Decimals-len(frac)) {
		d := uint64(c - '0')
		if mag > (math.MaxUint64-d)/10 {
			return fail(ErrRange)
		}
		mag = mag*10 + d
	}
	if neg {
		if mag > uint64(math.MaxInt64)+1 {
			return fail(ErrRange)
		}
		return Amount(-int64(mag)), nil // wraps to itself at math.MinInt64, as wanted
	}
	if mag > math.MaxInt64 {
		return fail(ErrRange)
	}
	return Amount(mag), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats a with at least two decimals and as many more as it needs:
// "3.50", "20000.00", "0.000001", "-1.234". Parse reads it back exactly.
func (a Amount) String() string { return string(a.Append(nil)) }

// Append appends a as String writes it to b, without allocating more: a
// listing of a million records writes as many amounts.
func (a Amount) Append(b []byte) []byte {
	mag := uint64(a)
	if a < 0 {
		mag = -mag // two's complement: right for math.MinInt64 too
		b = append(b, '-')
	}
	whole, frac := mag/uint64(Unit), mag%uint64(Unit)
	b = strconv.AppendUint(b, whole, 10)
	b = append(b, '.')
	// Six digits, then the trailing zeros dropped down to two places.
	var digits [Decimals]byte
	for i := Decimals - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := Decimals
	for n > 2 && digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

// Cents returns a in whole cents, rounding half to even: 0.005 is 0 cents,
// 0.015 is 2 cents, -0.025 is -2 cents.
func (a Amount) Cents() int64 {
	q, r := int64(a/Cent), int64(a%Cent) // truncated toward zero
	half := int64(Cent / 2)
	switch {
	case r > half, r == half && q%2 != 0:
		q++
	case r < -half, r == -half && q%2 != 0:
		q--
	}
	return q
}

// MarshalYAML writes a as a plain decimal number such as 3.50.
func (a Amount) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: a.String()}, nil
}

// UnmarshalYAML reads an amount written as a number (3.5, 20000) or a string
// ("3.50") with the syntax Parse accepts.
func (a *Amount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal a %s into an amount of money", n.Line, kindName(n.Kind))}}
	}
	switch n.ShortTag() {
	case "!!int", "!!float", "!!str":
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s %q into an amount of money", n.Line, n.ShortTag(), n.Value)}}
	}
	v, err := Parse(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v (want a decimal such as 3.50)", n.Line, err)}}
	}
	*a = v
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

var (
	_ yaml.Marshaler   = Amount(0)
	_ yaml.Unmarshaler = (*Amount)(nil)
	_ fmt.Stringer     = Amount(0)
)
