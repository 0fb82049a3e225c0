// Package loadgen is the engine of `emcd bench`: it funds a set of sender
// accounts, sends signed transfers from all of them over JSON-RPC to one or
// more endpoints at a target rate (or as fast as the node accepts them), and
// measures submit→commit latency by watching new blocks for the hashes it
// sent. Start reading at Run.
package loadgen
