package ctl

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gpuq/gpuq/internal/job"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

const nodesDescription = `Lists the nodes gpuqd knows, one line each and sorted by name, like
sinfo -N -l. With NAMEs it shows those nodes in detail instead, like
scontrol show node (see gpuqctl show node).

STATE is gpuqd's state of the node (UP, DRAIN, DOWN) in sinfo's words:
   idle       UP, running no jobs
   mixed      UP, running jobs that hold some of its GPUs (or jobs that hold
              none: a node running only CPU jobs is not idle)
   allocated  UP, every GPU held by a job
   drained    DRAIN (gpuqctl node drain), running no jobs
   draining   DRAIN, still running jobs it had; it gets no new ones
   down       DOWN: it missed its heartbeats; its jobs were requeued or failed
   unknown    a state this gpuqctl does not know
A trailing * (idle*, down*) says the node daemon is not connected now, like
sinfo's "not responding" marker.

--state takes those names, comma-separated or repeated, and also mix, alloc,
drng, drain (drained and draining, as in sinfo), up (idle, mixed and
allocated) and no_respond (the nodes marked *).

GPUS is TYPE:COUNT for each GPU type of the node, (simulated) after it when
the node's GPUs are simulated (no NVML: demos and tests). ALLOC is the
number of GPUs held by jobs; JOBS the jobs running there.`

// nodeColumns is the header of the nodes table.
var nodeColumns = [...]string{"NODELIST", "POOL", "REGION", "STATE", "GPUS", "ALLOC", "JOBS", "REASON"}

func (r *runner) nodesCommand() *cli.Command {
	return &cli.Command{
		Name:        "nodes",
		Aliases:     []string{"sinfo"},
		Usage:       "list nodes (like sinfo -N), or show some in detail (like scontrol show node)",
		UsageText:   "gpuqctl nodes [-h] [-t STATES] [-p POOLS] [--json]\ngpuqctl nodes [--json] NAME...",
		Description: nodesDescription,
		Flags: []cli.Flag{
			newStringSliceFlag(&cli.StringSliceFlag{Name: "state", Aliases: []string{"t"}, Usage: "only nodes in these `STATES` (idle, mixed, allocated, drain, down, ...; see above)"}),
			newStringSliceFlag(&cli.StringSliceFlag{Name: "pool", Aliases: []string{"p"}, Usage: "only the nodes of these `POOLS` (Slurm's partitions)"}),
			newBoolFlag(&cli.BoolFlag{Name: "noheader", Aliases: []string{"h"}, Usage: "print no header line"}),
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the nodes as a JSON array (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action:       r.nodes,
	}
}

func (r *runner) showNodeCommand() *cli.Command {
	return &cli.Command{
		Name:    "node",
		Aliases: []string{"nodes"},
		Usage:   "show nodes as scontrol show node does: every node, or the ones named",
		UsageText: "gpuqctl show node [--json] [NAME...]\n\n" +
			"State is scontrol's: IDLE, MIXED or ALLOCATED by the GPUs jobs hold, +DRAIN\n" +
			"for a drained node, DOWN; a * after it says the node daemon is not connected.",
		Flags: []cli.Flag{
			newBoolFlag(&cli.BoolFlag{Name: "json", Usage: "print the nodes as a JSON array (protojson)"}),
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			return r.showNodes(c, splitLists(c.Args().Slice()), true)
		},
	}
}

func (r *runner) nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "drain or resume nodes (like scontrol update nodename=... state=...)",
		UsageText: "gpuqctl node drain --reason REASON NAME...\n" +
			"gpuqctl node resume NAME...",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef(c, "node what? (gpuqctl node drain|resume NAME)")
			}
			return usagef(c, "cannot %q a node (gpuqctl node drain|resume NAME)", c.Args().First())
		},
		Subcommands: []*cli.Command{
			{
				Name:  "drain",
				Usage: "let a node's jobs finish and start no new ones there (like scontrol update state=drain)",
				UsageText: "gpuqctl node drain --reason REASON NAME...\n\n" +
					"The reason is required, as scontrol requires it, and shows in gpuqctl nodes.\n" +
					"Draining a drained node replaces its reason. Errors are reported per node;\n" +
					"the exit status is 1 if any failed.",
				Flags: []cli.Flag{
					newStringFlag(&cli.StringFlag{Name: "reason", Usage: "`REASON` recorded with the drain and shown by gpuqctl nodes (required)"}),
					newBoolFlag(&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say which nodes were drained"}),
				},
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					return r.nodeAction(c, "drain")
				},
			},
			{
				Name:  "resume",
				Usage: "let a drained node take jobs again (like scontrol update state=resume)",
				UsageText: "gpuqctl node resume NAME...\n\n" +
					"A DOWN node cannot be resumed: it comes back when its daemon registers again.\n" +
					"Errors are reported per node; the exit status is 1 if any failed.",
				Flags: []cli.Flag{
					newBoolFlag(&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say which nodes were resumed"}),
				},
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					return r.nodeAction(c, "resume")
				},
			},
		},
	}
}

func (r *runner) nodes(c *cli.Context) error {
	if c.NArg() > 0 {
		if len(c.StringSlice("state")) > 0 || len(c.StringSlice("pool")) > 0 {
			return usagef(c, "--state and --pool select nodes for the list; name nodes or select them, not both")
		}
		return r.showNodes(c, splitLists(c.Args().Slice()), false)
	}
	states, err := parseNodeStates(c.StringSlice("state"))
	if err != nil {
		return usagef(c, "--state: %v", err)
	}
	pools := splitLists(c.StringSlice("pool"))
	nodes, err := r.listNodes(c)
	if err != nil {
		return err
	}
	nodes = slices.DeleteFunc(nodes, func(n *gpuqv1.Node) bool {
		return !states.match(n) || len(pools) > 0 && !slices.Contains(pools, n.GetInfo().GetPool())
	})
	if c.Bool("json") {
		return writeJSON(r.stdout, nodes)
	}
	var b strings.Builder
	writeNodeTable(&b, nodes, !c.Bool("noheader"))
	_, err = io.WriteString(r.stdout, b.String())
	return err
}

// showNodes writes the named nodes, or every node when names is empty and
// all is set, as scontrol show node does. Names gpuqd does not know are
// reported one by one and fail the command.
func (r *runner) showNodes(c *cli.Context, names []string, all bool) error {
	if len(names) == 0 && !all {
		return usagef(c, "name the nodes to show")
	}
	nodes, err := r.listNodes(c)
	if err != nil {
		return err
	}
	missing := 0
	if len(names) > 0 {
		var picked []*gpuqv1.Node
		for _, name := range names {
			i := slices.IndexFunc(nodes, func(n *gpuqv1.Node) bool { return n.GetInfo().GetName() == name })
			if i < 0 {
				r.errorf("node %s: %v", name, job.ErrNotFound)
				missing++
				continue
			}
			picked = append(picked, nodes[i])
		}
		nodes = picked
	}
	if c.Bool("json") {
		err = writeJSON(r.stdout, nodes)
	} else {
		var b strings.Builder
		now := r.cfg.now()
		for _, n := range nodes {
			writeNodeRecord(&b, n, now, r.cfg.loc)
		}
		_, err = io.WriteString(r.stdout, b.String())
	}
	if err == nil && missing > 0 {
		err = &exitError{code: exitFailed}
	}
	return err
}

// listNodes returns every node, sorted by name.
func (r *runner) listNodes(c *cli.Context) ([]*gpuqv1.Node, error) {
	cl, err := r.client(c)
	if err != nil {
		return nil, err
	}
	nodes, err := cl.ListNodes(c.Context)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(nodes, func(a, b *gpuqv1.Node) int {
		return cmp.Compare(a.GetInfo().GetName(), b.GetInfo().GetName())
	})
	return nodes, nil
}

// nodeAction drains or resumes the named nodes, one call each. A node gpuqd
// does not know, or one in the wrong state, is reported and the others are
// still done; any other failure (gpuqd unreachable) ends the command.
func (r *runner) nodeAction(c *cli.Context, action string) error {
	names := splitLists(c.Args().Slice())
	if len(names) == 0 {
		return usagef(c, "name the nodes to %s", action)
	}
	reason := strings.TrimSpace(c.String("reason"))
	if action == "drain" && reason == "" {
		return usagef(c, "--reason is required: say why the nodes are drained")
	}
	cl, err := r.client(c)
	if err != nil {
		return err
	}
	failed := 0
	for _, name := range names {
		var done string
		if action == "drain" {
			err, done = cl.DrainNode(c.Context, name, reason), "drained"
		} else {
			err, done = cl.ResumeNode(c.Context, name), "resumed"
		}
		switch {
		case err == nil:
			if c.Bool("verbose") {
				fmt.Fprintf(r.stdout, "node %s %s\n", name, done)
			}
		case errors.Is(err, job.ErrNotFound), errors.Is(err, job.ErrInvalidState):
			r.errorf("%v", err)
			failed++
		default:
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

// nodeUse is how much of a node jobs use, in sinfo's words: idle with no
// jobs, allocated when jobs hold every GPU, mixed in between (and for jobs
// that hold no GPU).
func nodeUse(n *gpuqv1.Node) string {
	total := len(n.GetInfo().GetGpus())
	switch {
	case len(n.Jobs) == 0 && n.AllocatedGpus == 0:
		return "idle"
	case total > 0 && int(n.AllocatedGpus) >= total:
		return "allocated"
	}
	return "mixed"
}

// sinfoState is a node's state as sinfo -N -l shows it: idle, mixed,
// allocated, drained, draining, down or unknown, without the * of a node
// that is not connected. nodesDescription documents the mapping.
func sinfoState(n *gpuqv1.Node) string {
	switch n.State {
	case gpuqv1.NodeState_NODE_STATE_UP:
		return nodeUse(n)
	case gpuqv1.NodeState_NODE_STATE_DRAIN:
		if nodeUse(n) == "idle" {
			return "drained"
		}
		return "draining"
	case gpuqv1.NodeState_NODE_STATE_DOWN:
		return "down"
	}
	return "unknown"
}

// notResponding is sinfo's * after the state: the node daemon is not connected.
func notResponding(n *gpuqv1.Node) string {
	if n.Connected {
		return ""
	}
	return "*"
}

// scontrolState is a node's state as scontrol show node shows it: IDLE,
// MIXED or ALLOCATED, +DRAIN for a drained node, DOWN or UNKNOWN; the * of a
// node that is not connected follows the base state (IDLE*+DRAIN).
func scontrolState(n *gpuqv1.Node) string {
	switch n.State {
	case gpuqv1.NodeState_NODE_STATE_UP:
		return strings.ToUpper(nodeUse(n)) + notResponding(n)
	case gpuqv1.NodeState_NODE_STATE_DRAIN:
		return strings.ToUpper(nodeUse(n)) + notResponding(n) + "+DRAIN"
	case gpuqv1.NodeState_NODE_STATE_DOWN:
		return "DOWN" + notResponding(n)
	}
	return "UNKNOWN" + notResponding(n)
}

// nodeStates is what --state selects: sinfo state names, and with
// noRespond the nodes that are not connected. The zero value selects all.
type nodeStates struct {
	names     []string
	noRespond bool
}

func (s nodeStates) match(n *gpuqv1.Node) bool {
	if len(s.names) == 0 && !s.noRespond {
		return true
	}
	return slices.Contains(s.names, sinfoState(n)) || s.noRespond && !n.Connected
}

// parseNodeStates parses --state values, in any case: sinfo's state names
// and abbreviations, drain for drained and draining, up for the three UP
// states, no_respond.
func parseNodeStates(values []string) (nodeStates, error) {
	var s nodeStates
	for _, v := range splitLists(values) {
		var names []string
		switch strings.ToLower(v) {
		case "idle":
			names = []string{"idle"}
		case "mix", "mixed":
			names = []string{"mixed"}
		case "alloc", "allocated":
			names = []string{"allocated"}
		case "drained":
			names = []string{"drained"}
		case "drng", "draining":
			names = []string{"draining"}
		case "drain":
			names = []string{"drained", "draining"}
		case "down":
			names = []string{"down"}
		case "up":
			names = []string{"idle", "mixed", "allocated"}
		case "unk", "unknown":
			names = []string{"unknown"}
		case "no_respond":
			s.noRespond = true
		default:
			return nodeStates{}, fmt.Errorf("unknown node state %q (want idle, mixed, allocated, drain, drained, draining, down, up or no_respond)", v)
		}
		for _, name := range names {
			if !slices.Contains(s.names, name) {
				s.names = append(s.names, name)
			}
		}
	}
	return s, nil
}

// writeNodeTable writes nodes as sinfo -N -l does, each column as wide as
// its widest value.
func writeNodeTable(b *strings.Builder, nodes []*gpuqv1.Node, header bool) {
	var rows [][]string
	if header {
		rows = append(rows, nodeColumns[:])
	}
	for _, n := range nodes {
		gpus := gpuSummary(n.GetInfo().GetGpus())
		if n.GetInfo().GetSimulated() {
			gpus += "(simulated)"
		}
		rows = append(rows, []string{
			n.GetInfo().GetName(),
			orNull(n.GetInfo().GetPool()),
			orNull(n.GetInfo().GetRegion()),
			sinfoState(n) + notResponding(n),
			gpus,
			strconv.FormatUint(uint64(n.AllocatedGpus), 10),
			cmp.Or(nodeJobs(n), "-"),
			orNone(n.Reason),
		})
	}
	writeColumns(b, rows)
}

// writeColumns writes rows left-aligned, each column padded to its widest
// value and one blank between columns; lines have no trailing blanks.
func writeColumns(b *strings.Builder, rows [][]string) { writeAligned(b, rows, "l", " ") }

// gpuSummary is a node's GPUs as TYPE:COUNT per type in the order they
// first appear, a100:8 or a100:4,a800:4; GPUs without a type count alone.
func gpuSummary(gpus []*gpuqv1.GPU) string {
	var (
		types  []string
		counts = map[string]int{}
	)
	for _, g := range gpus {
		if counts[g.Type] == 0 {
			types = append(types, g.Type)
		}
		counts[g.Type]++
	}
	if len(types) == 0 {
		return "0"
	}
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = strconv.Itoa(counts[t])
		if t != "" {
			parts[i] = t + ":" + parts[i]
		}
	}
	return strings.Join(parts, ",")
}

// nodeJobs is the jobs running on a node, sorted: 40,44_0,44_1.
func nodeJobs(n *gpuqv1.Node) string {
	refs := make([]job.Ref, len(n.Jobs))
	for i, p := range n.Jobs {
		refs[i] = job.FromProto(p)
	}
	slices.SortFunc(refs, func(a, b job.Ref) int {
		if c := cmp.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		if a.HasTask != b.HasTask {
			if a.HasTask {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Task, b.Task)
	})
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// writeNodeRecord writes one node as scontrol show node does: Key=Value
// pairs, a few to a line, continuation lines indented, then a line per GPU
// and a blank line. Values that may hold blanks (models, reasons) end their
// line.
func writeNodeRecord(b *strings.Builder, n *gpuqv1.Node, now time.Time, loc *time.Location) {
	info := n.GetInfo()
	simulated := "no"
	if info.GetSimulated() {
		simulated = "yes"
	}
	var models []string
	for _, g := range info.GetGpus() {
		if g.Model != "" && !slices.Contains(models, g.Model) {
			models = append(models, g.Model)
		}
	}
	age := "N/A"
	if heard := slurmTime(n.LastSeen, loc, ""); heard != "" {
		age = slurmDuration(now.Sub(n.LastSeen.AsTime()))
	}
	lines := [][]string{
		{"NodeName=" + info.GetName(), "Pool=" + orNull(info.GetPool()), "Region=" + orNull(info.GetRegion()), "Version=" + orNull(info.GetVersion())},
		{"State=" + scontrolState(n), "Reason=" + orNone(n.Reason)},
		{"GPUs=" + gpuSummary(info.GetGpus()), "AllocGPUs=" + strconv.FormatUint(uint64(n.AllocatedGpus), 10),
			"Simulated=" + simulated, "GPUModels=" + orNull(strings.Join(models, ","))},
		{"CPUTot=" + zeroNA(uint64(info.GetCpus()), strconv.FormatUint), "Memory=" + memoryString(info.GetMemoryBytes())},
		{"LastHeartbeat=" + slurmTime(n.LastSeen, loc, "None"), "HeartbeatAge=" + age},
		{"Jobs=" + orNull(nodeJobs(n))},
		{"Labels=" + orNull(labelString(info.GetLabels()))},
	}
	for _, g := range info.GetGpus() {
		mig := "no"
		if g.MigEnabled {
			mig = "yes"
		}
		lines = append(lines, []string{"GPU=" + strconv.FormatUint(uint64(g.Index), 10), "Type=" + orNull(g.Type),
			"Memory=" + memoryString(g.MemoryBytes), "MIG=" + mig, "UUID=" + orNull(g.Uuid), "Model=" + orNull(g.Model)})
	}
	for i, l := range lines {
		if i > 0 {
			b.WriteString("   ")
		}
		b.WriteString(strings.Join(l, " "))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

// labelString is a node's labels as key=value pairs sorted by key.
func labelString(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}
