package node

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/router/relay"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// EMC Hub metering (issue 13 part 4; the design is in computing/apps's
// doc, "Metering"). The compute side signs a receipt per answered call
// (hubReceipts, the instance server's Receipts); the placing router
// countersigns it when it adds exactly the call it relayed
// (relay.Countersigner, fed by hubMetered), returns it to the caller in
// the Emc-Receipt trailer, and settles the newest one from its wallet
// (hubSettler): once an epoch while the instance runs, and as soon as the
// lease ends. The router settles, not the node: it is the party that holds
// both signatures, and its wallet is already the one that places.

// hubReceipts is the compute side's receipt signer: one apps.Meter per
// instance, started at the first call from the newest settled receipt on
// chain (so a restarted node goes on past what was settled; receipts it
// signed but were not settled before it stopped are lost).
type hubReceipts struct {
	chain *state.Chain
	key   *ecdsa.PrivateKey // the node owner's (the wallet's) key

	mu     sync.Mutex
	meters map[uint64]*hubMeter
}

type hubMeter struct {
	m         *apps.Meter
	gpus      uint64
	perGPUMs  bool      // the app charges GPU time
	busyUntil time.Time // the end of the latest call metered
}

// busySpan is the part of the call [start, end] not already covered by
// the calls metered before it (which ended at busyUntil), in whole
// milliseconds, and the new busyUntil: concurrent calls share the GPUs,
// so their GPU time is the union of their spans, never the sum (the chain
// caps GPU-ms at GPUs × the wall time since ready).
func busySpan(busyUntil, start, end time.Time) (uint64, time.Time) {
	if start.Before(busyUntil) {
		start = busyUntil
	}
	if !end.After(start) {
		return 0, busyUntil
	}
	return uint64(end.Sub(start) / time.Millisecond), end
}

var _ instance.Receipts = (*hubReceipts)(nil)

// Receipt implements instance.Receipts: it adds c to its instance's meter
// (apps.RequestDigest of the request as relayed; GPU-milliseconds =
// max(GPUs, 1) × the part of the call's span no earlier call covered
// (busySpan) when the app has a GPU-second price, else 0) and signs the new cumulative body as the node (apps.RoleNode).
func (h *hubReceipts) Receipt(c instance.Call) (*instance.NodeReceipt, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hm := h.meters[c.Instance]
	if hm == nil {
		st, err := h.chain.StateAt(h.chain.Head().Root)
		if err != nil {
			return nil, fmt.Errorf("node: receipt: state at head: %w", err)
		}
		in, ok, err := apps.InstanceOf(st, c.Instance)
		if err != nil || !ok {
			return nil, fmt.Errorf("node: receipt: instance %d: found %v: %w", c.Instance, ok, err)
		}
		app, ok, err := apps.AppOf(st, in.App)
		if err != nil || !ok {
			return nil, fmt.Errorf("node: receipt: app %d: found %v: %w", in.App, ok, err)
		}
		// Resume from the newest settled receipt (after a restart the
		// chain would refuse sequence numbers it settled already).
		last, err := apps.SettledReceipt(h.chain.Config().ChainID.Uint64(), &in, app.PricePerCallWei, app.PricePerGPUSecondWei)
		if err != nil {
			return nil, fmt.Errorf("node: receipt: %w", err)
		}
		hm = &hubMeter{
			m:    apps.ResumeMeter(last, app.PricePerCallWei, app.PricePerGPUSecondWei),
			gpus: uint64(max(in.GPUs, 1)), perGPUMs: !app.PricePerGPUSecondWei.IsZero(),
		}
		h.meters[c.Instance] = hm
	}
	var gpuMs uint64
	if hm.perGPUMs {
		end := time.Now()
		var ms uint64
		ms, hm.busyUntil = busySpan(hm.busyUntil, end.Add(-c.Duration), end)
		gpuMs = hm.gpus * ms
	}
	r, err := hm.m.Call(apps.RequestDigest(c.Method, c.Target, c.BodySHA256), gpuMs)
	if err != nil {
		return nil, fmt.Errorf("node: receipt: %w", err)
	}
	sig, err := apps.SignReceipt(&r, apps.RoleNode, h.key)
	if err != nil {
		return nil, err
	}
	return &instance.NodeReceipt{Receipt: r, NodeSig: sig}, nil
}

// forget drops a closed instance's meter.
func (h *hubReceipts) forget(id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.meters, id)
}

// hubMetered is the router's relay.MeterSource: an instance's chain id,
// node, router, GPUs and prices from the head's state (a fresh StateDB per
// call).
func hubMetered(chain *state.Chain) relay.MeterSource {
	return func(id uint64) (relay.Metered, bool, error) {
		st, err := chain.StateAt(chain.Head().Root)
		if err != nil {
			return relay.Metered{}, false, fmt.Errorf("node: metering: state at head: %w", err)
		}
		in, ok, err := apps.InstanceOf(st, id)
		if err != nil || !ok {
			return relay.Metered{}, false, err
		}
		app, ok, err := apps.AppOf(st, in.App)
		if err != nil || !ok {
			return relay.Metered{}, false, fmt.Errorf("node: metering: app %d of instance %d: found %v: %w", in.App, id, ok, err)
		}
		m := relay.Metered{ChainID: chain.Config().ChainID.Uint64(), Node: in.Node, Router: in.Router, GPUs: in.GPUs}
		m.PerCall.Set(app.PricePerCallWei)
		m.PerGPUSecond.Set(app.PricePerGPUSecondWei)
		if m.Settled, err = apps.SettledReceipt(m.ChainID, &in, app.PricePerCallWei, app.PricePerGPUSecondWei); err != nil {
			return relay.Metered{}, false, fmt.Errorf("node: metering: instance %d: %w", id, err)
		}
		return m, true, nil
	}
}

// hubSettleRetry is how long a settlement whose transaction failed waits
// before it is tried again.
const hubSettleRetry = 5 * time.Second

// hubSettler settles the newest countersigned receipt of each instance
// from the router's wallet: when the instance is ending (its final
// window), and while it runs once every epoch blocks; one transaction in
// flight per instance. A closed instance's ledger is dropped.
type hubSettler struct {
	chain  *state.Chain
	abi    abi.ABI
	wallet *wallet.Wallet
	cs     *relay.Countersigner
	every  uint64 // blocks between settlements of a running instance
	now    func() time.Time
	log    *slog.Logger
	reaper *hubReaper // automatic reap (hub_reap.go); nil: off

	inFlight map[uint64]*wallet.Handle
	lastAt   map[uint64]uint64 // block of the last settlement sent
	retryAt  map[uint64]time.Time
}

func (s *hubSettler) pass(ctx context.Context, head *types.Header) error {
	now, number := s.now(), head.Number.Uint64()
	for id, h := range s.inFlight {
		select {
		case <-h.Done():
			delete(s.inFlight, id)
			if r, err := h.Wait(ctx); err != nil || r.Status != types.ReceiptStatusSuccessful {
				s.log.Warn("app settlement failed", "instance", id, "err", err)
				s.retryAt[id] = now.Add(hubSettleRetry)
			}
		default:
		}
	}
	if s.reaper != nil {
		if err := s.reaper.pass(ctx, head, s); err != nil {
			return err
		}
	}
	ids := s.cs.Instances()
	if len(ids) == 0 {
		return nil
	}
	st, err := s.chain.StateAt(head.Root)
	if err != nil {
		return fmt.Errorf("node: settlement: state at %d: %w", number, err)
	}
	for _, id := range ids {
		if _, busy := s.inFlight[id]; busy || now.Before(s.retryAt[id]) {
			continue
		}
		in, ok, err := apps.InstanceOf(st, id)
		if err != nil || !ok {
			continue
		}
		if in.State == apps.StateClosed {
			s.cs.Forget(id)
			delete(s.lastAt, id)
			delete(s.retryAt, id)
			continue
		}
		latest, ok := s.cs.Latest(id)
		if ok && latest.Seq>>apps.EpochShift != uint64(in.Restarts) {
			s.forget(id) // a restarted instance: the old placement's receipts settle no more
			continue
		}
		if !ok || latest.Seq <= in.Seq {
			continue
		}
		last, seen := s.lastAt[id]
		if !seen { // an epoch from the first receipt, unless the lease ended
			s.lastAt[id], last = number, number
		}
		if in.State != apps.StateEnding && (in.State != apps.StateRunning || number < last+s.every) {
			continue
		}
		if err := s.submit(ctx, id, &latest, number); err != nil {
			return err
		}
	}
	return nil
}

// submit sends the settlement of latest for instance id (a failure to
// send waits hubSettleRetry).
func (s *hubSettler) submit(ctx context.Context, id uint64, latest *apps.SignedReceipt, number uint64) error {
	data, err := s.abi.Pack("settle", new(big.Int).SetUint64(id), latest.Encode())
	if err != nil {
		return fmt.Errorf("node: settlement: pack settle: %w", err)
	}
	to := native.AppsAddress
	h, err := s.wallet.Submit(ctx, wallet.Request{To: &to, Data: data, Label: "app settle"})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		s.retryAt[id] = s.now().Add(hubSettleRetry)
		return nil
	}
	s.inFlight[id] = h
	s.lastAt[id] = number
	return nil
}

// settleFirst implements reapSettler: before the reaper reaps in, the
// newest receipt countersigned for it (of its current placement epoch)
// is settled.
func (s *hubSettler) settleFirst(ctx context.Context, in *apps.Instance, number uint64) (pending, sent bool, err error) {
	if _, busy := s.inFlight[in.ID]; busy {
		return true, false, nil
	}
	latest, ok := s.cs.Latest(in.ID)
	if !ok || latest.Seq <= in.Seq || latest.Seq>>apps.EpochShift != uint64(in.Restarts) {
		return false, false, nil
	}
	if s.now().Before(s.retryAt[in.ID]) {
		return true, false, nil
	}
	if err := s.submit(ctx, in.ID, &latest, number); err != nil {
		return true, false, err
	}
	_, sent = s.inFlight[in.ID]
	return true, sent, nil
}

// forget implements reapSettler: the instance went back to the routers.
func (s *hubSettler) forget(id uint64) {
	if _, ok := s.cs.Latest(id); ok || s.lastAt[id] != 0 {
		s.cs.Forget(id)
		delete(s.lastAt, id)
		delete(s.retryAt, id)
	}
}

// run settles on every head (and on a tick: the dev chain may not move)
// until ctx ends.
func (s *hubSettler) run(ctx context.Context) error {
	heads := state.FollowHeads(s.chain)
	defer heads.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-heads.Err():
			return err
		case head := <-heads.C:
			if err := s.pass(ctx, head); err != nil && ctx.Err() == nil {
				return err
			}
		case <-tick.C:
			if err := s.pass(ctx, s.chain.Head()); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// startHubMetering builds the router's countersigner (key: the wallet's;
// nil when there is none) and its settlement service from w.
func (n *Node) startHubMetering(ctx context.Context, key *ecdsa.PrivateKey, w *wallet.Wallet, mod *apps.Module) (*relay.Countersigner, error) {
	if key == nil || w == nil {
		n.log.Warn("app metering off: this router has no key of its own to countersign and settle with")
		return nil, nil
	}
	cs := &relay.Countersigner{Source: hubMetered(n.chain), Key: key}
	parsed, err := abi.JSON(strings.NewReader(mod.ABI()))
	if err != nil {
		return nil, fmt.Errorf("node: apps ABI: %w", err)
	}
	s := &hubSettler{
		chain: n.chain, abi: parsed, wallet: w, cs: cs, every: max(n.mods.epochLength(), 1), now: time.Now,
		log:      n.baseLog.With("component", "app_settle"),
		inFlight: make(map[uint64]*wallet.Handle), lastAt: make(map[uint64]uint64), retryAt: make(map[uint64]time.Time),
	}
	s.reaper = newHubReaper(n.chain, mod, parsed, w, n.baseLog.With("component", "app_reap"))
	n.spawn(func() error { return s.run(ctx) })
	return cs, nil
}
