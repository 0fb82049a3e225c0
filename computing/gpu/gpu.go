package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Errors returned by Open and providers.
var (
	// ErrNoDriver is the reason Open reports when NVML cannot be loaded
	// because libnvidia-ml (the NVIDIA driver) is not installed.
	ErrNoDriver = errors.New("gpu: no NVIDIA driver (libnvidia-ml not found)")
	// ErrNoNVMLSupport is the reason Open reports when the binary was built
	// without NVML (CGO_ENABLED=0 or the nonvml tag).
	ErrNoNVMLSupport = errors.New("gpu: built without NVML support")
	// ErrUnknownMode is returned by Open for a Config.Mode it does not know.
	ErrUnknownMode = errors.New("gpu: unknown mode")
)

// Provider answers what GPUs a node has and how they are doing. It is safe
// for concurrent use.
type Provider interface {
	// Inventory describes the devices; it changes only when the hardware or
	// MIG layout does.
	Inventory(ctx context.Context) (*Inventory, error)
	// Sample reads live telemetry of every device.
	Sample(ctx context.Context) ([]Sample, error)
	// Close releases the provider (NVML shutdown).
	Close() error
}

// Source says which implementation produced an inventory.
type Source string

const (
	SourceNVML      Source = "nvml"
	SourceSimulated Source = "simulated"
	SourceNone      Source = "none"
)

// Inventory is a node's GPUs as its provider reports them.
type Inventory struct {
	Source Source `json:"source"`
	// Simulated is true when no device is real hardware.
	Simulated bool `json:"simulated"`
	// Reason explains an empty device list (no driver, no NVML support).
	Reason            string   `json:"reason,omitempty"`
	DriverVersion     string   `json:"driver_version,omitempty"`
	CUDADriverVersion string   `json:"cuda_driver_version,omitempty"`
	Devices           []Device `json:"devices"`
}

// Device is one physical GPU. Pointer fields are nil when the device or
// driver does not report them (NVML NOT_SUPPORTED).
type Device struct {
	Index     int    `json:"index"`
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	Simulated bool   `json:"simulated"`

	MemoryTotalBytes     *uint64 `json:"memory_total_bytes,omitempty"`
	ComputeCapability    *string `json:"compute_capability,omitempty"`
	PCIBusID             *string `json:"pci_bus_id,omitempty"`
	PowerLimitMilliwatts *uint32 `json:"power_limit_milliwatts,omitempty"`
	// MIGEnabled is the current MIG mode; nil on GPUs without MIG.
	MIGEnabled *bool       `json:"mig_enabled,omitempty"`
	MIGDevices []MIGDevice `json:"mig_devices,omitempty"`
}

// MIGDevice is one MIG instance of a parent GPU with MIG enabled. It is
// allocated to jobs on its own, by its UUID.
type MIGDevice struct {
	Index             int     `json:"index"`
	UUID              string  `json:"uuid"`
	Name              string  `json:"name,omitempty"`
	MemoryTotalBytes  *uint64 `json:"memory_total_bytes,omitempty"`
	GPUInstanceID     *int    `json:"gpu_instance_id,omitempty"`
	ComputeInstanceID *int    `json:"compute_instance_id,omitempty"`
}

// Sample is one telemetry reading of a device. Pointer fields are nil when
// not supported.
type Sample struct {
	Index     int    `json:"index"`
	UUID      string `json:"uuid"`
	Name      string `json:"name"`
	Simulated bool   `json:"simulated"`

	UtilizationPercent   *uint32 `json:"utilization_percent,omitempty"`
	MemoryUsedBytes      *uint64 `json:"memory_used_bytes,omitempty"`
	MemoryTotalBytes     *uint64 `json:"memory_total_bytes,omitempty"`
	TemperatureCelsius   *uint32 `json:"temperature_celsius,omitempty"`
	PowerUsageMilliwatts *uint32 `json:"power_usage_milliwatts,omitempty"`
	Processes            *int    `json:"processes,omitempty"`
}

// Mode picks the provider Open returns.
type Mode string

const (
	// ModeAuto uses NVML when the driver is present, else reports no GPUs.
	ModeAuto Mode = "auto"
	// ModeNVML is ModeAuto, but logs a warning when NVML is unavailable.
	ModeNVML Mode = "nvml"
	// ModeSimulated serves Config.Simulated.
	ModeSimulated Mode = "simulated"
	// ModeNone reports no GPUs.
	ModeNone Mode = "none"
)

// Config configures Open.
type Config struct {
	Mode      Mode
	Simulated []SimDevice
	Logger    *slog.Logger
}

// Open returns the provider cfg asks for. A host without GPUs, driver or
// NVML support is not an error: the provider reports zero devices and the
// reason, so a node without GPUs still runs.
func Open(cfg Config) (Provider, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "gpu")
	switch cfg.Mode {
	case ModeAuto, ModeNVML, "":
		p, err := openNVML(log)
		if err == nil {
			return p, nil
		}
		lvl := slog.LevelDebug
		if cfg.Mode == ModeNVML {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "no GPUs available", "reason", err)
		return &None{Reason: err.Error()}, nil
	case ModeSimulated:
		return NewSimulated(cfg.Simulated), nil
	case ModeNone:
		return &None{Reason: "GPUs disabled by configuration"}, nil
	}
	return nil, fmt.Errorf("%w %q: want auto, nvml, simulated or none", ErrUnknownMode, cfg.Mode)
}

// None is a provider without devices; Reason says why.
type None struct{ Reason string }

var _ Provider = (*None)(nil)

func (n *None) Inventory(context.Context) (*Inventory, error) {
	return &Inventory{Source: SourceNone, Reason: n.Reason, Devices: []Device{}}, nil
}
func (n *None) Sample(context.Context) ([]Sample, error) { return []Sample{}, nil }
func (n *None) Close() error                             { return nil }

func ptr[T any](v T) *T { return &v }
