package batch

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gpuq/gpuq/internal/job"
)

// MaxScriptSize bounds a batch script, directives and commands together.
const MaxScriptSize = 1 << 20

// Errors of a script as a whole; ParseDirectives wraps them with detail.
var (
	ErrScriptTooLarge = errors.New("script too large")
	ErrEmptyScript    = errors.New("script is empty")
	ErrNoInterpreter  = errors.New("this does not look like a batch script: the first line must start with #! " +
		"followed by the path to an interpreter, such as #!/bin/bash (use --wrap to submit a single command)")
)

// Directive prefixes: gpuq's own, and Slurm's so that its scripts submit unchanged.
const (
	PrefixGPUQ   = "GPUQ"
	PrefixSBATCH = "SBATCH"
)

// Directive is one option found on a #GPUQ or #SBATCH line.
type Directive struct {
	Line     int    // 1-based line number in the script; 0 on the command line
	Prefix   string // "GPUQ" or "SBATCH"; empty on the command line
	Name     string // canonical long option name without dashes: "time", "gpus", "job-name", ...
	Value    string
	HasValue bool
}

// Warning is something accepted but not honoured exactly. Line is 0 for
// command-line flags.
type Warning struct {
	Line    int
	Message string
}

func (w Warning) String() string {
	if w.Line == 0 {
		return w.Message
	}
	return lineField(w.Line) + ": " + w.Message
}

func lineField(n int) string { return "line " + strconv.Itoa(n) }

// ParseDirectives scans a script like sbatch does. Directives are read from
// the top until the first line that is neither blank nor a comment; a
// directive line starts with #GPUQ or #SBATCH in its first column and holds
// options as on the command line (--time=10, --time 10, -t10, -t 10, several
// on one line, double or single quotes, backslash escapes); text after an
// unquoted " #" is a comment. Directive lines after the first command are
// ignored with a warning. A malformed line is a *job.FieldError whose Field
// is "line N".
func ParseDirectives(script []byte) ([]Directive, []Warning, error) {
	if err := checkScript(script); err != nil {
		return nil, nil, err
	}
	var (
		ds       []Directive
		ws       []Warning
		inHeader = true
		n        = 0
	)
	for line := range strings.SplitSeq(string(script), "\n") {
		n++
		prefix, rest, isDirective := cutPrefix(line)
		switch {
		case !inHeader:
			if isDirective {
				ws = append(ws, Warning{Line: n, Message: "#" + prefix + " after the first command is ignored"})
			}
		case isDirective:
			found, err := parseDirectiveLine(rest)
			if err != nil {
				return nil, nil, &job.FieldError{Field: lineField(n), Problem: err.Error()}
			}
			for _, d := range found {
				d.Line, d.Prefix = n, prefix
				ds = append(ds, d)
			}
		case !isComment(line):
			inHeader = false
		}
	}
	return ds, ws, nil
}

// ParseArgs parses sbatch-style command-line options up to the first argument
// that is not an option (the script) or "--". It returns the options as
// directives with Line 0 and no prefix, and the arguments from the script on.
// Options unknown to gpuq never take the next argument as their value.
func ParseArgs(args []string) (ds []Directive, rest []string, err error) {
	return parseOptions(args, false)
}

// Wrap turns a --wrap command into a script.
func Wrap(cmd string) []byte {
	return []byte("#!/bin/sh\n" + cmd + "\n")
}

// checkScript rejects what sbatch rejects before reading any directive.
func checkScript(script []byte) error {
	switch {
	case len(script) > MaxScriptSize:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrScriptTooLarge, len(script), MaxScriptSize)
	case len(bytes.TrimSpace(script)) == 0:
		return ErrEmptyScript
	case !bytes.HasPrefix(script, []byte("#!")):
		return ErrNoInterpreter
	}
	if i := bytes.IndexByte(script, 0); i >= 0 {
		return &job.FieldError{Field: lineField(lineOf(script, i)), Problem: "the script contains a NUL byte"}
	}
	if i := bytes.Index(script, []byte("\r\n")); i >= 0 {
		return &job.FieldError{Field: lineField(lineOf(script, i)),
			Problem: `the script has DOS line breaks (\r\n); convert it with dos2unix`}
	}
	return nil
}

// lineOf is the 1-based line of byte offset i.
func lineOf(script []byte, i int) int {
	return bytes.Count(script[:i], []byte("\n")) + 1
}

// cutPrefix reports whether line is a directive line: #GPUQ or #SBATCH in
// the first column, followed by a blank, an option or nothing.
func cutPrefix(line string) (prefix, rest string, ok bool) {
	for _, p := range []string{PrefixGPUQ, PrefixSBATCH} {
		after, found := strings.CutPrefix(line, "#"+p)
		if found && (after == "" || isBlank(after[0]) || after[0] == '-') {
			return p, after, true
		}
	}
	return "", "", false
}

// isComment reports whether a line is blank or a shell comment.
func isComment(line string) bool {
	t := strings.TrimLeft(line, " \t\v\f\r")
	return t == "" || t[0] == '#'
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'
}

// parseDirectiveLine parses the options after a directive prefix.
func parseDirectiveLine(s string) ([]Directive, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	ds, rest, err := parseOptions(words, true)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("unexpected %q: a directive holds options such as --time=10 or -t 10", rest[0])
	}
	return ds, nil
}

// splitWords splits a directive line into words the way a shell would,
// without expansions: blanks separate words, double and single quotes group,
// a backslash outside single quotes escapes the next byte, and an unquoted #
// at the start of a word begins a comment.
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
		quote  byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'' && c != '\'', quote == '"' && c != '"' && c != '\\':
			word.WriteByte(c)
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("a backslash ends the line")
			}
			i++
			word.WriteByte(s[i])
			inWord = true
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case isBlank(c):
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return finishWords(words, &word, inWord), nil
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	return finishWords(words, &word, inWord), nil
}

func finishWords(words []string, word *strings.Builder, inWord bool) []string {
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// parseOptions parses options like getopt_long with a leading '+': it stops
// at the first argument that is not an option, or after "--". In a script an
// unknown option without '=' takes the next word as its value unless that
// word starts with '-'; on the command line it never does, so that the
// script path is not taken for a value.
func parseOptions(args []string, inScript bool) (ds []Directive, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		var (
			found []Directive
			used  int
		)
		switch {
		case a == "--":
			return ds, args[i+1:], nil
		case strings.HasPrefix(a, "--"):
			var d Directive
			d, used, err = parseLong(a[2:], args[i+1:], inScript)
			found = []Directive{d}
		case len(a) > 1 && a[0] == '-':
			found, used, err = parseShort(a[1:], args[i+1:], inScript)
		default:
			return ds, args[i:], nil
		}
		if err != nil {
			return nil, nil, err
		}
		ds = append(ds, found...)
		i += used
	}
	return ds, nil, nil
}

// parseLong parses one --name[=value] argument; used counts the following
// arguments it consumed.
func parseLong(body string, next []string, inScript bool) (d Directive, used int, err error) {
	name, value, hasValue := strings.Cut(body, "=")
	if name == "" || name[0] == '-' {
		return d, 0, fmt.Errorf("malformed option %q", "--"+body)
	}
	d = Directive{Name: name, Value: value, HasValue: hasValue}
	opt, known := lookupLong(name)
	if known {
		d.Name = opt.name
	}
	if hasValue {
		return d, 0, nil
	}
	switch {
	case known && opt.arg == argRequired:
		if len(next) == 0 {
			return d, 0, fmt.Errorf("option --%s needs a value", name)
		}
		d.Value, d.HasValue = next[0], true
		return d, 1, nil
	case !known && takesNext(next, inScript):
		d.Value, d.HasValue = next[0], true
		return d, 1, nil
	}
	return d, 0, nil
}

// parseShort parses one argument of short options: -H, -t10, -t 10, -Ht 10.
func parseShort(arg string, next []string, inScript bool) (ds []Directive, used int, err error) {
	for body := arg; body != ""; {
		c, size := utf8.DecodeRuneInString(body)
		body = body[size:]
		if c == '-' {
			return nil, 0, fmt.Errorf("malformed option %q", "-"+arg)
		}
		opt, known := lookupShort(c)
		if known && opt.arg == argNone {
			ds = append(ds, Directive{Name: opt.name})
			continue
		}
		d := Directive{Name: string(c), Value: body, HasValue: body != ""}
		if known {
			d.Name = opt.name
		}
		needsNext := known && opt.arg == argRequired
		if !d.HasValue && (needsNext || !known && takesNext(next, inScript)) {
			if len(next) == 0 {
				return nil, 0, fmt.Errorf("option -%c needs a value", c)
			}
			d.Value, d.HasValue, used = next[0], true, 1
		}
		return append(ds, d), used, nil
	}
	return ds, 0, nil
}

// takesNext reports whether an unknown option takes the next word as value.
func takesNext(next []string, inScript bool) bool {
	return inScript && len(next) > 0 && !strings.HasPrefix(next[0], "-")
}
