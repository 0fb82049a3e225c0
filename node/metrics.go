package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// chainMetrics are the node-level gauges and counters operators watch.
type chainMetrics struct {
	blocks   prometheus.Counter
	txs      prometheus.Counter
	gasUsed  prometheus.Counter
	blockTxs prometheus.Histogram
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
	}
	n.metrics = m
	reg.MustRegister(m.blocks, m.txs, m.gasUsed, m.blockTxs,
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
	)
}
