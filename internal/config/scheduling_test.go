package config

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseScheduling(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(s *Scheduling)
	}{
		{"absent", "", func(*Scheduling) {}},
		{"null", "scheduling: ~\n", func(*Scheduling) {}},
		{"null keys keep their defaults", "scheduling:\n  weights: ~\n  preemption:\n    min_runtime:\n", func(*Scheduling) {}},
		{"keys set merge over the defaults", `
scheduling:
  weights: {time_zone: 0, fair_share: 25000.5}
  preemption: {enabled: false, max_per_day: 0}
`, func(s *Scheduling) {
			s.Weights.TimeZone, s.Weights.FairShare = 0, 25000.5
			s.Preemption.Enabled, s.Preemption.MaxPerDay = false, 0
		}},
		{"every key", `
scheduling:
  weights: {fair_share: 1, time_zone: 2, age: 3, job_size: 4, qos: 5}
  preemption: {enabled: true, min_runtime: 1h, max_per_day: 7}
`, func(s *Scheduling) {
			s.Weights = Weights{FairShare: 1, TimeZone: 2, Age: 3, JobSize: 4, QOS: 5}
			s.Preemption = Preemption{Enabled: true, MinRuntime: Duration(time.Hour), MaxPerDay: 7, OffHours: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tt.want(&want.Scheduling)
			if diff := cmp.Diff(want, got, ignoreLoc); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSchedulingUnknownKey(t *testing.T) {
	if _, err := Parse([]byte("scheduling:\n  weights:\n    nice: 1\n")); err == nil {
		t.Error("Parse accepted scheduling.weights.nice, which does not exist")
	}
}

func TestValidateScheduling(t *testing.T) {
	c := valid()
	c.Scheduling.Weights = Weights{FairShare: -1, TimeZone: math.NaN(), Age: math.Inf(1), JobSize: 0, QOS: 0}
	c.Scheduling.Preemption = Preemption{MinRuntime: Duration(-time.Minute), MaxPerDay: -1,
		Teams: []string{"paris"}, QOS: []string{"urgent"}, PreemptorQOS: []string{"high", "vip"}}
	c.Defaults.GracePeriod = 0 // reported before the scheduling section, as in the file
	want := []Problem{
		{"defaults.grace_period", "must be positive, got 0s"},
		{"scheduling.preemption.teams[0]", `unknown team "paris"`},
		{"scheduling.preemption.qos[0]", `unknown QOS "urgent" (want low, normal or high)`},
		{"scheduling.preemption.preemptor_qos[1]", `unknown QOS "vip" (want low, normal or high)`},
		{"scheduling.weights.fair_share", "must be a finite number >= 0, got -1"},
		{"scheduling.weights.time_zone", "must be a finite number >= 0, got NaN"},
		{"scheduling.weights.age", "must be a finite number >= 0, got +Inf"},
		{"scheduling.preemption.min_runtime", "must not be negative, got -1m"},
		{"scheduling.preemption.max_per_day", "must not be negative, got -1 (0: no cap)"},
	}
	var ve *ValidationError
	if err := c.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	// Zero weights and no preemption at all are valid.
	c = valid()
	c.Scheduling = Scheduling{}
	if err := c.Validate(); err != nil {
		t.Errorf("a zero scheduling section: %v", err)
	}
}
