// Package p2p is the transport-neutral seam between emcd's components and the
// network. Consumers (consensus, txpool gossip, block sync) depend only on the
// small interfaces declared here: Gossip (publish/receive on a topic),
// Requester and Handler (one request and one response over a stream protocol
// to one peer), PeerSet and Penalizer. Two implementations satisfy them:
// p2p/libp2p (the real network) and p2p/memnet (in memory, with fault hooks
// for tests); p2p/p2ptest holds the conformance suite both pass.
//
// Start reading at Network in p2p.go, then Names (every topic and protocol
// name carries the chain id, so separate networks never share one), then
// Scoreboard (per-peer penalties with a ban threshold, on an injected clock).
//
// The handshake (Status, status.go) may carry an Identity (identity.go): a
// node proves the consensus address it holds the key of by signing its own
// peer id. Implementations verify it and expose the result through the
// optional AddressBook interface, which lets consensus send to one validator
// and accept direct messages only from validators.
//
// Streamer (stream.go) is an optional capability for protocols that frame
// their own exchanges over a raw stream, such as the app relay's streamed
// bodies (computing/instance); p2p/libp2p implements it, memnet does not.
//
// Wire framing shared by stream protocols is in frame.go: uvarint length
// prefix, bounded by the protocol's limit before any allocation.
package p2p
