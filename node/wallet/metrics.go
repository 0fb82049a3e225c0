package wallet

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the wallet's Prometheus collectors. Build them with NewMetrics
// on the registry the node owns, or NopMetrics for tests and tools; there is
// no package-level registry.
type Metrics struct {
	// Sent counts first sends (a nonce reassignment is a first send).
	Sent prometheus.Counter
	// Replaced counts fee-bumped replacements.
	Replaced prometheus.Counter
	// Resubmitted counts versions sent again after they left the pool unmined.
	Resubmitted prometheus.Counter
	// Mined counts transactions included with status 1.
	Mined prometheus.Counter
	// Failed counts transactions included with status 0, and requests
	// abandoned because a resend failed.
	Failed prometheus.Counter
	// InFlight is the number of transactions waiting to be mined.
	InFlight prometheus.Gauge
}

// NewMetrics creates the wallet's collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.Sent, m.Replaced, m.Resubmitted, m.Mined, m.Failed, m.InFlight)
	return m
}

// NopMetrics returns collectors registered nowhere: they work, nobody reads
// them.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "wallet"
	return &Metrics{
		Sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sent_total", Help: "Transactions the node's wallet sent (first sends)."}),
		Replaced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "replaced_total", Help: "Stuck wallet transactions replaced with higher fees."}),
		Resubmitted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "resubmitted_total", Help: "Wallet transactions sent again after leaving the pool unmined."}),
		Mined: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "mined_total", Help: "Wallet transactions mined successfully."}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "failed_total", Help: "Wallet transactions mined with status 0 or abandoned."}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "in_flight", Help: "Wallet transactions waiting to be mined."}),
	}
}
