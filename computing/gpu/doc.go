// Package gpu owns what a compute node knows about its GPUs: the inventory
// (model, memory, compute capability, PCI bus id, power limit, MIG layout,
// driver versions), per-device telemetry samples, and exclusive allocation of
// GPUs to jobs by UUID.
//
// Provider is the seam. Open picks an implementation: NVML through
// github.com/NVIDIA/go-nvml (only in cgo builds without the nonvml tag),
// Simulated for tests and local testnets (every device and sample it returns
// says Simulated), or an empty provider that says why there are no GPUs, e.g.
// on a host without the NVIDIA driver. Fields NVML may answer NOT_SUPPORTED
// for are pointers, nil when unknown.
//
// Start reading at Provider and Open, then Allocator.
package gpu
