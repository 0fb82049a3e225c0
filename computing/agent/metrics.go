package agent

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the agent's Prometheus collectors (NewMetrics on the node's
// registry, NopMetrics elsewhere).
type Metrics struct {
	// Accepted counts accept transactions mined.
	Accepted prometheus.Counter
	// Running is the number of jobs the executor runs now.
	Running prometheus.Gauge
	// Completed and Failed count results mined with exit 0 and not.
	Completed prometheus.Counter
	Failed    prometheus.Counter
	// Abandoned counts jobs dropped before their result was mined
	// (reassigned, cancelled, expired, a deadline passed, a restart with
	// too little time left).
	Abandoned prometheus.Counter
	// Declined counts assignments the node did not accept (no GPUs free through the accept window,
	// image not held).
	Declined prometheus.Counter
	// Reexecuted counts re-execution digests taken by the chain;
	// ReexecAbandoned re-executions declined or dropped unanswered.
	Reexecuted      prometheus.Counter
	ReexecAbandoned prometheus.Counter
	// RunSeconds is the wall time of runs that produced a record.
	RunSeconds prometheus.Histogram
	// TxFailed counts accept and result transactions the wallet refused
	// or that failed once sent.
	TxFailed prometheus.Counter
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.Accepted, m.Running, m.Completed, m.Failed, m.Abandoned, m.Declined, m.Reexecuted, m.ReexecAbandoned, m.RunSeconds,
		m.TxFailed)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "agent"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	return &Metrics{
		Accepted:   counter("accepted_total", "Jobs accepted on chain."),
		Running:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "running", Help: "Jobs running now."}),
		Completed:  counter("completed_total", "Results mined with exit code 0."),
		Failed:     counter("failed_total", "Results mined with a non-zero exit code."),
		Abandoned:  counter("abandoned_total", "Jobs dropped before their result was mined."),
		Declined:   counter("declined_total", "Assignments not accepted (no GPUs free through the accept window, image not held)."),
		Reexecuted: counter("reexecuted_total", "Re-execution digests taken by the chain."),
		ReexecAbandoned: counter("reexec_abandoned_total",
			"Re-executions declined or dropped unanswered (image not held, run failed, deadline passed)."),
		RunSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "run_seconds",
			Help: "Wall time of job runs.", Buckets: prometheus.ExponentialBuckets(0.1, 4, 10)}),
		TxFailed: counter("tx_failed_total", "Accept and result transactions refused or failed."),
	}
}
