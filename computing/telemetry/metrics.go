package telemetry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a Sampler's latest snapshot as Prometheus gauges. It
// reads the snapshot at scrape time, so a scrape never sees half of one.
type Collector struct {
	s *Sampler

	gpuUtil, gpuMemUsed, gpuMemTotal, gpuTemp, gpuPower, gpuProcs *prometheus.Desc
	gpuDevices                                                    *prometheus.Desc
	hostCPU, hostLoad1, hostMemTotal, hostMemUsed                 *prometheus.Desc
	lastSample, samples, sampleErrors                             *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// gpuLabels follow dcgm-exporter (gpu, UUID, modelName), plus simulated.
var gpuLabels = []string{"gpu", "UUID", "modelName", "simulated"}

// NewCollector returns a collector for s; register it with Register.
func NewCollector(s *Sampler) *Collector {
	g := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("emcd_gpu_"+name, help, gpuLabels, nil)
	}
	h := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("emcd_host_"+name, help, nil, nil)
	}
	return &Collector{
		s:            s,
		gpuUtil:      g("utilization_percent", "GPU utilisation over the last sample period, percent."),
		gpuMemUsed:   g("memory_used_bytes", "GPU memory in use."),
		gpuMemTotal:  g("memory_total_bytes", "GPU memory installed."),
		gpuTemp:      g("temperature_celsius", "GPU core temperature."),
		gpuPower:     g("power_usage_watts", "GPU power draw."),
		gpuProcs:     g("processes", "Compute processes running on the GPU."),
		gpuDevices:   prometheus.NewDesc("emcd_gpu_devices", "GPUs in the latest sample.", []string{"simulated"}, nil),
		hostCPU:      h("cpu_utilization_percent", "Host CPU busy time since the previous sample, percent."),
		hostLoad1:    h("load1", "Host one-minute load average."),
		hostMemTotal: h("memory_total_bytes", "Host memory installed."),
		hostMemUsed:  h("memory_used_bytes", "Host memory in use (total minus available)."),
		lastSample:   prometheus.NewDesc("emcd_telemetry_last_sample_timestamp_seconds", "Unix time of the latest telemetry sample.", nil, nil),
		samples:      prometheus.NewDesc("emcd_telemetry_samples_total", "Telemetry samples taken.", nil, nil),
		sampleErrors: prometheus.NewDesc("emcd_telemetry_sample_errors_total", "Telemetry samples that failed.", nil, nil),
	}
}

// Register registers a collector for s on reg (never a global registry).
func Register(reg prometheus.Registerer, s *Sampler) error {
	return reg.Register(NewCollector(s))
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.gpuUtil, c.gpuMemUsed, c.gpuMemTotal, c.gpuTemp, c.gpuPower, c.gpuProcs,
		c.gpuDevices, c.hostCPU, c.hostLoad1, c.hostMemTotal, c.hostMemUsed, c.lastSample, c.samples, c.sampleErrors} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	n, errs := c.s.Counts()
	ch <- prometheus.MustNewConstMetric(c.samples, prometheus.CounterValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.sampleErrors, prometheus.CounterValue, float64(errs))
	snap, ok := c.s.Latest()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.lastSample, prometheus.GaugeValue, float64(snap.TakenAtUnixMillis)/1000)
	var real, sim float64
	for _, g := range snap.GPUs {
		labels := []string{strconv.Itoa(g.Index), g.UUID, g.Name, strconv.FormatBool(g.Simulated)}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		if g.Simulated {
			sim++
		} else {
			real++
		}
		// A field the device does not support is left out, not reported as 0.
		if g.UtilizationPercent != nil {
			gauge(c.gpuUtil, float64(*g.UtilizationPercent))
		}
		if g.MemoryUsedBytes != nil {
			gauge(c.gpuMemUsed, float64(*g.MemoryUsedBytes))
		}
		if g.MemoryTotalBytes != nil {
			gauge(c.gpuMemTotal, float64(*g.MemoryTotalBytes))
		}
		if g.TemperatureCelsius != nil {
			gauge(c.gpuTemp, float64(*g.TemperatureCelsius))
		}
		if g.PowerUsageMilliwatts != nil {
			gauge(c.gpuPower, float64(*g.PowerUsageMilliwatts)/1000)
		}
		if g.Processes != nil {
			gauge(c.gpuProcs, float64(*g.Processes))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.gpuDevices, prometheus.GaugeValue, real, "false")
	ch <- prometheus.MustNewConstMetric(c.gpuDevices, prometheus.GaugeValue, sim, "true")
	if h := snap.Host; h != nil {
		if h.CPUUtilizationPercent != nil {
			ch <- prometheus.MustNewConstMetric(c.hostCPU, prometheus.GaugeValue, *h.CPUUtilizationPercent)
		}
		ch <- prometheus.MustNewConstMetric(c.hostLoad1, prometheus.GaugeValue, h.Load1)
		ch <- prometheus.MustNewConstMetric(c.hostMemTotal, prometheus.GaugeValue, float64(h.MemoryTotalBytes))
		ch <- prometheus.MustNewConstMetric(c.hostMemUsed, prometheus.GaugeValue, float64(h.MemoryUsedBytes))
	}
}
