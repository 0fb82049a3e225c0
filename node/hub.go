package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/relay"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// The EMC Hub's router side (issue 13): the chain-backed instance
// directory the relay reads (hubDirectory) and the placement service that
// places deployed instances on live compute nodes (hubPlacer).

// apps returns the apps module, nil when the chain has none.
func (m Modules) apps() *apps.Module {
	mod, ok := m.Lookup(native.AppsAddress)
	if !ok {
		return nil
	}
	a, _ := mod.(*apps.Module)
	return a
}

// hubDirectory is the relay's chain-backed relay.Directory: every lookup
// reads a fresh state of the current head (a geth StateDB is not safe for
// concurrent use, so none is shared between calls). An instance maps to the
// registered peer ID of the node it is placed on, the app's port, the
// API-key hash deploy stored, and its state: deployed and placed are
// pending, running is ready, ending and closed are ended.
type hubDirectory struct {
	chain *state.Chain
}

var _ relay.Directory = hubDirectory{}

// Instance implements relay.Directory.
func (d hubDirectory) Instance(id uint64) (relay.Entry, bool, error) {
	head := d.chain.Head()
	st, err := d.chain.StateAt(head.Root)
	if err != nil {
		return relay.Entry{}, false, fmt.Errorf("node: apps directory: state at head %d: %w", head.Number.Uint64(), err)
	}
	return hubEntry(st, id)
}

// hubEntry reads instance id's directory entry from s.
func hubEntry(s native.StateReader, id uint64) (relay.Entry, bool, error) {
	in, ok, err := apps.InstanceOf(s, id)
	if err != nil {
		return relay.Entry{}, false, fmt.Errorf("node: apps directory: instance %d: %w", id, err)
	}
	if !ok {
		return relay.Entry{}, false, nil
	}
	e := relay.Entry{ID: id, KeyHash: in.APIKeyHash}
	app, ok, err := apps.AppOf(s, in.App)
	if err != nil || !ok {
		return relay.Entry{}, false, fmt.Errorf("node: apps directory: app %d of instance %d: found %v: %w", in.App, id, ok, err)
	}
	e.Port = app.Port
	switch in.State {
	case apps.StateDeployed, apps.StatePlaced:
		e.State = relay.StatePending
	case apps.StateRunning:
		e.State = relay.StateReady
	default:
		e.State = relay.StateEnded
	}
	if in.Node != (common.Address{}) {
		rec, ok, err := registry.NodeOf(s, in.Node)
		if err != nil {
			return relay.Entry{}, false, fmt.Errorf("node: apps directory: node %s of instance %d: %w", in.Node, id, err)
		}
		if ok { // a deregistered node: no replica (the relay answers node_down)
			pid, err := peer.IDFromBytes(rec.PeerID)
			if err != nil {
				return relay.Entry{}, false, fmt.Errorf("node: apps directory: registered peer id of %s: %w", in.Node, err)
			}
			e.Nodes = []p2p.PeerID{p2p.PeerID(pid.String())}
		}
	}
	return e, true, nil
}

// Placement bounds.
const (
	// hubPlaceScan bounds the deployed instances one head's pass reads.
	hubPlaceScan = 64
	// hubPlaceRetry is how long a placement whose transaction failed
	// waits before it is tried again.
	hubPlaceRetry = 10 * time.Second
)

// hubPlacement is one place the placer decided.
type hubPlacement struct {
	Instance uint64
	Node     common.Address
}

// planPlacements decides, from the state s at block number, where to
// place the deployed instances (at most hubPlaceScan of them, oldest
// first) that are not in skip: on a node of the live table whose owner is
// neither the router nor the instance's owner and that the apps module's
// Fit accepts at the next block (registered, seen on chain, holding the
// image, enough GPUs), preferring nodes reporting enough free GPUs, then the
// shortest measured round trip, then the peer ID (deterministic).
func planPlacements(s native.StateReader, mod *apps.Module, router common.Address, number uint64, live []heartbeat.Node, skip func(uint64) bool) []hubPlacement {
	ids, _ := apps.DeployedInstances(s, 0, hubPlaceScan)
	if len(ids) == 0 {
		return nil
	}
	nodes := slices.Clone(live)
	slices.SortFunc(nodes, func(a, b heartbeat.Node) int {
		ra, rb := a.RTT, b.RTT
		if ra == 0 {
			ra = time.Hour
		}
		if rb == 0 {
			rb = time.Hour
		}
		return cmp.Or(cmp.Compare(ra, rb), strings.Compare(string(a.Peer), string(b.Peer)))
	})
	var out []hubPlacement
	for _, id := range ids {
		if skip(id) {
			continue
		}
		in, ok, err := apps.InstanceOf(s, id)
		if err != nil || !ok || in.State != apps.StateDeployed {
			continue
		}
		var fallback *common.Address
		for _, n := range nodes {
			owner := n.Latest.Owner
			if owner == router || owner == in.Owner || owner == (common.Address{}) {
				continue
			}
			if err := mod.Fit(s, &in, owner, number+1); err != nil {
				continue
			}
			if n.Latest.FreeGPUs >= in.GPUs {
				fallback = &owner
				break
			}
			if fallback == nil {
				fallback = &owner
			}
		}
		if fallback != nil {
			out = append(out, hubPlacement{Instance: id, Node: *fallback})
		}
	}
	return out
}

// hubPlacer is a router's placement service: on every head it places the
// deployed instances it can (planPlacements) through its wallet, one
// transaction in flight per instance; a failed one is retried after
// hubPlaceRetry (another router may have placed it meanwhile: the chain
// refuses the second place, and the next pass no longer lists it).
type hubPlacer struct {
	chain  *state.Chain
	mod    *apps.Module
	abi    abi.ABI
	wallet *wallet.Wallet
	live   interface{ Snapshot() []heartbeat.Node }
	now    func() time.Time

	inFlight map[uint64]*wallet.Handle
	retryAt  map[uint64]time.Time
}

func (p *hubPlacer) pass(ctx context.Context, head *types.Header) error {
	now := p.now()
	for id, h := range p.inFlight {
		select {
		case <-h.Done():
			delete(p.inFlight, id)
			if r, err := h.Wait(ctx); err != nil || r.Status != types.ReceiptStatusSuccessful {
				p.retryAt[id] = now.Add(hubPlaceRetry)
			}
		default:
		}
	}
	for id, t := range p.retryAt {
		if !now.Before(t) {
			delete(p.retryAt, id)
		}
	}
	st, err := p.chain.StateAt(head.Root)
	if err != nil {
		return fmt.Errorf("node: placement: state at %d: %w", head.Number.Uint64(), err)
	}
	skip := func(id uint64) bool {
		_, busy := p.inFlight[id]
		_, wait := p.retryAt[id]
		return busy || wait
	}
	for _, pl := range planPlacements(st, p.mod, p.wallet.Address(), head.Number.Uint64(), p.live.Snapshot(), skip) {
		data, err := p.abi.Pack("place", new(big.Int).SetUint64(pl.Instance), pl.Node)
		if err != nil {
			return fmt.Errorf("node: placement: pack place: %w", err)
		}
		to := native.AppsAddress
		h, err := p.wallet.Submit(ctx, wallet.Request{To: &to, Data: data, Label: "app place"})
		if err != nil {
			p.retryAt[pl.Instance] = now.Add(hubPlaceRetry)
			if errors.Is(err, context.Canceled) {
				return err
			}
			continue
		}
		p.inFlight[pl.Instance] = h
	}
	return nil
}

// run places on every head until ctx ends (and on a tick: a dev chain may
// not move while retries are due).
func (p *hubPlacer) run(ctx context.Context) error {
	return state.PassOnHeads(ctx, p.chain, hubPlaceRetry/4, nil, p.pass)
}

// startHub runs a router's EMC Hub side: the relay under relay.Prefix on
// the RPC port (reading hubDirectory, streaming over the node's libp2p
// host) and the placement service (from the router's wallet, over its live
// table). The dev node places from the dev router's wallet over its own
// live table; it has no libp2p host, so its relay is mounted only when a
// stream transport is given (cfg.hubStreams, tests). A chain without the
// apps module runs neither.
func (n *Node) startHub(ctx context.Context) error {
	if n.cfg.Role != RoleRouter && n.cfg.Role != RoleCompute && n.dev == nil {
		return nil
	}
	mod := n.mods.apps()
	if mod == nil {
		n.log.Warn("EMC Hub off: this chain has no apps module")
		return nil
	}
	streams := n.cfg.hubStreams
	if streams == nil && n.net != nil && n.net.host != nil {
		streams = n.net.host
	}
	if streams == nil && n.dev != nil {
		rid, err := peer.IDFromPrivateKey(n.dev.routerKey)
		if err != nil {
			return fmt.Errorf("node: dev router peer id: %w", err)
		}
		streams = newDevStreams(ctx, n.dev.computePeer, p2p.PeerID(rid.String()))
	}
	if err := n.startHubCompute(ctx, streams); err != nil {
		return err
	}
	live, w := n.cfg.assignLive, n.wallet
	if live == nil && n.net != nil && n.net.beats != nil {
		live = n.net.beats.tracker
	}
	if n.dev != nil {
		w = n.dev.routerWallet
		if live == nil {
			live = n.dev.tracker
		}
	}
	if n.cfg.Role == RoleCompute && n.dev == nil {
		return nil // the compute side only
	}
	if streams != nil {
		cfg := relay.Config{
			Streams: streams, Protocol: p2p.Names{ChainID: n.chain.Config().ChainID.Uint64()}.App(),
			Directory: hubDirectory{chain: n.chain}, Log: n.baseLog.With("component", "relay"),
		}
		n.relayLimits(&cfg)
		if live != nil {
			cfg.RTTs = &relay.TableRTTs{Table: live}
		}
		key := n.walletKey
		if n.dev != nil {
			key = genesis.DevRouterKey()
		}
		cs, err := n.startHubMetering(ctx, key, w, mod)
		if err != nil {
			return err
		}
		if cs != nil {
			cfg.Meter = cs
		}
		r, err := relay.New(cfg)
		if err != nil {
			return fmt.Errorf("node: app relay: %w", err)
		}
		n.SetAppRelay(r)
	}
	switch {
	case w == nil:
		n.log.Warn("app placement off: this router has no key of its own to send from")
		return nil
	case live == nil:
		n.log.Warn("app placement off: no live table (the router runs no p2p network)")
		return nil
	}
	parsed, err := abi.JSON(strings.NewReader(mod.ABI()))
	if err != nil {
		return fmt.Errorf("node: apps ABI: %w", err)
	}
	p := &hubPlacer{
		chain: n.chain, mod: mod, abi: parsed, wallet: w, live: live, now: time.Now,
		inFlight: make(map[uint64]*wallet.Handle), retryAt: make(map[uint64]time.Time),
	}
	n.spawn(func() error { return p.run(ctx) })
	return nil
}

// appsInFlight tells the dev sealer whether some app instance holds an
// escrow (EMC or Credits): then blocks must come for its deadlines, its
// lease end and its refund.
func (n *Node) appsInFlight() bool {
	if n.mods.apps() == nil {
		return false
	}
	st, err := n.chain.StateAt(n.chain.Head().Root)
	if err != nil {
		return false
	}
	return !apps.EscrowTotal(st).IsZero() || !apps.CreditsEscrowTotal(st).IsZero()
}
