//go:build cgo && !nonvml

package gpu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML reads real GPUs through the NVIDIA Management Library. It holds an
// initialised library until Close.
type NVML struct {
	lib nvml.Interface
	log *slog.Logger
}

var _ Provider = (*NVML)(nil)

func openNVML(log *slog.Logger) (Provider, error) {
	return NewNVML(nvml.New(), log)
}

// NewNVML initialises lib. Tests pass go-nvml's mock; Open passes the real
// library, which is loaded (dlopen of libnvidia-ml.so.1) only here, so the
// binary runs on hosts without the driver. Without it the error is
// ErrNoDriver.
func NewNVML(lib nvml.Interface, log *slog.Logger) (*NVML, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return nil, ErrNoDriver
	default:
		return nil, fmt.Errorf("gpu: NVML init: %w", nvmlError(ret))
	}
	return &NVML{lib: lib, log: log}, nil
}

func (n *NVML) Close() error {
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("gpu: NVML shutdown: %w", nvmlError(ret))
	}
	return nil
}

func (n *NVML) Inventory(ctx context.Context) (*Inventory, error) {
	inv := &Inventory{Source: SourceNVML, Devices: []Device{}}
	if v, ret := n.lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		inv.DriverVersion = v
	}
	if v, ret := n.lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		inv.CUDADriverVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("gpu: NVML device count: %w", nvmlError(ret))
	}
	for i := 0; i < count; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dev, ok := n.device(i)
		if ok {
			inv.Devices = append(inv.Devices, dev)
		}
	}
	return inv, nil
}

// device reads device i; ok is false (and the device skipped, with a
// warning) when even its UUID cannot be read, since a GPU that cannot be
// named cannot be allocated.
func (n *NVML) device(i int) (Device, bool) {
	h, ret := n.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		n.log.Warn("skipping GPU", "index", i, "err", nvmlError(ret))
		return Device{}, false
	}
	uuid, ret := h.GetUUID()
	if ret != nvml.SUCCESS {
		n.log.Warn("skipping GPU without UUID", "index", i, "err", nvmlError(ret))
		return Device{}, false
	}
	d := Device{Index: i, UUID: uuid}
	d.Name = deref(optional(n, i, "name", stringOK(h.GetName())))
	if mem, ret := h.GetMemoryInfo(); n.ok(i, "memory_info", ret) {
		d.MemoryTotalBytes = ptr(mem.Total)
	}
	if major, minor, ret := h.GetCudaComputeCapability(); n.ok(i, "compute_capability", ret) {
		d.ComputeCapability = ptr(fmt.Sprintf("%d.%d", major, minor))
	}
	if pci, ret := h.GetPciInfo(); n.ok(i, "pci_info", ret) {
		if id := cString(pci.BusId[:]); id != "" {
			d.PCIBusID = ptr(id)
		}
	}
	d.PowerLimitMilliwatts = optional(n, i, "power_limit", uint32OK(h.GetPowerManagementLimit()))
	if cur, _, ret := h.GetMigMode(); n.ok(i, "mig_mode", ret) {
		d.MIGEnabled = ptr(cur == nvml.DEVICE_MIG_ENABLE)
		if *d.MIGEnabled {
			d.MIGDevices = n.migDevices(i, h)
		}
	}
	return d, true
}

func (n *NVML) migDevices(parent int, h nvml.Device) []MIGDevice {
	max, ret := h.GetMaxMigDeviceCount()
	if !n.ok(parent, "max_mig_device_count", ret) {
		return nil
	}
	var out []MIGDevice
	for j := 0; j < max; j++ {
		m, ret := h.GetMigDeviceHandleByIndex(j)
		if ret == nvml.ERROR_NOT_FOUND || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue // an empty MIG slot
		}
		if !n.ok(parent, "mig_device_handle", ret) {
			continue
		}
		uuid, ret := m.GetUUID()
		if !n.ok(parent, "mig_uuid", ret) {
			continue
		}
		md := MIGDevice{Index: j, UUID: uuid}
		md.Name = deref(optional(n, parent, "mig_name", stringOK(m.GetName())))
		if mem, ret := m.GetMemoryInfo(); n.ok(parent, "mig_memory_info", ret) {
			md.MemoryTotalBytes = ptr(mem.Total)
		}
		md.GPUInstanceID = optional(n, parent, "gpu_instance_id", intOK(m.GetGpuInstanceId()))
		md.ComputeInstanceID = optional(n, parent, "compute_instance_id", intOK(m.GetComputeInstanceId()))
		out = append(out, md)
	}
	return out
}

func (n *NVML) Sample(ctx context.Context) ([]Sample, error) {
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("gpu: NVML device count: %w", nvmlError(ret))
	}
	out := make([]Sample, 0, count)
	for i := 0; i < count; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, ret := n.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		uuid, ret := h.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		s := Sample{Index: i, UUID: uuid}
		s.Name = deref(optional(n, i, "name", stringOK(h.GetName())))
		if u, ret := h.GetUtilizationRates(); n.ok(i, "utilization", ret) {
			s.UtilizationPercent = ptr(u.Gpu)
		}
		if mem, ret := h.GetMemoryInfo(); n.ok(i, "memory_info", ret) {
			s.MemoryUsedBytes, s.MemoryTotalBytes = ptr(mem.Used), ptr(mem.Total)
		}
		s.TemperatureCelsius = optional(n, i, "temperature", uint32OK(h.GetTemperature(nvml.TEMPERATURE_GPU)))
		s.PowerUsageMilliwatts = optional(n, i, "power_usage", uint32OK(h.GetPowerUsage()))
		if procs, ret := h.GetComputeRunningProcesses(); n.ok(i, "processes", ret) {
			s.Processes = ptr(len(procs))
		}
		out = append(out, s)
	}
	return out, nil
}

// ok reports whether ret is SUCCESS. NOT_SUPPORTED is an expected answer
// for optional fields; anything else is logged at debug level, since a
// flaky field should not fail a whole inventory.
func (n *NVML) ok(index int, field string, ret nvml.Return) bool {
	switch ret {
	case nvml.SUCCESS:
		return true
	case nvml.ERROR_NOT_SUPPORTED:
		return false
	}
	n.log.Debug("NVML query failed", "index", index, "field", field, "err", nvmlError(ret))
	return false
}

type result[T any] struct {
	v   T
	ret nvml.Return
}

func optional[T any](n *NVML, index int, field string, r result[T]) *T {
	if !n.ok(index, field, r.ret) {
		return nil
	}
	return ptr(r.v)
}

func stringOK(v string, ret nvml.Return) result[string] { return result[string]{v, ret} }
func uint32OK(v uint32, ret nvml.Return) result[uint32] { return result[uint32]{v, ret} }
func intOK(v int, ret nvml.Return) result[int]          { return result[int]{v, ret} }

// nvmlError turns an NVML return code into an error; errors.Is matches it
// against nvml.ERROR_* codes.
func nvmlError(ret nvml.Return) error { return ret }

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
