package state

import (
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the chain's storage and execution collectors. Build them with
// NewMetrics on the registry the node owns, or NopMetrics for tests and
// tools; there is no package-level registry.
type Metrics struct {
	// BlockExecution is the time to execute a block's transactions and
	// hash the resulting state (building, validating or replaying).
	BlockExecution prometheus.Histogram
	// BlockCommit is the time to commit an executed block: state update,
	// block write and the WAL sync.
	BlockCommit prometheus.Histogram
	// StateReads counts accounts and storage slots the executor loaded
	// from the state database (after the per-block object cache), by kind.
	StateReads *prometheus.CounterVec
	// DiskReads counts state lookups that reached pebble, by kind:
	// account and storage (flat state), trie_node, code.
	DiskReads *prometheus.CounterVec
	// CacheHitRatio is, for the last executed block, the share of account
	// (storage) reads served from memory: diff layers, the write buffer and
	// the clean caches. Concurrent RPC reads count too. Under the hash
	// scheme accounts are read by walking the trie, so this gauge reports
	// the flat-state path only and stays 0.
	CacheHitRatio *prometheus.GaugeVec
	// Recovered counts blocks re-executed at open to rebuild state lost in
	// an unclean shutdown.
	Recovered prometheus.Counter
}

// NewMetrics creates the chain's collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.BlockExecution, m.BlockCommit, m.StateReads, m.DiskReads, m.CacheHitRatio, m.Recovered)
	return m
}

// NopMetrics returns collectors registered nowhere: they work, nobody reads
// them.
func NopMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	const ns, sub = "emcd", "state"
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	return &Metrics{
		BlockExecution: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "block_execution_seconds", Help: "Time to execute a block's transactions and hash its state.", Buckets: buckets}),
		BlockCommit: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "block_commit_seconds", Help: "Time to commit an executed block (state, block data, WAL sync).", Buckets: buckets}),
		StateReads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reads_total", Help: "Accounts and storage slots loaded by the executor, by kind."}, []string{"kind"}),
		DiskReads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "disk_reads_total", Help: "State lookups that reached the key-value store, by kind."}, []string{"kind"}),
		CacheHitRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "cache_hit_ratio", Help: "Share of the last block's flat-state reads served from memory, by kind."}, []string{"kind"}),
		Recovered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "recovered_blocks_total", Help: "Blocks re-executed at open to rebuild state lost in an unclean shutdown."}),
	}
}

// Kinds of state reads.
const (
	readAccount  = "account"
	readStorage  = "storage"
	readTrieNode = "trie_node"
	readCode     = "code"
)

// readCounter wraps the database the trie database and code reader see, and
// counts the lookups that reach the key-value store. The counts feed
// DiskReads and, against the executor's logical reads, CacheHitRatio.
type readCounter struct {
	ethdb.Database
	m    *Metrics
	flat bool // the scheme reads accounts from flat state (path)

	account, storage, trieNode, code atomic.Uint64
}

func newReadCounter(db ethdb.Database, m *Metrics, flat bool) *readCounter {
	return &readCounter{Database: db, m: m, flat: flat}
}

// Get counts the lookup by the key's rawdb prefix, then reads.
func (r *readCounter) Get(key []byte) ([]byte, error) {
	switch {
	case len(key) == 1+common.HashLength && key[0] == rawdb.SnapshotAccountPrefix[0]:
		r.account.Add(1)
	case len(key) == 1+2*common.HashLength && key[0] == rawdb.SnapshotStoragePrefix[0]:
		r.storage.Add(1)
	case len(key) == common.HashLength,
		len(key) >= 1 && (key[0] == rawdb.TrieNodeAccountPrefix[0] || key[0] == rawdb.TrieNodeStoragePrefix[0]):
		r.trieNode.Add(1)
	case len(key) == 1+common.HashLength && key[0] == rawdb.CodePrefix[0]:
		r.code.Add(1)
	}
	return r.Database.Get(key)
}

// blockReads is the counter state at the start of a block's execution.
type blockReads struct{ account, storage, trieNode, code uint64 }

func (r *readCounter) snapshot() blockReads {
	return blockReads{r.account.Load(), r.storage.Load(), r.trieNode.Load(), r.code.Load()}
}

// observeExecution records one block's execution: its duration, the reads
// the executor made (statedb's counters, read before Commit resets them) and
// the disk lookups since start.
func (r *readCounter) observeExecution(start blockReads, elapsed time.Duration, statedb *ethstate.StateDB) {
	m := r.m
	m.BlockExecution.Observe(elapsed.Seconds())
	now := r.snapshot()
	diskAccount, diskStorage := now.account-start.account, now.storage-start.storage
	m.DiskReads.WithLabelValues(readAccount).Add(float64(diskAccount))
	m.DiskReads.WithLabelValues(readStorage).Add(float64(diskStorage))
	m.DiskReads.WithLabelValues(readTrieNode).Add(float64(now.trieNode - start.trieNode))
	m.DiskReads.WithLabelValues(readCode).Add(float64(now.code - start.code))
	accounts, slots := statedb.AccountLoaded, statedb.StorageLoaded
	m.StateReads.WithLabelValues(readAccount).Add(float64(accounts))
	m.StateReads.WithLabelValues(readStorage).Add(float64(slots))
	if r.flat && accounts > 0 {
		m.CacheHitRatio.WithLabelValues(readAccount).Set(hitRatio(accounts, diskAccount))
	}
	if r.flat && slots > 0 {
		m.CacheHitRatio.WithLabelValues(readStorage).Set(hitRatio(slots, diskStorage))
	}
}

// hitRatio is 1 - misses/reads, clamped to [0, 1] (concurrent readers can
// add misses that the block's own reads did not cause).
func hitRatio(reads int, misses uint64) float64 {
	if reads <= 0 {
		return 0
	}
	if misses >= uint64(reads) {
		return 0
	}
	return 1 - float64(misses)/float64(reads)
}
