package ctl

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeArgs(t *testing.T) {
	app := (&runner{cfg: defaultConfig()}).app()
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"help queue", "help queue"},
		{"frobnicate -x", "frobnicate -x"},
		{"-h", "--help"},
		{"--server=x queue", "--server=x queue"},
		{"--server x queue -h", "--server x queue --noheader"},
		{"queue --server x", "--server x queue"},
		{"queue -hr -tPD,R -u alice", "queue --noheader --array --state=PD,R --user alice"},
		{"queue -o %.18i%j --json", "queue --format %.18i%j --json"},
		{"queue -j 42 -j=43", "queue --job 42 --job=43"},
		{"squeue -h", "squeue --noheader"},
		{"queue -x", "queue -x"},
		{"cancel 42 44_[1-3] --me -t PD", "cancel --me --state PD 42 44_[1-3]"},
		{"cancel 42 -- -43", "cancel 42 -- -43"},
		{"hold 42 -v", "hold --verbose 42"},
		{"show job 42 --json", "show job --json 42"},
		{"show job -h", "show job --help"},
		{"submit -h", "submit --help"},
		{"submit -G4 -t 10 -HW --nice -c8 job.sh -t 5 --x", "submit --gpus=4 --time 10 --hold --wait --nice= --cpus-per-task=8 job.sh -t 5 --x"},
		{"submit --nice=5 --account sf -A=ml -J a b", "submit --nice=5 --team sf --team=ml --job-name a b"},
		{"submit --gpus-per-node 2 -p pool1 --pool=p2 job.sh", "submit --gpus 2 --partition pool1 --partition=p2 job.sh"},
		{"submit --wrap 'echo -h'", "submit --wrap 'echo -h'"},
		{"submit -H --wrap true", "submit --hold --wrap true"},
		{"submit -- -weird.sh", "submit -- -weird.sh"},
		{"submit --time", "submit --time"},
		{"submit -t", "submit --time"},
		{"submit -gpus 4 job.sh", "submit --gpus 4 job.sh"},
		{"submit -Hx job.sh", "submit --hold --exclude job.sh"}, // -x is sbatch's --exclude
		{"submit -Hy job.sh", "submit -Hy job.sh"},              // no -y: left for urfave to report
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			in := append([]string{"gpuqctl"}, fields(tt.in)...)
			want := append([]string{"gpuqctl"}, fields(tt.want)...)
			if diff := cmp.Diff(want, normalizeArgs(app, in)); diff != "" {
				t.Errorf("normalizeArgs(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// fields splits on blanks, keeping '...' together (without the quotes).
func fields(s string) []string {
	var out []string
	for i, part := range strings.Split(s, "'") {
		if i%2 == 1 {
			out = append(out, part)
			continue
		}
		out = append(out, strings.Fields(part)...)
	}
	return out
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b,,c ", []string{"a", "b", "c"}},
		{"42,44_[1,3-5],45", []string{"42", "44_[1,3-5]", "45"}},
		{"x]],y", []string{"x]]", "y"}},
		{"[a,b", []string{"[a,b"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, splitList(tt.in)); diff != "" {
			t.Errorf("splitList(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
