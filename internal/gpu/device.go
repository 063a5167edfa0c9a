package gpu

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Device is one GPU of a node, as NVML reported it or as --simulate-gpus
// made it up.
type Device struct {
	// Index is NVML's index of the device (0, 1, ...), which follows PCI bus
	// order and is not what CUDA_VISIBLE_DEVICES counts in a container.
	Index int
	// UUID is NVML's "GPU-..." identifier, stable across reboots.
	UUID string
	// Model is the name NVML reports ("NVIDIA A100-SXM4-40GB").
	Model string
	// Type is the config's GPU type ("a100"), from a TypeMap.
	Type string
	// MemoryBytes is the device's total memory.
	MemoryBytes uint64
	// MIGEnabled is true when the device's current MIG mode is enabled.
	MIGEnabled bool
	// Minor is the device file's minor number: /dev/nvidia<Minor>. It is -1
	// for simulated devices, which have no device file.
	Minor int
	// Simulated marks a device made up by ParseSimulated.
	Simulated bool
}

// Proto returns the device as the node protocol describes it. The protocol
// marks a node's GPUs as simulated in NodeInfo, not per GPU.
func (d Device) Proto() *gpuqv1.GPU {
	return &gpuqv1.GPU{
		Index:       uint32(d.Index),
		Uuid:        d.UUID,
		Model:       d.Model,
		Type:        d.Type,
		MemoryBytes: d.MemoryBytes,
		MigEnabled:  d.MIGEnabled,
	}
}

var (
	// ErrNoNVML means NVML could not be loaded or the NVIDIA driver is not
	// running: the machine has no usable NVIDIA GPUs.
	ErrNoNVML = errors.New("no NVIDIA driver found")
	// ErrNoDevices means NVML works but reports no GPUs.
	ErrNoDevices = errors.New("NVML reports no GPUs")
)

// simulateHint is what an operator of a machine without GPUs should do.
const simulateHint = "on a machine without GPUs, start gpuq-node with --simulate-gpus TYPE:COUNT (for example a100:8)"

// OpenNVML returns the system's NVML library, which is loaded (from
// libnvidia-ml.so.1) only when Init is called, by Discover or a Sampler.
func OpenNVML() nvml.Interface {
	return nvml.New()
}

// Discover initialises lib, lists its GPUs, names each with its type from
// types, and shuts lib down again. It fails rather than return a partial or
// empty list: with an error wrapping ErrNoNVML when there is no NVIDIA driver,
// ErrNoDevices when NVML finds no GPUs, an *UnknownModelError when types
// cannot name a model, and otherwise an error wrapping NVML's nvml.Return.
func Discover(lib nvml.Interface, types TypeMap) ([]Device, error) {
	if err := types.Validate(); err != nil {
		return nil, fmt.Errorf("discover GPUs: GPU type map: %w", err)
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("discover GPUs: %w", initError(ret))
	}
	devs, err := devices(lib, types)
	if ret := lib.Shutdown(); ret != nvml.SUCCESS && err == nil {
		err = fmt.Errorf("NVML shutdown: %w", ret)
	}
	if err != nil {
		return nil, fmt.Errorf("discover GPUs: %w", err)
	}
	return devs, nil
}

// devices lists the GPUs of an initialised lib.
func devices(lib nvml.Interface, types TypeMap) ([]Device, error) {
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("count devices: %w", ret)
	}
	if n == 0 {
		return nil, ErrNoDevices
	}
	devs := make([]Device, 0, n)
	for i := range n {
		d, err := device(lib, i, types)
		if err != nil {
			return nil, fmt.Errorf("GPU %d: %w", i, err)
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// device reads the GPU with NVML index i.
func device(lib nvml.Interface, i int, types TypeMap) (Device, error) {
	h, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("get handle: %w", ret)
	}
	d := Device{Index: i}
	if d.UUID, ret = h.GetUUID(); ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("get UUID: %w", ret)
	}
	if d.Model, ret = h.GetName(); ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("%s: get name: %w", d.UUID, ret)
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("%s: get memory info: %w", d.UUID, ret)
	}
	d.MemoryBytes = mem.Total
	if d.Minor, ret = h.GetMinorNumber(); ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("%s: get minor number: %w", d.UUID, ret)
	}
	var mode int
	mode, _, ret = h.GetMigMode()
	switch ret {
	case nvml.SUCCESS:
		d.MIGEnabled = mode == nvml.DEVICE_MIG_ENABLE
	case nvml.ERROR_NOT_SUPPORTED:
		// A GPU without MIG (anything before the A100, or the A10).
	default:
		return Device{}, fmt.Errorf("%s: get MIG mode: %w", d.UUID, ret)
	}
	typ, err := types.Type(d.Model)
	if err != nil {
		return Device{}, fmt.Errorf("%s: %w", d.UUID, err)
	}
	d.Type = typ
	return d, nil
}

// initError explains why NVML's Init failed. The error wraps ret, and
// ErrNoNVML when the machine has no usable NVIDIA driver.
func initError(ret nvml.Return) error {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("%w: NVML init: %w: libnvidia-ml.so.1 could not be loaded; install the NVIDIA driver, or %s", ErrNoNVML, ret, simulateHint)
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return fmt.Errorf("%w: NVML init: %w: libnvidia-ml is installed but the NVIDIA kernel driver is not loaded; load it (nvidia-smi shows whether it works), or %s", ErrNoNVML, ret, simulateHint)
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return fmt.Errorf("NVML init: %w: the NVIDIA kernel driver and libnvidia-ml are of different versions; reboot after a driver upgrade", ret)
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("NVML init: %w: no permission to open the NVIDIA device files (/dev/nvidia*)", ret)
	default:
		return fmt.Errorf("NVML init: %w", ret)
	}
}
