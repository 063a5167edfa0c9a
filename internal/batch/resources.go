package batch

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxTimeLimit bounds --time; the server's pools set tighter limits.
const maxTimeLimit = 100 * 365 * 24 * time.Hour

// ParseTimeLimit parses a Slurm --time value: "minutes", "MM:SS",
// "HH:MM:SS", "D-HH", "D-HH:MM" or "D-HH:MM:SS". The first field is
// unbounded; the ones after it are not (hours below 24 after days, minutes
// and seconds below 60). "0", "UNLIMITED" and "INFINITE" return 0, which
// gpuq reads as the pool's default time limit.
func ParseTimeLimit(s string) (time.Duration, error) {
	if u := strings.ToUpper(s); u == "UNLIMITED" || u == "INFINITE" {
		return 0, nil
	}
	days, clock, hasDays := strings.Cut(s, "-")
	if !hasDays {
		days, clock = "0", s
	}
	fields := strings.Split(clock, ":")
	units := timeUnits(len(fields), hasDays)
	d, err := parseDigits(days)
	if err != nil || units == nil {
		return 0, malformedTime(s)
	}
	secs := d * 86400
	for i, f := range fields {
		n, err := parseDigits(f)
		if err != nil {
			return 0, malformedTime(s)
		}
		if limit := fieldLimit(units[i]); (i > 0 || hasDays) && n >= limit {
			return 0, fmt.Errorf("malformed time %q: %s must be below %d", s, unitName(units[i]), limit)
		}
		secs += n * units[i]
	}
	if secs > uint64(maxTimeLimit/time.Second) {
		return 0, fmt.Errorf("time %q is longer than 100 years", s)
	}
	return time.Duration(secs) * time.Second, nil
}

func malformedTime(s string) error {
	return fmt.Errorf("malformed time %q (want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)", s)
}

// timeUnits says what each of n colon-separated fields counts, in seconds;
// nil if no form has n fields.
func timeUnits(n int, hasDays bool) []uint64 {
	switch {
	case n > 3:
		return nil
	case hasDays || n == 3:
		return []uint64{3600, 60, 1}[:n]
	default:
		return []uint64{60, 1}[:n]
	}
}

// fieldLimit is the bound of a field that is not the first one.
func fieldLimit(unit uint64) uint64 {
	if unit == 3600 {
		return 24
	}
	return 60
}

func unitName(unit uint64) string {
	switch unit {
	case 3600:
		return "hours"
	case 60:
		return "minutes"
	}
	return "seconds"
}

// parseDigits parses 1 to 9 decimal digits, so that sums cannot overflow.
func parseDigits(s string) (uint64, error) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("want up to 9 digits, got %q", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

const gpuFormats = "want COUNT, TYPE:COUNT, gpu:COUNT or gpu:TYPE:COUNT"

// ParseGPUs parses a GPU request: "4" or "a100:4" as --gpus takes them, and
// "gpu:4" or "gpu:a100:4" as --gres takes them. A type without a count, and
// "gpu" alone, ask for one GPU. An empty type means any type. The count must
// be positive.
func ParseGPUs(s string) (typ string, count uint32, err error) {
	if s == "gpu" {
		return "", 1, nil
	}
	rest := strings.TrimPrefix(s, "gpu:")
	typ, countStr, hasType := strings.Cut(rest, ":")
	if !hasType {
		if isNumber(rest) {
			n, err := gpuCount(s, rest)
			return "", n, err
		}
		typ, countStr = rest, "1"
	}
	if !isGPUType(typ) {
		return "", 0, fmt.Errorf("malformed GPU request %q: type %q: want a letter, then letters, digits, '.', '-' or '_'", s, typ)
	}
	n, err := gpuCount(s, countStr)
	if err != nil {
		return "", 0, err
	}
	return typ, n, nil
}

// gpuCount parses the count of GPU request s.
func gpuCount(s, count string) (uint32, error) {
	n, err := strconv.ParseUint(count, 10, 32)
	switch {
	case err != nil:
		return 0, fmt.Errorf("malformed GPU request %q (want COUNT, TYPE:COUNT, gpu:COUNT or gpu:TYPE:COUNT)", s)
	case n == 0:
		return 0, fmt.Errorf("GPU request %q: the count must be at least 1", s)
	}
	return uint32(n), nil
}

// isNumber reports whether s is all decimal digits.
func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// isGPUType reports whether s can name a GPU type: a letter, then letters,
// digits, '.', '-' and '_'.
func isGPUType(s string) bool {
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		other := c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !letter && (i == 0 || !other) {
			return false
		}
	}
	return s != ""
}

// ParseMemory parses a Slurm --mem value into bytes: a number with an
// optional K, M, G or T suffix (binary units; KB, MB, GB and TB mean the
// same); a plain number counts MiB like Slurm.
func ParseMemory(s string) (uint64, error) {
	digits := strings.TrimRight(s, "KMGTBkmgtb")
	shift, ok := memoryShift(strings.ToUpper(s[len(digits):]))
	n, err := strconv.ParseUint(digits, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("malformed memory size %q (want MiB, or a number with K, M, G or T)", s)
	}
	if n > math.MaxUint64>>shift {
		return 0, fmt.Errorf("memory size %q is too large", s)
	}
	return n << shift, nil
}

// memoryShift is the binary exponent of a --mem unit suffix.
func memoryShift(suffix string) (uint, bool) {
	switch suffix {
	case "K", "KB":
		return 10, true
	case "", "M", "MB":
		return 20, true
	case "G", "GB":
		return 30, true
	case "T", "TB":
		return 40, true
	}
	return 0, false
}
