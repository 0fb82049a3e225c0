package relay

import (
	"crypto/ecdsa"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
)

// Metering, the router's side (see the package doc): the router
// countersigns a node's receipt only when it adds exactly one call the
// router relayed and saw answered, with GPU time within what it measured.

// ErrReceipt is wrapped by every refusal to countersign.
var ErrReceipt = errors.New("relay: usage receipt refused")

// Metered is what the countersigner needs of an instance (the apps
// module's instance and app; prices never change).
type Metered struct {
	ChainID uint64
	// Node is the account that owns the node running the instance (its
	// receipts' RoleNode signer).
	Node common.Address
	// Router is the account that placed the instance: it must be the
	// countersigner's own.
	Router       common.Address
	GPUs         uint32
	PerCall      uint256.Int
	PerGPUSecond uint256.Int
	// Settled is the newest receipt settled on chain (apps.SettledReceipt;
	// Seq 0: none): a ledger starts from it.
	Settled apps.Receipt
}

// MeterSource finds an instance's metering facts (ok false: unknown).
type MeterSource func(id uint64) (Metered, bool, error)

// Meter is the relay's hook for receipts (Countersigner implements it).
type Meter interface {
	// Orphan records a call relayed to instance id whose receipt did not
	// come (the stream broke or the caller left after the request went
	// out): the node may have answered it and numbered a receipt the
	// router never read, so a later receipt may chain it (see
	// Countersigner).
	Orphan(id uint64, request common.Hash, elapsed time.Duration)
	// Countersign checks r, the node's receipt that came with a call on
	// instance id whose request digest is request (apps.RequestDigest) and
	// that the router measured as taking elapsed, and returns the signed
	// receipt (both signatures) or an error wrapping ErrReceipt.
	Countersign(id uint64, request common.Hash, elapsed time.Duration, r *instance.NodeReceipt) (*apps.SignedReceipt, error)
	// Sync returns the resync request to send with a call on instance id
	// (instance.RequestHeader.SyncToken and SyncBase): token 0 when the
	// meters are in step.
	Sync(id uint64) (token uint64, base []byte)
}

// ReceiptStore keeps the newest countersigned receipt of each instance
// across restarts (FileReceiptStore). Save must be durable when it
// returns: the receipt goes to the caller right after (a DeferredStore
// waits for it outside the countersigner's lock instead).
type ReceiptStore interface {
	Save(s *apps.SignedReceipt) error
	Delete(id uint64) error
	Load() ([]apps.SignedReceipt, error)
}

// Countersigner defaults.
const (
	// DefaultReceiptWait is how long a receipt that came early (concurrent
	// calls end out of order) waits for the ones before it.
	DefaultReceiptWait = 5 * time.Second
	// maxEarly bounds the early receipts one instance buffers.
	maxEarly = 1024
	// maxOrphans bounds the orphan calls one instance keeps (oldest
	// dropped first); maxGap bounds the lost receipts one receipt may
	// cover with them.
	maxOrphans = 64
	maxGap     = 2
	// retiredTokens is how many past sync tokens a ledger remembers:
	// receipts still in flight on one of them are refused without a new
	// resync.
	retiredTokens = 4
)

// Countersigner is the router's Meter: per instance it keeps the newest
// receipt it countersigned and takes the node's receipts in sequence
// order, buffering early ones for up to Wait; a receipt whose
// predecessors were lost may cover them with orphan calls (Orphan). It is
// safe for concurrent use.
//
// Resync: the router and the node each number the instance's receipts;
// after a restart of either side, a lost receipt or a refused one, their
// meters disagree. The ledger then draws a fresh sync token and sends it
// with the next calls (Sync), with its newest countersigned receipt as
// the base; the node restarts its meter from that base (or from the
// chain's newest settled receipt, whichever is newer), dropping the
// calls it numbered that the router never countersigned, and tags its
// receipts with the token. Until a receipt with the new token is
// countersigned, receipts with another token are refused. A ledger starts
// (also after a restart, from Store) in resync. The router never adopts
// anything from the node: its base is what it countersigned itself (kept
// in Store before the receipt leaves) or what the chain settled.
type Countersigner struct {
	Source MeterSource
	Key    *ecdsa.PrivateKey
	// Wait bounds an early receipt's wait (default DefaultReceiptWait).
	Wait time.Duration
	// Store, when set, keeps each instance's newest countersigned receipt
	// (durable before it is returned) for Load after a restart.
	Store ReceiptStore
	// Rand draws sync tokens (default crypto/rand).
	Rand func() uint64
	Log  *slog.Logger

	mu     sync.Mutex
	ledger map[uint64]*ledger
}

type ledger struct {
	info   Metered
	last   apps.Receipt // Seq 0: none yet
	latest *apps.SignedReceipt
	early  map[uint64]*early
	// orphans are calls relayed whose receipt never came, oldest first.
	orphans []orphan
	// token is the sync token the node's receipts must carry; syncing:
	// it was drawn and no receipt with it was countersigned yet (Sync
	// sends it). retired are earlier tokens, newest last.
	token   uint64
	syncing bool
	retired []uint64
}

type early struct {
	r       *instance.NodeReceipt
	request common.Hash
	bound   uint64
	done    chan result
}

type orphan struct {
	request common.Hash
	bound   uint64
}

type result struct {
	s   *apps.SignedReceipt
	err error
	// stored waits until s is kept by the Store (nil: nothing to wait).
	stored func() error
}

var _ Meter = (*Countersigner)(nil)

// Latest returns the newest receipt countersigned for instance id.
func (c *Countersigner) Latest(id uint64) (apps.SignedReceipt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.ledger[id]
	if l == nil || l.latest == nil {
		return apps.SignedReceipt{}, false
	}
	return *l.latest, true
}

// Instances lists the instances with a countersigned receipt.
func (c *Countersigner) Instances() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]uint64, 0, len(c.ledger))
	for id, l := range c.ledger {
		if l.latest != nil {
			out = append(out, id)
		}
	}
	return out
}

// Forget drops instance id's ledger and its stored receipt (its lease
// ended and was settled).
func (c *Countersigner) Forget(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ledger, id)
	if c.Store != nil {
		if err := c.Store.Delete(id); err != nil {
			c.logger().Warn("stored usage receipt not deleted", "instance", id, "err", err)
		}
	}
}

func (c *Countersigner) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Load reloads the receipts in Store (once, at start, before the first
// call): each must be for a known instance this router placed, for its
// chain, node and prices, and signed by both (a receipt that fails is
// dropped from the store and logged). A loaded receipt is its ledger's
// newest unless the chain settled a later one; the ledger starts in
// resync. It returns the instances whose receipt was loaded.
func (c *Countersigner) Load() ([]uint64, error) {
	if c.Store == nil {
		return nil, nil
	}
	if c.Key == nil || c.Source == nil {
		return nil, fmt.Errorf("%w: the countersigner has no key or source", ErrReceipt)
	}
	stored, err := c.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("relay: load usage receipts: %w", err)
	}
	me := crypto.PubkeyToAddress(c.Key.PublicKey)
	var ids []uint64
	for i := range stored {
		s := &stored[i]
		info, ok, err := c.Source(s.Instance)
		if err != nil {
			return ids, fmt.Errorf("relay: load usage receipt of instance %d: %w", s.Instance, err)
		}
		if !ok || info.Router != me {
			err = fmt.Errorf("%w: instance unknown or placed by another router", ErrReceipt)
		} else {
			err = s.Verify(info.ChainID, s.Instance, info.Node, me, &info.PerCall, &info.PerGPUSecond)
		}
		if err != nil {
			c.logger().Warn("stored usage receipt dropped", "instance", s.Instance, "seq", s.Seq, "err", err)
			if derr := c.Store.Delete(s.Instance); derr != nil {
				c.logger().Warn("stored usage receipt not deleted", "instance", s.Instance, "err", derr)
			}
			continue
		}
		c.mu.Lock()
		l := c.newLedger(s.Instance, info)
		if s.Seq > l.last.Seq {
			l.last, l.latest = s.Receipt, s
			ids = append(ids, s.Instance)
		} else if derr := c.Store.Delete(s.Instance); derr != nil { // settled already, or of an older placement
			c.logger().Warn("stored usage receipt not deleted", "instance", s.Instance, "err", derr)
		}
		c.mu.Unlock()
	}
	return ids, nil
}

// newLedger makes instance id's ledger from info, in resync (c.mu held).
func (c *Countersigner) newLedger(id uint64, info Metered) *ledger {
	if c.ledger == nil {
		c.ledger = make(map[uint64]*ledger)
	}
	last := info.Settled
	if last.Seq == 0 {
		last = apps.Receipt{ChainID: info.ChainID, Instance: id, CallsHash: apps.ChainStart(info.ChainID, id)}
	}
	l := &ledger{info: info, last: last, early: make(map[uint64]*early), syncing: true}
	l.token = c.newToken(0)
	c.ledger[id] = l
	return l
}

// newToken draws a sync token: not 0, not old.
func (c *Countersigner) newToken(old uint64) uint64 {
	for range 16 {
		var t uint64
		if c.Rand != nil {
			t = c.Rand()
		} else {
			var b [8]byte
			_, _ = crand.Read(b[:])
			t = binary.BigEndian.Uint64(b[:])
		}
		if t != 0 && t != old {
			return t
		}
	}
	if old+1 == 0 { // a constant Rand
		return 1
	}
	return old + 1
}

// resync starts a new sync round on l: every receipt waiting is refused
// (they build on the old numbering), orphans are dropped, the base rises
// to the chain's settled receipt when that is newer, and a fresh token is
// drawn (c.mu held).
func (c *Countersigner) resync(id uint64, l *ledger, why error) {
	for seq, e := range l.early {
		delete(l.early, seq)
		e.done <- result{err: fmt.Errorf("%w: instance %d: metering resyncs (%w)", ErrReceipt, id, why)}
	}
	l.orphans = nil
	if info, ok, err := c.Source(id); err == nil && ok && info.Settled.Seq > l.last.Seq {
		l.last, l.latest = info.Settled, nil
	}
	if l.token != 0 {
		l.retired = append(l.retired, l.token)
		if len(l.retired) > retiredTokens {
			l.retired = l.retired[1:]
		}
	}
	l.token = c.newToken(l.token)
	l.syncing = true
	c.logger().Info("usage metering resyncs", "instance", id, "seq", l.last.Seq, "why", why)
}

// DeferredStore is a ReceiptStore that can take a receipt under the
// countersigner's lock and make it durable after (group commit): the
// returned func waits for that (FileReceiptStore with a Writer).
type DeferredStore interface {
	SaveDeferred(s *apps.SignedReceipt) (wait func() error)
}

// accept makes s, just countersigned, l's newest receipt: it ends a
// resync and hands s to the Store; the returned func (nil: none) waits
// until the Store keeps it, and runs before s leaves, without c.mu
// (c.mu held).
func (c *Countersigner) accept(l *ledger, s *apps.SignedReceipt) func() error {
	l.last, l.latest, l.syncing = s.Receipt, s, false
	if c.Store == nil {
		return nil
	}
	if d, ok := c.Store.(DeferredStore); ok {
		return d.SaveDeferred(s)
	}
	err := c.Store.Save(s)
	return func() error { return err }
}

// finish returns res once its receipt is stored (c.mu not held): a
// receipt that could not be stored still goes out (the calls are real),
// logged, and a restart resyncs from an older one.
func (c *Countersigner) finish(res result) (*apps.SignedReceipt, error) {
	if res.stored != nil {
		if err := res.stored(); err != nil {
			c.logger().Error("usage receipt not stored: a restart will resync from an older one", "instance", res.s.Instance, "seq", res.s.Seq, "err", err)
		}
	}
	return res.s, res.err
}

// Sync implements Meter.
func (c *Countersigner) Sync(id uint64) (uint64, []byte) {
	l, err := c.ledgerOf(id)
	if err != nil {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !l.syncing {
		return 0, nil
	}
	if l.latest != nil && l.latest.Seq == l.last.Seq {
		return l.token, l.latest.Encode()
	}
	return l.token, nil
}

// ledgerOf returns instance id's ledger, made on first use from Source.
func (c *Countersigner) ledgerOf(id uint64) (*ledger, error) {
	if c.Key == nil || c.Source == nil {
		return nil, fmt.Errorf("%w: the countersigner has no key or source", ErrReceipt)
	}
	c.mu.Lock()
	l := c.ledger[id]
	c.mu.Unlock()
	if l != nil {
		return l, nil
	}
	info, ok, err := c.Source(id)
	if err != nil {
		return nil, fmt.Errorf("%w: instance %d: %w", ErrReceipt, id, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: no instance %d", ErrReceipt, id)
	}
	if info.Router != crypto.PubkeyToAddress(c.Key.PublicKey) {
		return nil, fmt.Errorf("%w: instance %d was placed by %s, not by this router", ErrReceipt, id, info.Router)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l = c.ledger[id]; l == nil {
		l = c.newLedger(id, info)
	}
	return l, nil
}

func gpuBound(gpus uint32, elapsed time.Duration) uint64 {
	ms := (elapsed + time.Millisecond - 1) / time.Millisecond
	return uint64(max(gpus, 1)) * uint64(max(ms, 0))
}

// Orphan implements Meter.
func (c *Countersigner) Orphan(id uint64, request common.Hash, elapsed time.Duration) {
	l, err := c.ledgerOf(id)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(l.orphans) >= maxOrphans {
		l.orphans = l.orphans[1:]
	}
	l.orphans = append(l.orphans, orphan{request: request, bound: gpuBound(l.info.GPUs, elapsed)})
}

// Countersign implements Meter.
func (c *Countersigner) Countersign(id uint64, request common.Hash, elapsed time.Duration, r *instance.NodeReceipt) (*apps.SignedReceipt, error) {
	if c.Key == nil || c.Source == nil {
		return nil, fmt.Errorf("%w: the countersigner has no key or source", ErrReceipt)
	}
	l, err := c.ledgerOf(id)
	if err != nil {
		return nil, err
	}
	// Checks that need no order.
	if r.ChainID != l.info.ChainID || r.Instance != id {
		return nil, fmt.Errorf("%w: receipt for chain %d instance %d, the call was to chain %d instance %d", ErrReceipt, r.ChainID, r.Instance, l.info.ChainID, id)
	}
	d := apps.ReceiptDigest(apps.RoleNode, r.EncodeBody())
	pub, err := crypto.SigToPub(d[:], r.NodeSig[:])
	if err != nil {
		return nil, fmt.Errorf("%w: node signature: %w", ErrReceipt, err)
	}
	if signer := crypto.PubkeyToAddress(*pub); signer != l.info.Node {
		return nil, fmt.Errorf("%w: signed by %s, the instance's node is %s", ErrReceipt, signer, l.info.Node)
	}
	e := &early{r: r, request: request, bound: gpuBound(l.info.GPUs, elapsed), done: make(chan result, 1)}

	c.mu.Lock()
	switch {
	case r.Token != l.token:
		// A node out of step (restarted, or on an older sync): resync,
		// unless one is under way or the token is one already replaced.
		err := fmt.Errorf("%w: instance %d: the node's meter follows sync %x, the router's is %x", ErrReceipt, id, r.Token, l.token)
		if !l.syncing && !slices.Contains(l.retired, r.Token) {
			c.resync(id, l, err)
		}
		c.mu.Unlock()
		return nil, err
	case r.Seq <= l.last.Seq:
		err := fmt.Errorf("%w: sequence %d, already at %d (replay)", ErrReceipt, r.Seq, l.last.Seq)
		c.resync(id, l, err)
		c.mu.Unlock()
		return nil, err
	case l.early[r.Seq] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: sequence %d twice", ErrReceipt, r.Seq)
	case len(l.early) >= maxEarly:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: too many receipts out of order", ErrReceipt)
	}
	l.early[r.Seq] = e
	c.drain(id, l)
	c.mu.Unlock()

	wait := c.Wait
	if wait <= 0 {
		wait = DefaultReceiptWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res := <-e.done:
		return c.finish(res)
	case <-t.C:
	}
	c.mu.Lock()
	res := c.late(id, l, e, wait)
	c.mu.Unlock()
	return c.finish(res)
}

// late decides receipt e after it waited its time for the ones before it
// (c.mu held).
func (c *Countersigner) late(id uint64, l *ledger, e *early, wait time.Duration) result {
	r := e.r
	select {
	case res := <-e.done: // decided meanwhile
		return res
	default:
	}
	// The receipts before the oldest waiting one never came: it may chain
	// the calls whose receipts were lost (orphans), each one the router
	// relayed. Decide the oldest ones that way until this one is decided.
	for l.early[r.Seq] == e {
		m := e
		for seq, x := range l.early {
			if seq < m.r.Seq {
				m = x
			}
		}
		delete(l.early, m.r.Seq)
		s, err := c.fillGap(l, m)
		if err != nil {
			err = fmt.Errorf("%w: sequence %d waited %v for sequence %d: %w", ErrReceipt, m.r.Seq, wait, l.last.Seq+1, err)
			m.done <- result{err: err}
			c.resync(id, l, err)
			break
		}
		m.done <- result{s: s, stored: c.accept(l, s)}
		c.drain(id, l)
	}
	select {
	case res := <-e.done:
		return res
	default:
	}
	delete(l.early, r.Seq)
	return result{err: fmt.Errorf("%w: instance %d: receipt %d never came", ErrReceipt, id, l.last.Seq+1)}
}

// drain decides the buffered receipts that are next in order (c.mu held).
func (c *Countersigner) drain(id uint64, l *ledger) {
	for {
		e := l.early[l.last.Seq+1]
		if e == nil {
			return
		}
		delete(l.early, e.r.Seq)
		s, err := c.check(l, e, l.last.CallsHash, 0, 0)
		res := result{s: s, err: err}
		if err == nil {
			res.stored = c.accept(l, s)
		}
		e.done <- res
		if err != nil {
			// The node's next receipt cannot build on a refused one:
			// the meters disagree.
			c.resync(id, l, err)
			return
		}
	}
}

// fillGap decides receipt e, whose g = e.Seq − l.last.Seq − 1 ≤ maxGap
// predecessors never came: it is countersigned when it adds exactly g + 1
// calls, g of them orphans (in some order) and the last its own, with GPU
// time within their bounds together. The orphans it used are dropped
// (c.mu held).
func (c *Countersigner) fillGap(l *ledger, e *early) (*apps.SignedReceipt, error) {
	g := e.r.Seq - l.last.Seq - 1
	if g == 0 || g > maxGap || int(g) > len(l.orphans) {
		return nil, fmt.Errorf("%w: %d receipts missing", ErrReceipt, g)
	}
	var try func(h common.Hash, bound uint64, used []int) ([]int, *apps.SignedReceipt, error)
	try = func(h common.Hash, bound uint64, used []int) ([]int, *apps.SignedReceipt, error) {
		if uint64(len(used)) == g {
			s, err := c.check(l, e, h, g, bound)
			return used, s, err
		}
		for i, o := range l.orphans {
			if slices.Contains(used, i) {
				continue
			}
			if u, s, err := try(apps.NextCallsHash(h, o.request), bound+o.bound, append(slices.Clone(used), i)); err == nil {
				return u, s, nil
			}
		}
		return nil, nil, fmt.Errorf("%w: sequence %d chains no calls the router relayed", ErrReceipt, e.r.Seq)
	}
	used, s, err := try(l.last.CallsHash, 0, nil)
	if err != nil {
		return nil, err
	}
	slices.Sort(used)
	for i := len(used) - 1; i >= 0; i-- {
		l.orphans = slices.Delete(l.orphans, used[i], used[i]+1)
	}
	return s, nil
}

// check decides receipt e, next in order after l.last once the g lost
// receipts before it (chaining orphans: prev is the calls hash after them,
// extra their GPU bound) are counted.
func (c *Countersigner) check(l *ledger, e *early, prev common.Hash, g, extra uint64) (*apps.SignedReceipt, error) {
	r, last := &e.r.Receipt, &l.last
	if r.Calls != last.Calls+g+1 {
		return nil, fmt.Errorf("%w: sequence %d counts %d calls, the router relayed %d", ErrReceipt, r.Seq, r.Calls, last.Calls+g+1)
	}
	if r.GPUMillis < last.GPUMillis || r.GPUMillis-last.GPUMillis > e.bound+extra {
		return nil, fmt.Errorf("%w: sequence %d adds %d GPU-ms, the router measured at most %d", ErrReceipt, r.Seq, r.GPUMillis-last.GPUMillis, e.bound+extra)
	}
	if want := apps.NextCallsHash(prev, e.request); r.CallsHash != want {
		return nil, fmt.Errorf("%w: sequence %d does not chain the call the router relayed", ErrReceipt, r.Seq)
	}
	charge, err := apps.Charge(&l.info.PerCall, &l.info.PerGPUSecond, r.Calls, r.GPUMillis)
	if err != nil || !charge.Eq(&r.ChargeWei) {
		return nil, fmt.Errorf("%w: sequence %d charges %s wei, the prices give %v", ErrReceipt, r.Seq, &r.ChargeWei, charge)
	}
	sig, err := apps.SignReceipt(r, apps.RoleRouter, c.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReceipt, err)
	}
	return &apps.SignedReceipt{Receipt: *r, NodeSig: e.r.NodeSig, RouterSig: sig}, nil
}
