package batch

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Options accumulates submit options: first from directives, then from
// command-line flags, which override them. The zero value asks for nothing:
// no GPUs, the pool's default time limit, the whole environment.
type Options struct {
	GPUType string // --gpus, --gres: GPU type; empty means any type
	GPUs    uint32 // --gpus, --gres: number of GPUs; 0 means none

	TimeLimit time.Duration // --time; 0 means the pool's default

	Team    string // --team, --account
	Name    string // --job-name; empty lets the caller name the job
	Output  string // --output
	Error   string // --error
	Chdir   string // --chdir
	Export  string // --export as given; empty means ALL
	Image   string // --image
	Comment string // --comment
	Pool    string // --partition, --pool
	QOS     string // --qos

	Signal       *gpuqv1.WarningSignal // --signal
	NoRequeue    bool                  // --no-requeue, --requeue
	Array        *gpuqv1.ArraySpec     // --array
	Dependencies []*gpuqv1.Dependency  // --dependency
	Singleton    bool                  // --dependency=singleton
	Hold         bool                  // --hold
	Nice         int32                 // --nice
	Begin        string                // --begin as given; Spec resolves it

	CPUs        uint32 // --cpus-per-task; 0 means the node's default
	MemoryBytes uint64 // --mem; 0 means the node's default
}

// Nice bounds, as in Slurm.
const (
	minNice     = -10000
	maxNice     = 10000
	defaultNice = 100
)

// Set applies one option by canonical long name, alias or short letter
// (leading dashes allowed). A value error is a *job.FieldError whose Field is
// the option ("--time"). A Slurm option gpuq ignores, and an unknown option,
// return a warning and no error.
func (o *Options) Set(name, value string) (warning string, err error) {
	opt, known := lookup(name)
	switch {
	case !known:
		return fmt.Sprintf("unknown option %s; ignored", dashed(name)), nil
	case opt.set == nil:
		return fmt.Sprintf("--%s %s; ignored", opt.name, cmp.Or(opt.ignored, notSupported)), nil
	case opt.arg == argRequired && value == "":
		return "", &job.FieldError{Field: "--" + opt.name, Problem: "needs a value"}
	case !utf8.ValidString(value):
		return "", &job.FieldError{Field: "--" + opt.name, Problem: fmt.Sprintf("%q is not valid UTF-8", value)}
	}
	w, err := opt.set(o, value)
	if err != nil {
		return "", &job.FieldError{Field: "--" + opt.name, Problem: err.Error()}
	}
	if w != "" {
		w = "--" + opt.name + ": " + w
	}
	return w, nil
}

// ApplyDirectives calls Set for each directive. #GPUQ lines override #SBATCH
// lines, so that a script written for Slurm can carry gpuq's own values;
// among lines of one kind the later wins. An error is a *job.FieldError
// whose Field is the line ("line 7"); warnings name their line and come in
// line order.
func (o *Options) ApplyDirectives(ds []Directive) ([]Warning, error) {
	ordered := slices.Clone(ds)
	slices.SortStableFunc(ordered, func(a, b Directive) int {
		return cmp.Compare(prefixRank(a.Prefix), prefixRank(b.Prefix))
	})
	var ws []Warning
	for _, d := range ordered {
		w, err := o.Set(d.Name, d.Value)
		if err != nil {
			return nil, &job.FieldError{Field: lineField(d.Line), Problem: err.Error()}
		}
		if w != "" {
			ws = append(ws, Warning{Line: d.Line, Message: directiveWarning(d.Prefix, w)})
		}
	}
	slices.SortStableFunc(ws, func(a, b Warning) int { return cmp.Compare(a.Line, b.Line) })
	return ws, nil
}

// directiveWarning names the kind of line a warning comes from.
func directiveWarning(prefix, w string) string {
	if prefix == "" {
		return w
	}
	return "#" + prefix + " " + w
}

// prefixRank orders directives: #SBATCH first, #GPUQ after it.
func prefixRank(prefix string) int {
	if prefix == PrefixGPUQ {
		return 1
	}
	return 0
}

// Spec builds the JobSpec. script is stored in Script; now resolves --begin,
// and its location is the submitter's zone for wall-clock --begin values;
// environ is the submitter's environment as os.Environ returns it, which
// --export selects from; variables that are not valid UTF-8 cannot travel in
// a JobSpec and are left out. Name, user, arguments and script path are the
// caller's.
func (o *Options) Spec(script []byte, now time.Time, environ []string) (*gpuqv1.JobSpec, error) {
	env, err := exportEnvironment(o.Export, environ)
	if err != nil {
		return nil, &job.FieldError{Field: "--export", Problem: err.Error()}
	}
	spec := &gpuqv1.JobSpec{
		Name:        o.Name,
		Team:        o.Team,
		Script:      script,
		Output:      o.Output,
		Error:       o.Error,
		Chdir:       o.Chdir,
		Environment: env,
		Image:       o.Image,
		Signal:      proto.CloneOf(o.Signal),
		NoRequeue:   o.NoRequeue,
		Array:       proto.CloneOf(o.Array),
		Singleton:   o.Singleton,
		Hold:        o.Hold,
		Nice:        o.Nice,
		Qos:         o.QOS,
		Pool:        o.Pool,
		Cpus:        o.CPUs,
		MemoryBytes: o.MemoryBytes,
		Comment:     o.Comment,
	}
	for _, d := range o.Dependencies {
		spec.Dependencies = append(spec.Dependencies, proto.CloneOf(d))
	}
	if o.GPUs > 0 {
		spec.Gpus = &gpuqv1.GPURequest{Type: o.GPUType, Count: o.GPUs}
	}
	if o.TimeLimit > 0 {
		spec.TimeLimit = durationpb.New(o.TimeLimit)
	}
	if o.Begin != "" {
		t, err := ParseBegin(o.Begin, now, now.Location())
		if err != nil {
			return nil, &job.FieldError{Field: "--begin", Problem: err.Error()}
		}
		spec.Begin = timestamppb.New(t)
	}
	return spec, nil
}

// text is the setter of a plain string option.
func text(field func(*Options) *string) setter {
	return func(o *Options, v string) (string, error) {
		*field(o) = v
		return "", nil
	}
}

// boolean is the setter of an option without a value. The command line may
// still pass true or false.
func boolean(apply func(o *Options, on bool)) setter {
	return func(o *Options, v string) (string, error) {
		on := true
		if v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return "", fmt.Errorf("takes no value, got %q", v)
			}
			on = b
		}
		apply(o, on)
		return "", nil
	}
}

func (o *Options) setGPUs(v string) (string, error) {
	typ, n, err := ParseGPUs(v)
	if err != nil {
		return "", err
	}
	o.GPUType, o.GPUs = typ, n
	return "", nil
}

// setGres takes the gpu element of a comma-separated --gres list and warns
// about the others; "none" asks for no GPUs.
func (o *Options) setGres(v string) (string, error) {
	if v == "none" {
		o.GPUType, o.GPUs = "", 0
		return "", nil
	}
	var (
		ignored []string
		gpu     string
	)
	for elem := range strings.SplitSeq(v, ",") {
		name, _, _ := strings.Cut(elem, ":")
		switch {
		case name != "gpu":
			ignored = append(ignored, elem)
		case gpu != "":
			return "", fmt.Errorf("%q: more than one gpu request", v)
		default:
			gpu = elem
		}
	}
	if gpu != "" {
		if _, err := o.setGPUs(gpu); err != nil {
			return "", err
		}
	}
	if len(ignored) > 0 {
		return fmt.Sprintf("gpuq schedules only gpu resources; ignored %s", strings.Join(ignored, ",")), nil
	}
	return "", nil
}

func (o *Options) setTime(v string) (string, error) {
	d, err := ParseTimeLimit(v)
	if err != nil {
		return "", err
	}
	o.TimeLimit = d
	if d == 0 {
		return fmt.Sprintf("%s means the pool's default time limit", v), nil
	}
	return "", nil
}

func (o *Options) setExport(v string) (string, error) {
	if _, err := parseExport(v); err != nil {
		return "", err
	}
	o.Export = v
	return "", nil
}

func (o *Options) setSignal(v string) (string, error) {
	sig, w, err := ParseSignal(v)
	if err != nil {
		return "", err
	}
	o.Signal = sig
	return w, nil
}

func (o *Options) setArray(v string) (string, error) {
	a, err := ParseArray(v)
	if err != nil {
		return "", err
	}
	o.Array = a
	return "", nil
}

func (o *Options) setDependency(v string) (string, error) {
	deps, singleton, err := ParseDependency(v)
	if err != nil {
		return "", err
	}
	o.Dependencies, o.Singleton = deps, singleton
	return "", nil
}

// setNice takes an optional adjustment; without one it is 100 like Slurm.
func (o *Options) setNice(v string) (string, error) {
	if v == "" {
		o.Nice = defaultNice
		return "", nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < minNice || n > maxNice {
		return "", fmt.Errorf("%q: want a number from %d to %d", v, minNice, maxNice)
	}
	o.Nice = int32(n)
	return "", nil
}

// setBegin checks the value against a fixed time and leaves resolving it
// against the real one to Spec.
func (o *Options) setBegin(v string) (string, error) {
	check := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := ParseBegin(v, check, time.UTC); err != nil {
		return "", err
	}
	o.Begin = v
	return "", nil
}

// setPartition takes one pool; of Slurm's list of partitions it takes the first.
func (o *Options) setPartition(v string) (string, error) {
	first, _, more := strings.Cut(v, ",")
	if first == "" {
		return "", fmt.Errorf("%q: want a pool name", v)
	}
	o.Pool = first
	if more {
		return fmt.Sprintf("gpuq takes one pool; using %q", first), nil
	}
	return "", nil
}

func (o *Options) setCPUs(v string) (string, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return "", fmt.Errorf("%q: want a positive number", v)
	}
	o.CPUs = uint32(n)
	return "", nil
}

func (o *Options) setMemory(v string) (string, error) {
	n, err := ParseMemory(v)
	if err != nil {
		return "", err
	}
	o.MemoryBytes = n
	if n == 0 {
		return "0 means the node's default memory", nil
	}
	return "", nil
}

// setNodes accepts a count or a MIN[-MAX] range; gpuq runs every job on one node.
func setNodes(_ *Options, v string) (string, error) {
	lo, hi, isRange := strings.Cut(v, "-")
	if !isRange {
		hi = lo
	}
	minN, errLo := strconv.ParseUint(lo, 10, 32)
	maxN, errHi := strconv.ParseUint(hi, 10, 32)
	if errLo != nil || errHi != nil || minN == 0 || maxN < minN {
		return "", fmt.Errorf("%q: want a positive node count or MIN-MAX", v)
	}
	if minN > 1 {
		return "gpuq runs single-node jobs; using 1 node", nil
	}
	return "", nil
}

// setNTasks accepts a task count; gpuq runs the script once, as one task.
func setNTasks(_ *Options, v string) (string, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return "", fmt.Errorf("%q: want a positive number", v)
	}
	if n > 1 {
		return "gpuq runs one task per job; using 1 task", nil
	}
	return "", nil
}
