package challenge

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collectors of the challenge services. Build them with
// NewMetrics on the registry the node owns, or NopMetrics.
type Metrics struct {
	// Requests counts opening requests a Server answered, by code.
	Requests *prometheus.CounterVec
	// NodeActions counts a compute node's steps (compute, commit, rebut)
	// by outcome (ok, error).
	NodeActions *prometheus.CounterVec
	// Checks counts a verifier's checks of a node's answer, by outcome
	// (pass, bad, unreachable).
	Checks *prometheus.CounterVec
	// Attestations counts a verifier's transactions by kind (attest,
	// attest_fail) and outcome (sent, error).
	Attestations *prometheus.CounterVec
}

// NewMetrics creates the collectors, named emcd_challenge_*, and
// registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := NopMetrics()
	reg.MustRegister(m.Requests, m.NodeActions, m.Checks, m.Attestations)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics {
	const ns, sub = "emcd", "challenge"
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "Opening requests this compute node answered, by code."}, []string{"code"}),
		NodeActions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "node_actions_total", Help: "Challenge steps of this compute node, by action and outcome."}, []string{"action", "outcome"}),
		Checks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "checks_total", Help: "Checks of nodes' openings by this verifier, by outcome."}, []string{"outcome"}),
		Attestations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "attestations_total", Help: "Attestations this verifier sent, by kind and outcome."}, []string{"kind", "outcome"}),
	}
}
