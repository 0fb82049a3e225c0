package gpu

import (
	"context"
	"errors"
	"testing"
)

// TestOpenWithoutDriver runs against this host's real NVML loader. On a CI
// machine or laptop without the NVIDIA driver it must report zero GPUs and
// the reason, never an error; with a driver it lists real devices.
func TestOpenWithoutDriver(t *testing.T) {
	p, err := Open(Config{Mode: ModeAuto})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	inv, err := p.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source == SourceNone {
		if len(inv.Devices) != 0 || inv.Reason == "" {
			t.Fatalf("no-GPU inventory %+v", inv)
		}
		t.Logf("no GPUs: %s", inv.Reason)
	}
}

func TestOpenModes(t *testing.T) {
	p, err := Open(Config{Mode: ModeNone})
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := p.Inventory(context.Background())
	if inv.Source != SourceNone || len(inv.Devices) != 0 || inv.Devices == nil {
		t.Fatalf("none: %+v", inv)
	}
	if _, err := Open(Config{Mode: "cuda"}); !errors.Is(err, ErrUnknownMode) {
		t.Fatalf("unknown mode: %v", err)
	}
	p, err = Open(Config{Mode: ModeSimulated, Simulated: SimulatedH100s(2)})
	if err != nil {
		t.Fatal(err)
	}
	inv, _ = p.Inventory(context.Background())
	if inv.Source != SourceSimulated || !inv.Simulated || len(inv.Devices) != 2 {
		t.Fatalf("simulated: %+v", inv)
	}
}

func TestSimulated(t *testing.T) {
	s := NewSimulated(append(SimulatedH100s(2), SimDevice{Name: "bare"}))
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range inv.Devices {
		if !d.Simulated || d.Index != i {
			t.Fatalf("device %d not marked simulated: %+v", i, d)
		}
	}
	if inv.Devices[1].UUID != "SIM-GPU-1" || *inv.Devices[0].MemoryTotalBytes != 80<<30 {
		t.Fatalf("devices %+v", inv.Devices)
	}
	if bare := inv.Devices[2]; bare.MemoryTotalBytes != nil || bare.PowerLimitMilliwatts != nil || bare.MIGEnabled != nil {
		t.Fatalf("bare device has fields: %+v", bare)
	}
	d := s.Device(0)
	d.UtilizationPercent = ptr(uint32(93))
	s.Set(0, d)
	samples, _ := s.Sample(context.Background())
	if *samples[0].UtilizationPercent != 93 || !samples[0].Simulated || samples[2].TemperatureCelsius != nil {
		t.Fatalf("samples %+v", samples)
	}
}

func TestAllocator(t *testing.T) {
	devs := SimulatedH100s(3)
	devs[2].MemoryTotalBytes = ptr(uint64(24 << 30))
	devs = append(devs, SimDevice{Name: "unknown memory"})
	inv, _ := NewSimulated(devs).Inventory(context.Background())
	a := NewAllocator(inv)

	steps := []struct {
		op      string // "alloc" or "release"
		job     string
		count   int
		minMem  int64
		want    []string
		wantErr error
	}{
		{"alloc", "a", 0, 0, []string{}, nil},
		{"release", "a", 0, 0, nil, nil},
		{"alloc", "a", 5, 0, nil, ErrInsufficientGPUs},                       // node has 4
		{"alloc", "a", 3, 40 << 30, nil, ErrInsufficientGPUs},                // only 2 have 40 GiB
		{"alloc", "a", 2, 40 << 30, []string{"SIM-GPU-0", "SIM-GPU-1"}, nil}, //
		{"alloc", "a", 1, 0, nil, ErrJobHasGPUs},                             //
		{"alloc", "b", 1, 40 << 30, nil, ErrGPUsBusy},                        // both big ones held
		{"alloc", "b", 2, 0, []string{"SIM-GPU-2", "SIM-GPU-3"}, nil},        //
		{"alloc", "c", 1, 0, nil, ErrGPUsBusy},                               //
		{"release", "a", 0, 0, nil, nil},                                     //
		{"release", "a", 0, 0, nil, nil},                                     // twice is a no-op
		{"alloc", "c", 1, 1, []string{"SIM-GPU-0"}, nil},                     //
	}
	for i, st := range steps {
		if st.op == "release" {
			a.Release(st.job)
			continue
		}
		alloc, err := a.Allocate(st.job, st.count, st.minMem)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
		}
		if err != nil {
			continue
		}
		got := alloc.UUIDs()
		if len(got) != len(st.want) {
			t.Fatalf("step %d: got %v want %v", i, got, st.want)
		}
		for j := range got {
			if got[j] != st.want[j] {
				t.Fatalf("step %d: got %v want %v", i, got, st.want)
			}
		}
		if len(got) > 0 && !alloc.Simulated() {
			t.Fatalf("step %d: simulated units not marked", i)
		}
		checkExclusive(t, a)
	}
	if a.Held() != 3 || a.Total() != 4 {
		t.Fatalf("held %d total %d", a.Held(), a.Total())
	}
}

// checkExclusive asserts no unit is held by two jobs and owner agrees with jobs.
func checkExclusive(t *testing.T, a *Allocator) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for job, alloc := range a.jobs {
		for _, u := range alloc.Units {
			if a.owner[u.UUID] != job {
				t.Fatalf("unit %s held by %q per owner, %q per jobs", u.UUID, a.owner[u.UUID], job)
			}
			n++
		}
	}
	if n != len(a.owner) {
		t.Fatalf("%d units in jobs, %d owned", n, len(a.owner))
	}
}
