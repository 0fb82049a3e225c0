// Package wal is the consensus write-ahead log: an append-only file of
// length-prefixed, CRC-checked records that a validator fsyncs before it
// sends anything it signed. It knows nothing about record contents; the
// IBFT core defines them (ibft.Record) and the driver glues the two.
//
// Start reading at Open. A record on disk is framed as
//
//	[4-byte big-endian length][4-byte CRC-32C of length and payload][payload]
//
// Replay stops at the first frame that is incomplete or fails its CRC: a
// crash in the middle of an append leaves a torn tail, which Open cuts off
// so the next append starts on a clean boundary. Records are bounded by
// MaxRecordSize. Memory implements the same log in memory for tests and the
// simulator.
package wal
