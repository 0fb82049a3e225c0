package state

import (
	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
)

// windowDB is the state database of a path-scheme chain. States in the
// layer tree (the disk layer and the 128 in-memory diff layers above it) are
// read directly; older states inside the --history.state window are read
// through go-ethereum's historic database, which applies the state history
// (and trie node history, for proofs) to the current state. A state outside
// the window answers go-ethereum's own error ("historical state ... is not
// available"). Writes always go to the live database, so a block can only
// ever be executed on a state in the layer tree.
type windowDB struct {
	*ethstate.MPTDatabase
	history *ethstate.HistoricDB
}

var _ ethstate.Database = (*windowDB)(nil)

// Reader returns a reader of root: live if the layer tree has it, historic
// otherwise.
func (db *windowDB) Reader(root common.Hash) (ethstate.Reader, error) {
	r, err := db.MPTDatabase.Reader(root)
	if err == nil {
		return r, nil
	}
	return db.history.Reader(root)
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
