package outbox

import "github.com/prometheus/client_golang/prometheus"

// Metrics are an Outbox's Prometheus collectors. Build them with NewMetrics
// on the registry the node owns, or NopMetrics for tests and tools.
type Metrics struct {
	// Sent counts messages the remote peer accepted.
	Sent prometheus.Counter
	// Failed counts messages whose request failed (peer gone, timeout,
	// refused by the remote handler).
	Failed prometheus.Counter
	// Dropped counts messages never sent, by reason: "full" (pushed out of
	// a full queue), "too_large", "too_many_peers", "closed".
	Dropped *prometheus.CounterVec
	// Queued is the number of messages waiting, over all peers.
	Queued prometheus.Gauge
	// Workers is the number of running peer workers.
	Workers prometheus.Gauge
}

// NewMetrics creates the collectors, named emcd_<subsystem>_*, and registers
// them on reg.
func NewMetrics(reg prometheus.Registerer, subsystem string) *Metrics {
	m := newMetrics(subsystem)
	reg.MustRegister(m.Sent, m.Failed, m.Dropped, m.Queued, m.Workers)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics { return newMetrics("outbox") }

func newMetrics(sub string) *Metrics {
	const ns = "emcd"
	return &Metrics{
		Sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sent_total", Help: "Messages delivered to a peer."}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "failed_total", Help: "Messages whose send to the peer failed."}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dropped_total", Help: "Messages dropped before sending, by reason."}, []string{"reason"}),
		Queued: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "queued", Help: "Messages waiting to be sent, all peers."}),
		Workers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "workers", Help: "Peer send workers running."}),
	}
}
