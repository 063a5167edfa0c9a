package batch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// defaultSignalBefore is Slurm's default time of a --signal without @TIME.
const defaultSignalBefore = 60 * time.Second

// maxSignalBefore is Slurm's bound on @TIME.
const maxSignalBefore = 65535 * time.Second

// signalNames are the Linux signals by number, without the SIG prefix. Read only.
var signalNames = [...]string{
	1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE",
	9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 16: "STKFLT",
	17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU", 23: "URG", 24: "XCPU",
	25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO", 30: "PWR", 31: "SYS",
}

// ParseSignal parses an sbatch --signal value, [{R|B}:]SIG[@SECONDS]: the
// signal sent SECONDS (default 60, at most 65535) before the time limit. SIG
// is a name with or without SIG, in any case, or a number. The B: and R:
// prefixes are accepted with a warning: gpuq signals every process of the job.
func ParseSignal(s string) (sig *gpuqv1.WarningSignal, warning string, err error) {
	rest := s
	if p, r, ok := strings.Cut(s, ":"); ok && (p == "B" || p == "R" || p == "BR" || p == "RB") {
		rest = r
		warning = fmt.Sprintf("the %s: prefix is ignored; gpuq signals every process of the job", p)
	}
	sigStr, beforeStr, hasBefore := strings.Cut(rest, "@")
	name, ok := signalName(sigStr)
	if !ok {
		return nil, "", fmt.Errorf("signal %q: unknown signal %q (want a name such as USR1 or a number from 1 to 31)", s, sigStr)
	}
	before := defaultSignalBefore
	if hasBefore {
		n, err := strconv.ParseUint(beforeStr, 10, 16)
		if err != nil {
			return nil, "", fmt.Errorf("signal %q: want @SECONDS from 0 to %d", s, int(maxSignalBefore/time.Second))
		}
		before = time.Duration(n) * time.Second
	}
	return &gpuqv1.WarningSignal{Name: name, Before: durationpb.New(before)}, warning, nil
}

// signalName resolves a signal name or number to its name without SIG.
func signalName(s string) (string, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n >= len(signalNames) {
			return "", false
		}
		return signalNames[n], true
	}
	u := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for _, name := range signalNames[1:] {
		if name == u {
			return name, true
		}
	}
	return "", false
}
