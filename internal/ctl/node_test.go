package ctl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// gpus makes n GPUs of one type with NVML-like models and uuids.
func gpus(prefix, typ, model string, n int, memGiB uint64) []*gpuqv1.GPU {
	out := make([]*gpuqv1.GPU, n)
	for i := range out {
		out[i] = &gpuqv1.GPU{Index: uint32(i), Uuid: fmt.Sprintf("GPU-%s%d", prefix, i), Model: model, Type: typ, MemoryBytes: memGiB << 30}
	}
	return out
}

func refs(ids ...string) []*gpuqv1.JobRef {
	var out []*gpuqv1.JobRef
	for _, s := range ids {
		rs, err := parseRefArgs([]string{s})
		if err != nil {
			panic(err)
		}
		out = append(out, rs...)
	}
	return out
}

// fixtureNodes is a cluster with a node in every state, not sorted by name:
// mixed, idle, draining, allocated, down and not responding, drained and not
// responding, simulated, and one without GPUs.
func fixtureNodes() []*gpuqv1.Node {
	const a100 = "NVIDIA A100-SXM4-80GB"
	up, drain, down := gpuqv1.NodeState_NODE_STATE_UP, gpuqv1.NodeState_NODE_STATE_DRAIN, gpuqv1.NodeState_NODE_STATE_DOWN
	return []*gpuqv1.Node{
		{Info: &gpuqv1.NodeInfo{Name: "gpu-b02", Pool: "a800-pool", Region: "cn-north", Gpus: gpus("b2", "a800", "NVIDIA A800-SXM4-80GB", 8, 80),
			Cpus: 128, MemoryBytes: 1 << 40, Version: "0.3.0"},
			State: up, Connected: true, LastSeen: at(-3 * time.Second), Jobs: refs("41"), AllocatedGpus: 8},
		{Info: &gpuqv1.NodeInfo{Name: "gpu-a01", Pool: "a100-pool", Region: "eu-west", Labels: map[string]string{"zone": "a", "rack": "r1"},
			Gpus: gpus("0aa", "a100", a100, 8, 80), Cpus: 64, MemoryBytes: 512 << 30, Version: "0.3.0"},
			State: up, Connected: true, LastSeen: at(-2 * time.Second), Jobs: refs("45", "40"), AllocatedGpus: 5},
		{Info: &gpuqv1.NodeInfo{Name: "gpu-a02", Pool: "a100-pool", Region: "eu-west", Gpus: gpus("0ab", "a100", a100, 4, 80), Version: "0.3.0"},
			State: up, Connected: true, LastSeen: at(-time.Second)},
		{Info: &gpuqv1.NodeInfo{Name: "gpu-a03", Pool: "a100-pool", Region: "eu-west", Gpus: gpus("0ac", "a100", a100, 4, 80), Version: "0.3.0"},
			State: drain, Reason: "bad fan", Connected: true, LastSeen: at(-4 * time.Second), Jobs: refs("46"), AllocatedGpus: 1},
		{Info: &gpuqv1.NodeInfo{Name: "gpu-c01", Pool: "a800-pool", Region: "cn-north", Gpus: gpus("c1", "a800", "NVIDIA A800-SXM4-80GB", 8, 80), Version: "0.2.9"},
			State: down, Reason: "missed 3 heartbeats", LastSeen: at(-(2*time.Hour + 5*time.Minute))},
		{Info: &gpuqv1.NodeInfo{Name: "gpu-c02", Pool: "a800-pool", Region: "cn-north", Gpus: gpus("c2", "a800", "NVIDIA A800-SXM4-80GB", 8, 80), Version: "0.3.0"},
			State: drain, Reason: "replacing GPU 3", LastSeen: at(-90 * time.Second)},
		{Info: &gpuqv1.NodeInfo{Name: "sim-01", Pool: "demo", Gpus: append(gpus("sim", "a100", "Simulated A100", 1, 40),
			&gpuqv1.GPU{Index: 1, Uuid: "GPU-sim1", Model: "Simulated H100", Type: "h100", MemoryBytes: 80 << 30, MigEnabled: true}), Simulated: true},
			State: up, Connected: true, LastSeen: at(-time.Second), Jobs: refs("44_1", "44_0"), AllocatedGpus: 2},
		{Info: &gpuqv1.NodeInfo{Name: "cpu-01", Pool: "cpu", Region: "eu-west", Cpus: 32},
			State: up, Connected: true, Jobs: refs("47")},
	}
}

func nodeEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.srv.SetNodes(fixtureNodes())
	return e
}

func TestNodesGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"nodes_default.golden", []string{"nodes"}},
		{"nodes_drain.golden", []string{"sinfo", "-h", "--state", "drain,DOWN"}},
		{"nodes_pool.golden", []string{"nodes", "-p", "a800-pool", "-t", "no_respond,idle", "-p", "demo"}},
		{"nodes_json.golden", []string{"nodes", "--json", "-t", "alloc"}},
		{"show_node.golden", []string{"show", "node", "gpu-a01", "sim-01,gpu-c02"}},
		{"show_node_all.golden", []string{"show", "node"}},
		{"show_node_json.golden", []string{"show", "node", "--json", "gpu-a03"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			r := nodeEnv(t).run(t, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

// nodes NAME is show node NAME.
func TestNodesNamed(t *testing.T) {
	e := nodeEnv(t)
	want := e.run(t, "show", "node", "gpu-a01", "sim-01,gpu-c02")
	e.run(t, "nodes", "gpu-a01", "sim-01", "gpu-c02").check(t, 0, want.stdout, "")
	e.run(t, "nodes", "--json", "gpu-a03").check(t, 0, e.run(t, "show", "node", "--json", "gpu-a03").stdout, "")
}

func TestNodesEmpty(t *testing.T) {
	e := newEnv(t)
	e.run(t, "nodes").check(t, 0, "NODELIST POOL REGION STATE GPUS ALLOC JOBS REASON\n", "")
	e.run(t, "nodes", "--json").check(t, 0, "[]\n", "")
	e.run(t, "show", "node").check(t, 0, "", "")
}

func TestNodeState(t *testing.T) {
	gpus4 := gpus("x", "a100", "A100", 4, 40)
	up, drain, down := gpuqv1.NodeState_NODE_STATE_UP, gpuqv1.NodeState_NODE_STATE_DRAIN, gpuqv1.NodeState_NODE_STATE_DOWN
	tests := []struct {
		name     string
		node     *gpuqv1.Node
		sinfo    string
		scontrol string
	}{
		{"up, no jobs", &gpuqv1.Node{State: up, Connected: true}, "idle", "IDLE"},
		{"up, some GPUs", &gpuqv1.Node{State: up, Connected: true, Jobs: refs("1"), AllocatedGpus: 2}, "mixed", "MIXED"},
		{"up, every GPU", &gpuqv1.Node{State: up, Connected: true, Jobs: refs("1", "2"), AllocatedGpus: 4}, "allocated", "ALLOCATED"},
		{"up, jobs without GPUs", &gpuqv1.Node{State: up, Connected: true, Jobs: refs("1")}, "mixed", "MIXED"},
		{"up, no GPUs, CPU job", &gpuqv1.Node{Info: &gpuqv1.NodeInfo{}, State: up, Connected: true, Jobs: refs("1")}, "mixed", "MIXED"},
		{"up, GPUs held, job list not yet in", &gpuqv1.Node{State: up, Connected: true, AllocatedGpus: 1}, "mixed", "MIXED"},
		{"up, not connected", &gpuqv1.Node{State: up}, "idle*", "IDLE*"},
		{"drain, no jobs", &gpuqv1.Node{State: drain, Connected: true}, "drained", "IDLE+DRAIN"},
		{"drain, jobs running", &gpuqv1.Node{State: drain, Connected: true, Jobs: refs("1"), AllocatedGpus: 1}, "draining", "MIXED+DRAIN"},
		{"drain, full", &gpuqv1.Node{State: drain, Connected: true, Jobs: refs("1"), AllocatedGpus: 4}, "draining", "ALLOCATED+DRAIN"},
		{"drain, not connected", &gpuqv1.Node{State: drain}, "drained*", "IDLE*+DRAIN"},
		{"down", &gpuqv1.Node{State: down}, "down*", "DOWN*"},
		{"down, connected", &gpuqv1.Node{State: down, Connected: true}, "down", "DOWN"},
		{"unspecified", &gpuqv1.Node{Connected: true}, "unknown", "UNKNOWN"},
		{"unknown value", &gpuqv1.Node{State: 99}, "unknown*", "UNKNOWN*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := proto.CloneOf(tt.node)
			if n.Info == nil {
				n.Info = &gpuqv1.NodeInfo{Gpus: gpus4}
			}
			got := []string{sinfoState(n) + notResponding(n), scontrolState(n)}
			if diff := cmp.Diff([]string{tt.sinfo, tt.scontrol}, got); diff != "" {
				t.Errorf("sinfo, scontrol state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseNodeStates(t *testing.T) {
	tests := []struct {
		in      []string
		want    nodeStates
		wantErr string
	}{
		{in: nil, want: nodeStates{}},
		{in: []string{"idle"}, want: nodeStates{names: []string{"idle"}}},
		{in: []string{"MIX,alloc", "Drng"}, want: nodeStates{names: []string{"mixed", "allocated", "draining"}}},
		{in: []string{"drain", "drained"}, want: nodeStates{names: []string{"drained", "draining"}}},
		{in: []string{"up,down,unk"}, want: nodeStates{names: []string{"idle", "mixed", "allocated", "down", "unknown"}}},
		{in: []string{"no_respond"}, want: nodeStates{noRespond: true}},
		{in: []string{"idle,sleeping"}, wantErr: `unknown node state "sleeping" (want idle, mixed, allocated, drain, drained, draining, down, up or no_respond)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, " "), func(t *testing.T) {
			got, err := parseNodeStates(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(nodeStates{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGPUSummary(t *testing.T) {
	tests := []struct {
		gpus []*gpuqv1.GPU
		want string
	}{
		{nil, "0"},
		{gpus("a", "a100", "", 8, 80), "a100:8"},
		{append(gpus("a", "a100", "", 2, 80), append(gpus("b", "h100", "", 3, 80), gpus("c", "a100", "", 1, 80)...)...), "a100:3,h100:3"},
		{gpus("a", "", "", 2, 80), "2"},
	}
	for _, tt := range tests {
		if got := gpuSummary(tt.gpus); got != tt.want {
			t.Errorf("gpuSummary(%d GPUs) = %q, want %q", len(tt.gpus), got, tt.want)
		}
	}
}

func TestNodeDrainResume(t *testing.T) {
	e := nodeEnv(t)
	state := func(name string) (gpuqv1.NodeState, string) {
		for _, n := range e.srv.Nodes() {
			if n.Info.Name == name {
				return n.State, n.Reason
			}
		}
		t.Fatalf("no node %s", name)
		return 0, ""
	}
	// Flags may follow the names, as for cancel.
	e.run(t, "node", "drain", "gpu-a02", "--reason", "  firmware update  ").check(t, 0, "", "")
	if s, reason := state("gpu-a02"); s != gpuqv1.NodeState_NODE_STATE_DRAIN || reason != "firmware update" {
		t.Errorf("gpu-a02 after drain: %v (%q), want DRAIN (firmware update)", s, reason)
	}
	e.run(t, "nodes", "-h", "-t", "drained", "-p", "a100-pool").check(t, 0,
		"gpu-a02 a100-pool eu-west drained a100:4 0 - firmware update\n", "")
	e.run(t, "node", "resume", "-v", "gpu-a02,gpu-a03").check(t, 0, "node gpu-a02 resumed\nnode gpu-a03 resumed\n", "")
	if s, reason := state("gpu-a03"); s != gpuqv1.NodeState_NODE_STATE_UP || reason != "" {
		t.Errorf("gpu-a03 after resume: %v (%q), want UP with no reason", s, reason)
	}
	want := []proto.Message{
		&gpuqv1.DrainNodeRequest{Name: "gpu-a02", Reason: "firmware update"},
		&gpuqv1.ListNodesRequest{},
		&gpuqv1.ResumeNodeRequest{Name: "gpu-a02"},
		&gpuqv1.ResumeNodeRequest{Name: "gpu-a03"},
	}
	if diff := cmp.Diff(want, e.srv.Calls(), protocmp.Transform()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestNodeExitCodes(t *testing.T) {
	tests := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"node", "drain", "gpu-z99", "--reason", "x"}, 1, "", "gpuqctl: error: node gpu-z99: not found\n"},
		{[]string{"node", "resume", "gpu-z99"}, 1, "", "gpuqctl: error: node gpu-z99: not found\n"},
		{[]string{"node", "resume", "gpu-c01"}, 1, "",
			"gpuqctl: error: node gpu-c01: invalid state for this action: it is DOWN; it comes back when its daemon registers\n"},
		// The other nodes are still done.
		{[]string{"node", "drain", "-v", "--reason", "rack power work", "gpu-z98,gpu-b02", "gpu-z99"}, 1, "node gpu-b02 drained\n",
			"gpuqctl: error: node gpu-z98: not found\ngpuqctl: error: node gpu-z99: not found\n"},
		{[]string{"nodes", "gpu-z99"}, 1, "", "gpuqctl: error: node gpu-z99: not found\n"},
		{[]string{"show", "node", "gpu-z99", "cpu-01"}, 1,
			"NodeName=cpu-01 Pool=cpu Region=eu-west Version=(null)\n   State=MIXED* Reason=None\n" +
				"   GPUs=0 AllocGPUs=0 Simulated=no GPUModels=(null)\n   CPUTot=32 Memory=N/A\n" +
				"   LastHeartbeat=None HeartbeatAge=N/A\n   Jobs=47\n   Labels=(null)\n\n",
			"gpuqctl: error: node gpu-z99: not found\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := nodeEnv(t)
			if tt.args[0] == "show" {
				// cpu-01's daemon is away: State shows the *.
				nodes := fixtureNodes()
				nodes[len(nodes)-1].Connected = false
				e.srv.SetNodes(nodes)
			}
			e.run(t, tt.args...).check(t, tt.code, tt.stdout, tt.stderr)
		})
	}
}

func TestNodeUsageErrors(t *testing.T) {
	e := nodeEnv(t)
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"node"}, "gpuqctl: error: node what? (gpuqctl node drain|resume NAME)\nRun 'gpuqctl node --help' for usage.\n"},
		{[]string{"node", "reboot", "gpu-a01"}, "gpuqctl: error: cannot \"reboot\" a node (gpuqctl node drain|resume NAME)\nRun 'gpuqctl node --help' for usage.\n"},
		{[]string{"node", "drain", "gpu-a01"}, "gpuqctl: error: --reason is required: say why the nodes are drained\nRun 'gpuqctl node drain --help' for usage.\n"},
		{[]string{"node", "drain", "gpu-a01", "--reason", " "}, "gpuqctl: error: --reason is required: say why the nodes are drained\nRun 'gpuqctl node drain --help' for usage.\n"},
		{[]string{"node", "drain", "--reason", "x"}, "gpuqctl: error: name the nodes to drain\nRun 'gpuqctl node drain --help' for usage.\n"},
		{[]string{"node", "resume"}, "gpuqctl: error: name the nodes to resume\nRun 'gpuqctl node resume --help' for usage.\n"},
		{[]string{"node", "resume", "-t", "x"}, "gpuqctl: error: flag provided but not defined: -t\nRun 'gpuqctl node resume --help' for usage.\n"},
		{[]string{"nodes", "-t", "sleeping"}, "gpuqctl: error: --state: unknown node state \"sleeping\" (want idle, mixed, allocated, drain, drained, draining, down, up or no_respond)\nRun 'gpuqctl nodes --help' for usage.\n"},
		{[]string{"nodes", "gpu-a01", "-t", "idle"}, "gpuqctl: error: --state and --pool select nodes for the list; name nodes or select them, not both\nRun 'gpuqctl nodes --help' for usage.\n"},
		{[]string{"show", "frob"}, "gpuqctl: error: cannot show \"frob\" (gpuqctl show job JOB, or show node [NAME])\nRun 'gpuqctl show --help' for usage.\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e.run(t, tt.args...).check(t, 2, "", tt.stderr)
		})
	}
	if calls := e.srv.Calls(); len(calls) != 0 {
		t.Errorf("usage errors made calls: %v", calls)
	}
}

func TestNodeUnreachable(t *testing.T) {
	e := newEnv(t)
	dir, err := os.MkdirTemp("", "gpuqtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "none.sock")
	e.target = sock
	want := "gpuqctl: error: cannot reach gpuqd at " + sock + ": dial unix " + sock + ": connect: no such file or directory\n"
	e.run(t, "nodes").check(t, 3, "", want)
	e.run(t, "show", "node", "gpu-a01").check(t, 3, "", want)
	// The first node that cannot be drained for want of gpuqd ends the command.
	e.run(t, "node", "drain", "gpu-a01", "gpu-a02", "--reason", "x").check(t, 3, "", want)
	e.run(t, "node", "resume", "gpu-a01").check(t, 3, "", want)
}

func TestNodeHelp(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{{"nodes", "--help"}, {"sinfo", "--help"}, {"node", "--help"}, {"node", "drain", "-h"}, {"node", "resume", "--help"}, {"show", "node", "--help"}} {
		r := e.run(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "USAGE") || r.stderr != "" {
			t.Errorf("gpuqctl %s = %d, stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := e.run(t, "nodes", "--help"); !strings.Contains(r.stdout, "draining   DRAIN, still running jobs") {
		t.Errorf("nodes --help does not document the states:\n%s", r.stdout)
	}
	if r := e.run(t, "help"); !strings.Contains(r.stdout, "nodes, sinfo") || !strings.Contains(r.stdout, "drain or resume nodes") {
		t.Errorf("gpuqctl help does not list the node commands:\n%s", r.stdout)
	}
}
