package nodeagent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpuq/gpuq/internal/gpu"
)

// cdiFake is a runtime whose CDI specs define the names in defined, each
// with the device file /dev/nvidia<index> (an index name) or none.
type cdiFake struct {
	Runtime
	defined map[string]bool
	// files overrides the device files of a name.
	files map[string][]string
}

func (f cdiFake) CDIDevices(names ...string) map[string][]string {
	m := map[string][]string{}
	for _, n := range names {
		if !f.defined[n] {
			continue
		}
		files, ok := f.files[n]
		if !ok {
			if _, idx, _ := strings.Cut(n, "="); !strings.HasPrefix(idx, "GPU-") {
				files = []string{"/dev/nvidia" + idx}
			}
		}
		m[n] = files
	}
	return m
}

// plainRuntime has no CDI (the exec runtime).
type plainRuntime struct{ Runtime }

func TestGPUInjection(t *testing.T) {
	devs := []gpu.Device{
		{Index: 0, UUID: "GPU-a", Minor: 0},
		{Index: 3, UUID: "GPU-b", Minor: 3},
	}
	sim := []gpu.Device{{Index: 0, UUID: "GPU-s", Minor: -1, Simulated: true}}
	files := []string{"/dev/nvidia0", "/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}
	const kind = "nvidia.com/gpu"
	tests := []struct {
		name      string
		rt        Runtime
		kind      string
		devs      []gpu.Device
		wantNodes []string
		wantCDI   []string
	}{
		{"no CDI in the runtime", plainRuntime{}, kind, devs, files, nil},
		{"cdi_kind empty", cdiFake{defined: map[string]bool{kind + "=GPU-a": true, kind + "=GPU-b": true}}, "", devs, files, nil},
		{"every GPU by UUID", cdiFake{defined: map[string]bool{kind + "=GPU-a": true, kind + "=GPU-b": true, kind + "=0": true}}, kind, devs,
			nil, []string{kind + "=GPU-a", kind + "=GPU-b"}},
		{"by index where no UUID name", cdiFake{defined: map[string]bool{kind + "=0": true, kind + "=GPU-b": true}}, kind, devs,
			nil, []string{kind + "=0", kind + "=GPU-b"}},
		{"an index name whose device file is another GPU's", cdiFake{defined: map[string]bool{kind + "=0": true, kind + "=3": true},
			files: map[string][]string{kind + "=3": {"/dev/nvidia2"}}}, kind, devs, files, nil},
		{"one GPU undefined: device files for all", cdiFake{defined: map[string]bool{kind + "=GPU-a": true}}, kind, devs, files, nil},
		{"another kind's names do not count", cdiFake{defined: map[string]bool{"vendor.com/gpu=GPU-a": true, "vendor.com/gpu=GPU-b": true}}, kind, devs, files, nil},
		{"no GPUs", cdiFake{defined: map[string]bool{}}, kind, nil, nil, nil},
		{"simulated by index: never", cdiFake{defined: map[string]bool{kind + "=0": true}}, kind, sim, nil, nil},
		{"simulated without a spec: nothing", cdiFake{defined: map[string]bool{}}, kind, sim, nil, nil},
		{"simulated with a spec (tests, demos)", cdiFake{defined: map[string]bool{kind + "=GPU-s": true}}, kind, sim, nil, []string{kind + "=GPU-s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{opts: Options{Runtime: tt.rt, CDIKind: tt.kind}}
			nodes, names := a.gpuInjection(tt.devs)
			if !cmp.Equal(nodes, tt.wantNodes) || !cmp.Equal(names, tt.wantCDI) {
				t.Errorf("gpuInjection = %q, %q; want %q, %q", nodes, names, tt.wantNodes, tt.wantCDI)
			}
		})
	}
}

func TestRuntimeConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Name, c.Pool = "n1", "p"
	if c.Runtime.CDIKind != "nvidia.com/gpu" {
		t.Errorf("default cdi_kind = %q", c.Runtime.CDIKind)
	}
	if d, err := c.SampleEvery(); err != nil || d.String() != "10s" {
		t.Errorf("default usage_sample_interval = %v, %v", d, err)
	}
	c.Runtime.CDIKind = ""
	if err := c.Validate(); err != nil {
		t.Errorf("cdi_kind \"\" (device files only): %v", err)
	}
	c.Runtime.CDIKind = "gpu"
	c.Runtime.CDISpecDirs = []string{"/etc/cdi", "cdi"}
	c.UsageSampleInterval = "10"
	err := c.Validate()
	if err == nil {
		t.Fatal("bad cdi_kind, cdi_spec_dirs and usage_sample_interval accepted")
	}
	for _, field := range []string{"runtime.cdi_kind: \"gpu\"", "runtime.cdi_spec_dirs[1]: \"cdi\"", "usage_sample_interval: \"10\""} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want a problem with %s", err, field)
		}
	}
	c = DefaultConfig()
	c.Name, c.Pool = "n1", "p"
	c.UsageSampleInterval = "2h"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "100ms to 1h") {
		t.Errorf("usage_sample_interval 2h: %v", err)
	}
}
