package registrar

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the registrar's Prometheus collectors (NewMetrics on the
// node's registry, NopMetrics elsewhere).
type Metrics struct {
	// Sent counts registration transactions sent (register or update).
	Sent prometheus.Counter
	// ShortOfGas counts attempts skipped because the owner's balance does
	// not cover the transaction's gas at its fee cap.
	ShortOfGas prometheus.Counter
	// Refused counts attempts the chain would refuse (estimation failed,
	// router without stake, peer ID mismatch) and transactions that failed.
	Refused prometheus.Counter
	// Registered is 1 while the chain holds this node's current data.
	Registered prometheus.Gauge
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.Sent, m.ShortOfGas, m.Refused, m.Registered)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "registrar"
	return &Metrics{
		Sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sent_total", Help: "Registry transactions (registerNode, updateNode, registerRouter) the node sent for itself."}),
		ShortOfGas: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "short_of_gas_total", Help: "Registration attempts skipped because the node's account cannot pay the gas."}),
		Refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "refused_total", Help: "Registration attempts the registry would refuse or did refuse."}),
		Registered: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "registered", Help: "1 while the registry holds this node's current registration."}),
	}
}
