package assign

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the assignment service's Prometheus collectors (NewMetrics
// on the node's registry, NopMetrics elsewhere).
type Metrics struct {
	// Sent counts assign transactions submitted.
	Sent prometheus.Counter
	// Assigned counts assign transactions mined successfully.
	Assigned prometheus.Counter
	// Failed counts assign transactions not sent (the wallet refused them)
	// or that failed once sent.
	Failed prometheus.Counter
	// Unplaced counts, per head, the assignable jobs the scheduler placed
	// nowhere (a job waiting several heads counts each time).
	Unplaced prometheus.Counter
	// Unfit counts placements the chain's Fit refused, so none was sent.
	Unfit prometheus.Counter
	// InFlight is the number of assign transactions pending.
	InFlight prometheus.Gauge
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.Sent, m.Assigned, m.Failed, m.Unplaced, m.Unfit, m.InFlight)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "assigner"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	return &Metrics{
		Sent:     counter("sent_total", "assign transactions the router submitted."),
		Assigned: counter("assigned_total", "assign transactions mined successfully."),
		Failed:   counter("failed_total", "assign transactions the wallet refused or that failed."),
		Unplaced: counter("unplaced_total", "Assignable jobs the scheduler placed on no node, counted per head."),
		Unfit:    counter("unfit_total", "Placements the chain's Fit check refused (not sent)."),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "in_flight", Help: "assign transactions pending."}),
	}
}
