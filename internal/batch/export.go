package batch

import (
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"
)

// export is a parsed --export value.
type export struct {
	all  bool     // start from the submitter's whole environment
	vars []string // NAME (copied from the submitter) or NAME=VALUE, in order
}

// parseExport parses an sbatch --export value: ALL, NONE, or a
// comma-separated list of NAME and NAME=VALUE that may start with ALL (add
// to the whole environment) or NONE (the same as no prefix: only those).
// Empty means ALL.
func parseExport(s string) (export, error) {
	if s == "" {
		return export{all: true}, nil
	}
	items := strings.Split(s, ",")
	var e export
	switch strings.ToUpper(items[0]) {
	case "ALL":
		e.all, items = true, items[1:]
	case "NONE":
		items = items[1:]
	}
	for _, it := range items {
		name, _, _ := strings.Cut(it, "=")
		if !isEnvName(name) {
			return export{}, fmt.Errorf("%q: bad variable name %q (want ALL, NONE, NAME or NAME=VALUE, comma-separated)", s, name)
		}
	}
	e.vars = items
	return e, nil
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// exportEnvironment builds the job's environment from an --export value and
// the submitter's environment in os.Environ form; the later of duplicate
// entries wins.
func exportEnvironment(value string, environ []string) (map[string]string, error) {
	e, err := parseExport(value)
	if err != nil {
		return nil, err
	}
	submitted := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" && utf8.ValidString(kv) {
			submitted[k] = v
		}
	}
	env := make(map[string]string)
	if e.all {
		maps.Copy(env, submitted)
	}
	for _, it := range e.vars {
		if name, v, ok := strings.Cut(it, "="); ok {
			env[name] = v
		} else if v, ok := submitted[name]; ok {
			env[name] = v
		}
	}
	return env, nil
}
