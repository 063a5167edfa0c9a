package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/ctrdrun/ctrdtest"
	"github.com/gpuq/gpuq/internal/gpu"
)

// TestContainerdJobs runs jobs through the whole system in real containers:
// gpuqd, a gpuq-node with the containerd runtime against a private
// containerd, and gpuqctl. It skips loudly without containerd, and fails
// then when GPUQ_REQUIRE_CONTAINERD=1 (CI).
func TestContainerdJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts containerd and a cluster")
	}
	addr := ctrdtest.Start(t)
	const ns = "gpuq-e2e"
	image := ctrdtest.ImageIn(t, addr, ns)
	c := newCluster(t)
	c.start()
	// A CDI spec for the node's two simulated GPUs, as nvidia-ctk writes
	// one for real GPUs (by UUID): each GPU a device file (here /dev/null
	// under another name) and a variable naming it.
	sims, err := gpu.ParseSimulated("ctr1", "a100:2")
	if err != nil {
		t.Fatal(err)
	}
	cdiDir := filepath.Join(c.dir, "cdi")
	// Like nvidia-ctk's, it sets NVIDIA_VISIBLE_DEVICES=void for all.
	spec := "cdiVersion: \"0.6.0\"\nkind: nvidia.com/gpu\ncontainerEdits:\n  env: [NVIDIA_VISIBLE_DEVICES=void]\ndevices:\n"
	for _, d := range sims {
		spec += fmt.Sprintf("- name: %s\n  containerEdits:\n    env: [GPUQ_CDI_GPU=%s]\n    deviceNodes:\n    - {path: /dev/gpuq-fake%d, hostPath: /dev/null}\n", d.UUID, d.UUID, d.Index)
	}
	if err := os.MkdirAll(cdiDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cdiDir, "nvidia.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(c.dir, "node.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `server: unix://%s
name: ctr1
pool: a100-us-west1
region: us-west1
simulate_gpus: a100:2
state_dir: %s/node-ctr1
join_token_file: %s
allow_root: true
runtime:
  kind: containerd
  containerd_address: %s
  namespace: %s
  image: %s
  cdi_spec_dirs: [%s]
log:
  level: debug
`, c.sock, c.dir, c.joinTokenFile(), addr, ns, image, cdiDir), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &nodeDaemon{c: c, name: "ctr1", args: []string{"--config", cfg}}
	n.start()
	t.Cleanup(n.stop)
	c.waitNodes(t, 1)

	script := filepath.Join(c.dir, "ctr.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n#GPUQ --team=sf --gpus=a100:1 -o ctr-%j.out\n"+
		"echo \"pid1=$(cat /proc/1/comm) job=$GPUQ_JOB_ID gpus=$CUDA_VISIBLE_DEVICES cdi=$GPUQ_CDI_GPU nv=$NVIDIA_VISIBLE_DEVICES devs=$(ls /dev | grep gpuq-fake)\"\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := c.ctl("submit", "--wait", script); code != 4 {
		t.Fatalf("submit --wait in a container: exit %d, want 4: %s\nnode log:\n%s", code, errOut, n.log())
	}
	out, err := os.ReadFile(filepath.Join(c.dir, "ctr-1.out"))
	if err != nil {
		t.Fatal(err)
	}
	// PID 1 is the init (tini), not the script, so signals reach the script.
	if s := string(out); strings.Contains(s, "pid1=sh") || !strings.Contains(s, "pid1=") || !strings.Contains(s, "job=1 gpus=GPU-") {
		t.Errorf("container output = %q, want the script under an init with gpuq's variables", s)
	}
	// The job's one GPU came through the CDI spec: its variable names the
	// GPU in CUDA_VISIBLE_DEVICES, and only its device file is there.
	var gpus, cdiGPU, nv, devs string
	for _, f := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "gpus":
			gpus = v
		case "cdi":
			cdiGPU = v
		case "nv":
			nv = v
		case "devs":
			devs = v
		}
	}
	if want := fmt.Sprintf("gpuq-fake%d", slices.IndexFunc(sims, func(d gpu.Device) bool { return d.UUID == gpus })); cdiGPU != gpus || devs != want {
		t.Errorf("CDI injection: gpus=%s cdi=%s devs=%s, want cdi=%s devs=%s (output %q)", gpus, cdiGPU, devs, gpus, want, out)
	}
	// The spec's NVIDIA_VISIBLE_DEVICES wins (nvidia-ctk's "void" keeps
	// NVIDIA's legacy hook out); CUDA_VISIBLE_DEVICES stays the job's.
	if nv != "void" {
		t.Errorf("NVIDIA_VISIBLE_DEVICES=%q in a CDI container, want the spec's void", nv)
	}

	// A job that traps TERM: cancelled, it checkpoints and ends CANCELLED.
	ck := filepath.Join(c.dir, "trap.sh")
	if err := os.WriteFile(ck, []byte("#!/bin/sh\ntrap 'echo saved > $GPUQ_CHECKPOINT_DIR/state; exit 0' TERM\nwhile true; do sleep 0.2; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.ctl("submit", "--team=sf", "--gpus=a100:1", ck)
	c.waitFor(t, "job 2 to run", func(o string) bool { return strings.Contains(o, "2|RUNNING|") })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n.log(), `msg="job started" node=ctr1 job=2`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, errOut, code := c.ctl("cancel", "2"); code != 0 {
		t.Fatalf("cancel: %d %s", code, errOut)
	}
	c.waitFor(t, "job 2 cancelled", func(o string) bool { return strings.Contains(o, "2|CANCELLED|") })
	saved, err := os.ReadFile(filepath.Join(c.dir, "node-ctr1", "checkpoints", "2", "state"))
	if err != nil || strings.TrimSpace(string(saved)) != "saved" {
		t.Errorf("checkpoint written on TERM = %q, %v", saved, err)
	}
}
