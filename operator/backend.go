package operator

import (
	"context"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Backend is what the server needs from a node. Every method must be safe
// for concurrent use and must not block for long: unary methods get a
// context bounded by Config.CallTimeout and should honour it.
//
// A method that cannot answer yet (the part it reads from is not started)
// returns an error wrapping ErrNotReady; other errors reach the client as
// INTERNAL.
type Backend interface {
	// NodeInfo returns the node's identity; it does not change while the
	// node runs.
	NodeInfo(ctx context.Context) (NodeInfo, error)
	// Status returns one consistent-enough snapshot of the node.
	Status(ctx context.Context) (Status, error)
	// Peers returns the connected peers that completed the handshake, in
	// any order. A node without p2p returns none and no error.
	Peers(ctx context.Context) ([]Peer, error)
	// GPUs returns the compute runtime's GPU inventory. A node that offers
	// no GPUs returns an empty Devices and a Reason, and no error.
	GPUs(ctx context.Context) (GPUs, error)
	// SubscribeHeads sends every new canonical head to ch, in order, until
	// Unsubscribe. The server drains ch promptly and never lets a client
	// stall it, so a blocking send (event.Feed) is fine. geth's
	// event.Feed.Subscribe satisfies this method's contract.
	SubscribeHeads(ch chan<- Head) Subscription
}

// Subscription is a stream of events from SubscribeHeads. geth's
// event.Subscription satisfies it.
type Subscription interface {
	// Err is closed on Unsubscribe; it delivers an error and is then closed
	// when the producer ends the subscription on its own.
	Err() <-chan error
	// Unsubscribe stops delivery and closes Err. It must not block on a
	// send in progress and may be called once.
	Unsubscribe()
}

// NodeInfo is a node's identity.
type NodeInfo struct {
	// Version is the binary's version string (params.VersionWithCommit).
	Version string
	// Role is "validator", "router" or "compute".
	Role        string
	ChainID     uint64
	GenesisHash common.Hash
	// ValidatorAddress is the consensus signing address; the zero address
	// when the node has no consensus key.
	ValidatorAddress common.Address
	// PeerID is the libp2p peer ID; empty without p2p (dev mode).
	PeerID string
	// ListenAddrs are full multiaddrs ending in /p2p/<PeerID>.
	ListenAddrs []string
	// Forks are the forks this binary knows, oldest first, with the
	// chain's schedule.
	Forks []Fork
}

// Fork is one consensus rule change and the chain's schedule for it.
type Fork struct {
	Name, Description string
	// Scheduled: the genesis schedules it, from Block on; Active: the
	// head is at or past Block.
	Scheduled bool
	Block     uint64
	Active    bool
}

// Head is one canonical block, as much of it as operators watch.
type Head struct {
	Number uint64
	Hash   common.Hash
	// Time is the header timestamp, unix seconds.
	Time    uint64
	TxCount int
	GasUsed uint64
}

// Status is a snapshot of a running node.
type Status struct {
	Head Head
	// Syncing is true while the node catches up; SyncTarget is then the
	// highest block number it knows of.
	Syncing    bool
	SyncTarget uint64
	Consensus  Consensus
	PeerCount  int
	// TxPoolPending counts executable transactions, TxPoolQueued those
	// waiting behind a nonce gap.
	TxPoolPending int
	TxPoolQueued  int
}

// Consensus is the block producer's view.
type Consensus struct {
	// Engine is "ibft" or "dev".
	Engine string
	// Height is the block number being decided, Round its current round.
	Height uint64
	Round  uint64
	// Proposer of the current round; the zero address when unknown.
	Proposer    common.Address
	Validators  []common.Address
	IsValidator bool
	// LastCommitTime is the wall-clock time of the last commit; the zero
	// time when none yet.
	LastCommitTime time.Time
}

// Peer is one connected peer.
type Peer struct {
	ID string
	// Addrs are the multiaddrs of the peer's connections; nil when unknown.
	Addrs []string
	// HeadNumber and HeadHash come from the peer's handshake; the zero hash
	// when unknown.
	HeadNumber uint64
	HeadHash   common.Hash
}

// GPUs is a compute runtime's inventory (computing/gpu.Inventory, less what
// the operator API does not serve).
type GPUs struct {
	// Source is "nvml", "simulated" or "none".
	Source string
	// Simulated is true when no device is real hardware.
	Simulated bool
	// Reason explains an empty Devices.
	Reason            string
	DriverVersion     string
	CUDADriverVersion string
	Devices           []GPU
}

// GPU is one physical device.
type GPU struct {
	Index int
	UUID  string
	Name  string
	// MemoryTotalBytes is 0 when the driver does not report it.
	MemoryTotalBytes uint64
	Simulated        bool
}
