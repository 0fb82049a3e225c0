package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"golang.org/x/time/rate"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/internal/atomicfile"
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
// instance, started at the first call from the meter kept in dir (the
// node's meter survives a restart), else from the newest settled receipt
// on chain, and restarted when the router asks for a resync
// (instance.Call.SyncToken: from the router's newest countersigned
// receipt, checked to carry both signatures, or the chain's settled one,
// whichever is newer; see relay.Countersigner).
type hubReceipts struct {
	chainID uint64
	key     *ecdsa.PrivateKey // the node owner's (the wallet's) key
	// info reads an instance's metering facts (the chain head's).
	info func(id uint64) (hubInstanceInfo, error)
	// dir keeps each instance's meter, <id>.meter ("": not kept);
	// through writer when set (the newest meter written once per
	// interval), else one synced write per call.
	dir    string
	writer *atomicfile.Coalescer
	log    *slog.Logger

	mu     sync.Mutex
	meters map[uint64]*hubMeter
}

// hubInstanceInfo is what the node's meter needs of an instance.
type hubInstanceInfo struct {
	router       common.Address
	gpus         uint32
	perCall      uint256.Int
	perGPUSecond uint256.Int
	settled      apps.Receipt // apps.SettledReceipt
}

// chainInstanceInfo reads hubInstanceInfo from chain's head (a fresh
// StateDB per call).
func chainInstanceInfo(chain *state.Chain) func(uint64) (hubInstanceInfo, error) {
	return func(id uint64) (hubInstanceInfo, error) {
		st, err := chain.StateAt(chain.Head().Root)
		if err != nil {
			return hubInstanceInfo{}, fmt.Errorf("node: receipt: state at head: %w", err)
		}
		in, ok, err := apps.InstanceOf(st, id)
		if err != nil || !ok {
			return hubInstanceInfo{}, fmt.Errorf("node: receipt: instance %d: found %v: %w", id, ok, err)
		}
		app, ok, err := apps.AppOf(st, in.App)
		if err != nil || !ok {
			return hubInstanceInfo{}, fmt.Errorf("node: receipt: app %d: found %v: %w", in.App, ok, err)
		}
		info := hubInstanceInfo{router: in.Router, gpus: in.GPUs}
		info.perCall.Set(app.PricePerCallWei)
		info.perGPUSecond.Set(app.PricePerGPUSecondWei)
		if info.settled, err = apps.SettledReceipt(chain.Config().ChainID.Uint64(), &in, app.PricePerCallWei, app.PricePerGPUSecondWei); err != nil {
			return hubInstanceInfo{}, fmt.Errorf("node: receipt: %w", err)
		}
		return info, nil
	}
}

type hubMeter struct {
	m         *apps.Meter
	token     uint64 // the router's sync token the meter follows (0: none)
	info      hubInstanceInfo
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

// The node's meter file: version (1), the newest receipt body it signed
// (apps.Receipt.EncodeBody), the sync token (8 bytes, big-endian).
const (
	nodeMeterVersion = 1
	nodeMeterLen     = 1 + apps.ReceiptBodyLen + 8
)

func encodeNodeMeter(r *apps.Receipt, token uint64) []byte {
	out := make([]byte, 0, nodeMeterLen)
	out = append(out, nodeMeterVersion)
	out = append(out, r.EncodeBody()...)
	return binary.BigEndian.AppendUint64(out, token)
}

// decodeNodeMeter decodes a node meter file.
func decodeNodeMeter(b []byte) (apps.Receipt, uint64, error) {
	if len(b) != nodeMeterLen || b[0] != nodeMeterVersion {
		return apps.Receipt{}, 0, fmt.Errorf("%w: node meter of %d bytes, want %d of version %d", apps.ErrBadReceipt, len(b), nodeMeterLen, nodeMeterVersion)
	}
	r, err := apps.DecodeBody(b[1 : 1+apps.ReceiptBodyLen])
	if err != nil {
		return apps.Receipt{}, 0, err
	}
	return r, binary.BigEndian.Uint64(b[1+apps.ReceiptBodyLen:]), nil
}

func (h *hubReceipts) meterPath(id uint64) string {
	return filepath.Join(h.dir, strconv.FormatUint(id, 10)+".meter")
}

// loadMeter returns the meter kept for instance id when it is for this
// chain and instance, at info's prices, and not behind what the chain
// settled (ok false otherwise: the meter starts from the chain).
func (h *hubReceipts) loadMeter(id uint64, info *hubInstanceInfo) (apps.Receipt, uint64, bool) {
	if h.dir == "" {
		return apps.Receipt{}, 0, false
	}
	b, err := os.ReadFile(h.meterPath(id))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.log.Warn("app meter not read", "instance", id, "err", err)
		}
		return apps.Receipt{}, 0, false
	}
	r, token, err := decodeNodeMeter(b)
	if err == nil && (r.ChainID != h.chainID || r.Instance != id) {
		err = fmt.Errorf("%w: for chain %d instance %d", apps.ErrBadReceipt, r.ChainID, r.Instance)
	}
	if err == nil {
		var c *uint256.Int
		if c, err = apps.Charge(&info.perCall, &info.perGPUSecond, r.Calls, r.GPUMillis); err == nil && !c.Eq(&r.ChargeWei) {
			err = fmt.Errorf("%w: charge %s, the prices give %s", apps.ErrBadReceipt, &r.ChargeWei, c)
		}
	}
	if err != nil {
		h.log.Warn("app meter kept on disk refused: starting from the chain", "instance", id, "err", err)
		return apps.Receipt{}, 0, false
	}
	return r, token, r.Seq >= info.settled.Seq
}

var _ instance.Receipts = (*hubReceipts)(nil)

// Receipt implements instance.Receipts: it resyncs the instance's meter
// when the call asks for it, adds c to it (apps.RequestDigest of the
// request as relayed; GPU-milliseconds = max(GPUs, 1) × the part of the
// call's span no earlier call covered (busySpan) when the app has a
// GPU-second price, else 0), keeps the meter on disk and signs the new
// cumulative body as the node (apps.RoleNode).
func (h *hubReceipts) Receipt(c instance.Call) (*instance.NodeReceipt, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hm := h.meters[c.Instance]
	if hm == nil {
		info, err := h.info(c.Instance)
		if err != nil {
			return nil, err
		}
		hm = &hubMeter{info: info, m: apps.ResumeMeter(info.settled, &info.perCall, &info.perGPUSecond)}
		if r, token, ok := h.loadMeter(c.Instance, &info); ok {
			hm.m, hm.token = apps.ResumeMeter(r, &info.perCall, &info.perGPUSecond), token
		}
		h.meters[c.Instance] = hm
	}
	if c.SyncToken != 0 && c.SyncToken != hm.token {
		info, err := h.info(c.Instance) // the newest settled receipt
		if err != nil {
			return nil, err
		}
		me := crypto.PubkeyToAddress(h.key.PublicKey)
		base, err := apps.ResyncBase(c.SyncBase, info.settled, me, info.router, &info.perCall, &info.perGPUSecond)
		if err != nil {
			return nil, fmt.Errorf("node: receipt: resync of instance %d refused: %w", c.Instance, err)
		}
		h.log.Info("app meter resynced", "instance", c.Instance, "from", hm.m.Last().Seq, "to", base.Seq)
		hm.info, hm.token = info, c.SyncToken
		hm.m = apps.ResumeMeter(base, &info.perCall, &info.perGPUSecond)
	}
	var gpuMs uint64
	if !hm.info.perGPUSecond.IsZero() {
		end := time.Now()
		var ms uint64
		ms, hm.busyUntil = busySpan(hm.busyUntil, end.Add(-c.Duration), end)
		gpuMs = uint64(max(hm.info.gpus, 1)) * ms
	}
	r, err := hm.m.Call(apps.RequestDigest(c.Method, c.Target, c.BodySHA256), gpuMs)
	if err != nil {
		return nil, fmt.Errorf("node: receipt: %w", err)
	}
	sig, err := apps.SignReceipt(&r, apps.RoleNode, h.key)
	if err != nil {
		return nil, err
	}
	if h.dir != "" {
		// Kept before the receipt leaves; a failure only costs a resync
		// after a restart (the router holds what it countersigned).
		if err := h.keep(c.Instance, encodeNodeMeter(&r, hm.token)); err != nil {
			h.log.Warn("app meter not kept on disk", "instance", c.Instance, "err", err)
		}
	}
	return &instance.NodeReceipt{Receipt: r, NodeSig: sig, Token: hm.token}, nil
}

// forget drops a closed instance's meter.
func (h *hubReceipts) forget(id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.meters, id)
	if h.dir != "" {
		var err error
		if h.writer != nil {
			err = h.writer.Remove(h.meterPath(id))
		} else if err = os.Remove(h.meterPath(id)); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err != nil {
			h.log.Warn("app meter file not removed", "instance", id, "err", err)
		}
	}
}

// keep writes instance id's meter file (through the writer when set).
func (h *hubReceipts) keep(id uint64, b []byte) error {
	if h.writer != nil {
		h.writer.Put(h.meterPath(id), b) // batched: the router's receipt is the durable one
		return nil
	}
	return atomicfile.Write(h.meterPath(id), b)
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
	due      map[uint64]bool // reloaded after a restart: settle at once
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
			delete(s.due, id)
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
		if in.State != apps.StateEnding && (in.State != apps.StateRunning || number < last+s.every && !s.due[id]) {
			continue
		}
		delete(s.due, id)
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
		s.log.Warn("app settlement not sent", "instance", id, "seq", latest.Seq, "err", err)
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
		delete(s.due, id)
	}
}

// run settles on every head (and on a tick: the dev chain may not move)
// until ctx ends.
func (s *hubSettler) run(ctx context.Context) error {
	return state.PassOnHeads(ctx, s.chain, time.Second, nil, s.pass)
}

// newHubReceipts is the compute side's receipt signer, its meters kept
// under the data dir's compute/app-meters, written in batches until ctx
// ends (a crash loses at most the last interval's meters: the node then
// resyncs from the router's receipt).
func (n *Node) newHubReceipts(ctx context.Context) *hubReceipts {
	log := n.baseLog.With("component", "app_meter")
	return &hubReceipts{
		chainID: n.chain.Config().ChainID.Uint64(), key: n.walletKey, info: chainInstanceInfo(n.chain),
		dir: filepath.Join(n.cfg.DataDir.Compute(), "app-meters"), writer: n.runCoalescer(ctx, log), log: log,
		meters: make(map[uint64]*hubMeter),
	}
}

// runCoalescer starts a file write batcher (atomicfile.Coalescer, its
// default interval) that flushes and stops with ctx, inside the node's
// goroutines (Close waits for its last flush).
func (n *Node) runCoalescer(ctx context.Context, log *slog.Logger) *atomicfile.Coalescer {
	c := atomicfile.NewCoalescer(0, log)
	n.spawn(func() error { return c.Run(ctx) })
	return c
}

// hubReceiptsDir is where a router keeps its newest countersigned receipt
// of each instance (relay.FileReceiptStore).
func (n *Node) hubReceiptsDir() string {
	return filepath.Join(n.cfg.DataDir.Path, "router", "app-receipts")
}

// startHubMetering builds the router's countersigner (key: the wallet's;
// nil when there is none) and its settlement service from w.
func (n *Node) startHubMetering(ctx context.Context, key *ecdsa.PrivateKey, w *wallet.Wallet, mod *apps.Module) (*relay.Countersigner, error) {
	if key == nil || w == nil {
		n.log.Warn("app metering off: this router has no key of its own to countersign and settle with")
		return nil, nil
	}
	cs := &relay.Countersigner{
		Source: hubMetered(n.chain), Key: key,
		Store: relay.FileReceiptStore{Dir: n.hubReceiptsDir(), Writer: n.runCoalescer(ctx, n.baseLog.With("component", "app_receipts"))},
		Log:   n.baseLog.With("component", "app_meter"),
	}
	// The receipts countersigned before a restart: settled at once.
	loaded, err := cs.Load()
	if err != nil {
		n.log.Warn("app usage receipts kept on disk not all loaded", "err", err)
	}
	parsed, err := abi.JSON(strings.NewReader(mod.ABI()))
	if err != nil {
		return nil, fmt.Errorf("node: apps ABI: %w", err)
	}
	s := &hubSettler{
		chain: n.chain, abi: parsed, wallet: w, cs: cs, every: max(n.mods.epochLength(), 1), now: time.Now,
		log:      n.baseLog.With("component", "app_settle"),
		inFlight: make(map[uint64]*wallet.Handle), lastAt: make(map[uint64]uint64), retryAt: make(map[uint64]time.Time),
		due: make(map[uint64]bool),
	}
	for _, id := range loaded {
		s.due[id] = true
	}
	if len(loaded) > 0 {
		n.log.Info("app usage receipts reloaded", "instances", len(loaded))
	}
	s.reaper = newHubReaper(n.chain, mod, parsed, w, n.baseLog.With("component", "app_reap"))
	n.spawn(func() error { return s.run(ctx) })
	return cs, nil
}

// relayLimits sets the relay's per-key token bucket from the node's
// config (zero values keep the relay's defaults).
func (n *Node) relayLimits(cfg *relay.Config) {
	cfg.Rate, cfg.Burst = rate.Limit(n.cfg.RelayRate), n.cfg.RelayBurst
}
