package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxb200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// counted wraps the Init and Shutdown of a mock server with counters, so that
// a test can check that every Init is matched by a Shutdown.
type counted struct {
	*server.Server
	inits, shutdowns int
}

func count(s *server.Server) *counted {
	c := &counted{Server: s}
	initFn, shutdownFn := s.InitFunc, s.ShutdownFunc
	s.InitFunc = func() nvml.Return {
		c.inits++
		return initFn()
	}
	s.ShutdownFunc = func() nvml.Return {
		c.shutdowns++
		return shutdownFn()
	}
	return c
}

// mockDevice returns device i of a mock server.
func mockDevice(s *server.Server, i int) *server.Device {
	return s.Devices[i].(*server.Device)
}

// wantDevices is what Discover should find on a mock server.
func wantDevices(s *server.Server, model, typ string, memMiB uint64) []Device {
	var want []Device
	for i := range s.Devices {
		want = append(want, Device{
			Index:       i,
			UUID:        mockDevice(s, i).UUID,
			Model:       model,
			Type:        typ,
			MemoryBytes: memMiB << 20,
			Minor:       i,
		})
	}
	return want
}

func TestDiscoverMocks(t *testing.T) {
	tests := []struct {
		name   string
		server *server.Server
		types  TypeMap
		model  string
		typ    string
		memMiB uint64
	}{
		{"dgxa100", dgxa100.New(), nil, "Mock NVIDIA A100-SXM4-40GB", "a100", 40960},
		{"dgxh100", dgxh100.New(), nil, "NVIDIA H100 80GB HBM3", "h100", 81920},
		{"dgxh200", dgxh200.New(), nil, "NVIDIA H200 141GB HBM3e", "h200", 144384},
		{"dgxb200 mapped", dgxb200.New(), TypeMap{"B200": "b200"}, "NVIDIA B200 180GB HBM3e", "b200", 184320},
		{"dgxa100 as a100-40gb", dgxa100.New(), TypeMap{"A100-SXM4-40GB": "a100-40gb"}, "Mock NVIDIA A100-SXM4-40GB", "a100-40gb", 40960},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := count(tt.server)
			got, err := Discover(lib, tt.types)
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			want := wantDevices(tt.server, tt.model, tt.typ, tt.memMiB)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Discover (-want +got):\n%s", diff)
			}
			if lib.inits != 1 || lib.shutdowns != 1 {
				t.Errorf("Init called %d times, Shutdown %d times; want 1 and 1", lib.inits, lib.shutdowns)
			}
		})
	}
}

func TestDiscoverMIG(t *testing.T) {
	s := dgxa100.New()
	if ret, _ := mockDevice(s, 2).SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
		t.Fatalf("SetMigMode: %v", ret)
	}
	// An A10 or a V100 has no MIG: NVML says ERROR_NOT_SUPPORTED.
	mockDevice(s, 5).GetMigModeFunc = func() (int, int, nvml.Return) {
		return 0, 0, nvml.ERROR_NOT_SUPPORTED
	}
	got, err := Discover(s, nil)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var mig []int
	for _, d := range got {
		if d.MIGEnabled {
			mig = append(mig, d.Index)
		}
	}
	if diff := cmp.Diff([]int{2}, mig); diff != "" {
		t.Errorf("MIG-enabled devices (-want +got):\n%s", diff)
	}
}

func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *server.Server)
		types TypeMap
		// want are errors the result must wrap; notWant errors it must not.
		want    []error
		notWant []error
		// init is whether Discover must have initialised NVML (and so shut it
		// down again).
		init bool
	}{
		{
			name:  "no library",
			setup: func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND } },
			want:  []error{ErrNoNVML, nvml.ERROR_LIBRARY_NOT_FOUND},
		},
		{
			name:  "no driver",
			setup: func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED } },
			want:  []error{ErrNoNVML, nvml.ERROR_DRIVER_NOT_LOADED},
		},
		{
			name:    "init fails otherwise",
			setup:   func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_LIB_RM_VERSION_MISMATCH } },
			want:    []error{nvml.ERROR_LIB_RM_VERSION_MISMATCH},
			notWant: []error{ErrNoNVML},
		},
		{
			name:  "no GPUs",
			setup: func(s *server.Server) { s.Devices = nil },
			want:  []error{ErrNoDevices},
			init:  true,
		},
		{
			name: "count fails",
			setup: func(s *server.Server) {
				s.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
			},
			want: []error{nvml.ERROR_UNKNOWN},
			init: true,
		},
		{
			name: "GPU lost",
			setup: func(s *server.Server) {
				mockDevice(s, 3).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST }
			},
			want: []error{nvml.ERROR_GPU_IS_LOST},
			init: true,
		},
		{
			name: "MIG mode fails",
			setup: func(s *server.Server) {
				mockDevice(s, 0).GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_UNKNOWN }
			},
			want: []error{nvml.ERROR_UNKNOWN},
			init: true,
		},
		{
			name: "shutdown fails",
			setup: func(s *server.Server) {
				s.ShutdownFunc = func() nvml.Return { return nvml.ERROR_UNKNOWN }
			},
			want: []error{nvml.ERROR_UNKNOWN},
			init: true,
		},
		{
			name:  "bad type map",
			types: TypeMap{"A100": "A100"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dgxa100.New()
			if tt.setup != nil {
				tt.setup(s)
			}
			lib := count(s)
			got, err := Discover(lib, tt.types)
			if err == nil {
				t.Fatalf("Discover = %v, want an error", got)
			}
			if got != nil {
				t.Errorf("Discover returned devices with its error: %v", got)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Discover error %q does not wrap %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if errors.Is(err, w) {
					t.Errorf("Discover error %q wraps %q", err, w)
				}
			}
			wantInits := 1
			if tt.types.Validate() != nil {
				wantInits = 0
			}
			wantShutdowns := 0
			if tt.init {
				wantShutdowns = 1
			}
			if lib.inits != wantInits || lib.shutdowns != wantShutdowns {
				t.Errorf("Init called %d times, Shutdown %d times; want %d and %d", lib.inits, lib.shutdowns, wantInits, wantShutdowns)
			}
		})
	}
}

// TestNoNVMLMessage checks that an operator without GPUs is told what to do.
func TestNoNVMLMessage(t *testing.T) {
	s := dgxa100.New()
	s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	_, err := Discover(s, nil)
	for _, want := range []string{"no NVIDIA driver", "libnvidia-ml", "--simulate-gpus"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Discover error %q does not mention %q", err, want)
		}
	}
}

func TestDiscoverUnknownModel(t *testing.T) {
	s := dgxa100.New()
	mockDevice(s, 6).GetNameFunc = func() (string, nvml.Return) { return "NVIDIA A10G", nvml.SUCCESS }
	lib := count(s)
	_, err := Discover(lib, nil)
	var unknown *UnknownModelError
	if !errors.As(err, &unknown) {
		t.Fatalf("Discover error %v, want an *UnknownModelError", err)
	}
	if unknown.Model != "NVIDIA A10G" {
		t.Errorf("UnknownModelError.Model = %q, want %q", unknown.Model, "NVIDIA A10G")
	}
	// The operator reads which GPU, which model, and an entry to add.
	for _, want := range []string{"GPU 6", mockDevice(s, 6).UUID, `"NVIDIA A10G"`, `"A10G": "a10g"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Discover error %q does not mention %s", err, want)
		}
	}
	if lib.shutdowns != 1 {
		t.Errorf("Shutdown called %d times, want 1", lib.shutdowns)
	}
	// With the entry it suggests, the node starts.
	devs, err := Discover(s, TypeMap{"A10G": "a10"})
	if err != nil {
		t.Fatalf("Discover with A10G mapped: %v", err)
	}
	if devs[6].Type != "a10" || devs[5].Type != "a100" {
		t.Errorf("types %q, %q; want a100, a10", devs[5].Type, devs[6].Type)
	}
}

func TestDeviceProto(t *testing.T) {
	d := Device{Index: 3, UUID: "GPU-x", Model: "NVIDIA A800-SXM4-80GB", Type: "a800", MemoryBytes: 80 << 30, MIGEnabled: true, Minor: 3}
	want := &gpuqv1.GPU{Index: 3, Uuid: "GPU-x", Model: "NVIDIA A800-SXM4-80GB", Type: "a800", MemoryBytes: 80 << 30, MigEnabled: true}
	if diff := cmp.Diff(want, d.Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("Proto (-want +got):\n%s", diff)
	}
}
