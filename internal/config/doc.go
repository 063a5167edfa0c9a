// Package config owns the queue daemon's (gpuqd) configuration: the Config
// struct and its YAML form, Default as the one source of default values (with
// DefaultTeam and DefaultPool for the items of the teams and pools lists),
// Load and Parse to read a file, Validate to report every problem with its
// field path, and Marshal for `gpuqd config print`.
//
// It validates a team's time zone, working hours, working days and holidays
// but does not compute working time: that is internal/calendar's job.
package config
