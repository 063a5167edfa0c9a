package gpu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// ErrSimulated is what a nil Sampler, the sampler of simulated GPUs, returns:
// simulated GPUs have no utilisation to report, and gpuq does not make one up.
var ErrSimulated = errors.New("simulated GPUs: no usage to sample")

// Sampler reads the utilisation and memory use of GPUs through NVML. It
// initialises NVML on its first Sample and keeps it until Close. It is safe
// for concurrent use.
//
// A nil *Sampler is the sampler of simulated GPUs: its Sample returns
// ErrSimulated, so that a job on them reports no usage rather than a made-up
// one.
type Sampler struct {
	lib nvml.Interface

	mu   sync.Mutex
	open bool // lib is initialised
}

// NewSampler returns a sampler of the GPUs of lib (OpenNVML in production).
func NewSampler(lib nvml.Interface) *Sampler {
	return &Sampler{lib: lib}
}

// Simulated reports whether s is the sampler of simulated GPUs.
func (s *Sampler) Simulated() bool {
	return s == nil
}

// Sample reads the GPUs with the given UUIDs once: util is their mean GPU
// utilisation in percent (0 to 100, the share of the last sample period, as
// NVML measures it, during which a kernel ran) and memUsed the sum of their
// used memory in bytes. It fails if any GPU cannot be read.
func (s *Sampler) Sample(uuids []string) (util float64, memUsed uint64, err error) {
	if s == nil {
		return 0, 0, ErrSimulated
	}
	if len(uuids) == 0 {
		return 0, 0, errors.New("sample GPU usage: no GPUs given")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		if ret := s.lib.Init(); ret != nvml.SUCCESS {
			return 0, 0, fmt.Errorf("sample GPU usage: %w", initError(ret))
		}
		s.open = true
	}
	var sum float64
	for _, id := range uuids {
		h, ret := s.lib.DeviceGetHandleByUUID(id)
		if ret != nvml.SUCCESS {
			return 0, 0, fmt.Errorf("sample GPU usage: %s: get handle: %w", id, ret)
		}
		u, ret := h.GetUtilizationRates()
		if ret != nvml.SUCCESS {
			return 0, 0, fmt.Errorf("sample GPU usage: %s: get utilization: %w", id, ret)
		}
		m, ret := h.GetMemoryInfo()
		if ret != nvml.SUCCESS {
			return 0, 0, fmt.Errorf("sample GPU usage: %s: get memory info: %w", id, ret)
		}
		sum += float64(u.Gpu)
		memUsed += m.Used
	}
	return sum / float64(len(uuids)), memUsed, nil
}

// Close shuts NVML down if Sample initialised it. Sample may be called again
// afterwards and initialises it again.
func (s *Sampler) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return nil
	}
	s.open = false
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("close GPU sampler: NVML shutdown: %w", ret)
	}
	return nil
}

// UsageSummary condenses a job's samples: the mean and the highest
// utilisation, and the most memory used. Its zero value is an empty summary.
// It is not safe for concurrent use.
type UsageSummary struct {
	n       int
	utilSum float64
	utilMax float64
	memMax  uint64
}

// Add records one sample, as Sampler.Sample returns it.
func (u *UsageSummary) Add(util float64, mem uint64) {
	if u.n == 0 || util > u.utilMax {
		u.utilMax = util
	}
	u.n++
	u.utilSum += util
	u.memMax = max(u.memMax, mem)
}

// Samples returns how many samples were added.
func (u *UsageSummary) Samples() int {
	return u.n
}

// Proto returns the summary for the node protocol, or nil when it has no
// samples (simulated GPUs, or a job that ended before the first sample): no
// usage known, rather than a usage of zero.
func (u *UsageSummary) Proto() *gpuqv1.GPUUsage {
	if u.n == 0 {
		return nil
	}
	return &gpuqv1.GPUUsage{
		UtilizationMean:    u.utilSum / float64(u.n),
		UtilizationMax:     u.utilMax,
		MemoryUsedMaxBytes: u.memMax,
	}
}
