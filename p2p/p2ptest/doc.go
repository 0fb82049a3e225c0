// Package p2ptest is the conformance suite every p2p.Network implementation
// passes (geth ethdb/dbtest style): handshake isolation, multi-hop gossip,
// request/response and one-way direct messages, and penalties for malformed
// or oversized input. p2p/memnet and p2p/libp2p both run it from their tests.
package p2ptest
