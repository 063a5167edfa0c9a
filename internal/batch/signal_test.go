package batch

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func sig(name string, before time.Duration) *gpuqv1.WarningSignal {
	return &gpuqv1.WarningSignal{Name: name, Before: durationpb.New(before)}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in       string
		want     *gpuqv1.WarningSignal
		wantWarn bool
		wantErr  bool
	}{
		{in: "USR1@300", want: sig("USR1", 300*time.Second)},
		{in: "SIGUSR1@300", want: sig("USR1", 300*time.Second)},
		{in: "10@60", want: sig("USR1", 60*time.Second)},
		{in: "TERM", want: sig("TERM", 60*time.Second)},
		{in: "sigterm@0", want: sig("TERM", 0)},
		{in: "15@65535", want: sig("TERM", 65535*time.Second)},
		{in: "B:USR1@300", want: sig("USR1", 300*time.Second), wantWarn: true},
		{in: "R:USR2", want: sig("USR2", 60*time.Second), wantWarn: true},
		{in: "", wantErr: true},
		{in: "FOO", wantErr: true},
		{in: "SIG", wantErr: true},
		{in: "0", wantErr: true},
		{in: "32", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "USR1@", wantErr: true},
		{in: "USR1@-1", wantErr: true},
		{in: "USR1@65536", wantErr: true},
		{in: "USR1@1.5", wantErr: true},
		{in: "X:USR1", wantErr: true},
		{in: "B:", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, warning, err := ParseSignal(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSignal(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if (warning != "") != tt.wantWarn {
				t.Errorf("ParseSignal(%q) warning = %q, want one: %v", tt.in, warning, tt.wantWarn)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("ParseSignal(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"USR1@300", "SIGUSR1@300", "10@60", "B:USR1@300", "R:USR2", "USR1@65536", "X:USR1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, _, err := ParseSignal(s)
		if err != nil {
			return
		}
		before := got.GetBefore().AsDuration()
		if before < 0 || before > maxSignalBefore {
			t.Fatalf("ParseSignal(%q): before %v out of range", s, before)
		}
		form := fmt.Sprintf("%s@%d", got.GetName(), before/time.Second)
		again, warning, err := ParseSignal(form)
		if err != nil || warning != "" {
			t.Fatalf("ParseSignal(%q) = %v; reparsing %q gave %v, %q", s, got, form, err, warning)
		}
		if diff := cmp.Diff(got, again, protocmp.Transform()); diff != "" {
			t.Fatalf("ParseSignal(%q): reparsing %q (-first +second):\n%s", s, form, diff)
		}
	})
}
