package gpu

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDeviceNodes(t *testing.T) {
	real := func(minor int) Device { return Device{Index: minor, UUID: "GPU-r", Minor: minor} }
	sims, err := ParseSimulated("n", "a100:2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		devs []Device
		want []string
	}{
		{"none", nil, nil},
		{"one", []Device{real(0)}, []string{"/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}},
		{"in order given", []Device{real(6), real(2)}, []string{"/dev/nvidia6", "/dev/nvidia2", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}},
		{"each once", []Device{real(3), real(3)}, []string{"/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}},
		{"simulated", sims, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, DeviceNodes(tt.devs)); diff != "" {
				t.Errorf("DeviceNodes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVisibleDevicesEnv(t *testing.T) {
	a := Device{Index: 4, UUID: "GPU-aaaa"}
	b := Device{Index: 6, UUID: "GPU-bbbb"}
	tests := []struct {
		name string
		devs []Device
		want map[string]string
	}{
		{"none", nil, map[string]string{"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"}},
		{"one", []Device{a}, map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-aaaa", "NVIDIA_VISIBLE_DEVICES": "GPU-aaaa"}},
		{"two", []Device{b, a}, map[string]string{"CUDA_VISIBLE_DEVICES": "GPU-bbbb,GPU-aaaa", "NVIDIA_VISIBLE_DEVICES": "GPU-bbbb,GPU-aaaa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, VisibleDevicesEnv(tt.devs)); diff != "" {
				t.Errorf("VisibleDevicesEnv (-want +got):\n%s", diff)
			}
		})
	}
}
