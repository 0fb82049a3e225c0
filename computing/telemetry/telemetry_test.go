package telemetry

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/emc-network/emcd/computing/gpu"
)

// fakeClock is advanced by hand; its tickers fire only when the test sends.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	c   chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), c: make(chan time.Time)}
}
func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}
func (f *fakeClock) NewTicker(time.Duration) Ticker { return fakeTicker{f.c} }

// tick advances the clock and blocks until the sampler takes the tick.
func (f *fakeClock) tick(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	f.mu.Unlock()
	f.c <- now
}

type fakeTicker struct{ c chan time.Time }

func (t fakeTicker) C() <-chan time.Time { return t.c }
func (fakeTicker) Stop()                 {}

func procFS(busy, total uint64) fstest.MapFS {
	idle := total - busy
	return fstest.MapFS{
		"stat":    {Data: []byte("cpu  " + u(busy) + " 0 0 " + u(idle) + " 0 0 0 0 0 0\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nintr 5\n")},
		"loadavg": {Data: []byte("0.50 0.40 0.30 1/100 123\n")},
		"meminfo": {Data: []byte("MemTotal:       16384000 kB\nMemFree:  1 kB\nMemAvailable:    4096000 kB\n")},
	}
}

func u(v uint64) string { return itoa(v) }
func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

// swapHost lets a test change what /proc says between samples.
type swapHost struct {
	mu sync.Mutex
	fs fstest.MapFS
}

func (s *swapHost) set(fs fstest.MapFS) { s.mu.Lock(); s.fs = fs; s.mu.Unlock() }
func (s *swapHost) ReadHost() (HostStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ProcHost{FS: s.fs}.ReadHost()
}

func TestSampler(t *testing.T) {
	devs := gpu.SimulatedH100s(2)
	devs = append(devs, gpu.SimDevice{Name: "bare"}) // every telemetry field NOT_SUPPORTED
	prov := gpu.NewSimulated(devs)
	clk := newFakeClock()
	host := &swapHost{fs: procFS(100, 1000)}
	s := NewSampler(prov, time.Second, clk, host, nil)

	if _, ok := s.Latest(); ok {
		t.Fatal("latest before first sample")
	}
	snap, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.GPUs) != 3 || !snap.GPUs[0].Simulated || snap.TakenAtUnixMillis != 1_700_000_000_000 {
		t.Fatalf("snapshot %+v", snap)
	}
	h := snap.Host
	if h.CPUCount != 2 || h.Load1 != 0.5 || h.MemoryTotalBytes != 16384000*1024 || h.MemoryUsedBytes != (16384000-4096000)*1024 || h.CPUUtilizationPercent != nil {
		t.Fatalf("host %+v", h)
	}

	// Run samples immediately and on each tick; the second tick is only
	// taken once the first tick's sample is done.
	host.set(procFS(400, 2000)) // 300 busy of 1000 since the first read
	snap, err = s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p := snap.Host.CPUUtilizationPercent; p == nil || *p != 30 {
		t.Fatalf("CPU utilisation %v, want 30", p)
	}
	d := prov.Device(0)
	d.UtilizationPercent = ptr(uint32(77))
	prov.Set(0, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	clk.tick(time.Second)
	clk.tick(time.Second)
	cancel()
	<-done
	snap, _ = s.Latest()
	if n, _ := s.Counts(); n < 4 {
		t.Fatalf("%d samples", n)
	}
	if *snap.GPUs[0].UtilizationPercent != 77 || snap.TakenAtUnixMillis < 1_700_000_001_000 {
		t.Fatalf("snapshot after ticks %+v", snap)
	}
}

func TestCollector(t *testing.T) {
	devs := gpu.SimulatedH100s(1)
	devs = append(devs, gpu.SimDevice{Name: "bare"})
	s := NewSampler(gpu.NewSimulated(devs), time.Second, newFakeClock(), ProcHost{FS: procFS(100, 1000)}, nil)
	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg, s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `emcd_gpu_devices{simulated="false"} 0
emcd_gpu_devices{simulated="true"} 2
emcd_gpu_memory_total_bytes{UUID="SIM-GPU-0",gpu="0",modelName="Simulated NVIDIA H100 80GB HBM3",simulated="true"} 8.589934592e+10
emcd_gpu_power_usage_watts{UUID="SIM-GPU-0",gpu="0",modelName="Simulated NVIDIA H100 80GB HBM3",simulated="true"} 70
emcd_gpu_processes{UUID="SIM-GPU-0",gpu="0",modelName="Simulated NVIDIA H100 80GB HBM3",simulated="true"} 0
emcd_gpu_temperature_celsius{UUID="SIM-GPU-0",gpu="0",modelName="Simulated NVIDIA H100 80GB HBM3",simulated="true"} 30
emcd_gpu_utilization_percent{UUID="SIM-GPU-0",gpu="0",modelName="Simulated NVIDIA H100 80GB HBM3",simulated="true"} 0
emcd_host_load1 0.5
emcd_host_memory_total_bytes 1.6777216e+10
emcd_host_memory_used_bytes 1.2582912e+10
emcd_telemetry_last_sample_timestamp_seconds 1.7e+09
emcd_telemetry_sample_errors_total 0
emcd_telemetry_samples_total 1
`
	// The bare device supports nothing, so it has no emcd_gpu_* series at
	// all (unsupported is left out, not reported as 0); emcd_gpu_memory_used_bytes
	// is SIM-GPU-0's only.
	got := gather(t, reg)
	got = strings.Replace(got, `emcd_gpu_memory_used_bytes{UUID="SIM-GPU-0",gpu="0",modelName="Simulated NVIDIA H100 80GB HBM3",simulated="true"} 0`+"\n", "", 1)
	if got != want {
		t.Fatalf("metrics:\n%s\nwant:\n%s", got, want)
	}
}

// gather renders every series in reg as `name{labels} value` lines.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
				}
				b.WriteString("{" + strings.Join(ls, ",") + "}")
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			b.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
		}
	}
	return b.String()
}

func TestProcHostErrors(t *testing.T) {
	if _, err := (ProcHost{FS: fstest.MapFS{}}).ReadHost(); err == nil {
		t.Fatal("empty /proc read fine")
	}
}

func ptr[T any](v T) *T { return &v }
