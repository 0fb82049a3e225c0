package node

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/engine"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	p2psync "github.com/emc-network/emcd/p2p/sync"
	"github.com/emc-network/emcd/state"
)

// Bounds of transaction gossip.
const (
	maxTxsPerGossip  = 256
	txGossipInterval = 20 * time.Millisecond
	localTxQueue     = 16384
)

// network is the networked half of a non-dev node: the libp2p host, the
// transaction and consensus topics, block sync and the IBFT engine.
type network struct {
	host     *libp2p.Host
	txs      p2p.Topic
	cons     p2p.Topic
	syncer   *p2psync.Syncer
	engine   *engine.Engine
	localTxs chan *types.Transaction
}

// consensusTransport publishes engine messages on the consensus topic, and
// sends those too large for gossip (proposals of big blocks) to every peer
// over the direct stream protocol.
type consensusTransport struct {
	t    p2p.Topic
	net  p2p.Network
	spec p2p.Spec
}

func (c consensusTransport) Broadcast(ctx context.Context, data []byte) error {
	if len(data) <= p2p.MaxConsensusMessage {
		return c.t.Publish(ctx, data)
	}
	for _, peer := range c.net.Peers() {
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.spec.TimeoutOrDefault())
			defer cancel()
			_, _ = c.net.Request(ctx, peer, c.spec, data)
		}()
	}
	return nil
}

// Send is a stop-gap until peers are mapped to validator addresses: it
// broadcasts.
func (c consensusTransport) Send(ctx context.Context, _ common.Address, data []byte) error {
	return c.Broadcast(ctx, data)
}

// engineChain adds the head subscription to the chain for the engine.
var _ engine.Chain = (*state.Chain)(nil)

func (n *Node) setupNetwork(key *ecdsa.PrivateKey) error {
	chainID := n.chain.Config().ChainID.Uint64()
	names := p2p.Names{ChainID: chainID}
	genesisHash := n.chain.GenesisBlock().Hash()
	host, err := libp2p.New(libp2p.Config{
		ChainID: chainID,
		Status: func() p2p.Status {
			h := n.chain.Head()
			return p2p.Status{ChainID: chainID, Genesis: genesisHash, HeadNumber: h.Number.Uint64(), HeadHash: h.Hash()}
		},
		KeyFile:       n.cfg.DataDir.NodeKey(),
		ListenAddrs:   []string{n.cfg.P2PAddr},
		QUIC:          n.cfg.P2PQUIC,
		AnnounceAddrs: n.cfg.P2PAnnounce,
		Bootnodes:     n.cfg.Bootnodes,
		Log:           n.baseLog,
	})
	if err != nil {
		return fmt.Errorf("node: p2p: %w", err)
	}
	net := &network{host: host, localTxs: make(chan *types.Transaction, localTxQueue)}
	n.net = net // from here on, closeStores closes the host on any error
	if net.txs, err = host.Join(names.TxTopic(), p2p.TopicOptions{MaxSize: p2p.MaxTxMessage, Validate: validateTxGossip}); err != nil {
		return err
	}
	if net.cons, err = host.Join(names.ConsensusTopic(), p2p.TopicOptions{MaxSize: p2p.MaxConsensusMessage, Buffer: 4096, Validate: validateConsensusGossip}); err != nil {
		return err
	}
	spec := p2psync.Spec(chainID)
	if err := p2psync.NewServer(n.chain, n.baseLog).Register(host, spec); err != nil {
		return err
	}
	if net.syncer, err = p2psync.New(p2psync.Config{
		Network: host, Chain: n.chain, Spec: spec,
		IsInvalid: func(err error) bool { return errors.Is(err, state.ErrInvalidBlock) },
		Log:       n.baseLog,
	}); err != nil {
		return err
	}
	gen := n.chain.Genesis()
	net.engine = engine.New(engine.Config{
		Key:         key,
		BlockPeriod: time.Duration(gen.BlockPeriodMs) * time.Millisecond,
		WALPath:     n.cfg.DataDir.Consensus() + "/wal",
		Clock:       engine.SystemClock{},
		Metrics:     engine.NewMetrics(n.reg),
		OnBehind:    net.syncer.Wake,
		Logger:      n.baseLog,
	}, n.chain, sealPool{n.pool}, consensusTransport{t: net.cons, net: host, spec: names.DirectSpec()})
	// Large consensus messages arrive over the direct protocol.
	// Only messages too large for gossip belong here, and each peer gets a
	// small budget of them, so no peer can flood the engine's queue with
	// 12 MiB payloads.
	limits := newPeerLimiter(directRate, directBurst)
	if err := host.Handle(names.DirectSpec(), func(_ context.Context, from p2p.PeerID, req []byte) ([]byte, error) {
		if len(req) <= p2p.MaxConsensusMessage {
			return nil, fmt.Errorf("%w: %d-byte direct message fits in gossip", p2p.ErrMalformed, len(req))
		}
		if !limits.allow(from) {
			return nil, fmt.Errorf("direct message rate exceeded")
		}
		if _, err := ibft.DecodeMessage(req); err != nil {
			return nil, fmt.Errorf("%w: %v", p2p.ErrMalformed, err)
		}
		net.engine.Deliver(req)
		return nil, nil
	}); err != nil {
		return err
	}
	n.log.Info("consensus identity", "address", crypto.PubkeyToAddress(key.PublicKey), "role", n.cfg.Role, "peer_id", host.Self())
	return nil
}

func validateTxGossip(_ context.Context, _ p2p.PeerID, data []byte) error {
	if _, err := decodeTxBatch(data); err != nil {
		return fmt.Errorf("%w: %v", p2p.ErrMalformed, err)
	}
	return nil
}

func validateConsensusGossip(_ context.Context, _ p2p.PeerID, data []byte) error {
	if _, err := ibft.DecodeMessage(data); err != nil {
		return fmt.Errorf("%w: %v", p2p.ErrMalformed, err)
	}
	return nil
}

func decodeTxBatch(data []byte) ([]*types.Transaction, error) {
	var txs []*types.Transaction
	if err := rlp.DecodeBytes(data, &txs); err != nil {
		return nil, err
	}
	if len(txs) == 0 || len(txs) > maxTxsPerGossip {
		return nil, fmt.Errorf("batch of %d transactions", len(txs))
	}
	return txs, nil
}

// runNetwork starts the loops of the networked node.
func (n *Node) runNetwork(ctx context.Context) {
	net := n.net
	n.spawn(func() error { return ignoreCanceled(net.syncer.Run(ctx)) })
	n.spawn(func() error { return ignoreCanceled(net.engine.Run(ctx)) })
	// Inbound consensus messages go to the engine.
	n.spawn(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case m, ok := <-net.cons.Messages():
				if !ok {
					return nil
				}
				net.engine.Deliver(m.Data)
			}
		}
	})
	// Inbound transactions go to the pool as remote transactions.
	n.spawn(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case m, ok := <-net.txs.Messages():
				if !ok {
					return nil
				}
				txs, err := decodeTxBatch(m.Data)
				if err != nil {
					continue
				}
				n.pool.Add(txs, false)
			}
		}
	})
	// Locally submitted transactions are gossiped in batches, each at most
	// txGossipInterval after its first transaction. The timer runs only
	// while a batch is open: an idle node does not wake up for it.
	n.spawn(func() error {
		t := time.NewTimer(txGossipInterval)
		t.Stop()
		defer t.Stop()
		var (
			batch []*types.Transaction
			due   <-chan time.Time // t.C while a batch is open
		)
		flush := func() {
			t.Stop()
			due = nil
			if len(batch) == 0 {
				return
			}
			data, err := rlp.EncodeToBytes(batch)
			if err == nil {
				if err := net.txs.Publish(ctx, data); err != nil {
					n.log.Debug("tx gossip failed", "err", err)
				}
			}
			batch = batch[:0]
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case tx := <-net.localTxs:
				batch = append(batch, tx)
				if len(batch) >= maxTxsPerGossip/2 {
					flush()
				} else if due == nil {
					t.Reset(txGossipInterval)
					due = t.C
				}
			case <-due:
				flush()
			}
		}
	})
}

// Budget of direct (oversized) consensus messages per peer: a proposer sends
// one PRE-PREPARE per round, plus ROUND-CHANGEs carrying prepared blocks.
const (
	directRate  = rate.Limit(4) // per second
	directBurst = 8
	// maxLimitedPeers bounds the limiter table; it is reset when full.
	maxLimitedPeers = 1024
)

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

// gossipLocal queues a locally submitted transaction for gossip.
func (net *network) gossipLocal(tx *types.Transaction) {
	select {
	case net.localTxs <- tx:
	default: // the queue is full: the tx still sits in our pool
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
