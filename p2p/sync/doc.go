// Package sync is block synchronisation over a p2p request/response
// protocol (p2p.Names.Sync). The Server answers GetStatus (head number and
// hash) and GetBlocks(from, count) with RLP blocks and their commit
// certificates, bounded in count and bytes. The Syncer polls peers'
// statuses, fetches missing ranges, and inserts them through a narrow Chain
// interface whose InsertBlock verifies each block's certificate; peers that
// serve malformed or invalid blocks are penalised and the range is retried
// from another peer.
//
// Start at Syncer.Run (syncer.go); the wire format and its size-limited
// decoders are in wire.go.
package sync
