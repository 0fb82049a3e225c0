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
// go-ethereum's trie database with the hash scheme, so every historical state
// stays queryable. Each InsertBlock writes the block, its receipts, indexes,
// state trie nodes and the new head, then syncs pebble's WAL before
// returning, so a SIGKILL at any moment loses nothing that was reported
// committed.
package state
