package batch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestSet(t *testing.T) {
	tests := []struct {
		name, value string
		from        Options // the options before Set
		want        Options
		wantWarn    bool
		wantErr     bool
	}{
		{name: "gpus", value: "a100:2", want: Options{GPUType: "a100", GPUs: 2}},
		{name: "G", value: "4", want: Options{GPUs: 4}},
		{name: "--gpus", value: "4", want: Options{GPUs: 4}},
		{name: "gpus-per-node", value: "h100:8", want: Options{GPUType: "h100", GPUs: 8}},
		{name: "gpus", value: "2", from: Options{GPUType: "a100", GPUs: 4}, want: Options{GPUs: 2}},
		{name: "gpus", value: "a100:0", wantErr: true},
		{name: "gres", value: "gpu:v100:4", want: Options{GPUType: "v100", GPUs: 4}},
		{name: "gres", value: "gpu:2,nvme:1", want: Options{GPUs: 2}, wantWarn: true},
		{name: "gres", value: "nvme:1", wantWarn: true},
		{name: "gres", value: "none", from: Options{GPUs: 2}, want: Options{}},
		{name: "gres", value: "gpu:1,gpu:2", wantErr: true},
		{name: "gres", value: "gpu:0", wantErr: true},
		{name: "time", value: "30", want: Options{TimeLimit: 30 * time.Minute}},
		{name: "t", value: "1-0", want: Options{TimeLimit: 24 * time.Hour}},
		{name: "time", value: "UNLIMITED", from: Options{TimeLimit: time.Hour}, want: Options{}, wantWarn: true},
		{name: "time", value: "2:xx:00", wantErr: true},
		{name: "time", value: "", wantErr: true},
		{name: "team", value: "vision", want: Options{Team: "vision"}},
		{name: "account", value: "vision", want: Options{Team: "vision"}},
		{name: "A", value: "vision", want: Options{Team: "vision"}},
		{name: "job-name", value: "train", want: Options{Name: "train"}},
		{name: "job-name", value: "caf\xe9", wantErr: true},
		{name: "J", value: "train", want: Options{Name: "train"}},
		{name: "output", value: "%x-%j.out", want: Options{Output: "%x-%j.out"}},
		{name: "o", value: "out", want: Options{Output: "out"}},
		{name: "error", value: "err", want: Options{Error: "err"}},
		{name: "e", value: "err", want: Options{Error: "err"}},
		{name: "chdir", value: "/data", want: Options{Chdir: "/data"}},
		{name: "D", value: "/data", want: Options{Chdir: "/data"}},
		{name: "image", value: "localhost/pytorch:2", want: Options{Image: "localhost/pytorch:2"}},
		{name: "comment", value: "ablation 3", want: Options{Comment: "ablation 3"}},
		{name: "qos", value: "high", want: Options{QOS: "high"}},
		{name: "q", value: "high", want: Options{QOS: "high"}},
		{name: "export", value: "ALL,A=1", want: Options{Export: "ALL,A=1"}},
		{name: "export", value: "NONE", want: Options{Export: "NONE"}},
		{name: "export", value: "1A", wantErr: true},
		{name: "export", value: "ALL,", wantErr: true},
		{name: "signal", value: "USR1@300", want: Options{Signal: sig("USR1", 300*time.Second)}},
		{name: "signal", value: "B:USR1@300", want: Options{Signal: sig("USR1", 300*time.Second)}, wantWarn: true},
		{name: "signal", value: "FOO", wantErr: true},
		{name: "requeue", from: Options{NoRequeue: true}, want: Options{}},
		{name: "no-requeue", want: Options{NoRequeue: true}},
		{name: "no-requeue", value: "false", from: Options{NoRequeue: true}, want: Options{}},
		{name: "hold", want: Options{Hold: true}},
		{name: "H", want: Options{Hold: true}},
		{name: "hold", value: "false", from: Options{Hold: true}, want: Options{}},
		{name: "hold", value: "yes", wantErr: true},
		{name: "array", value: "0-3%2", want: Options{Array: &gpuqv1.ArraySpec{Expr: "0-3%2", TaskIds: []uint32{0, 1, 2, 3}, MaxConcurrent: 2}}},
		{name: "a", value: "7", want: Options{Array: &gpuqv1.ArraySpec{Expr: "7", TaskIds: []uint32{7}}}},
		{name: "array", value: "5-1", wantErr: true},
		{name: "dependency", value: "afterok:1,singleton", want: Options{Dependencies: []*gpuqv1.Dependency{dep(afterOK, 1)}, Singleton: true}},
		{
			name: "d", value: "afterany:2",
			from: Options{Dependencies: []*gpuqv1.Dependency{dep(afterOK, 1)}, Singleton: true},
			want: Options{Dependencies: []*gpuqv1.Dependency{dep(afterAny, 2)}},
		},
		{name: "dependency", value: "afterok:1?afterok:2", wantErr: true},
		{name: "nice", want: Options{Nice: 100}},
		{name: "nice", value: "-5", want: Options{Nice: -5}},
		{name: "nice", value: "10000", want: Options{Nice: 10000}},
		{name: "nice", value: "-10000", want: Options{Nice: -10000}},
		{name: "nice", value: "10001", wantErr: true},
		{name: "nice", value: "-10001", wantErr: true},
		{name: "nice", value: "x", wantErr: true},
		{name: "begin", value: "now+1hour", want: Options{Begin: "now+1hour"}},
		{name: "b", value: "2026-12-01T16:00", want: Options{Begin: "2026-12-01T16:00"}},
		{name: "begin", value: "yesterday", wantErr: true},
		{name: "partition", value: "big", want: Options{Pool: "big"}},
		{name: "p", value: "big", want: Options{Pool: "big"}},
		{name: "pool", value: "big", want: Options{Pool: "big"}},
		{name: "partition", value: "a,b", want: Options{Pool: "a"}, wantWarn: true},
		{name: "partition", value: ",a", wantErr: true},
		{name: "cpus-per-task", value: "8", want: Options{CPUs: 8}},
		{name: "c", value: "8", want: Options{CPUs: 8}},
		{name: "c", value: "0", wantErr: true},
		{name: "c", value: "-1", wantErr: true},
		{name: "mem", value: "64G", want: Options{MemoryBytes: 64 << 30}},
		{name: "mem", value: "0", from: Options{MemoryBytes: 1}, want: Options{}, wantWarn: true},
		{name: "mem", value: "1.5G", wantErr: true},
		{name: "nodes", value: "1"},
		{name: "nodes", value: "1-4"},
		{name: "N", value: "2", wantWarn: true},
		{name: "nodes", value: "2-4", wantWarn: true},
		{name: "nodes", value: "0", wantErr: true},
		{name: "nodes", value: "4-2", wantErr: true},
		{name: "nodes", value: "1-", wantErr: true},
		{name: "ntasks", value: "1"},
		{name: "n", value: "4", wantWarn: true},
		{name: "ntasks", value: "0", wantErr: true},
		{name: "mail-user", value: "ada@example.org", wantWarn: true},
		{name: "C", value: "a100", wantWarn: true},
		{name: "exclusive", wantWarn: true},
		{name: "wrap", value: "echo hi", wantWarn: true},
		{name: "frobnicate", value: "yes", wantWarn: true},
		{name: "z", wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			o := tt.from
			warning, err := o.Set(tt.name, tt.value)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				var fe *job.FieldError
				if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "--") {
					t.Errorf("error %#v, want a *job.FieldError naming the option", err)
				}
				return
			}
			if (warning != "") != tt.wantWarn {
				t.Errorf("Set warning = %q, want one: %v", warning, tt.wantWarn)
			}
			if diff := cmp.Diff(tt.want, o, protocmp.Transform()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// The messages users read, as the brief spells them.
func TestSetMessages(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // the warning, or the error when the Set fails
	}{
		{"time", "2:xx:00", `--time: malformed time "2:xx:00" (want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)`},
		{"mail-user", "ada@example.org", "--mail-user is not supported by gpuq; ignored"},
		{"frobnicate", "yes", "unknown option --frobnicate; ignored"},
		{"z", "", "unknown option -z; ignored"},
		{"wrap", "echo hi", "--wrap works on the command line only; ignored"},
		{"N", "2", "--nodes: gpuq runs single-node jobs; using 1 node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			got, err := o.Set(tt.name, tt.value)
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Every Slurm option gpuq ignores warns, whatever its value, and changes nothing.
func TestSetIgnored(t *testing.T) {
	named := []string{"mail-type", "mail-user", "mem-per-cpu", "mem-per-gpu", "constraint", "C", "exclusive", "time-min",
		"open-mode", "ntasks-per-node", "gpus-per-task", "cpus-per-gpu", "licenses", "reservation", "exclude", "x",
		"nodelist", "w", "distribution", "m", "priority", "parsable", "wait", "W", "wrap"}
	for _, opt := range options {
		if opt.set == nil {
			named = append(named, opt.name)
		}
	}
	for _, name := range named {
		t.Run(name, func(t *testing.T) {
			opt, ok := lookup(name)
			if !ok || opt.set != nil {
				t.Fatalf("%s is not a known ignored option", name)
			}
			var o Options
			warning, err := o.Set(name, "value")
			if err != nil || warning == "" {
				t.Errorf("Set(%q) = %q, %v; want a warning", name, warning, err)
			}
			if diff := cmp.Diff(Options{}, o, protocmp.Transform()); diff != "" {
				t.Errorf("options changed (-want +got):\n%s", diff)
			}
		})
	}
}

// The option table has no name, alias or letter twice.
func TestOptionTable(t *testing.T) {
	seen := make(map[string]bool)
	for _, opt := range options {
		names := append([]string{opt.name}, opt.aliases...)
		if opt.short != 0 {
			names = append(names, string(opt.short))
		}
		for _, n := range names {
			if seen[n] {
				t.Errorf("%q appears twice", n)
			}
			seen[n] = true
		}
		if opt.set != nil && opt.ignored != "" {
			t.Errorf("--%s is both supported and ignored", opt.name)
		}
	}
}

func TestApplyDirectives(t *testing.T) {
	tests := []struct {
		name      string
		ds        []Directive
		want      Options
		wantWarns []string
	}{
		{
			name: "later lines of one kind win",
			ds: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "time", Value: "10", HasValue: true},
				{Line: 3, Prefix: "SBATCH", Name: "time", Value: "20", HasValue: true},
			},
			want: Options{TimeLimit: 20 * time.Minute},
		},
		{
			name: "#GPUQ overrides #SBATCH wherever it stands",
			ds: []Directive{
				{Line: 2, Prefix: "GPUQ", Name: "gpus", Value: "a100:2", HasValue: true},
				{Line: 3, Prefix: "SBATCH", Name: "gres", Value: "gpu:v100:4", HasValue: true},
				{Line: 4, Prefix: "SBATCH", Name: "time", Value: "10", HasValue: true},
			},
			want: Options{GPUType: "a100", GPUs: 2, TimeLimit: 10 * time.Minute},
		},
		{
			name: "warnings name the line and the prefix, in line order",
			ds: []Directive{
				{Line: 2, Prefix: "GPUQ", Name: "frobnicate"},
				{Line: 3, Prefix: "SBATCH", Name: "mail-user", Value: "ada@example.org", HasValue: true},
				{Line: 4, Prefix: "SBATCH", Name: "nodes", Value: "2", HasValue: true},
				{Line: 5, Prefix: "SBATCH", Name: "hold"},
			},
			want: Options{Hold: true},
			wantWarns: []string{
				"line 2: #GPUQ unknown option --frobnicate; ignored",
				"line 3: #SBATCH --mail-user is not supported by gpuq; ignored",
				"line 4: #SBATCH --nodes: gpuq runs single-node jobs; using 1 node",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			ws, err := o.ApplyDirectives(tt.ds)
			if err != nil {
				t.Fatalf("ApplyDirectives: %v", err)
			}
			if diff := cmp.Diff(tt.want, o, protocmp.Transform()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.wantWarns, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyDirectivesError(t *testing.T) {
	var o Options
	_, err := o.ApplyDirectives([]Directive{
		{Line: 2, Prefix: "SBATCH", Name: "job-name", Value: "x", HasValue: true},
		{Line: 7, Prefix: "SBATCH", Name: "time", Value: "2:xx:00", HasValue: true},
	})
	var fe *job.FieldError
	if !errors.As(err, &fe) || fe.Field != "line 7" {
		t.Fatalf("error %#v, want a *job.FieldError for line 7", err)
	}
	want := `line 7: --time: malformed time "2:xx:00" (want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

// Flags on the command line override the script's directives.
func TestCommandLineOverrides(t *testing.T) {
	script := []byte("#!/bin/sh\n#SBATCH -t 10 -J fromscript --gres=gpu:a100:2\npython train.py\n")
	ds, _, err := ParseDirectives(script)
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	if _, err := o.ApplyDirectives(ds); err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]string{{"time", "30"}, {"gpus", "4"}} {
		if _, err := o.Set(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	want := Options{Name: "fromscript", TimeLimit: 30 * time.Minute, GPUs: 4}
	if diff := cmp.Diff(want, o, protocmp.Transform()); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// testEnviron has a duplicate, entries without a name or '=', and one that is not UTF-8.
var testEnviron = []string{"HOME=/home/ada", "PATH=/usr/bin:/bin", "USER=ada", "NOVALUE", "=C:=C:\\", "USER=ada2", "LATIN1=caf\xe9"}

func TestSpec(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	now := time.Date(2026, 3, 10, 9, 30, 0, 0, cet)
	script := []byte("#!/bin/sh\necho hi\n")
	allEnv := map[string]string{"HOME": "/home/ada", "PATH": "/usr/bin:/bin", "USER": "ada2"}
	tests := []struct {
		name    string
		opts    Options
		want    *gpuqv1.JobSpec
		wantErr bool
	}{
		{
			name: "nothing set",
			want: &gpuqv1.JobSpec{Script: script, Environment: allEnv},
		},
		{
			name: "everything set",
			opts: Options{
				GPUType: "a100", GPUs: 2, TimeLimit: 90 * time.Minute, Team: "vision", Name: "train",
				Output: "o", Error: "e", Chdir: "/d", Export: "NONE", Image: "img", Comment: "c", Pool: "big", QOS: "high",
				Signal: sig("USR1", time.Minute), NoRequeue: true, Array: &gpuqv1.ArraySpec{Expr: "1", TaskIds: []uint32{1}},
				Dependencies: []*gpuqv1.Dependency{dep(afterOK, 4)}, Singleton: true, Hold: true, Nice: 5,
				Begin: "16:00", CPUs: 8, MemoryBytes: 1 << 30,
			},
			want: &gpuqv1.JobSpec{
				Name: "train", Team: "vision", Gpus: &gpuqv1.GPURequest{Type: "a100", Count: 2},
				TimeLimit: durationpb.New(90 * time.Minute), Script: script, Output: "o", Error: "e", Chdir: "/d",
				Image: "img", Signal: sig("USR1", time.Minute), NoRequeue: true,
				Array:        &gpuqv1.ArraySpec{Expr: "1", TaskIds: []uint32{1}},
				Dependencies: []*gpuqv1.Dependency{dep(afterOK, 4)}, Singleton: true, Hold: true, Nice: 5,
				Begin: timestamppb.New(time.Date(2026, 3, 10, 16, 0, 0, 0, cet)),
				Qos:   "high", Pool: "big", Cpus: 8, MemoryBytes: 1 << 30, Comment: "c",
			},
		},
		{
			name: "export ALL and more",
			opts: Options{Export: "ALL,A=1,HOME=/scratch,MISSING"},
			want: &gpuqv1.JobSpec{Script: script, Environment: map[string]string{"HOME": "/scratch", "PATH": "/usr/bin:/bin", "USER": "ada2", "A": "1"}},
		},
		{
			name: "export only some",
			opts: Options{Export: "A=1,PATH,MISSING,LATIN1"},
			want: &gpuqv1.JobSpec{Script: script, Environment: map[string]string{"PATH": "/usr/bin:/bin", "A": "1"}},
		},
		{
			name: "export NONE with some",
			opts: Options{Export: "none,USER"},
			want: &gpuqv1.JobSpec{Script: script, Environment: map[string]string{"USER": "ada2"}},
		},
		{
			name: "begin relative",
			opts: Options{Begin: "now+1hour", Export: "NONE"},
			want: &gpuqv1.JobSpec{Script: script, Begin: timestamppb.New(now.Add(time.Hour))},
		},
		{name: "bad export set by hand", opts: Options{Export: "1A"}, wantErr: true},
		{name: "bad begin set by hand", opts: Options{Begin: "yesterday"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.Spec(script, now, testEnviron)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Spec error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Spec (-want +got):\n%s", diff)
			}
		})
	}
}

// The spec shares no message with the options, so a caller may change either.
func TestSpecCopies(t *testing.T) {
	var o Options
	for _, f := range [][2]string{{"array", "1-3"}, {"signal", "USR1"}, {"dependency", "afterok:5"}} {
		if _, err := o.Set(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := o.Spec(nil, time.Unix(0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	spec.Array.TaskIds[0] = 99
	spec.Signal.Name = "TERM"
	spec.Dependencies[0].JobId = 99
	if o.Array.TaskIds[0] != 1 || o.Signal.Name != "USR1" || o.Dependencies[0].JobId != 5 {
		t.Errorf("changing the spec changed the options: %v %v %v", o.Array, o.Signal, o.Dependencies)
	}
}

func FuzzOptionsSet(f *testing.F) {
	for _, s := range [][2]string{{"time", "10"}, {"gpus", "a100:2"}, {"gres", "gpu:2,nvme:1"}, {"export", "ALL,A=1"},
		{"begin", "now+1hour"}, {"begin", "9999-12-31T23:59:59"}, {"nice", ""}, {"nodes", "1-4"}, {"mail-user", "x"},
		{"frobnicate", "x"}, {"t", "2:xx:00"}, {"array", "0-99%8"}, {"dependency", "afterok:1_2,singleton"}, {"signal", "B:USR1@300"}} {
		f.Add(s[0], s[1])
	}
	now := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, name, value string) {
		var o Options
		warning, err := o.Set(name, value)
		if err != nil {
			var fe *job.FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "--") || warning != "" {
				t.Fatalf("Set(%q, %q) = %q, %#v; want only a *job.FieldError naming the option", name, value, warning, err)
			}
			return
		}
		// What Set accepts makes a valid spec.
		spec, err := o.Spec([]byte("#!/bin/sh\n"), now, testEnviron)
		if err != nil {
			t.Fatalf("Set(%q, %q) accepted, but Spec: %v", name, value, err)
		}
		if _, err := protojson.Marshal(spec); err != nil {
			t.Fatalf("Set(%q, %q): spec does not marshal: %v", name, value, err)
		}
	})
}
