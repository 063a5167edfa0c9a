package gpu

import (
	"errors"
	"sync"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// busy gives device i of s a utilisation and a memory use.
func busy(s *server.Server, i int, util uint32, used uint64) {
	d := mockDevice(s, i)
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: util, Memory: util / 2}, nvml.SUCCESS
	}
	d.MemoryInfo.Used = used
}

func TestSamplerSample(t *testing.T) {
	s := dgxa100.New()
	for i, util := range []uint32{0, 100, 50, 25, 10, 90, 70, 30} {
		busy(s, i, util, uint64(i)<<30)
	}
	uuid := func(i int) string { return mockDevice(s, i).UUID }
	tests := []struct {
		name     string
		uuids    []string
		wantUtil float64
		wantMem  uint64
	}{
		{"one idle", []string{uuid(0)}, 0, 0},
		{"one busy", []string{uuid(1)}, 100, 1 << 30},
		{"two", []string{uuid(1), uuid(2)}, 75, 3 << 30},
		{"four", []string{uuid(4), uuid(5), uuid(6), uuid(7)}, 50, 22 << 30},
	}
	lib := count(s)
	sampler := NewSampler(lib)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			util, mem, err := sampler.Sample(tt.uuids)
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			if util != tt.wantUtil || mem != tt.wantMem {
				t.Errorf("Sample = %v%%, %d bytes; want %v%%, %d bytes", util, mem, tt.wantUtil, tt.wantMem)
			}
		})
	}
	if lib.inits != 1 || lib.shutdowns != 0 {
		t.Errorf("after sampling: Init called %d times, Shutdown %d times; want 1 and 0", lib.inits, lib.shutdowns)
	}
	if err := sampler.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sampler.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if lib.inits != 1 || lib.shutdowns != 1 {
		t.Errorf("after Close: Init called %d times, Shutdown %d times; want 1 and 1", lib.inits, lib.shutdowns)
	}
	// Sample after Close opens NVML again.
	if _, _, err := sampler.Sample([]string{uuid(1)}); err != nil {
		t.Fatalf("Sample after Close: %v", err)
	}
	if err := sampler.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if lib.inits != 2 || lib.shutdowns != 2 {
		t.Errorf("at the end: Init called %d times, Shutdown %d times; want 2 and 2", lib.inits, lib.shutdowns)
	}
}

func TestSamplerConcurrent(t *testing.T) {
	s := dgxa100.New()
	for i := range s.Devices {
		busy(s, i, 40, 1<<30)
	}
	sampler := NewSampler(s)
	defer sampler.Close()
	var wg sync.WaitGroup
	for i := range s.Devices {
		wg.Go(func() {
			for range 50 {
				if util, mem, err := sampler.Sample([]string{mockDevice(s, i).UUID}); err != nil || util != 40 || mem != 1<<30 {
					t.Errorf("Sample = %v, %d, %v; want 40, 1 GiB", util, mem, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSamplerErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *server.Server)
		uuids func(s *server.Server) []string
		want  error
	}{
		{
			name:  "no library",
			setup: func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND } },
			want:  ErrNoNVML,
		},
		{
			name:  "unknown UUID",
			uuids: func(*server.Server) []string { return []string{"GPU-00000000-0000-0000-0000-000000000000"} },
			want:  nvml.ERROR_INVALID_ARGUMENT,
		},
		{
			name: "utilization fails",
			setup: func(s *server.Server) {
				mockDevice(s, 0).GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
					return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
				}
			},
			want: nvml.ERROR_GPU_IS_LOST,
		},
		{
			name: "memory fails",
			setup: func(s *server.Server) {
				mockDevice(s, 0).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
					return nvml.Memory{}, nvml.ERROR_UNKNOWN
				}
			},
			want: nvml.ERROR_UNKNOWN,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dgxa100.New()
			busy(s, 0, 10, 10)
			if tt.setup != nil {
				tt.setup(s)
			}
			uuids := []string{mockDevice(s, 0).UUID}
			if tt.uuids != nil {
				uuids = tt.uuids(s)
			}
			sampler := NewSampler(s)
			defer sampler.Close()
			if util, mem, err := sampler.Sample(uuids); !errors.Is(err, tt.want) {
				t.Errorf("Sample = %v, %d, %v; want an error wrapping %v", util, mem, err, tt.want)
			}
		})
	}
	t.Run("no GPUs", func(t *testing.T) {
		sampler := NewSampler(dgxa100.New())
		if _, _, err := sampler.Sample(nil); err == nil {
			t.Errorf("Sample(nil) succeeded")
		}
	})
}

func TestSamplerSimulated(t *testing.T) {
	var sampler *Sampler
	if !sampler.Simulated() {
		t.Error("nil Sampler: Simulated() = false")
	}
	if NewSampler(dgxa100.New()).Simulated() {
		t.Error("NVML Sampler: Simulated() = true")
	}
	util, mem, err := sampler.Sample([]string{"GPU-x"})
	if !errors.Is(err, ErrSimulated) || util != 0 || mem != 0 {
		t.Errorf("nil Sampler: Sample = %v, %d, %v; want 0, 0, ErrSimulated", util, mem, err)
	}
	if cerr := sampler.Close(); cerr != nil {
		t.Errorf("nil Sampler: Close: %v", cerr)
	}
}

func TestUsageSummary(t *testing.T) {
	type sample struct {
		util float64
		mem  uint64
	}
	tests := []struct {
		name    string
		samples []sample
		want    *gpuqv1.GPUUsage
	}{
		{"none", nil, nil},
		{"one", []sample{{30, 5}}, &gpuqv1.GPUUsage{UtilizationMean: 30, UtilizationMax: 30, MemoryUsedMaxBytes: 5}},
		{"idle", []sample{{0, 0}, {0, 0}}, &gpuqv1.GPUUsage{}},
		{"several", []sample{{10, 1 << 30}, {90, 3 << 30}, {50, 2 << 30}, {50, 0}},
			&gpuqv1.GPUUsage{UtilizationMean: 50, UtilizationMax: 90, MemoryUsedMaxBytes: 3 << 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u UsageSummary
			for _, s := range tt.samples {
				u.Add(s.util, s.mem)
			}
			if u.Samples() != len(tt.samples) {
				t.Errorf("Samples() = %d, want %d", u.Samples(), len(tt.samples))
			}
			if diff := cmp.Diff(tt.want, u.Proto(), protocmp.Transform()); diff != "" {
				t.Errorf("Proto (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSampleIntoSummary is the node daemon's use: samples of a job's GPUs
// into its summary.
func TestSampleIntoSummary(t *testing.T) {
	s := dgxa100.New()
	sampler := NewSampler(s)
	defer sampler.Close()
	var u UsageSummary
	uuids := []string{mockDevice(s, 0).UUID, mockDevice(s, 1).UUID}
	for _, step := range []struct{ a, b uint32 }{{20, 40}, {80, 100}, {0, 0}} {
		busy(s, 0, step.a, uint64(step.a)<<20)
		busy(s, 1, step.b, uint64(step.b)<<20)
		util, mem, err := sampler.Sample(uuids)
		if err != nil {
			t.Fatalf("Sample: %v", err)
		}
		u.Add(util, mem)
	}
	want := &gpuqv1.GPUUsage{UtilizationMean: 40, UtilizationMax: 90, MemoryUsedMaxBytes: 180 << 20}
	if diff := cmp.Diff(want, u.Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("Proto (-want +got):\n%s", diff)
	}
}
