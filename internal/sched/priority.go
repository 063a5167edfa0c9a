package sched

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/gpuq/gpuq/internal/calendar"
)

// Factors are the parts of one job's priority, as `gpuqctl priority` (like
// sprio) shows them.
type Factors struct {
	// Each factor, in [0,1].
	FairShare float64
	TimeZone  float64
	Age       float64
	JobSize   float64
	QOS       float64
	// Weighted holds each factor times its weight.
	Weighted Weights
	Nice     int32
	// Priority is the sum of Weighted, rounded, minus Nice.
	Priority float64
}

// ShareRow is one line of `gpuqctl share` (like sshare): a team, or one
// user of a team.
type ShareRow struct {
	Team string
	User string // "" for the team's own row
	// Shares is the team's configured shares; each user of a team has one.
	Shares float64
	// NormShares is the part of the whole pool the shares stand for: a
	// team's shares over all teams' shares; a user's, the team's over its
	// number of users.
	NormShares float64
	// Usage is the decayed billed GPU-seconds as given; NormUsage its part
	// of every team's usage together.
	Usage     float64
	NormUsage float64
	// FairShare is 2^(-NormUsage/NormShares).
	FairShare float64
	// TimeZone is the team's time-zone factor now (team rows only).
	TimeZone float64
}

// team is what Decide works out once per team.
type team struct {
	name      string
	region    string
	cal       calendar.Calendar
	tz        float64 // calendar factor now
	inHours   bool    // tz == 1
	fs        float64 // team fair share
	normShare float64
	normUsage float64
	shares    float64
	usage     float64
	// users holds the user-level fair share of each user, when the team
	// has per-user usage; nil otherwise (every user gets fs).
	users map[string]float64
	rows  []ShareRow // user rows, by name
}

// fairShare is 2^(-u/s); no shares at all gives 0, no usage 1.
func fairShare(u, s float64) float64 {
	if !(s > 0) {
		return 0
	}
	if !(u > 0) {
		return 1
	}
	return math.Exp2(-u / s)
}

// buildTeams works out fair share and time-zone factors.
//
// Team level, as Slurm's classic fair share: S = shares / sum of all teams'
// shares, U = usage / sum of all teams' usage (0 when nothing was used), and
// F = 2^(-U/S).
//
// User level, Slurm's classic two-level with equal user shares: when a team
// gives per-user usage (Team.Users), each of its n users (those in Users and
// those with a job in the snapshot) has S_user = S/n and U_user = U times
// the user's part of the team's per-user usage (U/n each when those are all
// 0), and a job's fair-share factor is its user's 2^(-U_user/S_user). A team
// whose users share its usage evenly gives each of them F. A team without
// Users gives every job F.
func buildTeams(s *Snapshot) ([]team, map[string]int32) {
	idx := make(map[string]int32, len(s.Teams))
	var teams []team
	order := make([]int, 0, len(s.Teams))
	for i := range s.Teams {
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int { return compareStrings(s.Teams[a].Name, s.Teams[b].Name) })
	var sumShares, sumUsage float64
	var src []int // the Snapshot.Teams index of each team
	for _, i := range order {
		t := &s.Teams[i]
		if _, dup := idx[t.Name]; dup {
			continue
		}
		idx[t.Name] = int32(len(teams))
		src = append(src, i)
		tz := clamp01(t.Calendar.Factor(s.Now))
		tm := team{name: t.Name, region: t.PreferredRegion, cal: t.Calendar, tz: tz, inHours: tz == 1,
			shares: nonNeg(t.Shares), usage: nonNeg(t.Usage)}
		sumShares += tm.shares
		sumUsage += tm.usage
		teams = append(teams, tm)
	}
	for i := range teams {
		tm := &teams[i]
		if sumShares > 0 {
			tm.normShare = tm.shares / sumShares
		}
		if sumUsage > 0 && !math.IsInf(sumUsage, 0) {
			tm.normUsage = tm.usage / sumUsage
		}
		tm.fs = fairShare(tm.normUsage, tm.normShare)
	}

	// Users: those with usage, and those with a job here.
	users := make([]map[string]float64, len(teams))
	for ti, i := range src {
		t := &s.Teams[i]
		if len(t.Users) == 0 {
			continue
		}
		m := make(map[string]float64, len(t.Users))
		for u, v := range t.Users {
			m[u] = nonNeg(v)
		}
		users[ti] = m
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		if !j.holdsOrWants() {
			continue
		}
		if ti, ok := idx[j.Team]; ok && users[ti] != nil {
			if _, ok := users[ti][j.User]; !ok {
				users[ti][j.User] = 0
			}
		}
	}
	for ti, m := range users {
		if m == nil {
			continue
		}
		tm := &teams[ti]
		names := slices.Sorted(maps.Keys(m))
		var sum float64
		for _, u := range names {
			sum += m[u]
		}
		n := float64(len(names))
		tm.users = make(map[string]float64, len(names))
		for _, u := range names {
			part := 1 / n
			if sum > 0 && !math.IsInf(sum, 0) {
				part = m[u] / sum
			}
			su, uu := tm.normShare/n, tm.normUsage*part
			f := fairShare(uu, su)
			tm.users[u] = f
			tm.rows = append(tm.rows, ShareRow{Team: tm.name, User: u, Shares: 1, NormShares: su,
				Usage: m[u], NormUsage: uu, FairShare: f})
		}
	}
	return teams, idx
}

// shareRows lists the teams, each followed by its users.
func shareRows(teams []team) []ShareRow {
	var out []ShareRow
	for i := range teams {
		t := &teams[i]
		out = append(out, ShareRow{Team: t.name, Shares: t.shares, NormShares: t.normShare, Usage: t.usage,
			NormUsage: t.normUsage, FairShare: t.fs, TimeZone: t.tz})
		out = append(out, t.rows...)
	}
	return out
}

// factors computes a job's priority factors. ti is its team's index, -1
// for a team the snapshot does not know (fair share and time zone 0).
func (d *decider) factors(j *Job, ti int32) Factors {
	var f Factors
	if ti >= 0 {
		t := &d.teams[ti]
		f.TimeZone = jobTimeZone(t, j)
		f.FairShare = t.fs
		if t.users != nil {
			f.FairShare = t.users[j.User]
		}
	}
	if d.pol.MaxAge > 0 {
		f.Age = clamp01(float64(d.now.Sub(j.SubmitTime)) / float64(d.pol.MaxAge))
	}
	if d.largest > 0 {
		f.JobSize = clamp01(float64(j.GPUs) / float64(d.largest))
	}
	q := j.QOS
	if q == "" {
		q = "normal"
	}
	f.QOS = clamp01(d.pol.QOS[q])
	w := &d.pol.Weights
	f.Weighted = Weights{
		FairShare: w.FairShare * f.FairShare,
		TimeZone:  w.TimeZone * f.TimeZone,
		Age:       w.Age * f.Age,
		JobSize:   w.JobSize * f.JobSize,
		QOS:       w.QOS * f.QOS,
	}
	f.Nice = j.Nice
	f.Priority = math.Round(f.Weighted.sum()) - float64(j.Nice)
	return f
}

// jobTimeZone is j's time-zone factor: its team's calendar factor now,
// but no more than the factor when j was submitted. A job submitted inside
// the team's working hours gets the team's factor; one submitted outside
// them (and outside any ramp) gets 0, even while the team is at work, and
// competes with the other teams' work on fair share. A job without a
// submit time gets the team's factor.
func jobTimeZone(t *team, j *Job) float64 {
	if t.tz == 0 || j.SubmitTime.IsZero() {
		return t.tz
	}
	return min(t.tz, clamp01(t.cal.Factor(j.SubmitTime)))
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// durationSince is now - t in nanoseconds, 0 for a zero t.
func durationSince(now, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t)
}
