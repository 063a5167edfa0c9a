package gpu

import (
	"fmt"
	"strings"
)

// controlNodes are the device files every CUDA program needs besides those of
// its GPUs.
var controlNodes = []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}

// DeviceNodes returns the device files a container needs to use devs when the
// runtime does not inject GPUs through CDI: /dev/nvidia<Minor> of each device,
// in the order of devs, then /dev/nvidiactl, /dev/nvidia-uvm and
// /dev/nvidia-uvm-tools. The driver's libraries must be mounted as well.
//
// Simulated devices have no device files: they add nothing, and for devs
// without a real device DeviceNodes returns nil. MIG instances would need
// /dev/nvidia-caps too and are not handed out.
func DeviceNodes(devs []Device) []string {
	var nodes []string
	seen := make(map[int]bool)
	for _, d := range devs {
		if d.Simulated || d.Minor < 0 || seen[d.Minor] {
			continue
		}
		seen[d.Minor] = true
		nodes = append(nodes, fmt.Sprintf("/dev/nvidia%d", d.Minor))
	}
	if len(nodes) == 0 {
		return nil
	}
	return append(nodes, controlNodes...)
}

// VisibleDevicesEnv returns the environment that names devs to CUDA
// (CUDA_VISIBLE_DEVICES) and to NVIDIA's container tools
// (NVIDIA_VISIBLE_DEVICES): their UUIDs, comma-separated, in the order of devs.
//
// UUIDs rather than indices: an index means different GPUs to different
// readers. In a container given GPUs 4 and 6 only, CUDA numbers them 0 and 1,
// so "4,6" would name GPUs that are not there; CUDA also orders GPUs by speed
// (CUDA_DEVICE_ORDER=FASTEST_FIRST) unlike NVML, and indices change when a GPU
// is removed. A UUID names one GPU everywhere.
//
// For no devices both variables are set to hide every GPU: CUDA_VISIBLE_DEVICES
// to "" and NVIDIA_VISIBLE_DEVICES to "void". The variables alone grant
// nothing: without the device files (DeviceNodes or CDI) a container has no
// GPU whatever they say.
func VisibleDevicesEnv(devs []Device) map[string]string {
	if len(devs) == 0 {
		return map[string]string{"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"}
	}
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.UUID
	}
	v := strings.Join(ids, ",")
	return map[string]string{"CUDA_VISIBLE_DEVICES": v, "NVIDIA_VISIBLE_DEVICES": v}
}
