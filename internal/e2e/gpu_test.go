package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuq/gpuq/internal/ctrdrun/ctrdtest"
	"github.com/gpuq/gpuq/internal/gpu"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// These tests use the machine's real GPUs: gpuq-node without
// --simulate-gpus finds them through NVML. Without an NVIDIA driver they
// skip, unless GPUQ_REQUIRE_GPU=1 (set by .ci/gpu-check, the script run on
// a machine with a GPU) makes that a failure.

// realGPUs returns the machine's GPUs of its first GPU's type, as gpuq-node
// will find them.
func realGPUs(t *testing.T) []gpu.Device {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		if os.Getenv("GPUQ_REQUIRE_GPU") == "1" {
			t.Fatal("GPUQ_REQUIRE_GPU=1, but " + why)
		}
		t.Skip(why)
	}
	if _, err := os.Stat("/dev/nvidiactl"); err != nil {
		skip("no NVIDIA driver on this machine (no /dev/nvidiactl)")
	}
	devs, err := gpu.Discover(gpu.OpenNVML(), nil)
	var unknown *gpu.UnknownModelError
	if errors.As(err, &unknown) {
		skip(err.Error())
	}
	if err != nil {
		t.Fatalf("NVML: %v", err)
	}
	if len(devs) == 0 {
		skip("NVML finds no GPU")
	}
	var same []gpu.Device
	for _, d := range devs {
		t.Logf("GPU %d: %s %s (%s, %d MiB, minor %d, MIG %v)", d.Index, d.UUID, d.Model, d.Type, d.MemoryBytes>>20, d.Minor, d.MIGEnabled)
		if d.Type == devs[0].Type {
			same = append(same, d)
		}
	}
	if len(same) != len(devs) {
		skip("GPUs of several types: the test's pool takes one type")
	}
	return devs
}

// gpuCluster starts gpuqd with a pool "real" of the GPUs' type.
func gpuCluster(t *testing.T, devs []gpu.Device) *cluster {
	t.Helper()
	c := newCluster(t)
	f, err := os.OpenFile(c.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// pools: is the config's last key.
	fmt.Fprintf(f, "  - name: real\n    gpu_type: %s\n    region: lab\n    gpus_per_node: %d\n", devs[0].Type, len(devs))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// startRealNode runs gpuq-node "gpu1" on the real GPUs with the config
// lines extra.
func (c *cluster) startRealNode(t *testing.T, extra string) *nodeDaemon {
	t.Helper()
	cfg := filepath.Join(c.dir, "node-gpu1.yaml")
	if err := os.WriteFile(cfg, []byte(rootJobsConfig+"usage_sample_interval: 1s\n"+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &nodeDaemon{c: c, name: "gpu1", args: []string{"--config", cfg, "--server", "unix://" + c.sock, "--name", "gpu1",
		"--pool", "real", "--state-dir", filepath.Join(c.dir, "node-gpu1"), "--log-level", "debug",
		"--join-token-file", c.joinTokenFile()}}
	n.start()
	t.Cleanup(n.stop)
	c.waitNodes(t, 1)
	return n
}

// runJob submits script and waits up to two minutes for the job to end
// (gpuqctl submit --wait would be bound by ctl's 30 s): its state.
func (c *cluster) runJob(t *testing.T, script string) string {
	t.Helper()
	out, errOut, code := c.ctl("submit", "--parsable", script)
	if code != 0 {
		t.Fatalf("submit %s: exit %d: %s", script, code, errOut)
	}
	id := strings.TrimSpace(out)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		q, _, _ := c.ctl("queue", "--state", "all", "-h", "--job", id, "--format", "%T")
		if s := strings.TrimSpace(q); s != "" && s != "PENDING" && s != "RUNNING" && s != "COMPLETING" {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %s did not end within 2 minutes", id)
	return ""
}

// jobGPUs returns the UUIDs of the GPUs job id ran on, from gpuqd.
func (c *cluster) jobGPUs(t *testing.T, id uint64) string {
	t.Helper()
	res, err := c.client().GetJob(t.Context(), &gpuqv1.GetJobRequest{Job: &gpuqv1.JobRef{Id: id}})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("GetJob %d: %v, %v", id, res, err)
	}
	return strings.Join(res.Jobs[0].GpuIds, ",")
}

// outputFields reads KEY=VALUE words from a job's output file.
func outputFields(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		for _, w := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(w, "="); ok {
				m[k] = v
			}
		}
	}
	return m, string(b)
}

// TestRealGPU: a node on the machine's real GPUs registers them as NVML
// reports them, runs a job on one GPU with the exec runtime (CUDA sees
// exactly that GPU; with PyTorch installed it multiplies matrices on it
// for a few seconds) and records the GPU's utilisation sampled through
// NVML in the job's accounting record.
func TestRealGPU(t *testing.T) {
	devs := realGPUs(t)
	c := gpuCluster(t, devs)
	n := c.startRealNode(t, "")

	res, err := c.client().ListNodes(t.Context(), &gpuqv1.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Nodes) != 1 || res.Nodes[0].Info.Simulated || len(res.Nodes[0].Info.Gpus) != len(devs) {
		t.Fatalf("nodes = %v, want gpu1 with %d real GPUs", res.Nodes, len(devs))
	}
	for i, g := range res.Nodes[0].Info.Gpus {
		if g.Uuid != devs[i].UUID || g.Type != devs[i].Type || g.Model != devs[i].Model || g.MemoryBytes != devs[i].MemoryBytes {
			t.Errorf("registered GPU %d = %v, want %+v", i, g, devs[i])
		}
	}
	out, _, _ := c.ctl("nodes")
	t.Logf("gpuqctl nodes:\n%s", out)
	if strings.Contains(out, "simulated") {
		t.Errorf("gpuqctl nodes shows a real node as simulated:\n%s", out)
	}

	smi, _ := exec.LookPath("nvidia-smi")
	py, _ := exec.LookPath("python3")
	torch := py != "" && exec.Command(py, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)").Run() == nil
	script := "#!/bin/sh\n#GPUQ --team=sf --gpus=" + devs[0].Type + ":1 -o gpu-%j.out\n" +
		"echo \"visible=$CUDA_VISIBLE_DEVICES nvidia_visible=$NVIDIA_VISIBLE_DEVICES gpuq_gpus=$GPUQ_GPUS\"\n"
	if smi != "" {
		script += smi + " -L\n" + "echo \"smi_uuids=$(" + smi + " --query-gpu=uuid --format=csv,noheader | tr '\\n' ',')\"\n"
	}
	if torch {
		script += py + ` - <<'EOF'
import time, torch
print("torch_devices=%d" % torch.cuda.device_count())
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
t0 = time.time()
n = 0
while time.time() - t0 < 6:
    for _ in range(10):
        b = a @ a
    torch.cuda.synchronize()
    n += 10
dt = time.time() - t0
print("torch_tflops=%.0f" % (n * 2 * 8192**3 / dt / 1e12))
EOF
`
	} else {
		// Long enough for NVML samples (every second) of an idle GPU.
		t.Log("no PyTorch with CUDA here: the job does not load its GPU; its utilisation must still be sampled")
		script += "sleep 3\n"
	}
	path := filepath.Join(c.dir, "gpu.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if state := c.runJob(t, path); state != "COMPLETED" {
		b, _ := os.ReadFile(filepath.Join(c.dir, "gpu-1.out"))
		t.Fatalf("job 1 ended %s\noutput:\n%s\nnode log:\n%s", state, b, n.log())
	}
	f, text := outputFields(t, filepath.Join(c.dir, "gpu-1.out"))
	t.Logf("job output:\n%s", text)
	assigned := c.jobGPUs(t, 1)
	if assigned == "" || !slices.ContainsFunc(devs, func(d gpu.Device) bool { return d.UUID == assigned }) {
		t.Fatalf("job 1 ran on %q, want one of the node's GPUs", assigned)
	}
	if f["visible"] != assigned || f["nvidia_visible"] != assigned {
		t.Errorf("CUDA_VISIBLE_DEVICES=%s NVIDIA_VISIBLE_DEVICES=%s, want the assigned GPU %s", f["visible"], f["nvidia_visible"], assigned)
	}
	if torch && f["torch_devices"] != "1" {
		t.Errorf("CUDA sees %s devices in the job, want exactly its one", f["torch_devices"])
	}

	acct, _, code := c.ctl("acct", "-j", "1", "-P", "-n", "-o", "JobID,State,AllocGPUs,GPUUtil,GPUUtilMax")
	t.Logf("gpuqctl acct -j 1:\n%s", acct)
	parts := strings.Split(strings.TrimSpace(acct), "|")
	if code != 0 || len(parts) != 5 || parts[1] != "COMPLETED" {
		t.Fatalf("acct -j 1 = %q (exit %d), want one COMPLETED record", acct, code)
	}
	mean, err1 := strconv.ParseFloat(parts[3], 64)
	peak, err2 := strconv.ParseFloat(parts[4], 64)
	if err1 != nil || err2 != nil || mean < 0 || mean > peak || peak > 100 {
		t.Errorf("GPU utilisation: mean %q, max %q; want NVML's samples", parts[3], parts[4])
	}
	if torch && (peak < 50 || mean <= 0) {
		t.Errorf("GPU utilisation of a job that multiplied matrices: mean %q, max %q; want max >= 50%%", parts[3], parts[4])
	}
}

// TestRealGPUContainer runs jobs on a real GPU in containers of a private
// containerd: first through a CDI spec made from this machine's driver
// (its device files, nvidia-smi, libnvidia-ml and the C libraries they
// need, as nvidia-ctk cdi generate would list them), where nvidia-smi in
// a busybox container sees exactly the job's GPU; then, with cdi_kind "",
// through device files alone.
func TestRealGPUContainer(t *testing.T) {
	devs := realGPUs(t)
	smi, err := exec.LookPath("nvidia-smi")
	if err != nil {
		t.Skip("no nvidia-smi to run in the container")
	}
	addr := ctrdtest.Start(t)
	const ns = "gpuq-e2e-gpu"
	image := ctrdtest.ImageIn(t, addr, ns)
	c := gpuCluster(t, devs)
	cdiDir := filepath.Join(c.dir, "cdi")
	if err := os.MkdirAll(cdiDir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := driverCDISpec(t, devs, smi)
	t.Logf("CDI spec:\n%s", spec)
	if err := os.WriteFile(filepath.Join(cdiDir, "nvidia.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	runtime := fmt.Sprintf("runtime:\n  kind: containerd\n  containerd_address: %s\n  namespace: %s\n  image: %s\n  cdi_spec_dirs: [%s]\n", addr, ns, image, cdiDir)
	n := c.startRealNode(t, runtime)
	if !strings.Contains(n.log(), "GPUs go to containers as CDI devices") {
		t.Errorf("node log does not say its GPUs go to containers through CDI:\n%s", n.log())
	}
	script := "#!/bin/sh\n#GPUQ --team=sf --gpus=" + devs[0].Type + ":1 -o ctr-%j.out\n" +
		"echo \"visible=$CUDA_VISIBLE_DEVICES devs=$(ls /dev | grep nvidia | tr '\\n' ',')\"\n" +
		"nvidia-smi -L\necho \"smi_uuids=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | tr '\\n' ',')\"\n"
	path := filepath.Join(c.dir, "ctr.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(id int, wantSMI bool) {
		t.Helper()
		out := filepath.Join(c.dir, fmt.Sprintf("ctr-%d.out", id))
		state := c.runJob(t, path)
		f, text := outputFields(t, out)
		t.Logf("job %d (%s) output:\n%s", id, state, text)
		assigned := c.jobGPUs(t, uint64(id))
		i := slices.IndexFunc(devs, func(d gpu.Device) bool { return d.UUID == assigned })
		if i < 0 {
			t.Fatalf("job %d ran on %q\nnode log:\n%s", id, assigned, n.log())
		}
		if f["visible"] != assigned {
			t.Errorf("job %d: CUDA_VISIBLE_DEVICES=%s, want %s", id, f["visible"], assigned)
		}
		var gpuFiles []string
		for _, d := range strings.Split(strings.TrimSuffix(f["devs"], ","), ",") {
			if _, err := strconv.Atoi(strings.TrimPrefix(d, "nvidia")); err == nil {
				gpuFiles = append(gpuFiles, d)
			}
		}
		if want := []string{fmt.Sprintf("nvidia%d", devs[i].Minor)}; !slices.Equal(gpuFiles, want) {
			t.Errorf("job %d: GPU device files in the container %v, want %v", id, gpuFiles, want)
		}
		if wantSMI && (state != "COMPLETED" || f["smi_uuids"] != assigned+",") {
			t.Errorf("job %d: nvidia-smi in the container lists %q (job %s), want exactly %s", id, f["smi_uuids"], state, assigned)
		}
		if !wantSMI && (state != "COMPLETED" || f["smi_uuids"] != "") {
			t.Errorf("job %d: without CDI: job %s, nvidia-smi in the container listed %q; want COMPLETED and none", id, state, f["smi_uuids"])
		}
	}
	check(1, true)

	// cdi_kind "": device files only, no driver libraries or tools.
	n.stop()
	cfg := filepath.Join(c.dir, "node-gpu1.yaml")
	if err := os.WriteFile(cfg, []byte(rootJobsConfig+strings.Replace(runtime, "  cdi_spec_dirs:", "  cdi_kind: \"\"\n  cdi_spec_dirs:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start()
	c.waitNodes(t, 1)
	check(2, false)
}

// driverCDISpec writes a CDI spec for devs from this machine's driver:
// each GPU by UUID with its device file; for all, the control device
// files, nvidia-smi, libnvidia-ml (as this process loaded it through
// NVML) and the libraries and loader nvidia-smi links, mounted read-only
// where they are on the host, with LD_LIBRARY_PATH naming their
// directories. nvidia-ctk cdi generate does this properly (and more);
// it is not installed on the machines these tests run on.
func driverCDISpec(t *testing.T, devs []gpu.Device, smi string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("cdiVersion: \"0.6.0\"\nkind: nvidia.com/gpu\ndevices:\n")
	for _, d := range devs {
		fmt.Fprintf(&b, "- name: %s\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia%d\n", d.UUID, d.Minor)
	}
	b.WriteString("containerEdits:\n  deviceNodes:\n")
	for _, p := range []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"} {
		if _, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "  - path: %s\n", p)
		}
	}
	files := []string{}
	// libnvidia-ml as loaded by this process (realGPUs ran NVML).
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) == 6 && strings.Contains(f[5], "libnvidia-ml.so") && !slices.Contains(files, f[5]) {
			files = append(files, f[5])
		}
	}
	if len(files) == 0 {
		t.Fatal("libnvidia-ml is not mapped in this process after NVML's start")
	}
	ldd, err := exec.Command("ldd", smi).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", smi, err)
	}
	for _, line := range strings.Split(string(ldd), "\n") {
		for _, w := range strings.Fields(line) {
			if strings.HasPrefix(w, "/") && !slices.Contains(files, w) {
				files = append(files, w)
			}
		}
	}
	var dirs []string
	b.WriteString("  mounts:\n")
	fmt.Fprintf(&b, "  - {hostPath: %s, containerPath: /usr/bin/nvidia-smi, options: [ro, nosuid, nodev, bind]}\n", smi)
	for _, f := range files {
		fmt.Fprintf(&b, "  - {hostPath: %s, containerPath: %s, options: [ro, nosuid, nodev, bind]}\n", f, f)
		if strings.Contains(f, "libnvidia-ml.so.") && !strings.HasSuffix(f, ".so.1") {
			// The name nvidia-smi opens, a link on the host.
			fmt.Fprintf(&b, "  - {hostPath: %s, containerPath: %s/libnvidia-ml.so.1, options: [ro, nosuid, nodev, bind]}\n", f, filepath.Dir(f))
		}
		if d := filepath.Dir(f); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	// nvidia-ctk's specs set NVIDIA_VISIBLE_DEVICES=void.
	fmt.Fprintf(&b, "  env: [LD_LIBRARY_PATH=%s, NVIDIA_VISIBLE_DEVICES=void]\n", strings.Join(dirs, ":"))
	return b.String()
}
