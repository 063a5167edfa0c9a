package calendar

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gpuq/gpuq/internal/config"
)

var compareZones = cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })

func TestFromConfig(t *testing.T) {
	team := func(edit func(*config.Team)) *config.Team {
		tm := config.DefaultTeam()
		tm.Name, tm.Timezone = "berlin", "Europe/Berlin"
		edit(&tm)
		return &tm
	}
	berlin := zone(t, "Europe/Berlin")
	tests := []struct {
		name   string
		team   *config.Team
		ramp   time.Duration
		want   Spec
		fields []string
	}{
		{"defaults", team(func(*config.Team) {}), 0,
			Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri}, nil},
		{"night shift with holidays and ramp", team(func(tm *config.Team) {
			tm.Timezone = "America/Los_Angeles"
			tm.WorkingHours = config.WorkingHours{Start: "22:00", End: "06:30"}
			tm.WorkingDays = []string{"sun", "sat"}
			tm.Holidays = []string{"2026-12-25", "2026-01-01"}
		}), 90 * time.Minute,
			Spec{Zone: zone(t, "America/Los_Angeles"), Start: hm(22, 0), End: hm(6, 30), Days: days(time.Sunday, time.Saturday),
				Holidays: map[Date]bool{{2026, 12, 25}: true, {2026, 1, 1}: true}, Ramp: 90 * time.Minute}, nil},
		{"validated team", func() *config.Team {
			c := config.Default()
			c.Teams = []config.Team{*team(func(*config.Team) {})}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			return &c.Teams[0]
		}(), 0, Spec{Zone: berlin, Start: hm(9, 0), End: hm(18, 0), Days: monFri}, nil},
		{"bad zone", team(func(tm *config.Team) { tm.Timezone = "Europe/Berln" }), 0, Spec{}, []string{"timezone"}},
		{"no zone", team(func(tm *config.Team) { tm.Timezone = "" }), 0, Spec{}, []string{"timezone"}},
		{"host zone", team(func(tm *config.Team) { tm.Timezone = "Local" }), 0, Spec{}, []string{"timezone"}},
		{"everything else wrong", team(func(tm *config.Team) {
			tm.WorkingHours = config.WorkingHours{Start: "9:00", End: "24:00"}
			tm.WorkingDays = []string{"mon", "Tue", "mon"}
			tm.Holidays = []string{"2026-02-30", "2026-04-06", "2026-04-06"}
		}), -time.Minute, Spec{}, []string{
			"working_hours.start", "working_hours.end", "working_days[1]", "working_days[2]",
			"holidays[0]", "holidays[2]", "ramp"}},
		{"empty day", team(func(tm *config.Team) {
			tm.WorkingHours = config.WorkingHours{Start: "09:00", End: "09:00"}
			tm.WorkingDays = nil
		}), 13 * time.Hour, Spec{}, []string{"working_hours.end", "working_days", "ramp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromConfig(tt.team, tt.ramp)
			if diff := cmp.Diff(tt.fields, fields(err)); diff != "" {
				t.Fatalf("error fields (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, c.Spec(), compareZones); diff != "" {
				t.Errorf("Spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExampleTeams builds the calendars of the example config's teams.
func TestExampleTeams(t *testing.T) {
	c, err := config.Load("../../examples/gpuqd.yaml")
	if err != nil {
		t.Skipf("no example config: %v", err)
	}
	for i := range c.Teams {
		if _, err := FromConfig(&c.Teams[i], time.Hour); err != nil {
			t.Errorf("team %s: %v", c.Teams[i].Name, err)
		}
	}
}
