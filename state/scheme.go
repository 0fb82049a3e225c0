package state

import (
	"errors"
	"fmt"
	"math"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/ethereum/go-ethereum/triedb/hashdb"
	"github.com/ethereum/go-ethereum/triedb/pathdb"
)

// State schemes. The scheme is chosen when a data dir is created and kept
// for its life: the two store trie nodes under different keys and cannot be
// converted in place.
const (
	// SchemePath keeps one copy of the latest state (trie nodes keyed by
	// path plus a flat account/storage table, so reads are O(1)) and a
	// bounded window of reverse diffs (state history) for recent blocks.
	SchemePath = rawdb.PathScheme
	// SchemeHash keeps every trie node ever written, keyed by hash: every
	// historical state stays queryable (archive), at the cost of disk
	// space and trie walks on every read.
	SchemeHash = rawdb.HashScheme
)

// Defaults of StorageConfig, sized for a 2-core machine with a few GB of
// memory.
const (
	// DefaultStateHistory is go-ethereum's default window (about 12.5 days
	// at 12 s blocks, 2.5 days at 2 s blocks).
	DefaultStateHistory uint64 = 90_000
	// DefaultTrieCleanMB gives the account trie of a 1,000,000-account
	// state room (164 MiB of nodes in pebble): with 128 MB, reading trie
	// nodes from pebble took 1.5 s of CPU per 100 blocks of 1,000
	// transfers on that state, with 256 MB none was sampled.
	DefaultTrieCleanMB   = 256
	DefaultStateCleanMB  = 128
	DefaultWriteBufferMB = 64
)

var (
	// ErrSchemeMismatch is returned by Open when the requested state scheme
	// differs from the one the data dir was created with.
	ErrSchemeMismatch = errors.New("state: state scheme mismatch")
	// ErrUnknownScheme is returned for a scheme other than path or hash.
	ErrUnknownScheme = errors.New("state: unknown state scheme")
)

// StorageConfig chooses how world state is stored. The zero value opens an
// existing store with the scheme it was created with, and creates a new one
// with the path scheme and the defaults above.
type StorageConfig struct {
	// Scheme is SchemePath, SchemeHash or "" (the stored one; path for a
	// new store). A non-empty scheme that differs from the stored one is
	// refused with ErrSchemeMismatch.
	Scheme string
	// StateHistory is how many recent blocks keep their state queryable
	// under the path scheme (0: DefaultStateHistory): accounts, storage and
	// code, for eth_call, eth_getBalance and tracing.
	StateHistory uint64
	// TrienodeHistory is how many recent blocks also keep their trie nodes
	// (path scheme), so eth_getProof works on them beyond the newest
	// states held in memory (DiffLayers); 0 keeps none. It is off by default: it costs about
	// as much disk as the rest of the history together (see doc.go).
	TrienodeHistory uint64
	// NoHistoryIndex turns off the index of the state history (path
	// scheme). States below the in-memory layers then answer "not
	// available" (go-ethereum's full-node behaviour; it indexes only in
	// archive mode), and blocks execute faster on a large state: on
	// 1,000,000 accounts at 16 diff layers the index costs about a third
	// of the CPU per transfer (README, Benchmarks). The history itself is
	// still written, so turning the index back on later indexes it from
	// where it stopped.
	NoHistoryIndex bool
	// TrieCleanMB is the clean trie node cache (both schemes).
	TrieCleanMB int
	// StateCleanMB is the clean flat-state cache (path scheme).
	StateCleanMB int
	// WriteBufferMB is the dirty node buffer the path scheme aggregates
	// writes in before flushing them to pebble.
	WriteBufferMB int
	// DiffLayers, if not 0, sets how many of the newest states the path
	// scheme keeps as in-memory diff layers (SetDiffLayers: a setting of the
	// whole process, so it is for a node's one chain; the node's flag
	// defaults to DefaultDiffLayers, 16; go-ethereum's is 128). 0 leaves it
	// as it is.
	DiffLayers int
	// FlushInterval, if not 0, makes the path scheme flatten its
	// in-memory diff layers into pebble every this many blocks, so a
	// crash replays at most that many blocks (the flattened blocks stay
	// queryable through the state history). 0 keeps go-ethereum's way:
	// DiffLayers in memory and a write buffer flushed when full, which is
	// much faster (measured: 11,057 vs 6,774 transfers/s at 32 on a
	// 300,000-account state) at the cost of replaying up to the blocks
	// since the last buffer flush after a crash. It is slow because
	// go-ethereum's Commit flushes each flattened layer to pebble on its
	// own, one after the other, instead of the layers together.
	FlushInterval uint64
	// Metrics receives cache and execution metrics; nil uses NopMetrics.
	Metrics *Metrics
}

// withDefaults fills the zero fields.
func (c StorageConfig) withDefaults() StorageConfig {
	if c.StateHistory == 0 {
		c.StateHistory = DefaultStateHistory
	}
	if c.TrieCleanMB <= 0 {
		c.TrieCleanMB = DefaultTrieCleanMB
	}
	if c.StateCleanMB <= 0 {
		c.StateCleanMB = DefaultStateCleanMB
	}
	if c.WriteBufferMB <= 0 {
		c.WriteBufferMB = DefaultWriteBufferMB
	}

	if c.Metrics == nil {
		c.Metrics = NopMetrics()
	}
	return c
}

// ValidateScheme checks a user-given scheme name ("" allowed: automatic).
func ValidateScheme(s string) error {
	switch s {
	case "", SchemePath, SchemeHash:
		return nil
	}
	return fmt.Errorf("%w %q (want %q or %q)", ErrUnknownScheme, s, SchemePath, SchemeHash)
}

// resolveScheme decides the scheme of db: the recorded one for a store that
// holds a chain (hash for stores created before schemes were recorded), the
// requested one (default path) for an empty store.
func resolveScheme(db ethdb.KeyValueReader, requested string, initialised bool) (string, error) {
	if err := ValidateScheme(requested); err != nil {
		return "", err
	}
	if !initialised {
		if requested == "" {
			return SchemePath, nil
		}
		return requested, nil
	}
	stored, err := readStateScheme(db)
	if err != nil {
		return "", err
	}
	if stored == "" {
		// Data dirs created before the scheme was recorded hold a
		// hash-scheme archive.
		stored = SchemeHash
	}
	if err := ValidateScheme(stored); err != nil {
		return "", fmt.Errorf("state: stored scheme: %w", err)
	}
	if requested != "" && requested != stored {
		return "", fmt.Errorf("%w: the data dir was created with --state.scheme %s and cannot be opened with --state.scheme %s "+
			"(schemes cannot be converted in place: drop the flag, or sync a new data dir)", ErrSchemeMismatch, stored, requested)
	}
	return stored, nil
}

// StoredScheme returns the state scheme of an initialised store ("" for an
// empty store).
func StoredScheme(db ethdb.Reader) (string, error) {
	if rawdb.ReadCanonicalHash(db, 0) == (common.Hash{}) {
		return "", nil
	}
	return resolveScheme(db, "", true)
}

// trieConfig builds go-ethereum's trie database config for scheme.
func trieConfig(scheme string, c StorageConfig) *triedb.Config {
	if scheme == SchemeHash {
		return &triedb.Config{HashDB: &hashdb.Config{CleanCacheSize: c.TrieCleanMB << 20}}
	}
	return &triedb.Config{PathDB: &pathdb.Config{
		StateHistory:    c.StateHistory,
		TrienodeHistory: trienodeHistory(c.TrienodeHistory),
		// State history indexing makes every state inside the window
		// readable (eth_call, eth_getBalance, tracing), not only the
		// in-memory layers.
		EnableStateIndexing: !c.NoHistoryIndex,
		FullValueCheckpoint: 8,
		// emcd has no snap-sync phase to wait for: index from the start.
		NoHistoryIndexDelay: true,
		TrieCleanSize:       c.TrieCleanMB << 20,
		StateCleanSize:      c.StateCleanMB << 20,
		WriteBufferSize:     c.WriteBufferMB << 20,
	}}
}

// openTrieDB opens the trie database of c.db with the scheme the store
// records (or sc asks for, for a new store).
func (c *Chain) openTrieDB(sc StorageConfig, initialised bool) error {
	scheme, err := resolveScheme(c.db, sc.Scheme, initialised)
	if err != nil {
		return err
	}
	if sc.DiffLayers < 0 {
		return fmt.Errorf("state: %d diff layers: want at least 1 (0: as set)", sc.DiffLayers)
	}
	if scheme == SchemePath && sc.DiffLayers > 0 && sc.DiffLayers != DiffLayers() {
		SetDiffLayers(sc.DiffLayers)
	}
	reads := newReadCounter(c.db, sc.Metrics, scheme == SchemePath)
	tdb := triedb.NewDatabase(reads, trieConfig(scheme, sc))
	mpt := ethstate.NewMPTDatabase(tdb, ethstate.NewCodeDB(reads))
	c.scheme, c.reads, c.triedb, c.sdb = scheme, reads, tdb, mpt
	c.flushInterval = sc.FlushInterval
	if scheme == SchemePath {
		c.sdb = &windowDB{MPTDatabase: mpt, history: ethstate.NewHistoricDatabase(tdb, ethstate.NewCodeDB(reads)), triedb: tdb,
			indexOff: sc.NoHistoryIndex}
	}
	return nil
}

// Scheme returns the chain's state scheme, SchemePath or SchemeHash.
func (c *Chain) Scheme() string { return c.scheme }

// trienodeHistory maps emcd's setting (0: off) to go-ethereum's (-1: off,
// 0: whole chain).
func trienodeHistory(blocks uint64) int64 {
	if blocks == 0 {
		return -1
	}
	return int64(min(blocks, uint64(math.MaxInt64)))
}

// flattenLayers is called after the state of block number (root) is
// committed: every FlushInterval blocks the path scheme's diff layers are
// flattened into its disk layer, which flushes them to pebble in the
// background. Called with insertMu held, or during Open.
func (c *Chain) flattenLayers(number uint64, root common.Hash) error {
	if c.scheme != SchemePath || c.flushInterval == 0 || number%c.flushInterval != 0 || !c.unflushed {
		return nil
	}
	if err := c.triedb.Commit(root, false); err != nil {
		return fmt.Errorf("state: flatten state layers at block %d: %w", number, err)
	}
	c.unflushed = false
	return nil
}

// HistoryReady reports whether states older than the in-memory layers can
// be read. Under the path scheme go-ethereum builds the state history index
// in the background after every start (up to about 15 s); until then such
// reads fail with an error IsHistoryIndexing recognises. The hash scheme
// (archive) is always ready.
func (c *Chain) HistoryReady() bool {
	w, ok := c.sdb.(*windowDB)
	if !ok {
		return true
	}
	return w.historyReady(c.Head().Root)
}
