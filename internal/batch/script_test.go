package batch

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gpuq/gpuq/internal/job"
)

func TestParseDirectives(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []Directive
		warns []Warning
	}{
		{
			name:  "long options, both forms",
			lines: []string{"#!/bin/bash", "#GPUQ --time=10", "#SBATCH --job-name train"},
			want: []Directive{
				{Line: 2, Prefix: "GPUQ", Name: "time", Value: "10", HasValue: true},
				{Line: 3, Prefix: "SBATCH", Name: "job-name", Value: "train", HasValue: true},
			},
		},
		{
			name:  "short options attached and apart",
			lines: []string{"#!/bin/sh", "#SBATCH -t10", "#SBATCH -J name", "#SBATCH -Aml"},
			want: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "time", Value: "10", HasValue: true},
				{Line: 3, Prefix: "SBATCH", Name: "job-name", Value: "name", HasValue: true},
				{Line: 4, Prefix: "SBATCH", Name: "team", Value: "ml", HasValue: true},
			},
		},
		{
			name:  "several options on a line and a trailing comment",
			lines: []string{"#!/bin/sh", "#SBATCH -N 1 --gres=gpu:2   -H # two GPUs, held"},
			want: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "nodes", Value: "1", HasValue: true},
				{Line: 2, Prefix: "SBATCH", Name: "gres", Value: "gpu:2", HasValue: true},
				{Line: 2, Prefix: "SBATCH", Name: "hold"},
			},
		},
		{
			name:  "clustered short flags then a value",
			lines: []string{"#!/bin/sh", "#SBATCH -HWt 5"},
			want: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "hold"},
				{Line: 2, Prefix: "SBATCH", Name: "wait"},
				{Line: 2, Prefix: "SBATCH", Name: "time", Value: "5", HasValue: true},
			},
		},
		{
			name:  "quotes, escapes and a # inside a word",
			lines: []string{"#!/bin/sh", `#GPUQ --comment "two words # not a comment" -J 'it''s' --output=logs/%x#%j.out`, `#GPUQ --comment=a\ b\"`},
			want: []Directive{
				{Line: 2, Prefix: "GPUQ", Name: "comment", Value: "two words # not a comment", HasValue: true},
				{Line: 2, Prefix: "GPUQ", Name: "job-name", Value: "its", HasValue: true},
				{Line: 2, Prefix: "GPUQ", Name: "output", Value: "logs/%x#%j.out", HasValue: true},
				{Line: 3, Prefix: "GPUQ", Name: "comment", Value: `a b"`, HasValue: true},
			},
		},
		{
			name:  "aliases become canonical names",
			lines: []string{"#!/bin/sh", "#SBATCH --account=nlp --gpus-per-node=a100:2 --pool=big"},
			want: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "team", Value: "nlp", HasValue: true},
				{Line: 2, Prefix: "SBATCH", Name: "gpus", Value: "a100:2", HasValue: true},
				{Line: 2, Prefix: "SBATCH", Name: "partition", Value: "big", HasValue: true},
			},
		},
		{
			name:  "optional values only with =",
			lines: []string{"#!/bin/sh", "#SBATCH --nice --exclusive", "#SBATCH --nice=-5"},
			want: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "nice"},
				{Line: 2, Prefix: "SBATCH", Name: "exclusive"},
				{Line: 3, Prefix: "SBATCH", Name: "nice", Value: "-5", HasValue: true},
			},
		},
		{
			name:  "a required value may start with a dash",
			lines: []string{"#!/bin/sh", "#SBATCH --comment -x"},
			want:  []Directive{{Line: 2, Prefix: "SBATCH", Name: "comment", Value: "-x", HasValue: true}},
		},
		{
			name:  "unknown options keep their spelling and take a value",
			lines: []string{"#!/bin/sh", "#SBATCH --frobnicate yes --quux -z 3 --gadget=1"},
			want: []Directive{
				{Line: 2, Prefix: "SBATCH", Name: "frobnicate", Value: "yes", HasValue: true},
				{Line: 2, Prefix: "SBATCH", Name: "quux"},
				{Line: 2, Prefix: "SBATCH", Name: "z", Value: "3", HasValue: true},
				{Line: 2, Prefix: "SBATCH", Name: "gadget", Value: "1", HasValue: true},
			},
		},
		{
			name:  "blank lines, comments and lookalikes are skipped",
			lines: []string{"#!/bin/bash -l", "", "   ", "# SBATCH --time=5", "#SBATCHX --time=5", "  #SBATCH --time=6", "#sbatch --time=7", "#SBATCH", "#SBATCH\t-t 8"},
			want:  []Directive{{Line: 9, Prefix: "SBATCH", Name: "time", Value: "8", HasValue: true}},
		},
		{
			name:  "directives stop at the first command",
			lines: []string{"#!/bin/sh", "#SBATCH -t 5", "echo hi", "#SBATCH -t 10", "#GPUQ --gpus=1", "# SBATCH not a directive"},
			want:  []Directive{{Line: 2, Prefix: "SBATCH", Name: "time", Value: "5", HasValue: true}},
			warns: []Warning{
				{Line: 4, Message: "#SBATCH after the first command is ignored"},
				{Line: 5, Message: "#GPUQ after the first command is ignored"},
			},
		},
		{
			name:  "-- ends the options",
			lines: []string{"#!/bin/sh", "#SBATCH -t 5 --"},
			want:  []Directive{{Line: 2, Prefix: "SBATCH", Name: "time", Value: "5", HasValue: true}},
		},
		{
			name:  "no directives at all",
			lines: []string{"#!/bin/sh", "python train.py"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, ws, err := ParseDirectives([]byte(strings.Join(tt.lines, "\n") + "\n"))
			if err != nil {
				t.Fatalf("ParseDirectives: %v", err)
			}
			if diff := cmp.Diff(tt.want, ds); diff != "" {
				t.Errorf("directives (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warns, ws); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDirectivesErrors(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		wantIs    error  // a sentinel, or
		wantField string // the Field of a *job.FieldError
	}{
		{name: "empty", script: "", wantIs: ErrEmptyScript},
		{name: "only whitespace", script: " \n\t\n", wantIs: ErrEmptyScript},
		{name: "too large", script: "#!/bin/sh\n" + strings.Repeat("#", MaxScriptSize), wantIs: ErrScriptTooLarge},
		{name: "no interpreter", script: "python train.py\n", wantIs: ErrNoInterpreter},
		{name: "directive first", script: "#SBATCH -t 5\n", wantIs: ErrNoInterpreter},
		{name: "DOS line breaks", script: "#!/bin/sh\n#SBATCH -t 5\r\necho\r\n", wantField: "line 2"},
		{name: "NUL byte", script: "#!/bin/sh\necho\n\x00\n", wantField: "line 3"},
		{name: "unterminated quote", script: "#!/bin/sh\n#SBATCH -J \"name\n", wantField: "line 2"},
		{name: "trailing backslash", script: "#!/bin/sh\n\n#SBATCH -J name\\\n", wantField: "line 3"},
		{name: "missing value", script: "#!/bin/sh\n#SBATCH --time\n", wantField: "line 2"},
		{name: "missing short value", script: "#!/bin/sh\n#SBATCH -t\n", wantField: "line 2"},
		{name: "stray word", script: "#!/bin/sh\n#SBATCH -t 5 10\n", wantField: "line 2"},
		{name: "words after --", script: "#!/bin/sh\n#SBATCH -- -t 5\n", wantField: "line 2"},
		{name: "empty option name", script: "#!/bin/sh\n#SBATCH --=5\n", wantField: "line 2"},
		{name: "three dashes", script: "#!/bin/sh\n#SBATCH ---time=5\n", wantField: "line 2"},
		{name: "dash among short options", script: "#!/bin/sh\n#SBATCH -H-\n", wantField: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseDirectives([]byte(tt.script))
			if err == nil {
				t.Fatal("ParseDirectives succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want %v", err, tt.wantIs)
			}
			var fe *job.FieldError
			if tt.wantField != "" && (!errors.As(err, &fe) || fe.Field != tt.wantField) {
				t.Errorf("error %#v, want a *job.FieldError for %q", err, tt.wantField)
			}
		})
	}
}

func TestParseDirectivesLimit(t *testing.T) {
	script := "#!/bin/sh\n" + strings.Repeat("#", MaxScriptSize-len("#!/bin/sh\n"))
	if _, _, err := ParseDirectives([]byte(script)); err != nil {
		t.Errorf("a script of exactly MaxScriptSize bytes: %v", err)
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     []Directive
		wantRest []string
		wantErr  bool
	}{
		{
			name:     "options then the script and its arguments",
			args:     []string{"-t", "10", "--gpus=a100:2", "-Hp", "big", "train.sh", "--lr", "0.1"},
			want:     []Directive{{Name: "time", Value: "10", HasValue: true}, {Name: "gpus", Value: "a100:2", HasValue: true}, {Name: "hold"}, {Name: "partition", Value: "big", HasValue: true}},
			wantRest: []string{"train.sh", "--lr", "0.1"},
		},
		{
			name:     "unknown options never take the script",
			args:     []string{"--frobnicate", "train.sh"},
			want:     []Directive{{Name: "frobnicate"}},
			wantRest: []string{"train.sh"},
		},
		{
			name:     "-- ends the options",
			args:     []string{"--wrap", "echo hi", "--", "-weird-name.sh"},
			want:     []Directive{{Name: "wrap", Value: "echo hi", HasValue: true}},
			wantRest: []string{"-weird-name.sh"},
		},
		{
			name:     "a dash alone is an argument",
			args:     []string{"-"},
			wantRest: []string{"-"},
		},
		{name: "missing value", args: []string{"-J"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, rest, err := ParseArgs(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseArgs error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, ds); diff != "" {
				t.Errorf("directives (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRest, rest); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	script := Wrap("python train.py --epochs 3")
	if diff := cmp.Diff("#!/bin/sh\npython train.py --epochs 3\n", string(script)); diff != "" {
		t.Errorf("Wrap (-want +got):\n%s", diff)
	}
	ds, ws, err := ParseDirectives(script)
	if err != nil || len(ds) != 0 || len(ws) != 0 {
		t.Errorf("ParseDirectives(Wrap(...)) = %v, %v, %v; want nothing", ds, ws, err)
	}
}

func TestWarningString(t *testing.T) {
	tests := []struct {
		w    Warning
		want string
	}{
		{Warning{Line: 7, Message: "#SBATCH --mail-user is not supported by gpuq; ignored"}, "line 7: #SBATCH --mail-user is not supported by gpuq; ignored"},
		{Warning{Message: "--mail-user is not supported by gpuq; ignored"}, "--mail-user is not supported by gpuq; ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.w.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
		})
	}
}

// renderDirective writes a directive of a known option back as a line that
// ParseDirectives reads as the same directive.
func renderDirective(d Directive) string {
	s := "#" + d.Prefix + " --" + d.Name
	if d.HasValue {
		s += `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(d.Value) + `"`
	}
	return s
}

func FuzzParseDirectives(f *testing.F) {
	seeds := []string{
		"#!/bin/sh\n#SBATCH -t 10 -J name\n#GPUQ --gpus=a100:2 # two\necho hi\n#SBATCH -t 5\n",
		"#!/bin/bash\n#SBATCH --comment \"a # b\" -HWt5 --nice --nice=-5\n",
		"#!/bin/sh\n#SBATCH --frobnicate yes -z 3 -- \n",
		"#!/bin/sh\n#SBATCH -J 'it''s' --output=a\\ b\n",
		"#!/bin/sh\n#SBATCH -J \"unterminated\n",
		"#!/bin/sh\r\n#SBATCH -t 5\r\n",
		"",
		"echo",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		ds, ws, err := ParseDirectives(script)
		if err != nil {
			var fe *job.FieldError
			if !errors.As(err, &fe) && !errors.Is(err, ErrEmptyScript) && !errors.Is(err, ErrNoInterpreter) && !errors.Is(err, ErrScriptTooLarge) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		lines := strings.Count(string(script), "\n") + 1
		last := 0
		for _, d := range ds {
			if d.Line < last || d.Line < 2 || d.Line > lines || (d.Prefix != PrefixGPUQ && d.Prefix != PrefixSBATCH) ||
				d.Name == "" || strings.HasPrefix(d.Name, "-") || (!d.HasValue && d.Value != "") {
				t.Fatalf("bad directive %+v in a script of %d lines", d, lines)
			}
			last = d.Line
		}
		for _, w := range ws {
			if w.Line <= last || w.Line > lines || w.Message == "" {
				t.Fatalf("bad warning %+v after directives up to line %d", w, last)
			}
		}
		// Directives of known options read back the same from a rendering.
		var known []Directive
		rendered := []string{"#!/bin/sh"}
		for _, d := range ds {
			if _, ok := lookupLong(d.Name); ok {
				known = append(known, d)
				rendered = append(rendered, renderDirective(d))
			}
		}
		again, _, err := ParseDirectives([]byte(strings.Join(rendered, "\n")))
		if err != nil {
			t.Fatalf("reparsing %q: %v", rendered, err)
		}
		ignoreLine := cmpopts.IgnoreFields(Directive{}, "Line")
		if diff := cmp.Diff(known, again, ignoreLine); diff != "" {
			t.Fatalf("reparsing %q (-first +second):\n%s", rendered, diff)
		}
	})
}
