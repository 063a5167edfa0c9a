package execrun

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what the runtime reads from /proc/<pid>/stat.
type procStat struct {
	State byte   // field 3: R, S, D, Z, ...
	Pgrp  int    // field 5: the process group id
	Start uint64 // field 22: start time in clock ticks after boot
}

// readProcStat reads /proc/<pid>/stat. A process that does not exist gives
// an error satisfying errors.Is(err, fs.ErrNotExist).
func readProcStat(pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, fmt.Errorf("pid %d: %w", pid, os.ErrNotExist)
	}
	b, err := readSmall("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			err = fmt.Errorf("pid %d: %w", pid, os.ErrNotExist)
		}
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses the contents of /proc/<pid>/stat. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses,
// so the fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3, so field n is f[n-3].
	if len(f) < 22-3+1 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("proc stat: %d fields after the command name", len(f))
	}
	pgrp, err := strconv.Atoi(f[5-3])
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: pgrp: %w", err)
	}
	start, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: starttime: %w", err)
	}
	return procStat{State: f[0][0], Pgrp: pgrp, Start: start}, nil
}

// sameProcess reports whether pid is still the process that started at
// start (clock ticks), zombie or not: a recycled pid has another start time.
func sameProcess(pid int, start uint64) bool {
	st, err := readProcStat(pid)
	return err == nil && st.Start == start
}

// alive reports whether pid is still the process that started at start and
// has not exited (a zombie has exited).
func alive(pid int, start uint64) bool {
	st, err := readProcStat(pid)
	return err == nil && st.Start == start && st.State != 'Z' && st.State != 'X'
}
