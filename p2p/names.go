package p2p

import (
	"fmt"
	"time"
)

// Size limits. Every inbound message is checked against one of these before
// it is decoded.
const (
	// MaxGossipSize is gossipsub's per-message limit (its default, 1 MiB).
	// Anything larger goes over a stream protocol (Names.Direct).
	MaxGossipSize = 1 << 20
	// MaxTxMessage bounds one transaction gossip message (a batch of txs).
	MaxTxMessage = MaxGossipSize
	// MaxConsensusMessage bounds one consensus gossip message.
	MaxConsensusMessage = MaxGossipSize
	// MaxDirectMessage bounds a direct (peer-to-peer) message such as a large
	// proposal: the IBFT limit (8 MiB proposal + 1 MiB justification) with
	// headroom.
	MaxDirectMessage = 12 << 20
	// MaxFrameSize bounds any single stream frame.
	MaxFrameSize = 32 << 20
	// MaxHandshake bounds a handshake message.
	MaxHandshake = 1 << 10
	// DefaultTimeout bounds a request/response exchange whose Spec has none.
	DefaultTimeout = 10 * time.Second
)

// Names derives every topic and protocol name from the chain id, so nodes of
// different chains never share a topic or protocol.
type Names struct{ ChainID uint64 }

// Prefix is "/emcd/<chainid>", also the kad-dht protocol prefix.
func (n Names) Prefix() string { return fmt.Sprintf("/emcd/%d", n.ChainID) }

// TxTopic is the transaction gossip topic.
func (n Names) TxTopic() string { return n.Prefix() + "/tx/1" }

// ConsensusTopic is the consensus message gossip topic.
func (n Names) ConsensusTopic() string { return n.Prefix() + "/consensus/1" }

// Handshake is the stream protocol that exchanges Status on connect.
func (n Names) Handshake() string { return n.Prefix() + "/handshake/1" }

// Sync is the block sync request/response protocol.
func (n Names) Sync() string { return n.Prefix() + "/sync/1" }

// Direct is the one-way peer-to-peer protocol for consensus messages meant
// for one validator, and for payloads larger than gossip allows (big
// proposals). Receivers accept it from current validators only.
func (n Names) Direct() string { return n.Prefix() + "/direct/1" }

// HeartbeatTopic is the gossip topic of compute nodes' signed heartbeats
// (router/heartbeat), which routers follow to keep their live table.
func (n Names) HeartbeatTopic() string { return n.Prefix() + "/heartbeat/1" }

// Ping is the stream protocol a router measures its round-trip time to a
// compute node with (router/heartbeat.PingSpec).
func (n Names) Ping() string { return n.Prefix() + "/ping/1" }

// DirectSpec is the Spec of the Direct protocol: requests up to
// MaxDirectMessage, empty responses.
func (n Names) DirectSpec() Spec {
	return Spec{ID: n.Direct(), MaxRequest: MaxDirectMessage, MaxResponse: 1 << 10, Timeout: 20 * time.Second}
}

// App is the raw stream protocol a router relays calls to an app instance
// on a compute node with (computing/instance, router/relay).
func (n Names) App() string { return n.Prefix() + "/app/1" }
