package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"golang.org/x/time/rate"

	"github.com/emc-network/emcd/consensus/engine"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/outbox"
)

// The consensus transport: how the IBFT engine's messages reach validators.
//
//   - Broadcast: messages that fit gossip go on the consensus topic, which
//     every node (followers included) hears. Larger ones (proposals of big
//     blocks, round changes carrying them) go over the direct stream
//     protocol to each connected peer that proved, in its handshake, the
//     address of a current validator.
//   - Send(to): over the direct protocol to the peer that proved address to,
//     whatever the size (a CERTIFICATE reply to one lagging validator).
//   - Inbound direct messages are accepted only from peers that proved the
//     address of a current validator, within a per-peer rate.
//
// Direct sends go through an outbox (p2p/outbox): a bounded queue and one
// worker per peer, so the engine's loop never waits on a slow peer.

var (
	// errNotValidator is the direct handler's answer to a peer that has not
	// proved the address of a current validator. No penalty: an honest peer
	// whose view of the validator set differs from ours (across an epoch
	// change, while one of us syncs) may send one.
	errNotValidator = errors.New("node: direct consensus messages are accepted from current validators only")
	// errDirectRate is the direct handler's answer to a validator over its
	// budget of direct messages.
	errDirectRate = errors.New("node: direct consensus message rate exceeded")
	// errEngineBusy is the direct handler's answer when the engine's inbound
	// queue is full; the message is dropped, as gossip would be.
	errEngineBusy = errors.New("node: consensus engine queue full")
	// errSelfNotValidator is returned by Send on a node that is not a
	// current validator: the recipient would refuse the message.
	errSelfNotValidator = errors.New("node: not a current validator; direct consensus messages would be refused")
	// errNoValidatorPeer is returned by Broadcast of an oversized message
	// when no connected peer proved a validator address.
	errNoValidatorPeer = errors.New("node: no validator peer to send an oversized consensus message to")
)

// consensusPeers is what the transport needs of the network: the peers and
// the addresses they proved.
type consensusPeers interface {
	Peers() []p2p.PeerID
	p2p.AddressBook
}

// consensusTransport implements engine.Transport.
type consensusTransport struct {
	self  common.Address // this node's consensus address
	topic p2p.Topic
	peers consensusPeers
	out   *outbox.Outbox
	vals  *validatorSet
}

var _ engine.Transport = (*consensusTransport)(nil)

// Broadcast gossips data if it fits a gossip message, and otherwise queues
// it for every validator peer on the direct protocol (if this node is a
// current validator; see Send). Followers then miss
// the oversized message; they learn the decision from the COMMITs, which
// are gossiped, and fetch the block by sync.
func (c *consensusTransport) Broadcast(ctx context.Context, data []byte) error {
	if len(data) <= p2p.MaxConsensusMessage {
		return c.topic.Publish(ctx, data)
	}
	if !c.vals.Contains(c.self) {
		return errSelfNotValidator // as in Send: validators would refuse it
	}
	sent := 0
	var errs []error
	for _, peer := range c.peers.Peers() {
		addr, ok := c.peers.PeerAddress(peer)
		if !ok || !c.vals.Contains(addr) {
			continue
		}
		if err := c.out.Send(peer, data); err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	if sent == 0 && len(errs) == 0 {
		return fmt.Errorf("%w (%d bytes)", errNoValidatorPeer, len(data))
	}
	return errors.Join(errs...)
}

// Send queues data for the peer that proved address to, on the direct
// protocol. When no connected peer proved it (we are not connected to that
// validator, or it runs without its key) it falls back to Broadcast: a
// message that fits gossip still reaches it through other peers, at the cost
// of every other node hearing a message meant for one (the core ignores
// what is not for it); an oversized one reaches only our validator peers,
// and the lagging validator catches up by block sync instead.
//
// A node that is not itself a current validator sends nothing. Its core
// answers lagging validators too (a follower that observed a decision holds
// its certificate), but receivers accept direct messages from validators
// only, and every validator that decided the height sends the same answer.
func (c *consensusTransport) Send(ctx context.Context, to common.Address, data []byte) error {
	if !c.vals.Contains(c.self) {
		return errSelfNotValidator
	}
	peer, ok := c.peers.PeerByAddress(to)
	if !ok {
		return c.Broadcast(ctx, data)
	}
	return c.out.Send(peer, data)
}

// validatorChain is what validatorSet needs of the chain.
type validatorChain interface {
	Head() *types.Header
	ValidatorsFor(number uint64) ([]common.Address, error)
}

// validatorSet answers "is addr a validator of the next block?" for the
// chain's current head. It loads the set once per head (ValidatorsFor reads
// the epoch header from the store), not once per message.
type validatorSet struct {
	chain validatorChain
	log   *slog.Logger

	mu   sync.Mutex
	head *types.Header // the head the set was loaded for
	set  map[common.Address]struct{}
}

func newValidatorSet(chain validatorChain, log *slog.Logger) *validatorSet {
	return &validatorSet{chain: chain, log: log.With("component", "consensus_transport")}
}

// Contains reports whether addr certifies the block after the current head.
// If the set cannot be loaded, nobody is a validator until the next head.
func (v *validatorSet) Contains(addr common.Address) bool {
	head := v.chain.Head()
	v.mu.Lock()
	defer v.mu.Unlock()
	// The chain swaps its head pointer on every new head, so comparing
	// pointers is exact and free.
	if head != v.head {
		v.head = head
		v.set = nil
		vals, err := v.chain.ValidatorsFor(head.Number.Uint64() + 1)
		if err != nil {
			v.log.Warn("cannot load the validator set", "number", head.Number.Uint64()+1, "err", err)
		} else {
			v.set = make(map[common.Address]struct{}, len(vals))
			for _, a := range vals {
				v.set[a] = struct{}{}
			}
		}
	}
	_, ok := v.set[addr]
	return ok
}

// Budget of direct consensus messages per peer. A validator sends one peer,
// per round, at most an oversized PRE-PREPARE (if it proposes), an oversized
// ROUND-CHANGE (if it prepared a big block) and a CERTIFICATE reply (the core
// sends one per lagging peer per base timeout, and a round lasts at least
// that). Rounds last at least two seconds, so 4 a second with a burst of 8
// leaves honest validators ample room, also after a partition heals, while
// bounding what one peer can push at the engine's queue in 12 MiB messages.
const (
	directRate  = rate.Limit(4) // per second
	directBurst = 8
	// maxLimitedPeers bounds the limiter table; it is reset when full.
	maxLimitedPeers = 1024
)

// directHandler serves the direct consensus protocol.
type directHandler struct {
	book    p2p.AddressBook
	vals    *validatorSet
	limits  *peerLimiter
	deliver func([]byte) bool // engine.Deliver
}

func (d *directHandler) handle(_ context.Context, from p2p.PeerID, req []byte) ([]byte, error) {
	addr, ok := d.book.PeerAddress(from)
	if !ok {
		return nil, fmt.Errorf("%w: peer %s proved no address", errNotValidator, from.ShortString())
	}
	if !d.vals.Contains(addr) {
		return nil, fmt.Errorf("%w: %s is not one", errNotValidator, addr)
	}
	if !d.limits.allow(from) {
		return nil, errDirectRate
	}
	if _, err := ibft.DecodeMessage(req); err != nil {
		return nil, fmt.Errorf("%w: %w", p2p.ErrMalformed, err)
	}
	if !d.deliver(req) {
		return nil, errEngineBusy
	}
	return nil, nil
}

// peerLimiter keeps a token bucket per peer.
type peerLimiter struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	peers map[p2p.PeerID]*rate.Limiter
}

func newPeerLimiter(r rate.Limit, burst int) *peerLimiter {
	return &peerLimiter{r: r, burst: burst, peers: make(map[p2p.PeerID]*rate.Limiter)}
}

func (l *peerLimiter) allow(peer p2p.PeerID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.peers[peer]
	if !ok {
		if len(l.peers) >= maxLimitedPeers {
			l.peers = make(map[p2p.PeerID]*rate.Limiter)
		}
		lim = rate.NewLimiter(l.r, l.burst)
		l.peers[peer] = lim
	}
	return lim.Allow()
}
