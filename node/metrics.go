package node

import (
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/prometheus/client_golang/prometheus"
)

// chainMetrics are the node-level gauges and counters operators watch.
type chainMetrics struct {
	blocks   prometheus.Counter
	txs      prometheus.Counter
	gasUsed  prometheus.Counter
	blockTxs prometheus.Histogram
	// interval is the wall-clock time between consecutive heads this node
	// committed (short while catching up).
	interval prometheus.Histogram

	// jobs counts the jobs module's events; nil on chains without it.
	jobs *jobsMetrics

	mu       sync.Mutex
	lastHead time.Time
}

// observeHead records the time since the previous head (the first head
// after start has no previous one) and counts the jobs events in its
// receipts.
func (m *chainMetrics) observeHead(now time.Time, receipts types.Receipts) {
	if m.jobs != nil {
		m.jobs.observe(receipts)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.lastHead.IsZero() {
		m.interval.Observe(now.Sub(m.lastHead).Seconds())
	}
	m.lastHead = now
}

func (n *Node) registerMetrics(reg prometheus.Registerer) {
	m := &chainMetrics{
		blocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "emcd_chain_blocks_total", Help: "Blocks committed since start.",
		}),
		txs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "emcd_chain_transactions_total", Help: "Transactions in blocks committed since start.",
		}),
		gasUsed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "emcd_chain_gas_used_total", Help: "Gas used by blocks committed since start.",
		}),
		blockTxs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "emcd_chain_block_transactions", Help: "Transactions per committed block.",
			Buckets: []float64{0, 1, 10, 100, 500, 1000, 2000, 3000, 5000},
		}),
		interval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "emcd_chain_block_interval_seconds", Help: "Wall-clock time between consecutive head blocks this node committed (short while catching up).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120},
		}),
	}
	n.metrics = m
	reg.MustRegister(m.blocks, m.txs, m.gasUsed, m.blockTxs, m.interval,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emcd_chain_head_number", Help: "Number of the head block.",
		}, func() float64 { return float64(n.chain.Head().Number.Uint64()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emcd_chain_head_timestamp_seconds", Help: "Timestamp of the head block.",
		}, func() float64 { return float64(n.chain.Head().Time) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emcd_p2p_peers", Help: "Connected, handshaked peers.",
		}, func() float64 {
			if n.net == nil {
				return 0
			}
			return float64(n.net.host.PeerCount())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emcd_consensus_round", Help: "IBFT round at the current height.",
		}, func() float64 {
			if n.net == nil {
				return 0
			}
			return float64(n.net.engine.Status().Round)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emcd_sync_distance_blocks", Help: "Blocks between the best head peers announced and this node's head (0 when caught up).",
		}, func() float64 {
			if n.net == nil || n.net.syncer == nil {
				return 0
			}
			target, head := n.net.syncer.Target().Number, n.chain.Head().Number.Uint64()
			if target <= head {
				return 0
			}
			return float64(target - head)
		}),
	)
	n.registerStateMetrics(reg)
	n.registerDiskMetrics(reg)
}
