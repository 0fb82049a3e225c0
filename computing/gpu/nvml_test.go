//go:build cgo && !nonvml

package gpu

// These tests drive the NVML provider with go-nvml's mock of a DGX H100
// (8 GPUs). The mock panics on methods nobody set, so each test sets the
// telemetry and optional-field functions it needs by hand; a method left
// unset that the provider calls fails the test loudly.

import (
	"context"
	"errors"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// newMockServer returns a DGX H100 whose optional fields are all set:
// power limit 700 W, telemetry distinct per device, PCI bus ids.
func newMockServer(t *testing.T) *server.Server {
	t.Helper()
	srv := dgxh100.New()
	for i, d := range srv.Devices {
		dev := d.(*server.Device)
		setTelemetry(dev, i)
	}
	return srv
}

func setTelemetry(dev *server.Device, i int) {
	dev.GetPowerManagementLimitFunc = func() (uint32, nvml.Return) { return 700_000, nvml.SUCCESS }
	dev.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		var p nvml.PciInfo
		for j, c := range []byte("00000000:1" + string(rune('0'+i)) + ":00.0") {
			p.BusId[j] = int8(c)
		}
		return p, nvml.SUCCESS
	}
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: uint32(10 * i), Memory: 5}, nvml.SUCCESS
	}
	dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{Total: 80 << 30, Used: uint64(i) << 30, Free: (80 - uint64(i)) << 30}, nvml.SUCCESS
	}
	dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return uint32(40 + i), nvml.SUCCESS }
	dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return uint32(100_000 + i), nvml.SUCCESS }
	dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return make([]nvml.ProcessInfo, i%3), nvml.SUCCESS
	}
}

func TestNVMLInventory(t *testing.T) {
	srv := newMockServer(t)
	p, err := NewNVML(srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := p.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != SourceNVML || inv.Simulated {
		t.Fatalf("source %s simulated %v", inv.Source, inv.Simulated)
	}
	if inv.DriverVersion != "550.54.15" || inv.CUDADriverVersion != "12.4" {
		t.Fatalf("versions %q %q", inv.DriverVersion, inv.CUDADriverVersion)
	}
	if len(inv.Devices) != 8 {
		t.Fatalf("%d devices", len(inv.Devices))
	}
	d := inv.Devices[3]
	uuid, _ := srv.Devices[3].GetUUID()
	if d.Index != 3 || d.UUID != uuid || d.Name != "NVIDIA H100 80GB HBM3" || d.Simulated {
		t.Fatalf("device %+v", d)
	}
	if *d.MemoryTotalBytes != 80<<30 || *d.ComputeCapability != "9.0" || *d.PCIBusID != "00000000:13:00.0" ||
		*d.PowerLimitMilliwatts != 700_000 || *d.MIGEnabled || d.MIGDevices != nil {
		t.Fatalf("device fields %+v", d)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNVMLNotSupported(t *testing.T) {
	srv := newMockServer(t)
	dev := srv.Devices[0].(*server.Device)
	ns := nvml.ERROR_NOT_SUPPORTED
	dev.GetPowerManagementLimitFunc = func() (uint32, nvml.Return) { return 0, ns }
	dev.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) { return nvml.PciInfo{}, ns }
	dev.GetCudaComputeCapabilityFunc = func() (int, int, nvml.Return) { return 0, 0, ns }
	dev.GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, ns }
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, ns }
	dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, ns }
	dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_UNKNOWN } // a flaky field
	dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, ns }
	dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, ns }
	srv.SystemGetCudaDriverVersionFunc = func() (int, nvml.Return) { return 0, ns }

	p, err := NewNVML(srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := p.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := inv.Devices[0]
	if d.PowerLimitMilliwatts != nil || d.PCIBusID != nil || d.ComputeCapability != nil || d.MIGEnabled != nil || d.MemoryTotalBytes != nil {
		t.Fatalf("unsupported fields set: %+v", d)
	}
	if d.UUID == "" || d.Name == "" || inv.CUDADriverVersion != "" {
		t.Fatalf("required fields missing: %+v / %q", d, inv.CUDADriverVersion)
	}
	samples, err := p.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := samples[0]
	if s.UtilizationPercent != nil || s.TemperatureCelsius != nil || s.PowerUsageMilliwatts != nil || s.Processes != nil || s.MemoryUsedBytes != nil {
		t.Fatalf("unsupported sample fields set: %+v", s)
	}
	if s1 := samples[1]; s1.UtilizationPercent == nil || *s1.UtilizationPercent != 10 {
		t.Fatalf("device 1 sample %+v", s1)
	}
	// A device whose UUID cannot be read is skipped, not fatal.
	srv.Devices[7].(*server.Device).GetUUIDFunc = func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }
	inv, err = p.Inventory(context.Background())
	if err != nil || len(inv.Devices) != 7 {
		t.Fatalf("lost GPU: %d devices, %v", len(inv.Devices), err)
	}
}

func TestNVMLSample(t *testing.T) {
	p, err := NewNVML(newMockServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := p.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 8 {
		t.Fatalf("%d samples", len(samples))
	}
	s := samples[5]
	if *s.UtilizationPercent != 50 || *s.MemoryUsedBytes != 5<<30 || *s.MemoryTotalBytes != 80<<30 ||
		*s.TemperatureCelsius != 45 || *s.PowerUsageMilliwatts != 100_005 || *s.Processes != 2 || s.Simulated {
		t.Fatalf("sample %+v", s)
	}
}

// TestNVMLMIG lists MIG instances under their parent, skips empty slots, and
// makes the instances (not the parent) the allocation units.
func TestNVMLMIG(t *testing.T) {
	srv := newMockServer(t)
	parent := srv.Devices[0].(*server.Device)
	parent.MigMode = nvml.DEVICE_MIG_ENABLE
	migs := []nvml.Device{newMIG("MIG-a", 1, 10<<30), nil, newMIG("MIG-b", 2, 20<<30)}
	parent.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return len(migs), nvml.SUCCESS }
	parent.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if migs[i] == nil {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return migs[i], nvml.SUCCESS
	}
	p, err := NewNVML(srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := p.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := inv.Devices[0]
	if !*d.MIGEnabled || len(d.MIGDevices) != 2 {
		t.Fatalf("MIG devices %+v", d.MIGDevices)
	}
	m := d.MIGDevices[1]
	if m.Index != 2 || m.UUID != "MIG-b" || *m.MemoryTotalBytes != 20<<30 || *m.GPUInstanceID != 2 || *m.ComputeInstanceID != 0 || m.Name != "2g.20gb" {
		t.Fatalf("MIG device %+v", m)
	}
	units := Units(inv)
	if len(units) != 9 || units[0].UUID != "MIG-a" || units[0].ParentUUID != d.UUID || units[2].UUID != inv.Devices[1].UUID {
		t.Fatalf("units %+v", units[:3])
	}
	a := NewAllocator(inv)
	alloc, err := a.Allocate("j", 1, 15<<30)
	if err != nil || alloc.UUIDs()[0] != "MIG-b" {
		t.Fatalf("allocate: %v %v", alloc, err)
	}
}

func newMIG(uuid string, gi int, mem uint64) nvml.Device {
	return &mock.Device{
		GetUUIDFunc:              func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
		GetNameFunc:              func() (string, nvml.Return) { return "2g.20gb", nvml.SUCCESS },
		GetMemoryInfoFunc:        func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: mem}, nvml.SUCCESS },
		GetGpuInstanceIdFunc:     func() (int, nvml.Return) { return gi, nvml.SUCCESS },
		GetComputeInstanceIdFunc: func() (int, nvml.Return) { return 0, nvml.SUCCESS },
	}
}

func TestNVMLInitFailure(t *testing.T) {
	srv := newMockServer(t)
	srv.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	if _, err := NewNVML(srv, nil); !errors.Is(err, ErrNoDriver) {
		t.Fatalf("got %v, want ErrNoDriver", err)
	}
	srv.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
	if _, err := NewNVML(srv, nil); !errors.Is(err, nvml.ERROR_DRIVER_NOT_LOADED) {
		t.Fatalf("got %v, want DRIVER_NOT_LOADED", err)
	}
}
