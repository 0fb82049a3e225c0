package node

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/engine"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/p2p/outbox"
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
	// beats is the heartbeat topic of a compute or router node; nil for a
	// validator.
	beats *heartbeats
	// direct queues direct consensus messages per peer; closed before the
	// host.
	direct *outbox.Outbox
}

// close stops the direct senders, then the host.
func (net *network) close() {
	if net.direct != nil {
		net.direct.Close()
	}
	if net.host != nil {
		_ = net.host.Close()
	}
}

// engineChain adds the head subscription to the chain for the engine.
var _ engine.Chain = (*state.Chain)(nil)

func (n *Node) setupNetwork(key *ecdsa.PrivateKey) error {
	chainID := n.chain.Config().ChainID.Uint64()
	names := p2p.Names{ChainID: chainID}
	genesisHash := n.chain.GenesisBlock().Hash()
	// The node key is loaded here, not by the host, because heartbeats are
	// signed with it too.
	nodeKey, err := libp2p.LoadOrCreateKey(n.cfg.DataDir.NodeKey())
	if err != nil {
		return fmt.Errorf("node: p2p: %w", err)
	}
	host, err := libp2p.New(libp2p.Config{
		ChainID: chainID,
		Status: func() p2p.Status {
			h := n.chain.Head()
			return p2p.Status{ChainID: chainID, Genesis: genesisHash, HeadNumber: h.Number.Uint64(), HeadHash: h.Hash()}
		},
		// Every node proves its consensus address in the handshake; only
		// those of current validators matter to consensus.
		Signer:        ibft.NewKeySigner(key),
		Key:           nodeKey,
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
	if net.beats, err = n.setupHeartbeats(host, nodeKey, names); err != nil {
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
	vals := newValidatorSet(n.chain, n.baseLog)
	if net.direct, err = outbox.New(outbox.Config{
		Requester: host, Spec: names.DirectSpec(),
		Metrics: outbox.NewMetrics(n.reg, "consensus_direct"),
		Log:     n.baseLog,
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
	}, n.chain, sealPool{n.pool}, &consensusTransport{self: crypto.PubkeyToAddress(key.PublicKey), topic: net.cons, peers: host, out: net.direct, vals: vals})
	direct := &directHandler{book: host, vals: vals, limits: newPeerLimiter(directRate, directBurst), deliver: net.engine.Deliver}
	if err := host.Handle(names.DirectSpec(), direct.handle); err != nil {
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
	n.startHeartbeats(ctx)
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
