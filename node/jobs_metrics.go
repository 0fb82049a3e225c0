package node

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emc-network/emcd/state/native"
)

// jobEventLabels maps the jobs module's events to the label of
// emcd_jobs_events_total: each is a job entering a state (result: completed
// or failed, by exit code).
var jobEventLabels = map[string]string{
	"JobSubmitted": "submitted",
	"JobAssigned":  "assigned",
	"JobAccepted":  "running",
	"JobResult":    "result",
	"JobSettled":   "settled",
	"JobCancelled": "cancelled",
}

// jobsMetrics counts the jobs module's events in the blocks this node
// commits, and what settlements charged.
type jobsMetrics struct {
	byTopic        map[common.Hash]abi.Event
	events         *prometheus.CounterVec
	cost, burned   prometheus.Counter
	decodeFailures prometheus.Counter
}

// newJobsMetrics registers the counters on reg; abiJSON is the jobs
// module's ABI.
func newJobsMetrics(reg prometheus.Registerer, abiJSON string) (*jobsMetrics, error) {
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("node: jobs ABI: %w", err)
	}
	m := &jobsMetrics{
		byTopic: map[common.Hash]abi.Event{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "emcd_jobs_events_total",
			Help: "Jobs entering a state in blocks this node committed since start, by event (submitted, assigned, running, result, settled, cancelled)."}, []string{"event"}),
		cost: prometheus.NewCounter(prometheus.CounterOpts{Name: "emcd_jobs_settled_cost_wei_total",
			Help: "Wei charged to submitters by job settlements in blocks this node committed since start (provider pay plus burn)."}),
		burned: prometheus.NewCounter(prometheus.CounterOpts{Name: "emcd_jobs_settled_burned_wei_total",
			Help: "Wei burned by job settlements in blocks this node committed since start."}),
		decodeFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "emcd_jobs_event_decode_failures_total",
			Help: "Jobs module logs the metrics could not decode (a bug: the module writes them)."}),
	}
	for name, label := range jobEventLabels {
		ev, ok := parsed.Events[name]
		if !ok {
			return nil, fmt.Errorf("node: jobs ABI has no event %s", name)
		}
		m.byTopic[ev.ID] = ev
		m.events.WithLabelValues(label) // exported at 0 from the start
	}
	reg.MustRegister(m.events, m.cost, m.burned, m.decodeFailures)
	return m, nil
}

// observe counts the jobs module's events in one block's receipts.
func (m *jobsMetrics) observe(receipts types.Receipts) {
	for _, r := range receipts {
		for _, l := range r.Logs {
			if l.Address != native.JobsAddress || len(l.Topics) == 0 {
				continue
			}
			ev, ok := m.byTopic[l.Topics[0]]
			if !ok {
				continue
			}
			m.events.WithLabelValues(jobEventLabels[ev.Name]).Inc()
			if ev.Name != "JobSettled" {
				continue
			}
			vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
			if err != nil || len(vals) != 3 {
				m.decodeFailures.Inc()
				continue
			}
			cost, ok1 := vals[0].(*big.Int)
			burned, ok2 := vals[1].(*big.Int)
			if !ok1 || !ok2 {
				m.decodeFailures.Inc()
				continue
			}
			m.cost.Add(weiFloat(cost))
			m.burned.Add(weiFloat(burned))
		}
	}
}

// weiFloat converts wei to a float64 counter increment (rounded: metrics,
// not accounting).
func weiFloat(v *big.Int) float64 {
	f, _ := new(big.Float).SetInt(v).Float64()
	return f
}
