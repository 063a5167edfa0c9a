package batch

import (
	"strings"
	"unicode/utf8"
)

// argKind says whether an option takes a value, as getopt_long does.
type argKind uint8

const (
	argNone     argKind = iota // a flag: --hold
	argRequired                // --time=10, --time 10, -t10, -t 10
	argOptional                // --nice or --nice=5; a value must be attached
)

// setter applies one option's value to o and may return a warning.
type setter func(o *Options, value string) (warning string, err error)

// option is one sbatch option gpuq knows. An option without set is a Slurm
// option gpuq accepts and ignores with a warning.
type option struct {
	name    string   // canonical long name
	aliases []string // other long names
	short   rune     // 0 if none
	arg     argKind
	set     setter
	ignored string // why an option without set is ignored; default notSupported
}

const notSupported = "is not supported by gpuq"

// options lists every option gpuq knows: its own, and Slurm's that it ignores.
// Read only.
var options = []option{
	{name: "gpus", aliases: []string{"gpus-per-node"}, short: 'G', arg: argRequired, set: (*Options).setGPUs},
	{name: "gres", arg: argRequired, set: (*Options).setGres},
	{name: "time", short: 't', arg: argRequired, set: (*Options).setTime},
	{name: "team", aliases: []string{"account"}, short: 'A', arg: argRequired, set: text(func(o *Options) *string { return &o.Team })},
	{name: "job-name", short: 'J', arg: argRequired, set: text(func(o *Options) *string { return &o.Name })},
	{name: "output", short: 'o', arg: argRequired, set: text(func(o *Options) *string { return &o.Output })},
	{name: "error", short: 'e', arg: argRequired, set: text(func(o *Options) *string { return &o.Error })},
	{name: "chdir", short: 'D', arg: argRequired, set: text(func(o *Options) *string { return &o.Chdir })},
	{name: "export", arg: argRequired, set: (*Options).setExport},
	{name: "image", arg: argRequired, set: text(func(o *Options) *string { return &o.Image })},
	{name: "signal", arg: argRequired, set: (*Options).setSignal},
	{name: "requeue", arg: argNone, set: boolean(func(o *Options, on bool) { o.NoRequeue = !on })},
	{name: "no-requeue", arg: argNone, set: boolean(func(o *Options, on bool) { o.NoRequeue = on })},
	{name: "array", short: 'a', arg: argRequired, set: (*Options).setArray},
	{name: "dependency", short: 'd', arg: argRequired, set: (*Options).setDependency},
	{name: "hold", short: 'H', arg: argNone, set: boolean(func(o *Options, on bool) { o.Hold = on })},
	{name: "nice", arg: argOptional, set: (*Options).setNice},
	{name: "begin", short: 'b', arg: argRequired, set: (*Options).setBegin},
	{name: "partition", aliases: []string{"pool"}, short: 'p', arg: argRequired, set: (*Options).setPartition},
	{name: "qos", short: 'q', arg: argRequired, set: text(func(o *Options) *string { return &o.QOS })},
	{name: "cpus-per-task", short: 'c', arg: argRequired, set: (*Options).setCPUs},
	{name: "mem", arg: argRequired, set: (*Options).setMemory},
	{name: "comment", arg: argRequired, set: text(func(o *Options) *string { return &o.Comment })},
	{name: "nodes", short: 'N', arg: argRequired, set: setNodes},
	{name: "ntasks", short: 'n', arg: argRequired, set: setNTasks},

	// The command line handles these; in a script they do nothing.
	{name: "wrap", arg: argRequired, ignored: "works on the command line only"},
	{name: "parsable", arg: argNone, ignored: "works on the command line only"},
	{name: "wait", short: 'W', arg: argNone, ignored: "works on the command line only"},

	// Slurm options gpuq accepts and ignores.
	{name: "acctg-freq", arg: argRequired},
	{name: "batch", arg: argRequired},
	{name: "bb", arg: argRequired},
	{name: "bbf", arg: argRequired},
	{name: "cluster-constraint", arg: argRequired},
	{name: "clusters", aliases: []string{"cluster"}, short: 'M', arg: argRequired},
	{name: "constraint", short: 'C', arg: argRequired},
	{name: "container", arg: argRequired},
	{name: "contiguous", arg: argNone},
	{name: "core-spec", short: 'S', arg: argRequired},
	{name: "cores-per-socket", arg: argRequired},
	{name: "cpu-freq", arg: argRequired},
	{name: "cpus-per-gpu", arg: argRequired},
	{name: "deadline", arg: argRequired},
	{name: "delay-boot", arg: argRequired},
	{name: "distribution", short: 'm', arg: argRequired},
	{name: "exclude", short: 'x', arg: argRequired},
	{name: "exclusive", arg: argOptional},
	{name: "export-file", arg: argRequired},
	{name: "extra-node-info", short: 'B', arg: argRequired},
	{name: "get-user-env", arg: argOptional},
	{name: "gid", arg: argRequired},
	{name: "gpu-bind", arg: argRequired},
	{name: "gpu-freq", arg: argRequired},
	{name: "gpus-per-task", arg: argRequired},
	{name: "gres-flags", arg: argRequired},
	{name: "hint", arg: argRequired},
	{name: "ignore-pbs", arg: argNone},
	{name: "input", short: 'i', arg: argRequired},
	{name: "kill-on-invalid-dep", arg: argRequired},
	{name: "licenses", short: 'L', arg: argRequired},
	{name: "mail-type", arg: argRequired},
	{name: "mail-user", arg: argRequired},
	{name: "mcs-label", arg: argRequired},
	{name: "mem-bind", arg: argRequired},
	{name: "mem-per-cpu", arg: argRequired},
	{name: "mem-per-gpu", arg: argRequired},
	{name: "mincpus", arg: argRequired},
	{name: "network", arg: argRequired},
	{name: "no-kill", short: 'k', arg: argOptional},
	{name: "nodefile", short: 'F', arg: argRequired},
	{name: "nodelist", short: 'w', arg: argRequired},
	{name: "ntasks-per-core", arg: argRequired},
	{name: "ntasks-per-gpu", arg: argRequired},
	{name: "ntasks-per-node", arg: argRequired},
	{name: "ntasks-per-socket", arg: argRequired},
	{name: "open-mode", arg: argRequired},
	{name: "overcommit", short: 'O', arg: argNone},
	{name: "oversubscribe", short: 's', arg: argNone},
	{name: "power", arg: argRequired},
	{name: "prefer", arg: argRequired},
	{name: "priority", arg: argRequired},
	{name: "profile", arg: argRequired},
	{name: "propagate", arg: argOptional},
	{name: "quiet", short: 'Q', arg: argNone},
	{name: "reboot", arg: argNone},
	{name: "reservation", arg: argRequired},
	{name: "sockets-per-node", arg: argRequired},
	{name: "spread-job", arg: argNone},
	{name: "switches", arg: argRequired},
	{name: "test-only", arg: argNone},
	{name: "thread-spec", arg: argRequired},
	{name: "threads-per-core", arg: argRequired},
	{name: "time-min", arg: argRequired},
	{name: "tmp", arg: argRequired},
	{name: "tres-per-task", arg: argRequired},
	{name: "uid", arg: argRequired},
	{name: "use-min-nodes", arg: argNone},
	{name: "verbose", short: 'v', arg: argNone},
	{name: "wckey", arg: argRequired},
}

// lookupLong finds an option by its long name or an alias.
func lookupLong(name string) (*option, bool) {
	for i := range options {
		o := &options[i]
		if o.name == name {
			return o, true
		}
		for _, a := range o.aliases {
			if a == name {
				return o, true
			}
		}
	}
	return nil, false
}

// lookupShort finds an option by its short letter.
func lookupShort(c rune) (*option, bool) {
	for i := range options {
		if options[i].short == c {
			return &options[i], true
		}
	}
	return nil, false
}

// lookup finds an option by long name, alias or short letter; leading dashes
// are allowed.
func lookup(name string) (*option, bool) {
	name = strings.TrimLeft(name, "-")
	if r, size := utf8.DecodeRuneInString(name); size > 0 && size == len(name) {
		return lookupShort(r)
	}
	return lookupLong(name)
}

// dashed spells an option name as a user types it: -t or --time.
func dashed(name string) string {
	name = strings.TrimLeft(name, "-")
	if utf8.RuneCountInString(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// Flag describes one option of the table for a command line built on it
// (gpuqctl submit), so that the command line and the directives know the
// same options.
type Flag struct {
	Name    string
	Aliases []string // other long names, then the short letter if any
	// Value: the option takes a value; OptionalValue: the value is optional
	// and must be attached (--nice or --nice=5).
	Value, OptionalValue bool
	// Supported is false for Slurm options gpuq accepts and ignores with a
	// warning.
	Supported bool
}

// Flags lists every option gpuq knows, in table order.
func Flags() []Flag {
	out := make([]Flag, len(options))
	for i, o := range options {
		f := Flag{
			Name:          o.name,
			Aliases:       append([]string(nil), o.aliases...),
			Value:         o.arg != argNone,
			OptionalValue: o.arg == argOptional,
			Supported:     o.set != nil,
		}
		if o.short != 0 {
			f.Aliases = append(f.Aliases, string(o.short))
		}
		out[i] = f
	}
	return out
}
