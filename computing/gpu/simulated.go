package gpu

import (
	"context"
	"fmt"
	"sync"
)

// SimDevice configures one simulated GPU. Zero telemetry fields read as
// zero; nil optional fields read as NOT_SUPPORTED.
type SimDevice struct {
	// UUID defaults to SIM-GPU-<index>; simulated UUIDs never look like
	// NVML's "GPU-…" so they cannot be mistaken for hardware.
	UUID                 string
	Name                 string
	MemoryTotalBytes     *uint64
	ComputeCapability    *string
	PCIBusID             *string
	PowerLimitMilliwatts *uint32
	MIG                  []MIGDevice

	UtilizationPercent   *uint32
	MemoryUsedBytes      *uint64
	TemperatureCelsius   *uint32
	PowerUsageMilliwatts *uint32
	Processes            *int
}

// SimulatedH100s returns n simulated 80 GB H100s with idle telemetry.
func SimulatedH100s(n int) []SimDevice {
	devs := make([]SimDevice, n)
	for i := range devs {
		devs[i] = SimDevice{
			Name:                 "Simulated NVIDIA H100 80GB HBM3",
			MemoryTotalBytes:     ptr(uint64(80 << 30)),
			ComputeCapability:    ptr("9.0"),
			PCIBusID:             ptr(fmt.Sprintf("00000000:%02X:00.0", 0x18+i)),
			PowerLimitMilliwatts: ptr(uint32(700_000)),
			UtilizationPercent:   ptr(uint32(0)),
			MemoryUsedBytes:      ptr(uint64(0)),
			TemperatureCelsius:   ptr(uint32(30)),
			PowerUsageMilliwatts: ptr(uint32(70_000)),
			Processes:            ptr(0),
		}
	}
	return devs
}

// Simulated serves configured devices. Every device and sample it returns
// has Simulated set, and its inventory's Source is "simulated": the chain
// accepts such devices only where genesis allows.
type Simulated struct {
	mu   sync.Mutex
	devs []SimDevice
}

var _ Provider = (*Simulated)(nil)

// NewSimulated returns a provider serving devs (copied).
func NewSimulated(devs []SimDevice) *Simulated {
	s := &Simulated{devs: append([]SimDevice(nil), devs...)}
	for i := range s.devs {
		if s.devs[i].UUID == "" {
			s.devs[i].UUID = fmt.Sprintf("SIM-GPU-%d", i)
		}
		if s.devs[i].Name == "" {
			s.devs[i].Name = "Simulated GPU"
		}
	}
	return s
}

// Set replaces device i's configuration, e.g. to change its telemetry.
func (s *Simulated) Set(i int, d SimDevice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.UUID == "" {
		d.UUID = s.devs[i].UUID
	}
	s.devs[i] = d
}

// Device returns device i's configuration.
func (s *Simulated) Device(i int) SimDevice {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devs[i]
}

func (s *Simulated) Inventory(context.Context) (*Inventory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := &Inventory{
		Source:            SourceSimulated,
		Simulated:         true,
		DriverVersion:     "simulated",
		CUDADriverVersion: "simulated",
		Devices:           make([]Device, 0, len(s.devs)),
	}
	for i, d := range s.devs {
		dev := Device{
			Index: i, UUID: d.UUID, Name: d.Name, Simulated: true,
			MemoryTotalBytes:     d.MemoryTotalBytes,
			ComputeCapability:    d.ComputeCapability,
			PCIBusID:             d.PCIBusID,
			PowerLimitMilliwatts: d.PowerLimitMilliwatts,
		}
		if len(d.MIG) > 0 {
			dev.MIGEnabled = ptr(true)
			dev.MIGDevices = append([]MIGDevice(nil), d.MIG...)
		}
		inv.Devices = append(inv.Devices, dev)
	}
	return inv, nil
}

func (s *Simulated) Sample(context.Context) ([]Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, len(s.devs))
	for i, d := range s.devs {
		out = append(out, Sample{
			Index: i, UUID: d.UUID, Name: d.Name, Simulated: true,
			UtilizationPercent:   d.UtilizationPercent,
			MemoryUsedBytes:      d.MemoryUsedBytes,
			MemoryTotalBytes:     d.MemoryTotalBytes,
			TemperatureCelsius:   d.TemperatureCelsius,
			PowerUsageMilliwatts: d.PowerUsageMilliwatts,
			Processes:            d.Processes,
		})
	}
	return out, nil
}

func (s *Simulated) Close() error { return nil }
