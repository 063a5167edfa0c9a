package gpu

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// These tests use the machine's real NVML. Which one runs depends on the
// machine: with /dev/nvidiactl it must have working GPUs, without it NVML must
// fail to load and Discover say so.

func hasNVIDIADriver() bool {
	_, err := os.Stat("/dev/nvidiactl")
	return err == nil
}

func TestRealNVMLMissing(t *testing.T) {
	if hasNVIDIADriver() {
		t.Skip("/dev/nvidiactl exists: this machine has an NVIDIA driver")
	}
	lib := OpenNVML()
	ret := lib.Init()
	t.Logf("Init of the real NVML: %v", ret)
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
	case nvml.ERROR_DRIVER_NOT_LOADED:
		// libnvidia-ml is installed, the kernel driver is not.
		lib.Shutdown()
	default:
		if ret == nvml.SUCCESS {
			lib.Shutdown()
		}
		t.Fatalf("Init of the real NVML without /dev/nvidiactl = %v, want ERROR_LIBRARY_NOT_FOUND or ERROR_DRIVER_NOT_LOADED", ret)
	}
	devs, err := Discover(OpenNVML(), nil)
	if !errors.Is(err, ErrNoNVML) {
		t.Fatalf("Discover(OpenNVML()) = %v, %v; want an error wrapping ErrNoNVML", devs, err)
	}
	if !strings.Contains(err.Error(), "--simulate-gpus") {
		t.Errorf("Discover error %q does not point at --simulate-gpus", err)
	}
	t.Logf("Discover(OpenNVML()): %v", err)
	if _, _, serr := NewSampler(OpenNVML()).Sample([]string{"GPU-x"}); !errors.Is(serr, ErrNoNVML) {
		t.Errorf("Sample with the real NVML: %v, want an error wrapping ErrNoNVML", serr)
	}
}

func TestRealNVML(t *testing.T) {
	if !hasNVIDIADriver() {
		t.Skip("no /dev/nvidiactl: no NVIDIA driver on this machine")
	}
	devs, err := Discover(OpenNVML(), nil)
	var unknown *UnknownModelError
	if errors.As(err, &unknown) {
		t.Skipf("this machine's GPUs have no default type: %v", err)
	}
	if err != nil {
		t.Fatalf("Discover(OpenNVML()): %v", err)
	}
	uuids := make([]string, len(devs))
	for i, d := range devs {
		t.Logf("%+v", d)
		if !strings.HasPrefix(d.UUID, "GPU-") || d.MemoryBytes == 0 || d.Minor < 0 || d.Simulated {
			t.Errorf("device %d: %+v", i, d)
		}
		uuids[i] = d.UUID
	}
	sampler := NewSampler(OpenNVML())
	defer sampler.Close()
	util, mem, err := sampler.Sample(uuids)
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	if util < 0 || util > 100 {
		t.Errorf("Sample: utilisation %v%%, want 0 to 100", util)
	}
	t.Logf("Sample: %v%%, %d bytes used", util, mem)
}
