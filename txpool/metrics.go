package txpool

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the pool's Prometheus collectors. Build them with NewMetrics on
// the registry the node owns, or NopMetrics for tests and tools; there is no
// package-level registry.
type Metrics struct {
	// Pending and Queued are the current transaction counts.
	Pending prometheus.Gauge
	Queued  prometheus.Gauge
	// Slots is the capacity in use, in 32 KiB slots.
	Slots prometheus.Gauge
	// Added counts admitted transactions, by "pending" or "queued".
	Added *prometheus.CounterVec
	// Rejected counts Add failures by reason (the sentinel's short name).
	Rejected *prometheus.CounterVec
	// Dropped counts transactions removed other than by replacement, by
	// reason: mined, unaffordable, evicted, stale, truncated.
	Dropped *prometheus.CounterVec
	// Replaced counts transactions replaced by a higher-paying one.
	Replaced prometheus.Counter
	// EventsDropped counts new-transaction notifications dropped because a
	// subscriber's channel was full.
	EventsDropped prometheus.Counter
}

// NewMetrics creates the pool's collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.Pending, m.Queued, m.Slots, m.Added, m.Rejected, m.Dropped, m.Replaced, m.EventsDropped)
	return m
}

// NopMetrics returns collectors registered nowhere: they work, nobody reads
// them.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "txpool"
	return &Metrics{
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "pending", Help: "Executable transactions in the pool."}),
		Queued: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "queued", Help: "Future (nonce-gapped) transactions in the pool."}),
		Slots: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "slots", Help: "Pool capacity in use, in 32 KiB slots."}),
		Added: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "added_total", Help: "Transactions admitted, by list."}, []string{"list"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rejected_total", Help: "Transactions refused by Add, by reason."}, []string{"reason"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dropped_total", Help: "Transactions removed from the pool, by reason."}, []string{"reason"}),
		Replaced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "replaced_total", Help: "Transactions replaced by a higher-paying one."}),
		EventsDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "events_dropped_total", Help: "New-transaction notifications dropped on a full subscriber channel."}),
	}
}
