package relay

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
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
)

// Countersigner is the router's Meter: per instance it keeps the newest
// receipt it countersigned and takes the node's receipts in sequence
// order, buffering early ones for up to Wait; a receipt whose
// predecessors were lost may cover them with orphan calls (Orphan). It is
// safe for concurrent use.
type Countersigner struct {
	Source MeterSource
	Key    *ecdsa.PrivateKey
	// Wait bounds an early receipt's wait (default DefaultReceiptWait).
	Wait time.Duration

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
	// stalled: a receipt never came; every later one builds on it, so
	// none can be countersigned (refused at once, not after a wait).
	stalled bool
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

// Forget drops instance id's ledger (its lease ended and was settled).
func (c *Countersigner) Forget(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ledger, id)
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
		if c.ledger == nil {
			c.ledger = make(map[uint64]*ledger)
		}
		last := info.Settled
		if last.Seq == 0 {
			last = apps.Receipt{ChainID: info.ChainID, Instance: id, CallsHash: apps.ChainStart(info.ChainID, id)}
		}
		l = &ledger{info: info, last: last, early: make(map[uint64]*early)}
		c.ledger[id] = l
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
	case l.stalled:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: instance %d: receipt %d never came, metering stalled", ErrReceipt, id, l.last.Seq+1)
	case r.Seq <= l.last.Seq:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: sequence %d, already at %d (replay)", ErrReceipt, r.Seq, l.last.Seq)
	case l.early[r.Seq] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: sequence %d twice", ErrReceipt, r.Seq)
	case len(l.early) >= maxEarly:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: too many receipts out of order", ErrReceipt)
	}
	l.early[r.Seq] = e
	c.drain(l)
	c.mu.Unlock()

	wait := c.Wait
	if wait <= 0 {
		wait = DefaultReceiptWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res := <-e.done:
		return res.s, res.err
	case <-t.C:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case res := <-e.done: // decided meanwhile
		return res.s, res.err
	default:
	}
	// The receipts before the oldest waiting one never came: it may chain
	// the calls whose receipts were lost (orphans), each one the router
	// relayed. Decide the oldest ones that way until this one is decided.
	for !l.stalled && l.early[r.Seq] == e {
		m := e
		for seq, x := range l.early {
			if seq < m.r.Seq {
				m = x
			}
		}
		delete(l.early, m.r.Seq)
		s, err := c.fillGap(l, m)
		if err != nil {
			l.stalled = true
			m.done <- result{nil, fmt.Errorf("%w: sequence %d waited %v for sequence %d: %w", ErrReceipt, m.r.Seq, wait, l.last.Seq+1, err)}
			break
		}
		l.last = m.r.Receipt
		l.latest = s
		m.done <- result{s, nil}
		c.drain(l)
	}
	select {
	case res := <-e.done:
		return res.s, res.err
	default:
	}
	delete(l.early, r.Seq)
	return nil, fmt.Errorf("%w: instance %d: receipt %d never came, metering stalled", ErrReceipt, id, l.last.Seq+1)
}

// drain decides the buffered receipts that are next in order (c.mu held).
func (c *Countersigner) drain(l *ledger) {
	for {
		e := l.early[l.last.Seq+1]
		if e == nil {
			return
		}
		delete(l.early, e.r.Seq)
		s, err := c.check(l, e, l.last.CallsHash, 0, 0)
		if err == nil {
			l.last = e.r.Receipt
			l.latest = s
		}
		e.done <- result{s, err}
		if err != nil {
			// The node's next receipt cannot build on a refused one:
			// the ones waiting behind it are refused as they time out.
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
