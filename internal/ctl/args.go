package ctl

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/batch"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// optionalValue reports whether a flag's value is optional and must be
// attached, as getopt's optional arguments: --nice or --nice=5.
func optionalValue(name string) bool {
	for _, f := range batch.Flags() {
		if f.OptionalValue && (f.Name == name || slices.Contains(f.Aliases, name)) {
			return true
		}
	}
	return false
}

// ordered reports whether a command's arguments end its flags: what follows
// submit's script belongs to the script.
func ordered(command string) bool { return command == "submit" }

// normalizeArgs rewrites a command line written the getopt way, as sbatch
// and squeue take it, into the form urfave/cli parses:
//
//	-t10 -> --time=10   -HW -> --hold --wait   --nice -> --nice= (optional value)
//	-h -> --help where the command has no -h
//	gpuqctl cancel 42 --me -> gpuqctl cancel --me 42 (flags after arguments)
//	gpuqctl queue --server X -> gpuqctl --server X queue (global flags anywhere)
//
// It stops at "--" and, for submit, at the script. Anything it does not
// recognise is left for urfave/cli to report.
func normalizeArgs(app *cli.App, args []string) []string {
	root := []string{args[0]}
	var (
		cmdPart    []string // command and subcommand names and their flags
		positional []string
		flags      = app.Flags
		commands   = app.Commands
		inCommand  bool
		stopAtArg  bool // the current command takes no flags after an argument
	)
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			return finish(root, cmdPart, positional, rest[i:])
		case len(a) > 1 && a[0] == '-':
			toks, used, known := normalizeOption(a, rest[i+1:], flags)
			if !known && inCommand {
				if g, gused, gknown := normalizeOption(a, rest[i+1:], app.Flags); gknown {
					root = append(root, g...)
					i += gused
					continue
				}
			}
			if inCommand {
				cmdPart = append(cmdPart, toks...)
			} else {
				root = append(root, toks...)
			}
			i += used
		case len(positional) == 0 && findCommand(commands, a) != nil:
			c := findCommand(commands, a)
			cmdPart = append(cmdPart, a)
			flags, commands, inCommand = c.Flags, c.Subcommands, true
			stopAtArg = ordered(c.Name)
		case !inCommand || stopAtArg:
			// An unknown command, or submit's script: the rest is theirs.
			return finish(root, cmdPart, positional, rest[i:])
		default:
			positional = append(positional, a)
		}
	}
	return finish(root, cmdPart, positional, nil)
}

func finish(root, cmdPart, positional, tail []string) []string {
	out := append(root, cmdPart...)
	out = append(out, positional...)
	return append(out, tail...)
}

// normalizeOption rewrites one option argument, spelling known flags by
// their first name so that the last of -t 10 --time 20 wins, as in sbatch;
// used counts the following arguments it took as its value, and known says
// whether flags define the option.
func normalizeOption(a string, next []string, flags []cli.Flag) (toks []string, used int, known bool) {
	body := strings.TrimPrefix(a[1:], "-")
	name, value, hasValue := strings.Cut(body, "=")
	long := strings.HasPrefix(a, "--") || utf8.RuneCountInString(name) > 1 && findFlag(flags, name) != nil
	if long {
		f := findFlag(flags, name)
		if f == nil {
			return []string{a}, 0, name == "help"
		}
		canon := "--" + f.Names()[0]
		switch {
		case hasValue:
			return []string{canon + "=" + value}, 0, true
		case isBool(f):
			return []string{canon}, 0, true
		case optionalValue(f.Names()[0]):
			return []string{canon + "="}, 0, true
		case len(next) > 0:
			return []string{canon, next[0]}, 1, true
		}
		return []string{canon}, 0, true
	}
	// A cluster of short options: -H, -HW, -t10, -t 10, -Ht 10.
	for i, c := range body {
		f := findFlag(flags, string(c))
		if f == nil {
			if body == "h" {
				return []string{"--help"}, 0, true
			}
			return []string{a}, 0, false
		}
		canon := "--" + f.Names()[0]
		if isBool(f) {
			toks = append(toks, canon)
			continue
		}
		value := strings.TrimPrefix(body[i+utf8.RuneLen(c):], "=")
		switch {
		case value != "":
			return append(toks, canon+"="+value), 0, true
		case optionalValue(f.Names()[0]):
			return append(toks, canon+"="), 0, true
		case len(next) > 0:
			return append(toks, canon, next[0]), 1, true
		}
		return append(toks, canon), 0, true
	}
	return toks, 0, true
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// isBool reports whether f takes no value.
func isBool(f cli.Flag) bool {
	v, ok := f.(interface{ TakesValue() bool })
	return ok && !v.TakesValue()
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// splitList splits a comma-separated list, keeping commas inside brackets
// (44_[1,3]); empty elements are dropped.
func splitList(s string) []string {
	var (
		out   []string
		depth int
		start int
	)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth = max(depth-1, 0)
		case ',':
			if depth == 0 {
				if e := strings.TrimSpace(s[start:i]); e != "" {
					out = append(out, e)
				}
				start = i + 1
			}
		}
	}
	if e := strings.TrimSpace(s[start:]); e != "" {
		out = append(out, e)
	}
	return out
}

// splitLists splits every value of a repeatable list flag.
func splitLists(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, splitList(v)...)
	}
	return out
}

// parseRefArgs parses job references: 42 43_2 44_[1-5] or 42,43.
func parseRefArgs(args []string) ([]*gpuqv1.JobRef, error) {
	var out []*gpuqv1.JobRef
	for _, a := range splitLists(args) {
		refs, err := job.ParseRefs(a)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			out = append(out, r.Proto())
		}
	}
	return out, nil
}

// parseStates parses --state values: long names or short codes, or "all".
func parseStates(values []string) (states []gpuqv1.JobState, all bool, err error) {
	for _, v := range splitLists(values) {
		if strings.EqualFold(v, "all") {
			all = true
			continue
		}
		s, err := job.ParseState(v)
		if err != nil {
			return nil, false, err
		}
		states = append(states, s)
	}
	if all {
		states = nil
	}
	return states, all, nil
}
