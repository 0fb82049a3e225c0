package state

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/triedb"
)

// windowDB is the state database of a path-scheme chain. States in the
// layer tree (the disk layer and the DiffLayers() in-memory diff layers above it) are
// read directly; older states inside the --history.state window are read
// through go-ethereum's historic database, which applies the state history
// (and trie node history, for proofs) to the current state. A state outside
// the window answers go-ethereum's own error ("historical state ... is not
// available"). Writes always go to the live database, so a block can only
// ever be executed on a state in the layer tree.
type windowDB struct {
	*ethstate.MPTDatabase
	history *ethstate.HistoricDB
	triedb  *triedb.Database
	// indexOff: the state history is not indexed (NoHistoryIndex), so
	// only the layer tree's states are readable.
	indexOff bool
}

var _ ethstate.Database = (*windowDB)(nil)

// Reader returns a reader of root: live if the layer tree has it, historic
// otherwise.
func (db *windowDB) Reader(root common.Hash) (ethstate.Reader, error) {
	r, err := db.MPTDatabase.Reader(root)
	if err == nil {
		return &liveReader{Reader: r, root: root, historic: db.history.Reader}, nil
	}
	h, herr := db.history.Reader(root)
	if herr == nil {
		return h, nil
	}
	if db.indexOff {
		return nil, fmt.Errorf("%w: the state history index is off (--history.index=false), so only the newest states (--state.layers, %d) are readable", herr, DiffLayers())
	}
	// go-ethereum's historic database answers one error for every cause;
	// ask the state history itself why, so that a caller can tell a state
	// outside the window from a history that is still being indexed.
	if _, why := db.triedb.HistoricStateReader(root); why != nil {
		return nil, fmt.Errorf("%w: %w", herr, why)
	}
	return nil, herr
}

// errIndexing is pathdb's answer while the state history index is being
// built (after every start, until its indexer's first pass, up to about 15
// s); go-ethereum does not export it.
const errIndexing = "haven't been fully indexed yet"

// IsHistoryIndexing reports whether err is a historical read refused only
// because the state history index is still being built after a start: the
// same read succeeds once it is done.
func IsHistoryIndexing(err error) bool {
	return err != nil && strings.Contains(err.Error(), errIndexing)
}

// historyReady reports whether historical states can be read: the state
// history index and, where trie node history is kept, its index too are
// built. A data dir without any history yet is ready.
func (db *windowDB) historyReady(root common.Hash) bool {
	_, serr := db.triedb.HistoricStateReader(root)
	_, nerr := db.triedb.HistoricNodeReader(root)
	return !IsHistoryIndexing(serr) && !IsHistoryIndexing(nerr)
}

// liveReader reads a state of the layer tree and falls back to the history
// when its layer goes stale under it: a state at the bottom of the tree is
// merged into the disk layer as new blocks arrive, and a reader opened on
// it then fails with pathdb's "layer stale" (an RPC read of an old state
// racing the chain). The history serves the same state from then on.
type liveReader struct {
	ethstate.Reader
	root     common.Hash
	historic func(root common.Hash) (ethstate.Reader, error)

	once    sync.Once
	hist    ethstate.Reader
	histErr error
}

// isStale reports pathdb's errSnapshotStale, which go-ethereum does not
// export; it keeps its text through every wrapping.
func isStale(err error) bool { return err != nil && strings.Contains(err.Error(), "layer stale") }

func (r *liveReader) fallback() (ethstate.Reader, error) {
	r.once.Do(func() { r.hist, r.histErr = r.historic(r.root) })
	return r.hist, r.histErr
}

// Account reads addr live, or from the history if the layer went stale.
func (r *liveReader) Account(addr common.Address) (*types.StateAccount, error) {
	a, err := r.Reader.Account(addr)
	if isStale(err) {
		if h, herr := r.fallback(); herr == nil {
			return h.Account(addr)
		}
	}
	return a, err
}

// Storage reads a slot live, or from the history if the layer went stale.
func (r *liveReader) Storage(addr common.Address, slot common.Hash) (common.Hash, error) {
	v, err := r.Reader.Storage(addr, slot)
	if isStale(err) {
		if h, herr := r.fallback(); herr == nil {
			return h.Storage(addr, slot)
		}
	}
	return v, err
}

// OpenTrie opens the account trie of root, from the history if needed
// (eth_getProof).
func (db *windowDB) OpenTrie(root common.Hash) (ethstate.Trie, error) {
	t, err := db.MPTDatabase.OpenTrie(root)
	if err == nil {
		return t, nil
	}
	return db.history.OpenTrie(root)
}

// OpenStorageTrie opens a storage trie of the state root, from the history
// if needed.
func (db *windowDB) OpenStorageTrie(stateRoot common.Hash, address common.Address, root common.Hash, self ethstate.Trie) (ethstate.Trie, error) {
	t, err := db.MPTDatabase.OpenStorageTrie(stateRoot, address, root, self)
	if err == nil {
		return t, nil
	}
	return db.history.OpenStorageTrie(stateRoot, address, root, self)
}
