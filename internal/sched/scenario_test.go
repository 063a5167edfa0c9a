package sched

// Scenario files (testdata/scenarios/*.txt) describe one snapshot, line by
// line; each golden file (testdata/golden/*.txt) is the plan Decide makes
// for it, written out for people to read. `go test ./internal/sched
// -update` rewrites the golden files; read the diff before committing it.
//
// A scenario is made of these lines (words are key=value; times are
// RFC 3339 or relative to now, as -1h30m or +2h; "#" starts a comment, and
// the comments before the first line of any other kind describe the
// scenario and are copied to its golden file):
//
//	now 2026-03-04T17:30:00Z
//	policy reserve=2 backfill=off preempt=off min-runtime=10m grace=5m
//	       max-per-day=3 off-hours=off preemptible-teams=a,b preemptible-qos=low
//	       preemptor-qos=high time-limit=1h pool-time-limit=POOL:2h,...
//	team NAME zone=Europe/Berlin hours=09:00-18:00 days=mon-fri (or mon,wed)
//	     holidays=2026-03-10,... ramp=30m shares=1 usage=3600
//	     users=alice:100,bob:0 region=europe-west3
//	node NAME pool=P type=a100 region=R gpus=8
//	job REF team=T user=U gpus=1 type=a100 pool=P submit=-1h limit=2h qos=high
//	    nice=10 held begin=+1h after-ok=3 after-any=3 singleton name=N
//	    array-max=2 state=pending|running|completing|completed|failed
//	    node=N start=-2h preemptions=1 restarts=2 no-requeue stopping-for=REF
//	check start REF [NODE]     REF starts (on NODE)
//	check no-start REF         REF does not start
//	check reason REF REASON    REF stays pending with REASON
//	check preempt REF for REF  the first is preempted for the second
//	check no-preempt           nothing is preempted
//	check spared REF           running REF is not preempted
//	check reserve REF NODE     REF has a reservation on NODE
//	check above REF REF        the first has the higher priority
//
// A team without zone= never is in its working hours. A node's GPUs are
// named NODE-g0, NODE-g1, ...; a running job on it takes the first that
// are left, and those no job holds are free. A job's user defaults to
// "u-TEAM", its GPUs to 1, its submit time to 1 hour before now.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from testdata/scenarios")

type scenario struct {
	about  []string
	snap   Snapshot
	checks [][]string
	lines  []int // of the checks
}

func parseScenario(text string) (*scenario, error) {
	sc := &scenario{snap: Snapshot{Explain: true}}
	var pol *Policy
	type nodeGPUs struct {
		ids  []string
		used []bool
	}
	gpus := map[string]*nodeGPUs{}
	inHeader := true
	var relative []func() // times relative to now, resolved at the end
	lineNo := 0
	sc.snap.Now = time.Time{}
	var lines []string
	// Join continuation lines (starting with white space).
	for l := range strings.Lines(text) {
		l = strings.TrimRight(l, "\n")
		if len(lines) > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && strings.TrimSpace(l) != "" &&
			!strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			lines = append(lines, "")
			continue
		}
		lines = append(lines, l)
	}
	var at func(string) (func() time.Time, error)
	at = func(v string) (func() time.Time, error) {
		if strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, err
			}
			return func() time.Time { return sc.snap.Now.Add(d) }, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, err
		}
		return func() time.Time { return t }, nil
	}
	for _, raw := range lines {
		lineNo++
		line := raw
		if i := strings.Index(line, "#"); i >= 0 {
			if inHeader && strings.TrimSpace(line[:i]) == "" {
				sc.about = append(sc.about, strings.TrimSpace(line[i+1:]))
			}
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		inHeader = false
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d: %s: %s", lineNo, f[0], fmt.Sprintf(format, args...))
		}
		kv := map[string]string{}
		var flags []string
		words := f[1:]
		if f[0] == "job" || f[0] == "team" || f[0] == "node" {
			words = f[2:] // f[1] names it
		}
		for _, w := range words {
			if k, v, ok := strings.Cut(w, "="); ok {
				kv[k] = v
			} else {
				flags = append(flags, w)
			}
		}
		switch f[0] {
		case "now":
			t, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				return nil, bad("%v", err)
			}
			sc.snap.Now = t.UTC()
		case "policy":
			p := DefaultPolicy()
			pol = &p
			for k, v := range kv {
				var err error
				switch k {
				case "reserve":
					p.ReserveTop, err = strconv.Atoi(v)
				case "backfill":
					p.Backfill = v == "on"
				case "preempt":
					p.Preemption.Enabled = v == "on"
				case "off-hours":
					p.Preemption.OffHours = v == "on"
				case "min-runtime":
					p.Preemption.MinRuntime, err = time.ParseDuration(v)
				case "grace":
					p.Preemption.Grace, err = time.ParseDuration(v)
				case "max-per-day":
					p.Preemption.MaxPerDay, err = strconv.Atoi(v)
				case "preemptible-teams":
					p.Preemption.Teams = strings.Split(v, ",")
				case "preemptible-qos":
					p.Preemption.QOS = strings.Split(v, ",")
				case "preemptor-qos":
					p.Preemption.PreemptorQOS = strings.Split(v, ",")
				case "time-limit":
					p.DefaultTimeLimit, err = time.ParseDuration(v)
				case "pool-time-limit":
					p.PoolTimeLimit = map[string]time.Duration{}
					for pair := range strings.SplitSeq(v, ",") {
						pool, d, _ := strings.Cut(pair, ":")
						p.PoolTimeLimit[pool], err = time.ParseDuration(d)
						if err != nil {
							break
						}
					}
				default:
					err = fmt.Errorf("unknown key %q", k)
				}
				if err != nil {
					return nil, bad("%s: %v", k, err)
				}
			}
		case "team":
			t := Team{Name: f[1], Shares: 1, PreferredRegion: kv["region"]}
			var err error
			if v, ok := kv["shares"]; ok {
				if t.Shares, err = strconv.ParseFloat(v, 64); err != nil {
					return nil, bad("shares: %v", err)
				}
			}
			if v, ok := kv["usage"]; ok {
				if t.Usage, err = strconv.ParseFloat(v, 64); err != nil {
					return nil, bad("usage: %v", err)
				}
			}
			if v, ok := kv["users"]; ok {
				t.Users = map[string]float64{}
				for pair := range strings.SplitSeq(v, ",") {
					u, x, _ := strings.Cut(pair, ":")
					if t.Users[u], err = strconv.ParseFloat(x, 64); err != nil {
						return nil, bad("users: %v", err)
					}
				}
			}
			if zone, ok := kv["zone"]; ok {
				cal, err := scenarioCalendar(zone, kv)
				if err != nil {
					return nil, bad("%v", err)
				}
				t.Calendar = cal
			}
			sc.snap.Teams = append(sc.snap.Teams, t)
		case "node":
			n := Node{Name: f[1], Pool: kv["pool"], GPUType: kv["type"], Region: kv["region"]}
			g, err := strconv.Atoi(kv["gpus"])
			if err != nil {
				return nil, bad("gpus: %v", err)
			}
			n.Total = g
			ng := &nodeGPUs{used: make([]bool, g)}
			for i := range g {
				ng.ids = append(ng.ids, fmt.Sprintf("%s-g%d", n.Name, i))
			}
			gpus[n.Name] = ng
			sc.snap.Nodes = append(sc.snap.Nodes, n)
		case "job":
			refs, err := job.ParseRefs(f[1])
			if err != nil || len(refs) != 1 {
				return nil, bad("ref %q: %v", f[1], err)
			}
			j := Job{Ref: refs[0], State: gpuqv1.JobState_JOB_STATE_PENDING, Team: kv["team"], GPUs: 1,
				GPUType: kv["type"], Pool: kv["pool"], QOS: kv["qos"], Name: kv["name"]}
			j.User = "u-" + j.Team
			if v, ok := kv["user"]; ok {
				j.User = v
			}
			if v, ok := kv["gpus"]; ok {
				if j.GPUs, err = strconv.Atoi(v); err != nil {
					return nil, bad("gpus: %v", err)
				}
			}
			if v, ok := kv["nice"]; ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, bad("nice: %v", err)
				}
				j.Nice = int32(n)
			}
			if v, ok := kv["limit"]; ok {
				if j.TimeLimit, err = time.ParseDuration(v); err != nil {
					return nil, bad("limit: %v", err)
				}
			}
			for _, k := range []string{"preemptions", "restarts", "array-max"} {
				v, ok := kv[k]
				if !ok {
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, bad("%s: %v", k, err)
				}
				switch k {
				case "preemptions":
					j.Preemptions24h = n
				case "restarts":
					j.Restarts = n
				case "array-max":
					j.ArrayMax = uint32(n)
				}
			}
			if v, ok := kv["state"]; ok {
				st, err := job.ParseState(v)
				if err != nil {
					return nil, bad("%v", err)
				}
				j.State = st
			}
			if v, ok := kv["stopping-for"]; ok {
				r, err := job.ParseRefs(v)
				if err != nil || len(r) != 1 {
					return nil, bad("stopping-for %q: %v", v, err)
				}
				j.Stopping, j.StoppingFor = true, r[0]
			}
			for _, dk := range []struct {
				key string
				t   gpuqv1.DependencyType
			}{{"after-ok", gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_OK}, {"after-any", gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_ANY},
				{"after-not-ok", gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER_NOT_OK}, {"after", gpuqv1.DependencyType_DEPENDENCY_TYPE_AFTER}} {
				if v, ok := kv[dk.key]; ok {
					r, err := job.ParseRefs(v)
					if err != nil || len(r) != 1 {
						return nil, bad("%s %q: %v", dk.key, v, err)
					}
					j.Deps = append(j.Deps, Dep{Type: dk.t, Job: r[0]})
				}
			}
			for _, fl := range flags {
				switch fl {
				case "held":
					j.Held = true
				case "singleton":
					j.Singleton = true
				case "no-requeue":
					j.NoRequeue = true
				default:
					return nil, bad("unknown flag %q", fl)
				}
			}
			if v, ok := kv["exit"]; ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, bad("exit: %v", err)
				}
				j.ExitCode = int32(n)
			}
			if j.holds() {
				j.Node = kv["node"]
				ng := gpus[j.Node]
				if ng == nil {
					return nil, bad("running job on unknown node %q", j.Node)
				}
				for i := range ng.ids {
					if len(j.GPUIDs) < j.GPUs && !ng.used[i] {
						ng.used[i] = true
						j.GPUIDs = append(j.GPUIDs, ng.ids[i])
					}
				}
				if len(j.GPUIDs) < j.GPUs {
					return nil, bad("node %s has no room for %d GPUs", j.Node, j.GPUs)
				}
			}
			sc.snap.Jobs = append(sc.snap.Jobs, j)
			ji := len(sc.snap.Jobs) - 1
			for _, tk := range []string{"submit", "begin", "start"} {
				v, ok := kv[tk]
				if !ok && tk == "submit" {
					v, ok = "-1h", true
				}
				if !ok {
					continue
				}
				tf, err := at(v)
				if err != nil {
					return nil, bad("%s: %v", tk, err)
				}
				relative = append(relative, func() {
					j := &sc.snap.Jobs[ji]
					switch tk {
					case "submit":
						j.SubmitTime = tf()
					case "begin":
						j.Begin = tf()
					case "start":
						j.StartTime = tf()
					}
				})
			}
		case "check":
			sc.checks = append(sc.checks, f[1:])
			sc.lines = append(sc.lines, lineNo)
		default:
			return nil, bad("unknown line")
		}
	}
	if sc.snap.Now.IsZero() {
		return nil, fmt.Errorf("no now line")
	}
	for _, r := range relative {
		r()
	}
	for i := range sc.snap.Nodes {
		ng := gpus[sc.snap.Nodes[i].Name]
		for k, id := range ng.ids {
			if !ng.used[k] {
				sc.snap.Nodes[i].Free = append(sc.snap.Nodes[i].Free, id)
			}
		}
	}
	if pol != nil {
		sc.snap.Policy = *pol
	}
	return sc, nil
}

func scenarioCalendar(zone string, kv map[string]string) (calendar.Calendar, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return calendar.Calendar{}, err
	}
	sp := calendar.Spec{Zone: loc, Start: 9 * time.Hour, End: 18 * time.Hour}
	if v, ok := kv["hours"]; ok {
		a, b, _ := strings.Cut(v, "-")
		ta, err1 := time.Parse("15:04", a)
		tb, err2 := time.Parse("15:04", b)
		if err1 != nil || err2 != nil {
			return calendar.Calendar{}, fmt.Errorf("hours %q: want HH:MM-HH:MM", v)
		}
		sp.Start = time.Duration(ta.Hour())*time.Hour + time.Duration(ta.Minute())*time.Minute
		sp.End = time.Duration(tb.Hour())*time.Hour + time.Duration(tb.Minute())*time.Minute
	}
	days := "mon-fri"
	if v, ok := kv["days"]; ok {
		days = v
	}
	names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	if a, b, ok := strings.Cut(days, "-"); ok {
		ia, ib := slices.Index(names, a), slices.Index(names, b)
		if ia < 0 || ib < 0 {
			return calendar.Calendar{}, fmt.Errorf("days %q", days)
		}
		for d := ia; ; d = (d + 1) % 7 {
			sp.Days[d] = true
			if d == ib {
				break
			}
		}
	} else {
		for n := range strings.SplitSeq(days, ",") {
			i := slices.Index(names, n)
			if i < 0 {
				return calendar.Calendar{}, fmt.Errorf("days %q", days)
			}
			sp.Days[i] = true
		}
	}
	if v, ok := kv["holidays"]; ok {
		sp.Holidays = map[calendar.Date]bool{}
		for h := range strings.SplitSeq(v, ",") {
			d, err := calendar.ParseDate(h)
			if err != nil {
				return calendar.Calendar{}, err
			}
			sp.Holidays[d] = true
		}
	}
	if v, ok := kv["ramp"]; ok {
		if sp.Ramp, err = time.ParseDuration(v); err != nil {
			return calendar.Calendar{}, err
		}
	}
	return calendar.New(sp)
}

// render writes a plan for people to read.
func render(sc *scenario, p Plan) string {
	s := &sc.snap
	var b bytes.Buffer
	for _, a := range sc.about {
		fmt.Fprintf(&b, "# %s\n", a)
	}
	fmt.Fprintf(&b, "now %s (%s)\n", s.Now.Format(time.RFC3339), s.Now.Weekday())
	for i := range s.Teams {
		t := &s.Teams[i]
		if sp := t.Calendar.Spec(); sp.Zone != nil {
			fmt.Fprintf(&b, "  %-8s %s\n", t.Name, s.Now.In(sp.Zone).Format("Mon 15:04 MST"))
		}
	}
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := t.Sub(s.Now)
		if d >= 0 {
			return "+" + d.String()
		}
		return d.String()
	}

	b.WriteString("\nshares\n")
	fmt.Fprintf(&b, "  %-8s %-8s %7s %8s %10s %8s %9s %8s\n", "TEAM", "USER", "SHARES", "NORMSHR", "USAGE", "NORMUSE", "FAIRSHARE", "TIMEZONE")
	for _, r := range p.Shares {
		tz := fmt.Sprintf("%8.3f", r.TimeZone)
		if r.User != "" {
			tz = ""
		}
		line := fmt.Sprintf("  %-8s %-8s %7g %8.4f %10g %8.4f %9.4f %s", r.Team, r.User, r.Shares, r.NormShares, r.Usage, r.NormUsage, r.FairShare, tz)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}

	byRef := map[job.Ref]*Job{}
	for i := range s.Jobs {
		byRef[s.Jobs[i].Ref] = &s.Jobs[i]
	}
	starts := map[job.Ref]Start{}
	for _, st := range p.Starts {
		starts[st.Job] = st
	}
	cancels := map[job.Ref]string{}
	for _, c := range p.Cancels {
		cancels[c.Job] = c.Reason
	}
	refs := slices.Collect(func(yield func(job.Ref) bool) {
		for r := range p.Factors {
			if !yield(r) {
				return
			}
		}
	})
	slices.SortFunc(refs, func(a, c job.Ref) int {
		if x := cmpFloat(p.Priority[c], p.Priority[a]); x != 0 {
			return x
		}
		if x := byRef[a].SubmitTime.Compare(byRef[c].SubmitTime); x != 0 {
			return x
		}
		return compareRefs(a, c)
	})
	b.WriteString("\npriority (weighted factors; pending jobs, highest first)\n")
	fmt.Fprintf(&b, "  %-6s %-8s %-8s %4s %8s %9s %8s %5s %7s %5s %5s  %s\n", "JOB", "TEAM", "USER", "GPUS", "PRIORITY", "FAIRSHARE", "TIMEZONE", "AGE", "JOBSIZE", "QOS", "NICE", "OUTCOME")
	for _, r := range refs {
		f := p.Factors[r]
		j := byRef[r]
		out := p.Reasons[r]
		if st, ok := starts[r]; ok {
			out = "start on " + st.Node
		}
		if c, ok := cancels[r]; ok {
			out = "cancel: " + c
		}
		fmt.Fprintf(&b, "  %-6s %-8s %-8s %4d %8.0f %9.0f %8.0f %5.0f %7.0f %5.0f %5d  %s\n", r, j.Team, j.User, j.GPUs, f.Priority,
			f.Weighted.FairShare, f.Weighted.TimeZone, f.Weighted.Age, f.Weighted.JobSize, f.Weighted.QOS, f.Nice, out)
	}

	b.WriteString("\nstarts\n")
	for _, st := range p.Starts {
		fmt.Fprintf(&b, "  %-6s on %s %v\n", st.Job, st.Node, st.GPUs)
	}
	b.WriteString("\npreemptions\n")
	for _, pr := range p.Preemptions {
		v := byRef[pr.Victim]
		what := "requeue"
		if !pr.Requeue {
			what = "cancel"
		}
		fmt.Fprintf(&b, "  %-6s on %s for %s (%s; team %s, %d GPUs, ran %s)\n", pr.Victim, pr.Node, pr.For, what, v.Team, v.gpusHeld(), s.Now.Sub(v.StartTime))
	}
	b.WriteString("\nreservations\n")
	for _, r := range p.Reservations {
		fmt.Fprintf(&b, "  %-6s on %s from %s to %s, %d GPUs\n", r.Job, r.Node, rel(r.Start), rel(r.End), r.GPUs)
	}
	b.WriteString("\ncancels\n")
	for _, c := range p.Cancels {
		fmt.Fprintf(&b, "  %-6s %s\n", c.Job, c.Reason)
	}
	return b.String()
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// runChecks verifies a scenario's check lines against its plan.
func runChecks(t *testing.T, sc *scenario, p Plan) {
	t.Helper()
	ref := func(s string) job.Ref {
		r, err := job.ParseRefs(s)
		if err != nil || len(r) != 1 {
			t.Fatalf("bad ref %q", s)
		}
		return r[0]
	}
	for i, c := range sc.checks {
		where := fmt.Sprintf("line %d: check %s", sc.lines[i], strings.Join(c, " "))
		started := func(r job.Ref) (Start, bool) {
			for _, st := range p.Starts {
				if st.Job == r {
					return st, true
				}
			}
			return Start{}, false
		}
		switch c[0] {
		case "start":
			st, ok := started(ref(c[1]))
			if !ok {
				t.Errorf("%s: not started (reason %q)", where, p.Reasons[ref(c[1])])
			} else if len(c) > 2 && st.Node != c[2] {
				t.Errorf("%s: started on %s", where, st.Node)
			}
		case "no-start":
			if st, ok := started(ref(c[1])); ok {
				t.Errorf("%s: started on %s", where, st.Node)
			}
		case "reason":
			if got := p.Reasons[ref(c[1])]; got != c[2] {
				t.Errorf("%s: reason %q", where, got)
			}
		case "preempt":
			if !slices.ContainsFunc(p.Preemptions, func(x Preemption) bool { return x.Victim == ref(c[1]) && x.For == ref(c[3]) }) {
				t.Errorf("%s: preemptions %v", where, p.Preemptions)
			}
		case "spared":
			if slices.ContainsFunc(p.Preemptions, func(x Preemption) bool { return x.Victim == ref(c[1]) }) {
				t.Errorf("%s: preemptions %v", where, p.Preemptions)
			}
		case "no-preempt":
			if len(p.Preemptions) > 0 {
				t.Errorf("%s: preemptions %v", where, p.Preemptions)
			}
		case "reserve":
			if !slices.ContainsFunc(p.Reservations, func(x Reservation) bool { return x.Job == ref(c[1]) && x.Node == c[2] }) {
				t.Errorf("%s: reservations %v", where, p.Reservations)
			}
		case "above":
			a, b := ref(c[1]), ref(c[2])
			pa, oka := p.Priority[a]
			pb, okb := p.Priority[b]
			if !oka || !okb || pa <= pb {
				t.Errorf("%s: priorities %v and %v", where, pa, pb)
			}
		default:
			t.Errorf("%s: unknown check", where)
		}
	}
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := parseScenario(string(text))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			p := Decide(&sc.snap)
			runChecks(t, sc, p)
			checkInvariants(t, &sc.snap, p)
			got := render(sc, p)
			golden := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/sched -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
