// Package heartbeat owns compute nodes' signed heartbeats and the router's
// live table of the nodes that send them (issue 11, item 2).
//
// Start reading at Heartbeat in heartbeat.go: the message, its canonical RLP
// encoding, the size-capped Decode and the signature by the node's libp2p key
// (the peer id inlines the public key, so a heartbeat names its own signer).
// Then Table in table.go, the pure state machine: events in (Receive a
// heartbeat, Tick, RTT sample), each carrying the time; no goroutine, no
// clock, no I/O. It keeps per node the latest heartbeat, when it was seen,
// how many intervals it missed (a node is dropped after Config.MaxMissed) and
// a round-trip-time EWMA; Snapshot is what the scheduler reads.
//
// Tracker (tracker.go) is the thin concurrent driver: it is the gossip
// topic's p2p.Validator (decode, verify, then Table.Receive under a lock, so
// replays and forgeries are refused before they are forwarded, and the
// sender penalised by the weight p2p.GossipPenalty gives the returned error),
// and its Run loop ticks the table and pings live nodes over the Ping
// protocol (ping.go) to feed RTT samples. Publisher (publisher.go) is the
// compute side: it signs a Status from a Source every interval and publishes
// it. Metrics are in metrics.go.
//
// Which peers count is decided by a Registry (Registered(peer) → owner); the
// on-chain registry module will back it. AcceptAll counts every peer.
package heartbeat
