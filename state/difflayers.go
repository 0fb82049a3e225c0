package state

import (
	"sync"
	_ "unsafe" // go:linkname, below

	// The package whose variable is linked below.
	_ "github.com/ethereum/go-ethereum/triedb/pathdb"
)

// DefaultDiffLayers is how many in-memory diff layers a node's path scheme
// chain keeps above its disk layer by default (--state.layers). A chain
// opened without the setting (StorageConfig.DiffLayers 0: tests, the
// simulator) keeps whatever is set, go-ethereum's 128 unless changed.
//
// go-ethereum keeps 128 for reorgs. IBFT blocks are final, so emcd never
// reorgs and needs no deep layer tree: states below the layers stay
// readable through the state history, and the disk layer's write buffer
// still aggregates writes before they reach pebble. The depth matters
// because pathdb resolves a trie node by asking every layer in turn,
// newest first: on a large state most nodes a block reads were not written
// in the recent blocks, so each read walks the whole tree. On the
// 1,000,000-account benchmark that walk was a third of the CPU at 128
// layers (README, "State at scale"), and a crash replays 47 blocks at 16
// instead of 190.
const DefaultDiffLayers = 16

// pathdbMaxDiffLayers is go-ethereum's pathdb.maxDiffLayers, the depth
// pathdb.Database.Update caps the layer tree to after each block. It is a
// package variable there (its own tests change it), not a setting: v1.17
// has no other way to choose it. Linking to it breaks the build, not the
// node, if a later go-ethereum renames it. It is left at go-ethereum's
// value until SetDiffLayers.
//
//go:linkname pathdbMaxDiffLayers github.com/ethereum/go-ethereum/triedb/pathdb.maxDiffLayers
var pathdbMaxDiffLayers int

var diffLayersMu sync.Mutex

// SetDiffLayers sets the number of in-memory diff layers of every path
// scheme chain of the process, and returns the previous number. It is a
// process-wide setting of go-ethereum's: call it before opening chains, not
// while one commits blocks (benchmarks compare depths with it).
func SetDiffLayers(n int) int {
	if n < 1 {
		n = 1
	}
	diffLayersMu.Lock()
	defer diffLayersMu.Unlock()
	prev := pathdbMaxDiffLayers
	pathdbMaxDiffLayers = n
	return prev
}

// DiffLayers returns the number of in-memory diff layers path scheme chains
// keep.
func DiffLayers() int {
	diffLayersMu.Lock()
	defer diffLayersMu.Unlock()
	return pathdbMaxDiffLayers
}
