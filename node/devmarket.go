package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/router/heartbeat"
)

// The dev node runs the whole compute market on its own, without a p2p
// network: the validator (the dev sealer), a router and a compute node.
// Each role sends from its own fixed dev account (genesis.DevSignerKey,
// DevRouterKey, DevComputeKey; the test-mnemonic accounts stay the
// users'); the dev genesis stakes the router. What the network carries
// between a router and a compute node is carried in process instead:
//
//   - heartbeats: the compute side's publisher signs them with its node
//     key and hands them to the router's tracker, which checks them as it
//     checks gossip (signature, registered peer ID, sequence, clock);
//   - results: the router's relay (HTTP /results/ on the RPC port and
//     emc_getResult) requests files from the compute side's results
//     server through devPeers, an in-process p2p.Requester that knows one
//     peer, the compute node itself.
//
// The dev sealer seals only transactions unless --dev.period is set;
// jobs wait on block counts (the router draw, deadlines, settlement), so
// while any job holds an escrow the sealer also seals an empty block
// every devBusyPeriod.

// Dev market defaults.
const (
	// devBusyPeriod is how often the dev sealer seals while jobs are in
	// flight (and --dev.period is not set).
	devBusyPeriod = 500 * time.Millisecond
	// devInventoryRecheck is how often the dev compute node re-reads its
	// inventory and its loaded programs (new programs are listed at once).
	devInventoryRecheck = 2 * time.Second
	// devRouterNodeKey is the dev router's libp2p key file in the data dir
	// (the compute node uses nodekey; one peer ID has one owner).
	devRouterNodeKey = "router-nodekey"
)

// devMarket is the dev node's router side and its in-process links.
type devMarket struct {
	routerWallet *wallet.Wallet
	routerKey    crypto.PrivKey
	computeKey   crypto.PrivKey
	computePeer  p2p.PeerID
	tracker      *heartbeat.Tracker
	hbMetrics    *heartbeat.Metrics
	peers        *devPeers
}

// setupDevMarket builds the dev node's router wallet, both node keys, the
// router's live table and the in-process results link. It needs the jobs
// module (a dev genesis without one runs no market).
func (n *Node) setupDevMarket() error {
	if !n.cfg.Dev || !n.cfg.DevMarket {
		return nil
	}
	if n.jobs == nil || n.wallet == nil {
		n.log.Warn("dev compute market off: this dev chain has no jobs module")
		return nil
	}
	dm := &devMarket{}
	w, err := wallet.New(wallet.Config{
		Key: genesis.DevRouterKey(), Chain: n.chain, Pool: n.pool, Send: n.backend.SendTx, Estimate: n.estimateGas,
		Policy: wallet.DefaultPolicy(), Metrics: wallet.NopMetrics(), // the node wallet's metrics are the registered ones
	}, n.baseLog.With("wallet", "router"))
	if err != nil {
		return fmt.Errorf("node: dev router wallet: %w", err)
	}
	dm.routerWallet = w
	if dm.computeKey, err = libp2p.LoadOrCreateKey(n.cfg.DataDir.NodeKey()); err != nil {
		return fmt.Errorf("node: dev compute node key: %w", err)
	}
	if dm.routerKey, err = libp2p.LoadOrCreateKey(filepath.Join(n.cfg.DataDir.Path, devRouterNodeKey)); err != nil {
		return fmt.Errorf("node: dev router node key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(dm.computeKey)
	if err != nil {
		return fmt.Errorf("node: dev compute peer id: %w", err)
	}
	dm.computePeer = p2p.PeerID(id.String())
	dm.hbMetrics = heartbeat.NewMetrics(n.reg)
	cfg := heartbeat.TrackerConfig{ChainID: n.chain.Config().ChainID.Uint64(), Metrics: dm.hbMetrics, Log: n.baseLog}
	cfg.Table.Registry = n.cfg.heartbeatRegistry
	if cfg.Table.Registry == nil {
		cfg.Table.Registry = &chainRegistry{chain: n.chain, log: n.baseLog.With("component", "heartbeat")}
	}
	dm.tracker = heartbeat.NewTracker(cfg)
	dm.peers = newDevPeers(dm.computePeer)
	n.dev = dm
	n.backend.devLive = dm.tracker
	return nil
}

// startDevMarket runs the router wallet, the live table's clock and, when
// the compute agent can run, the heartbeat publisher feeding it.
func (n *Node) startDevMarket(ctx context.Context) {
	dm := n.dev
	if dm == nil {
		return
	}
	n.spawn(func() error { return dm.routerWallet.Run(ctx) })
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(heartbeat.DefaultInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				dm.tracker.Tick()
			}
		}
	}()
	if n.alloc == nil {
		return // no compute side: nothing to report
	}
	pub, err := heartbeat.NewPublisher(heartbeat.PublisherConfig{
		ChainID: n.chain.Config().ChainID.Uint64(), Key: dm.computeKey, Owner: n.wallet.Address(),
		Topic: devBeats{dm.tracker, dm.computePeer}, Source: n.heartbeatStatus,
		Interval: n.cfg.devHeartbeatInterval, Metrics: dm.hbMetrics, Log: n.baseLog,
	})
	if err != nil {
		n.fail("dev heartbeat publisher", err)
		return
	}
	n.spawn(func() error { return ignoreCanceled(pub.Run(ctx)) })
}

// devBeats hands the dev compute node's heartbeats to the router's tracker
// as the heartbeat topic would. A refused heartbeat (the node not yet
// registered, say) is published all the same: the receiver refuses it,
// counting and logging why, as a router on the network would.
type devBeats struct {
	tracker *heartbeat.Tracker
	self    p2p.PeerID
}

func (b devBeats) Publish(ctx context.Context, data []byte) error {
	_ = b.tracker.Validate(ctx, b.self, data)
	return nil
}

// jobsInFlight tells the dev sealer whether some job holds an escrow (EMC
// or Credits): then blocks must come for it to be drawn, assigned, run
// and settled, or to expire.
func (n *Node) jobsInFlight() bool {
	st, err := n.chain.StateAt(n.chain.Head().Root)
	if err != nil {
		return false
	}
	return !jobs.EscrowTotal(st).IsZero() || !jobs.CreditsEscrowTotal(st).IsZero()
}

// devOffer adds to what the dev compute node offers, with the process
// executor, every program loaded into DATADIR/compute/programs (`emcd
// compute images load --executor process`) as an image, up to
// registry.MaxImages in all.
func (n *Node) devOffer(rc RegisterConfig) (RegisterConfig, error) {
	if n.execKind != agent.ExecutorProcess {
		return rc, nil
	}
	progs, err := agent.NewPrograms(filepath.Join(n.cfg.DataDir.Compute(), "programs")).List()
	if err != nil {
		return rc, err
	}
	seen := make(map[common.Hash]bool)
	images := make([]string, 0, len(rc.Images)+len(progs))
	for _, s := range rc.Images {
		h, err := parseImage(s)
		if err != nil {
			return rc, err
		}
		if !seen[h] {
			seen[h] = true
			images = append(images, s)
		}
	}
	for _, h := range progs {
		if !seen[h] && len(images) < registry.MaxImages {
			seen[h] = true
			images = append(images, h.Hex())
		}
	}
	rc.Images = images
	return rc, nil
}

// parseImage reads a configured image digest (sha256:HEX, 0xHEX or HEX).
func parseImage(s string) (common.Hash, error) {
	raw := s
	for _, p := range []string{"sha256:", "0x"} {
		if len(raw) > len(p) && raw[:len(p)] == p {
			raw = raw[len(p):]
			break
		}
	}
	b := common.FromHex(raw)
	if len(raw) != 2*common.HashLength || len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("node: image %q: want sha256:HEX (64 hex digits)", s)
	}
	return common.BytesToHash(b), nil
}

// devPeers is the dev node's in-process request/response transport: the
// compute side registers its handlers, the router side requests them from
// the one peer it knows, the compute node itself. It is safe for
// concurrent use.
type devPeers struct {
	self p2p.PeerID

	mu       sync.RWMutex
	handlers map[string]p2p.Handler // by protocol id
}

var (
	_ p2p.Server    = (*devPeers)(nil)
	_ p2p.Requester = (*devPeers)(nil)
)

func newDevPeers(self p2p.PeerID) *devPeers {
	return &devPeers{self: self, handlers: make(map[string]p2p.Handler)}
}

// Handle implements p2p.Server.
func (d *devPeers) Handle(spec p2p.Spec, h p2p.Handler) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.handlers[spec.ID]; ok {
		return fmt.Errorf("node: dev peers: protocol %s already handled", spec.ID)
	}
	d.handlers[spec.ID] = h
	return nil
}

// Request implements p2p.Requester: the request goes to the local handler
// when peer is the dev compute node, with the spec's size caps and
// timeout applied as a stream would.
func (d *devPeers) Request(ctx context.Context, to p2p.PeerID, spec p2p.Spec, req []byte) ([]byte, error) {
	if to != d.self {
		return nil, fmt.Errorf("node: dev node has no p2p network: peer %s is not this node (%s)", to.ShortString(), d.self.ShortString())
	}
	d.mu.RLock()
	h, ok := d.handlers[spec.ID]
	d.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("node: dev peers: protocol %s not served", spec.ID)
	}
	if len(req) > spec.MaxRequest {
		return nil, fmt.Errorf("node: dev peers: request of %d bytes above %d", len(req), spec.MaxRequest)
	}
	ctx, cancel := context.WithTimeout(ctx, spec.TimeoutOrDefault())
	defer cancel()
	resp, err := h(ctx, d.self, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", p2p.ErrRemote, err)
	}
	if len(resp) > spec.MaxResponse {
		return nil, fmt.Errorf("node: dev peers: response of %d bytes above %d", len(resp), spec.MaxResponse)
	}
	return resp, nil
}
