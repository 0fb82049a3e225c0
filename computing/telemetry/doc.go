// Package telemetry samples a compute node's GPUs (through a gpu.Provider)
// and its host (CPU and memory load) periodically, keeps the latest
// Snapshot for the rest of the node, and exports it as Prometheus gauges
// named emcd_gpu_* and emcd_host_*, with dcgm-exporter-style labels (gpu,
// UUID, modelName) plus simulated="true" for simulated devices.
//
// Start reading at Sampler; Collector is the Prometheus side. The sampler
// takes its Clock as an argument so tests drive it without sleeping.
package telemetry
