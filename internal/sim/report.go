package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Group is the figures of one team's jobs, split by working hours.
type Group struct {
	Jobs, Started, Pending int
	MedianWait, P95Wait    time.Duration
	GPUHours               float64
}

// TeamReport is one team's figures.
type TeamReport struct {
	Name      string
	In, Off   Group // submitted inside / outside the team's working hours
	GPUHours  float64
	Share     float64 // of all GPU-hours
	FairShare float64 // its shares over all shares
	// Demand is the GPU-hours of work the team submitted.
	Demand      float64
	Preemptions int // of its jobs
	LostHours   float64
}

// Report is the summary of a Result.
type Report struct {
	Start, End       time.Time
	Capacity         int
	Teams            []TeamReport
	Utilisation      float64 // GPU-hours held over capacity, whole span
	WaitingUtil      float64 // the same over the time some job was pending
	WaitingHours     float64 // how long some job was pending
	MinWaitingUtil   float64 // lowest utilisation of any hour in which work waited throughout
	Cycles, Rejected int
}

// Summarise works out the report of r.
func Summarise(r Result) Report {
	o := r.Options
	end := o.Start.Add(o.Duration)
	rep := Report{Start: o.Start, End: end, Capacity: r.Capacity, Cycles: r.Cycles, Rejected: r.Rejected}
	var sumShares, total float64
	for _, t := range o.Teams {
		sumShares += t.Shares
	}
	for _, t := range o.Teams {
		tr := TeamReport{Name: t.Name, FairShare: t.Shares / sumShares}
		var waits [2][]time.Duration
		for _, j := range r.Jobs {
			if j.Team != t.Name {
				continue
			}
			g := &tr.Off
			k := 1
			if j.InHours {
				g, k = &tr.In, 0
			}
			g.Jobs++
			w := end.Sub(j.Submit)
			if j.FirstStart.IsZero() {
				g.Pending++
			} else {
				g.Started++
				w = j.FirstStart.Sub(j.Submit)
			}
			waits[k] = append(waits[k], w)
			g.GPUHours += j.GPUSeconds / 3600
			tr.Demand += j.Runtime.Hours() * float64(j.GPUs)
			tr.Preemptions += j.Preempted
			tr.LostHours += j.LostSeconds / 3600
		}
		tr.In.MedianWait, tr.In.P95Wait = quantile(waits[0], 0.5), quantile(waits[0], 0.95)
		tr.Off.MedianWait, tr.Off.P95Wait = quantile(waits[1], 0.5), quantile(waits[1], 0.95)
		tr.GPUHours = tr.In.GPUHours + tr.Off.GPUHours
		total += tr.GPUHours
		rep.Teams = append(rep.Teams, tr)
	}
	for i := range rep.Teams {
		if total > 0 {
			rep.Teams[i].Share = rep.Teams[i].GPUHours / total
		}
	}
	var busy, waitBusy, waitSecs float64
	// Per hour: busy GPU-seconds and whether work waited all of it.
	nh := int(o.Duration / time.Hour)
	hourBusy := make([]float64, nh)
	hourWait := make([]float64, nh)
	for _, s := range r.Samples {
		d := s.To.Sub(s.From).Seconds()
		busy += float64(s.Busy) * d
		if s.Waiting > 0 {
			waitBusy += float64(s.Busy) * d
			waitSecs += d
		}
		// Split the sample over the hours it covers.
		for from := s.From; from.Before(s.To); {
			h := int(from.Sub(o.Start) / time.Hour)
			to := o.Start.Add(time.Duration(h+1) * time.Hour)
			if to.After(s.To) {
				to = s.To
			}
			if h < nh {
				hourBusy[h] += float64(s.Busy) * to.Sub(from).Seconds()
				if s.Waiting > 0 {
					hourWait[h] += to.Sub(from).Seconds()
				}
			}
			from = to
		}
	}
	c := float64(r.Capacity)
	rep.Utilisation = busy / (c * o.Duration.Seconds())
	if waitSecs > 0 {
		rep.WaitingUtil = waitBusy / (c * waitSecs)
	}
	rep.WaitingHours = waitSecs / 3600
	rep.MinWaitingUtil = math.NaN()
	for h := range nh {
		if hourWait[h] >= 3600 {
			u := hourBusy[h] / (c * 3600)
			if math.IsNaN(rep.MinWaitingUtil) || u < rep.MinWaitingUtil {
				rep.MinWaitingUtil = u
			}
		}
	}
	return rep
}

// quantile is the nearest-rank q-quantile of ds; 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Write prints the report.
func (rep Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gpuq scheduling simulation, %s to %s (%.0f h), %d GPUs\n",
		rep.Start.Format(time.RFC3339), rep.End.Format(time.RFC3339), rep.End.Sub(rep.Start).Hours(), rep.Capacity)
	fmt.Fprintf(&b, "wait: submit to first start; a job still pending at the end counts the time it waited so far\n\n")
	fmt.Fprintf(&b, "%-8s %-6s %6s %7s %7s %9s %9s %10s\n", "team", "hours", "jobs", "started", "pending", "wait p50", "wait p95", "GPU-hours")
	for _, t := range rep.Teams {
		for _, g := range []struct {
			name string
			g    Group
		}{{"in", t.In}, {"off", t.Off}} {
			fmt.Fprintf(&b, "%-8s %-6s %6d %7d %7d %9s %9s %10.1f\n", t.Name, g.name, g.g.Jobs, g.g.Started, g.g.Pending,
				fmtDur(g.g.MedianWait), fmtDur(g.g.P95Wait), g.g.GPUHours)
		}
	}
	fmt.Fprintf(&b, "\n%-8s %10s %10s %8s %8s %9s %12s %10s\n", "team", "demand", "GPU-hours", "share", "target", "off by", "preemptions", "lost GPU-h")
	for _, t := range rep.Teams {
		fmt.Fprintf(&b, "%-8s %10.1f %10.1f %7.1f%% %7.1f%% %+8.1f%% %12d %10.1f\n", t.Name, t.Demand, t.GPUHours,
			100*t.Share, 100*t.FairShare, 100*(t.Share-t.FairShare)/t.FairShare, t.Preemptions, t.LostHours)
	}
	fmt.Fprintf(&b, "\npool utilisation: %.1f%% overall; %.1f%% over the %.1f h in which work waited (lowest such hour %.1f%%)\n",
		100*rep.Utilisation, 100*rep.WaitingUtil, rep.WaitingHours, 100*rep.MinWaitingUtil)
	fmt.Fprintf(&b, "scheduling cycles: %d; plan items rejected by the simulation: %d\n", rep.Cycles, rep.Rejected)
	_, err := io.WriteString(w, b.String())
	return err
}
