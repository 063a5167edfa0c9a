// Package gpu owns the node daemon's (gpuq-node) view of its GPUs, and is the
// one package of gpuq that imports go-nvml.
//
// It provides:
//
//   - Discover, which finds a node's GPUs through NVML (OpenNVML in
//     production, go-nvml's mocks in tests) and names each with the GPU type
//     of the config through a TypeMap ("NVIDIA A100-SXM4-40GB" -> "a100");
//   - ParseSimulated, the GPUs of `gpuq-node --simulate-gpus a100:8` for demos
//     and tests on machines without GPUs. Simulated GPUs are marked as such
//     (Device.Simulated) and never sampled: gpuq does not invent utilisation;
//   - Sampler, which reads the utilisation and memory use of a job's GPUs,
//     and UsageSummary, which condenses those samples into the GPUUsage a
//     node reports when a job ends;
//   - DeviceNodes and VisibleDevicesEnv, what a container runtime without CDI
//     needs to give a job its GPUs.
//
// When NVML cannot be loaded (no NVIDIA driver, as on machines without GPUs)
// Discover fails with an error wrapping ErrNoNVML that tells the operator
// what to do; the node daemon must not carry on as if it had GPUs.
//
// MIG: Discover reports whether MIG mode is enabled on a GPU, but gpuq
// schedules whole GPUs only; MIG instances are neither listed nor handed out.
package gpu
