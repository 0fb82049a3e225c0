package fetch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collectors of a Server and a Relay. Build them with
// NewMetrics on the registry the node owns, or NopMetrics.
type Metrics struct {
	// Requests counts requests a Server answered, by code.
	Requests *prometheus.CounterVec
	// ServedBytes counts file and record bytes a Server sent.
	ServedBytes prometheus.Counter
	// Relayed counts downloads a Relay finished, by outcome (ok, refused,
	// unreachable, mismatch, error).
	Relayed *prometheus.CounterVec
	// RelayedBytes counts verified bytes a Relay passed on.
	RelayedBytes prometheus.Counter
}

// NewMetrics creates the collectors, named emcd_results_*, and registers
// them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := NopMetrics()
	reg.MustRegister(m.Requests, m.ServedBytes, m.Relayed, m.RelayedBytes)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics {
	const ns, sub = "emcd", "results"
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "Results requests this compute node answered, by code."}, []string{"code"}),
		ServedBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "served_bytes_total", Help: "Result bytes this compute node sent."}),
		Relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "relayed_total", Help: "Result downloads this router relayed, by outcome."}, []string{"outcome"}),
		RelayedBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "relayed_bytes_total", Help: "Verified result bytes this router passed on."}),
	}
}

func (m *Metrics) served(c Code, n int) {
	m.Requests.WithLabelValues(c.String()).Inc()
	m.ServedBytes.Add(float64(n))
}
