package main

import (
	"github.com/spf13/pflag"

	"github.com/emc-network/emcd/state"
)

// storageFlags choose how world state is stored. They are persistent flags:
// `emcd init` creates the data dir with the scheme, the node opens it.
type storageFlags struct {
	scheme       string
	stateHistory uint64
	trieHistory  uint64
	trieMB       int
	stateMB      int
	bufferMB     int
	layers       int
	index        bool
}

func (sf *storageFlags) register(f *pflag.FlagSet) {
	f.StringVar(&sf.scheme, "state.scheme", "", `state scheme: "path" (default for a new data dir: latest state plus --history.state blocks of history) or "hash" (archive: every historical state); an existing data dir keeps its own`)
	f.Uint64Var(&sf.stateHistory, "history.state", state.DefaultStateHistory, "path scheme: recent blocks whose state stays queryable (eth_call, eth_getBalance, eth_getProof, tracing)")
	f.BoolVar(&sf.index, "history.index", true, "path scheme: index the state history so every state of --history.state stays readable; false keeps only the newest --state.layers states readable (go-ethereum's full-node behaviour) and executes blocks of a large state faster")
	f.Uint64Var(&sf.trieHistory, "history.trienode", 0, "path scheme: recent blocks that also keep trie nodes, so eth_getProof works on them beyond the --state.layers newest (0: none; costs about as much disk as the state history)")
	f.IntVar(&sf.trieMB, "cache.trie", state.DefaultTrieCleanMB, "clean trie node cache, MB")
	f.IntVar(&sf.stateMB, "cache.state", state.DefaultStateCleanMB, "path scheme: clean flat-state cache, MB")
	f.IntVar(&sf.layers, "state.layers", state.DefaultDiffLayers, "path scheme: newest states kept as in-memory diff layers above the disk layer (eth_getProof works on them without --history.trienode; fewer layers make reads of a large state cheaper)")
	f.IntVar(&sf.bufferMB, "cache.buffer", state.DefaultWriteBufferMB, "path scheme: dirty trie node buffer flushed to disk when full, MB (bounds the blocks re-executed after a crash)")
}

func (sf *storageFlags) config() state.StorageConfig {
	return state.StorageConfig{
		Scheme:          sf.scheme,
		StateHistory:    sf.stateHistory,
		TrienodeHistory: sf.trieHistory,
		TrieCleanMB:     sf.trieMB,
		StateCleanMB:    sf.stateMB,
		WriteBufferMB:   sf.bufferMB,
		DiffLayers:      sf.layers,
		NoHistoryIndex:  !sf.index,
	}
}
