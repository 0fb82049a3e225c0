package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emc-network/emcd/consensus/ibft"
)

// Metrics are the engine's Prometheus collectors. Build them with
// NewMetrics on the registry the node owns, or NopMetrics for tests and
// tools; there is no package-level registry. Durations are measured on the
// engine's Clock.
type Metrics struct {
	// WALSync is the time of one WAL fsync (after a batch of appends).
	WALSync prometheus.Histogram
	// RoundChanges counts rounds this validator moved past at a height.
	RoundChanges prometheus.Counter
	// Validation is the time to validate (execute) a proposed block.
	Validation prometheus.Histogram
	// Build is the time to build this validator's proposal.
	Build prometheus.Histogram
	// Commit is the time to store a decided block (InsertBlock).
	Commit prometheus.Histogram
	// MessagesIn counts consensus messages handed to the core, by type;
	// "undecodable" counts messages that did not decode.
	MessagesIn *prometheus.CounterVec
	// MessagesOut counts consensus messages sent, by type.
	MessagesOut *prometheus.CounterVec
	// InboundDropped counts messages dropped on a full inbound queue.
	InboundDropped prometheus.Counter
	// ValidationsRefused counts proposals answered as invalid without
	// validation because the validation queue was full.
	ValidationsRefused prometheus.Counter
}

// NewMetrics creates the engine's collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.WALSync, m.RoundChanges, m.Validation, m.Build, m.Commit,
		m.MessagesIn, m.MessagesOut, m.InboundDropped, m.ValidationsRefused)
	return m
}

// NopMetrics returns collectors registered nowhere: they work, nobody reads
// them.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "consensus"
	// 100µs .. ~13s: an fsync on a fast disk up to a slow block execution.
	buckets := prometheus.ExponentialBuckets(0.0001, 2, 18)
	return &Metrics{
		WALSync: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "wal_sync_seconds", Help: "Time of one consensus WAL fsync.", Buckets: buckets}),
		RoundChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "round_changes_total", Help: "Rounds this validator moved past without deciding."}),
		Validation: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "proposal_validation_seconds", Help: "Time to validate (execute) a proposed block.", Buckets: buckets}),
		Build: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "block_build_seconds", Help: "Time to build this validator's proposal.", Buckets: buckets}),
		Commit: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "block_commit_seconds", Help: "Time to store a decided block.", Buckets: buckets}),
		MessagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_in_total", Help: "Consensus messages received, by type."}, []string{"type"}),
		MessagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_out_total", Help: "Consensus messages sent, by type."}, []string{"type"}),
		InboundDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "inbound_dropped_total", Help: "Consensus messages dropped on a full inbound queue."}),
		ValidationsRefused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "validations_refused_total", Help: "Proposals refused unvalidated on a full validation queue."}),
	}
}

// codeLabel is the metric label of a message type.
func codeLabel(c ibft.Code) string {
	switch c {
	case ibft.MsgPrePrepare:
		return "preprepare"
	case ibft.MsgPrepare:
		return "prepare"
	case ibft.MsgCommit:
		return "commit"
	case ibft.MsgRoundChange:
		return "roundchange"
	case ibft.MsgCertificate:
		return "certificate"
	}
	return "unknown"
}
