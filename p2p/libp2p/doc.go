// Package libp2p is the real p2p.Network: go-libp2p hosts (TCP, optionally
// QUIC), gossipsub with peer scoring and size-limiting topic validators,
// kad-dht in server mode under the chain's own protocol prefix, and bounded
// request/response streams.
//
// Start at Host (host.go): New assembles everything from Config. The
// handshake (handshake.go) runs on every new connection: the dialer opens a
// stream and both sides exchange p2p.Status; a peer of another chain id or
// genesis is disconnected and banned through the connection gater
// (gater.go), and a peer that does not complete the handshake in time is
// dropped. Until a peer has handshaked, its gossip is ignored, its requests
// are refused and it is not listed in Peers. Identity keys are persisted by
// LoadOrCreateKey (key.go).
package libp2p
