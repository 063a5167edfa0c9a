package accounting

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want []Column
	}{
		{"JobID", []Column{{FieldJobID, 12, false}}},
		{"jobid,JOBNAME%30,state%-12", []Column{{FieldJobID, 12, false}, {FieldJobName, 30, false}, {FieldState, 12, true}}},
		{" Team , User ", []Column{{FieldTeam, 10, false}, {FieldUser, 9, false}}},
		{"Account,Partition", []Column{{FieldTeam, 10, false}, {FieldPool, 10, false}}},
		{"Cost%1,GPUHours%1024", []Column{{FieldCost, 1, false}, {FieldGPUHours, 1024, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	cols, err := ParseFormat(DefaultFormat)
	if err != nil || len(cols) != 11 {
		t.Errorf("DefaultFormat: %v, %v", cols, err)
	}
}

func TestParseFormatErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `invalid format "": empty field name`},
		{"JobID,,State", `invalid format "JobID,,State": empty field name`},
		{"JobID,Bogus", `invalid format "JobID,Bogus": unknown field "Bogus" (see gpuqctl acct --help)`},
		{"JobID%0", `invalid format "JobID%0": width "%0" of JobID: want %N or %-N with N from 1 to 1024`},
		{"JobID%", `invalid format "JobID%": width "%" of JobID: want %N or %-N with N from 1 to 1024`},
		{"JobID%-", `invalid format "JobID%-": width "%-" of JobID: want %N or %-N with N from 1 to 1024`},
		{"JobID%1025", `invalid format "JobID%1025": width "%1025" of JobID: want %N or %-N with N from 1 to 1024`},
		{"JobID%+5", `invalid format "JobID%+5": width "%+5" of JobID: want %N or %-N with N from 1 to 1024`},
		{"JobID%5%5", `invalid format "JobID%5%5": width "%5%5" of JobID: want %N or %-N with N from 1 to 1024`},
		{"%5", `invalid format "%5": unknown field "" (see gpuqctl acct --help)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseFormat(tt.in)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.What != "format" || err.Error() != tt.want {
				t.Errorf("ParseFormat(%q) error = %v, want %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	la := zone(t, "America/Los_Angeles")
	r := rec(t, 44, "sf", "a100-us-west1", "a100", 4, "2026-11-01T07:30:00Z", "2026-11-02T11:45:30.9Z")
	r.Job.ArrayTaskId = proto.Uint32(3)
	r.Name, r.User, r.Region, r.Node, r.Run = "train", "alice", "us-west1", "gpu-a01", 2
	r.State, r.ExitCode, r.ExitSignal = gpuqv1.JobState_JOB_STATE_FAILED, 1, 9
	r.SubmitTime = timestamppb.New(utc(t, "2026-11-01T07:00:00Z"))
	r.BilledGpuSeconds = 3600 * 1.5
	r.Cost = "392.00"
	r.Usage = &gpuqv1.GPUUsage{UtilizationMean: 87.25, UtilizationMax: 100}
	want := map[Field]string{
		FieldJobID: "44_3", FieldJobName: "train", FieldRun: "2", FieldTeam: "sf", FieldUser: "alice",
		FieldPool: "a100-us-west1", FieldRegion: "us-west1", FieldNodeList: "gpu-a01", FieldState: "FAILED",
		FieldExitCode: "1:9", FieldElapsed: "1-04:15:30", FieldAllocGPUs: "4", FieldGPUType: "a100",
		FieldSubmit: "2026-11-01T00:00:00", FieldEligible: "Unknown",
		FieldStart:    "2026-11-01T00:30:00", // PDT
		FieldEnd:      "2026-11-02T03:45:30", // PST: 28 h 15 min later, 27 h 15 min on the clock
		FieldGPUHours: "113.03", FieldBilledGPUHours: "1.50", FieldCost: "392.00", FieldGPUUtil: "87.2", FieldGPUUtilMax: "100.0",
	}
	for f := Field(1); f < numFields; f++ {
		if got := f.Value(r, ValueOptions{Location: la}); got != want[f] {
			t.Errorf("%s = %q, want %q", f, got, want[f])
		}
	}
	if got := FieldStart.Value(r, ValueOptions{Location: la, Layout: time.RFC3339}); got != "2026-11-01T00:30:00-07:00" {
		t.Errorf("Start in RFC 3339 = %q", got)
	}
	never := rec(t, 45, "sf", "", "", 0, "", "2026-11-01T07:30:00Z")
	for f, want := range map[Field]string{FieldStart: "Unknown", FieldElapsed: "00:00:00", FieldGPUHours: "0.00", FieldNodeList: "None assigned", FieldGPUUtil: "N/A", FieldCost: ""} {
		if got := f.Value(never, ValueOptions{}); got != want {
			t.Errorf("never ran: %s = %q, want %q", f, got, want)
		}
	}
}

func TestFieldHelp(t *testing.T) {
	h := FieldHelp()
	for f := Field(1); f < numFields; f++ {
		if !strings.Contains(h, f.String()) {
			t.Errorf("FieldHelp does not list %s", f)
		}
	}
}
