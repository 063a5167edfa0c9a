package config

import (
	"errors"
	"math"
	"strings"
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
		{"scheduling.preemption.qos[0]", `unknown QOS "urgent" (want high, low or normal)`},
		{"scheduling.preemption.preemptor_qos[1]", `unknown QOS "vip" (want high, low or normal)`},
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

	// Zero weights, no age factor, no backfill and no preemption at all
	// are valid; one QOS, normal, is required.
	c = valid()
	c.Scheduling = Scheduling{QOS: QOSLevels{"normal": 0}}
	if err := c.Validate(); err != nil {
		t.Errorf("a zero scheduling section: %v", err)
	}

	c = valid()
	c.Scheduling.QOS = QOSLevels{"urgent": 1.5, "bad name": 0.5}
	c.Scheduling.MaxAge = Duration(-time.Hour)
	c.Scheduling.Backfill.ReserveTop = 101
	want = []Problem{
		{"scheduling.qos", `no QOS "normal": it is the QOS of jobs that name none`},
		{"scheduling.qos.bad name", "invalid QOS name: want letters, digits, '_' or '-', at most 32"},
		{"scheduling.qos.urgent", "the QOS factor must be in [0,1], got 1.5"},
		{"scheduling.max_age", "must not be negative, got -1h (0: no age factor)"},
		{"scheduling.backfill.reserve_top", "must be 0 to 100, got 101"},
	}
	if err := c.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	c = valid()
	c.Scheduling.QOS = nil
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `scheduling.qos: at least the QOS "normal" is required`) {
		t.Errorf("no QOS: %v", err)
	}
}

// A config's qos: replaces the default levels; the rest of the section
// keeps its defaults.
func TestSchedulingQOSReplacesDefaults(t *testing.T) {
	c, err := Parse([]byte(`scheduling:
  qos: {normal: 0.2, urgent: 1}
  max_age: 2d
  backfill: {enabled: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (QOSLevels{"normal": 0.2, "urgent": 1}); !cmp.Equal(c.Scheduling.QOS, want) {
		t.Errorf("qos = %v, want %v", c.Scheduling.QOS, want)
	}
	if c.Scheduling.MaxAge != Duration(48*time.Hour) || c.Scheduling.Backfill != (Backfill{Enabled: false, ReserveTop: 1}) {
		t.Errorf("max_age %v, backfill %+v", c.Scheduling.MaxAge, c.Scheduling.Backfill)
	}
	if got := c.Scheduling.QOSNames(); !cmp.Equal(got, []string{"normal", "urgent"}) {
		t.Errorf("QOSNames = %v", got)
	}
}
