// Package memnet is an in-memory p2p.Network for tests, in the style of
// hashicorp/raft's InmemTransport: a Hub connects Nodes; each Node
// implements the same interfaces as p2p/libp2p.Host (gossip with per-hop
// validation and flooding, request/response with size limits and timeouts,
// handshake that refuses other networks, penalties and bans).
//
// Fault hooks: Hub.SetFault sets a drop probability and a maximum delay,
// Hub.SetFilter decides per message, Hub.Partition splits the nodes into
// groups that cannot talk. Every random decision comes from one source
// seeded by NewHub's seed, so the sequence of decisions is reproducible;
// goroutine scheduling (delivery order across different links) is not.
package memnet
