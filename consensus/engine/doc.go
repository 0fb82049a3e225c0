// Package engine drives the IBFT core (consensus/ibft) for a validator: it
// owns the core, its write-ahead log, the round ticker and the link to the
// chain, the transaction pool and the network.
//
// Start reading at Engine.Run. All core calls happen on the one goroutine
// of Run, in the order the ibft package documents: persist WAL records and
// fsync, send, apply the commit, hand out validation and proposal work,
// Advance. Proposal validation (full block execution) and block building
// run on worker goroutines (work.go): at most one build and
// Config.MaxValidations validations at a time; their results come back to
// Run over channels and reach the core there, and results for a height the
// core has left are dropped.
//
// The engine's only sources of time and durability are injected: a Clock
// (SystemClock in a node; a simulated clock in tests drives the round
// ticker, the block period and proposal timestamps) and a wal.Log
// (Config.WALPath opens a wal.File for a node; tests pass wal.Memory or
// wal.Crashing). Metrics are a Metrics struct registered on the node's
// registry (NopMetrics when none is given).
package engine
