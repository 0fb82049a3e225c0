package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// PeerID identifies a peer. For libp2p it is the string form of the peer.ID
// (base58 multihash); memnet uses any unique string.
type PeerID string

// ShortString returns a log-friendly abbreviation of id.
func (id PeerID) ShortString() string {
	if len(id) <= 12 {
		return string(id)
	}
	return string(id[:4]) + "…" + string(id[len(id)-6:])
}

var (
	// ErrClosed is returned by every method of a Network or Topic after Close.
	ErrClosed = errors.New("p2p: closed")
	// ErrTooLarge is returned when a message or frame exceeds its limit; the
	// peer that sent it is penalised.
	ErrTooLarge = errors.New("p2p: message too large")
	// ErrMalformed is what a Validator or Handler wraps to reject a message as
	// malformed; the sender is penalised with PenaltyMalformed.
	ErrMalformed = errors.New("p2p: malformed message")
	// ErrInvalid is what a Validator wraps to reject a well-formed message
	// that is provably wrong (a forged signature); the sender is penalised
	// with PenaltyInvalid.
	ErrInvalid = errors.New("p2p: invalid message")
	// ErrStale is what a Validator wraps to reject a message that is out of
	// date (a replayed or reordered sequence number, a timestamp outside the
	// accepted window). An honest relay can deliver one late, so the sender
	// is penalised only with PenaltyMinor: a replay flood still adds up to a
	// ban.
	ErrStale = errors.New("p2p: stale message")
	// ErrUnknownProtocol is returned by Request when the remote peer does not
	// serve the protocol.
	ErrUnknownProtocol = errors.New("p2p: protocol not supported by peer")
	// ErrNotConnected is returned by Request for a peer that is not a
	// handshaked, connected peer.
	ErrNotConnected = errors.New("p2p: peer not connected")
	// ErrRemote is wrapped around an error reply a remote handler returned.
	ErrRemote = errors.New("p2p: remote error")
	// ErrNetworkMismatch is returned by the handshake when the remote peer is
	// on another chain (chain id or genesis hash differ); the peer is
	// disconnected and blocked.
	ErrNetworkMismatch = errors.New("p2p: peer is on a different network")
	// ErrBanned is returned when dialing or talking to a peer that is
	// currently banned for misbehaving.
	ErrBanned = errors.New("p2p: peer is banned")
	// ErrAlreadyJoined is returned by Join for a topic joined before.
	ErrAlreadyJoined = errors.New("p2p: topic already joined")
	// ErrAlreadyRegistered is returned by Handle for a protocol id that has a
	// handler already.
	ErrAlreadyRegistered = errors.New("p2p: protocol already has a handler")
)

// Message is one validated inbound gossip message.
type Message struct {
	Topic string
	// From is the neighbour that delivered the message: the peer to penalise
	// if the message later turns out bad.
	From PeerID
	// Origin is the peer that first published it (equal to From for a
	// neighbour's own messages). Authenticate the content, not Origin.
	Origin PeerID
	Data   []byte
}

// Validator checks an inbound gossip message before it is delivered or
// forwarded. Return nil to accept, an error to reject and penalise the
// sender (GossipPenalty: ErrMalformed, ErrInvalid and ErrStale weigh
// differently), or ErrIgnore to drop silently (e.g. duplicates).
type Validator func(ctx context.Context, from PeerID, data []byte) error

// ErrIgnore is returned by a Validator to drop a message without penalising
// anyone (duplicates, old heights).
var ErrIgnore = errors.New("p2p: message ignored")

// GossipPenalty is the penalty for the sender of a gossip message its
// Validator rejected with err (not ErrIgnore): PenaltyInvalid for ErrInvalid,
// PenaltyMinor for ErrStale, PenaltyMalformed for anything else.
func GossipPenalty(err error) Penalty {
	switch {
	case errors.Is(err, ErrInvalid):
		return PenaltyInvalid
	case errors.Is(err, ErrStale):
		return PenaltyMinor
	default:
		return PenaltyMalformed
	}
}

// TopicOptions configures a joined topic.
type TopicOptions struct {
	// MaxSize bounds a message's data; larger messages are rejected and the
	// sender penalised. Zero means MaxGossipSize; more than MaxGossipSize is
	// an error.
	MaxSize int
	// Validate is called for every inbound message that fits MaxSize. Nil
	// accepts everything.
	Validate Validator
	// Buffer is the capacity of the Messages channel; when it is full new
	// messages are dropped (and counted), never blocking the network. Zero
	// means 256.
	Buffer int
}

// Topic is a joined gossip topic.
type Topic interface {
	// Publish broadcasts data to every peer subscribed to the topic. The
	// local node does not receive its own message on Messages.
	Publish(ctx context.Context, data []byte) error
	// Messages delivers validated messages from other peers. It is closed by
	// Close.
	Messages() <-chan Message
	// Dropped counts messages dropped because Messages was full.
	Dropped() uint64
	Close() error
}

// Gossip joins broadcast topics.
type Gossip interface {
	Join(topic string, opts TopicOptions) (Topic, error)
}

// Spec describes a request/response stream protocol: its id and bounds. The
// same Spec value is used by the server (Handle) and the client (Request).
type Spec struct {
	// ID is the full protocol id, e.g. Names.Sync().
	ID string
	// MaxRequest and MaxResponse bound each side's single frame.
	MaxRequest  int
	MaxResponse int
	// Timeout bounds one whole exchange (open, write, read); it is the read
	// deadline on the stream for both sides. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Validate checks the spec's bounds.
func (s Spec) Validate() error {
	if s.ID == "" || s.MaxRequest <= 0 || s.MaxResponse <= 0 || s.MaxRequest > MaxFrameSize || s.MaxResponse > MaxFrameSize {
		return fmt.Errorf("p2p: bad protocol spec %+v (sizes must be in 1..%d)", s, MaxFrameSize)
	}
	return nil
}

// TimeoutOrDefault returns the spec's timeout or DefaultTimeout.
func (s Spec) TimeoutOrDefault() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

// Handler answers one request from peer from. Return an error wrapping
// ErrMalformed to penalise the requester; any other error is sent back as an
// error reply (ErrRemote on the client side).
type Handler func(ctx context.Context, from PeerID, req []byte) ([]byte, error)

// Requester sends one request to one peer and waits for its response.
// Sending a one-way message is a Request whose response is empty.
type Requester interface {
	Request(ctx context.Context, peer PeerID, spec Spec, req []byte) ([]byte, error)
}

// Server registers stream protocol handlers.
type Server interface {
	Handle(spec Spec, h Handler) error
}

// PeerSet lists the connected, handshaked peers.
type PeerSet interface {
	Self() PeerID
	Peers() []PeerID
	PeerCount() int
}

// Penalizer records misbehaviour. Enough penalties ban the peer.
type Penalizer interface {
	Penalize(peer PeerID, p Penalty, reason string)
}

// Network is everything a node needs from the transport. Consumers should
// depend on the smaller interfaces above.
type Network interface {
	Gossip
	Requester
	Server
	PeerSet
	Penalizer
	Close() error
}

// Status is what peers exchange in the handshake: enough to tell whether
// they are on the same network, how far along the other is and, optionally,
// which consensus address the sender holds the key of.
type Status struct {
	ChainID    uint64
	Genesis    common.Hash
	HeadNumber uint64
	HeadHash   common.Hash
	// Identity, when present, proves the sender holds the key of an address
	// (see identity.go). Statuses of nodes without a consensus key, and of
	// nodes older than the field, have none.
	Identity *Identity `rlp:"optional"`
	// Rest holds fields a later version appends. They are kept (so decoding
	// stays canonical) and ignored, so that version can still talk to this
	// one.
	Rest []rlp.RawValue `rlp:"tail"`
}

// Compatible returns an ErrNetworkMismatch error if remote is on another
// network than s.
func (s Status) Compatible(remote Status) error {
	if s.ChainID != remote.ChainID {
		return fmt.Errorf("%w: chain id %d, ours %d", ErrNetworkMismatch, remote.ChainID, s.ChainID)
	}
	if s.Genesis != remote.Genesis {
		return fmt.Errorf("%w: genesis %s, ours %s", ErrNetworkMismatch, remote.Genesis, s.Genesis)
	}
	return nil
}

// AddressBook is an optional capability of a Network: the consensus
// address each connected peer proved in its handshake. A peer that proved
// none has no entry. Only addresses of current validators matter to
// consensus; any node may prove one.
type AddressBook interface {
	// PeerAddress returns the address peer proved, if it is connected and
	// proved one.
	PeerAddress(peer PeerID) (common.Address, bool)
	// PeerByAddress returns a connected peer that proved addr. When several
	// did (one key on two nodes), it returns the smallest peer id, so the
	// choice is stable.
	PeerByAddress(addr common.Address) (PeerID, bool)
}

// StatusFunc returns the local node's current status (head changes).
type StatusFunc func() Status

// Scorer is an optional capability: read a peer's penalty state.
type Scorer interface {
	Score(peer PeerID) float64
	Banned(peer PeerID) bool
}
