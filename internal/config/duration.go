package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that YAML reads as a Go duration ("300s",
// "1h30m"), a number of days with an optional Go duration after it ("7d",
// "1d12h"), or a whole number of seconds (300), and writes as a Go duration
// ("5m0s" shortened to "5m").
type Duration time.Duration

// ParseDuration parses the forms Duration accepts: an optional sign, then a
// whole number of seconds ("300"), whole days with an optional unsigned Go
// duration after them ("7d", "1d12h"), or a Go duration ("90s", "1h30m").
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w (want a duration such as 300s, 1h30m or 7d, or whole seconds)", s, err)
	}
	return d, nil
}

var (
	errDurationRange = errors.New("out of range")
	errDurationSign  = errors.New("a sign may only lead")
)

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	rest := s
	neg := false
	if rest[0] == '-' || rest[0] == '+' {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	if rest == "" {
		return 0, errors.New("no number")
	}
	if rest[0] == '-' || rest[0] == '+' {
		return 0, errDurationSign
	}
	// The magnitude is built as a uint64 so that -9223372036854775808ns,
	// which has no positive counterpart, parses too.
	var mag uint64
	switch days, after, ok := strings.Cut(rest, "d"); {
	case allDigits(rest):
		n, err := strconv.ParseUint(rest, 10, 64)
		if err != nil || n > math.MaxUint64/uint64(time.Second) {
			return 0, errDurationRange
		}
		mag = n * uint64(time.Second)
	case ok && days != "" && allDigits(days):
		n, err := strconv.ParseUint(days, 10, 64)
		if err != nil || n > math.MaxUint64/uint64(24*time.Hour) {
			return 0, errDurationRange
		}
		mag = n * uint64(24*time.Hour)
		if after != "" {
			if after[0] == '-' || after[0] == '+' {
				return 0, errDurationSign
			}
			if allDigits(after) {
				return 0, fmt.Errorf("missing unit after %q", after)
			}
			d, err := time.ParseDuration(after)
			if err != nil {
				return 0, goDurationError(err)
			}
			if uint64(d) > math.MaxUint64-mag {
				return 0, errDurationRange
			}
			mag += uint64(d)
		}
	default:
		// time.ParseDuration is given the sign too: only it knows that
		// "-2562047h47m16.854775808s" fits and its positive twin does not.
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, goDurationError(err)
		}
		return d, nil
	}
	if neg {
		if mag > uint64(math.MaxInt64)+1 {
			return 0, errDurationRange
		}
		return time.Duration(-int64(mag)), nil // wraps to itself at math.MinInt64
	}
	if mag > math.MaxInt64 {
		return 0, errDurationRange
	}
	return time.Duration(mag), nil
}

// goDurationError drops the package name and the repeated input from an
// error of time.ParseDuration: ParseDuration names the input once.
func goDurationError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "time: ")
	if i := strings.Index(msg, " in duration "); i >= 0 {
		msg = msg[:i]
	}
	if strings.HasPrefix(msg, "invalid duration") {
		msg = "not a duration"
	}
	return errors.New(msg)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns d as a Go duration without zero minutes or seconds at its
// end: "1h", "1h30m", "5m", "1.5s", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalYAML writes d as a Go duration string such as 1h30m.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads any form ParseDuration accepts.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal a %s into a duration", n.Line, kindName(n.Kind))}}
	}
	switch n.ShortTag() {
	case "!!int", "!!str", "!!float":
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s %q into a duration", n.Line, n.ShortTag(), n.Value)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
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
	_ yaml.Marshaler   = Duration(0)
	_ yaml.Unmarshaler = (*Duration)(nil)
)
