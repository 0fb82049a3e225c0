// Package state owns the chain's storage and execution: the pebble-backed
// database (store.go, schema.go, accessors_*.go), the canonical chain of
// blocks with their receipts, logs and tx index (chain.go), and the block
// executor that runs transactions through go-ethereum's EVM, including the
// chain-native modules (executor.go).
//
// Start reading at Chain: Open sets up or checks genesis, InsertBlock
// validates, executes and durably commits a block with its commit
// certificate, and BuildBlock assembles a proposal from pending transactions.
// Blocks built here and blocks received from peers go through the same
// InsertBlock path.
//
// Persistence: chain data uses go-ethereum's rawdb layout; world state uses
// go-ethereum's trie database in the scheme the data dir was created with
// (scheme.go): path (default: latest state with flat reads, a bounded window
// of state history read through history.go) or hash (archive). Each
// InsertBlock writes the block, its receipts, indexes and the new head, then
// syncs pebble's WAL before returning, so a SIGKILL at any moment loses no
// block that was reported committed; the path scheme's in-memory state
// layers are flushed by Close and, after a crash, rebuilt by re-executing the
// stored blocks (recover.go). dbstats.go sizes the store's data categories;
// metrics.go holds the storage and execution metrics; scale_test.go is the
// state-at-scale benchmark.
package state
