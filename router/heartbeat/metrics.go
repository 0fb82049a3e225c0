package heartbeat

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the heartbeat collectors of a Tracker and a Publisher. Build
// them with NewMetrics on the registry the node owns, or NopMetrics.
type Metrics struct {
	// Received counts heartbeats accepted into the table.
	Received prometheus.Counter
	// Dropped counts refused heartbeats by reason (DropReason).
	Dropped *prometheus.CounterVec
	// Live is the number of nodes in the live table.
	Live prometheus.Gauge
	// Expired counts nodes dropped after missed heartbeats or a lost
	// registration.
	Expired prometheus.Counter
	// Published counts heartbeats this node published.
	Published prometheus.Counter
	// PingFailures counts round-trip probes that got no valid answer.
	PingFailures prometheus.Counter
}

// NewMetrics creates the collectors, named emcd_heartbeat_*, and registers
// them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := NopMetrics()
	reg.MustRegister(m.Received, m.Dropped, m.Live, m.Expired, m.Published, m.PingFailures)
	return m
}

// NopMetrics returns collectors registered nowhere.
func NopMetrics() *Metrics {
	const ns, sub = "emcd", "heartbeat"
	return &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "received_total", Help: "Heartbeats accepted into the live table."}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dropped_total", Help: "Heartbeats refused, by reason."}, []string{"reason"}),
		Live: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "live_nodes", Help: "Compute nodes in the live table."}),
		Expired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "expired_total", Help: "Nodes dropped from the live table after missed heartbeats."}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "published_total", Help: "Heartbeats this node published."}),
		PingFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ping_failures_total", Help: "Round-trip probes that got no valid answer."}),
	}
}

// DropReason names the metrics label of a refusal error.
func DropReason(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrForged):
		return "forged"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrTooFrequent):
		return "too_frequent"
	case errors.Is(err, ErrSkew):
		return "skew"
	case errors.Is(err, ErrUnregistered):
		return "unregistered"
	case errors.Is(err, ErrOwnerMismatch):
		return "owner_mismatch"
	case errors.Is(err, ErrTableFull):
		return "table_full"
	default:
		return "other"
	}
}
