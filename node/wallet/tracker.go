package wallet

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
)

// Policy is how the wallet prices its transactions and when it replaces a
// stuck one.
type Policy struct {
	// TipWei is the tip (max priority fee per gas) of a first send.
	TipWei *big.Int
	// MaxFeeCapWei bounds the fee cap of every version of a transaction.
	MaxFeeCapWei *big.Int
	// StuckBlocks is how many heads a transaction may wait at the front of
	// the account's queue (its nonce is the account's next) before it is
	// replaced with higher fees.
	StuckBlocks uint64
	// PriceBumpPercent is the least raise of both fees in a replacement. It
	// must be at least the pool's Config.PriceBump, or the pool refuses the
	// replacement as underpriced.
	PriceBumpPercent uint64
	// MaxBumps bounds the replacements of one transaction.
	MaxBumps int
}

// DefaultPolicy returns the policy nodes run with.
func DefaultPolicy() Policy {
	return Policy{
		TipWei:           big.NewInt(1_000_000_000),     // 1 gwei
		MaxFeeCapWei:     big.NewInt(1_000_000_000_000), // 1000 gwei
		StuckBlocks:      3,
		PriceBumpPercent: 10,
		MaxBumps:         10,
	}
}

// validate checks p; the wallet refuses to start with a bad policy.
func (p Policy) validate() error {
	switch {
	case p.TipWei == nil || p.TipWei.Sign() < 0:
		return fmt.Errorf("%w: tip must be >= 0", ErrBadConfig)
	case p.MaxFeeCapWei == nil || p.MaxFeeCapWei.Cmp(p.TipWei) < 0:
		return fmt.Errorf("%w: max fee cap must be >= tip", ErrBadConfig)
	case p.StuckBlocks == 0:
		return fmt.Errorf("%w: stuck blocks must be > 0", ErrBadConfig)
	case p.PriceBumpPercent == 0:
		return fmt.Errorf("%w: price bump must be > 0", ErrBadConfig)
	case p.MaxBumps < 0:
		return fmt.Errorf("%w: max bumps must be >= 0", ErrBadConfig)
	}
	return nil
}

// Fees are an EIP-1559 transaction's fee cap and tip cap, in wei per gas.
type Fees struct {
	FeeCap *big.Int
	Tip    *big.Int
}

func (f Fees) String() string { return fmt.Sprintf("fee_cap=%v tip=%v", f.FeeCap, f.Tip) }

// InitialFees prices a first send for a block whose base fee is
// nextBaseFee: the tip, plus twice the base fee as headroom for the base fee
// rising while the transaction waits (the fee cap is a cap; only base fee +
// tip is paid). The cap is cut to MaxFeeCapWei; when that leaves less than
// the base fee plus the tip, the transaction could not be included and
// InitialFees fails with ErrFeeCapExceeded.
func InitialFees(p Policy, nextBaseFee *big.Int) (Fees, error) {
	tip := new(big.Int).Set(p.TipWei)
	feeCap := new(big.Int).Lsh(nextBaseFee, 1)
	feeCap.Add(feeCap, tip)
	if feeCap.Cmp(p.MaxFeeCapWei) > 0 {
		feeCap.Set(p.MaxFeeCapWei)
	}
	if need := new(big.Int).Add(nextBaseFee, tip); feeCap.Cmp(need) < 0 {
		return Fees{}, fmt.Errorf("%w: base fee %v + tip %v above max fee cap %v", ErrFeeCapExceeded, nextBaseFee, tip, p.MaxFeeCapWei)
	}
	return Fees{FeeCap: feeCap, Tip: tip}, nil
}

// BumpFees prices a replacement of a transaction sent with old. Both fees
// rise by at least PriceBumpPercent (rounded up, and by at least 1 wei: the
// pool wants each strictly higher and at least old*(100+bump)/100), and the
// fee cap keeps the 2× headroom over nextBaseFee. ok is false when the raise
// would need a fee cap above MaxFeeCapWei.
func BumpFees(p Policy, old Fees, nextBaseFee *big.Int) (fees Fees, ok bool) {
	tip := bumped(old.Tip, p.PriceBumpPercent)
	feeCap := bumped(old.FeeCap, p.PriceBumpPercent)
	headroom := new(big.Int).Lsh(nextBaseFee, 1)
	headroom.Add(headroom, tip)
	if headroom.Cmp(feeCap) > 0 {
		feeCap = headroom
	}
	if feeCap.Cmp(p.MaxFeeCapWei) > 0 {
		// Cut to the cap if the cut still makes a valid replacement.
		feeCap = new(big.Int).Set(p.MaxFeeCapWei)
		if feeCap.Cmp(bumped(old.FeeCap, p.PriceBumpPercent)) < 0 {
			return Fees{}, false
		}
	}
	if tip.Cmp(feeCap) > 0 {
		return Fees{}, false
	}
	return Fees{FeeCap: feeCap, Tip: tip}, true
}

// bumped is v raised by pct percent, rounded up, and by at least 1.
func bumped(v *big.Int, pct uint64) *big.Int {
	out := new(big.Int).Mul(v, new(big.Int).SetUint64(100+pct))
	out.Add(out, big.NewInt(99)) // round up
	out.Div(out, big.NewInt(100))
	if min := new(big.Int).Add(v, common.Big1); out.Cmp(min) < 0 {
		out = min
	}
	return out
}

// Entry is one transaction the Tracker follows: one nonce, one request, one
// or more signed versions (the first send and its replacements).
type Entry struct {
	// ID names the request across nonce reassignments.
	ID    uint64
	Nonce uint64
	Fees  Fees
	// Hashes are every version sent, oldest first; the last is current.
	Hashes []common.Hash
	// SentAt is the head number when the current version was sent.
	SentAt uint64
	// FrontSince is the head number at which the entry was first seen at
	// the front of the account's queue (0: not yet).
	FrontSince uint64
	Bumps      int
	// AtCap is set once the entry could not be bumped further.
	AtCap bool
}

// Current returns the hash of the newest version.
func (e *Entry) Current() common.Hash { return e.Hashes[len(e.Hashes)-1] }

// TxView is what the chain and the pool say about one entry at a head.
type TxView struct {
	// Mined is the version included in a block, if any.
	Mined *common.Hash
	// InPool is whether the current version is in the pool.
	InPool bool
}

// HeadView is what the driver observed at one head, for the Tracker.
type HeadView struct {
	Number uint64
	// StateNonce is the account's nonce in the head's state: every nonce
	// below it is used.
	StateNonce  uint64
	NextBaseFee *big.Int
	// Txs holds a view of every entry, by nonce. An entry without a view is
	// left alone this head.
	Txs map[uint64]TxView
}

// ActionKind is what the driver must do for an entry.
type ActionKind int

const (
	// ActMined: a version was included; the entry is gone. Hash says which.
	ActMined ActionKind = iota
	// ActResubmit: the current version vanished from the pool unmined;
	// send it again as it is.
	ActResubmit
	// ActBump: replace with the same nonce at Fees; then call Replaced.
	ActBump
	// ActStuck: the entry is stuck and cannot be bumped further (max bumps
	// or fee cap); reported once.
	ActStuck
	// ActReassign: the nonce was used by a transaction not ours; the entry
	// is gone and its request needs a fresh nonce.
	ActReassign
)

func (k ActionKind) String() string {
	switch k {
	case ActMined:
		return "mined"
	case ActResubmit:
		return "resubmit"
	case ActBump:
		return "bump"
	case ActStuck:
		return "stuck"
	case ActReassign:
		return "reassign"
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one decision of OnHead.
type Action struct {
	Kind  ActionKind
	ID    uint64
	Nonce uint64
	// Hash is the mined version (ActMined) or the current one.
	Hash common.Hash
	// Fees are the replacement's fees (ActBump) or the current ones.
	Fees Fees
	// Bumps is how many replacements the entry had before this action.
	Bumps int
}

// Tracker decides, head by head, what happens to the transactions in
// flight. It is a plain state machine: the driver feeds it what it sent
// (Add, Replaced, Resent) and what it observed (OnHead), and executes the
// actions it returns. No goroutine, clock or I/O; not safe for concurrent
// use.
type Tracker struct {
	p       Policy
	byNonce map[uint64]*Entry
}

// NewTracker returns an empty tracker.
func NewTracker(p Policy) *Tracker {
	return &Tracker{p: p, byNonce: make(map[uint64]*Entry)}
}

// Len is the number of transactions in flight.
func (t *Tracker) Len() int { return len(t.byNonce) }

// Add starts tracking a first send of request id at head number head.
func (t *Tracker) Add(id, nonce uint64, fees Fees, hash common.Hash, head uint64) {
	t.byNonce[nonce] = &Entry{ID: id, Nonce: nonce, Fees: fees, Hashes: []common.Hash{hash}, SentAt: head}
}

// Replaced records that the entry at nonce was replaced by a version with
// fees and hash, sent at head.
func (t *Tracker) Replaced(nonce uint64, fees Fees, hash common.Hash, head uint64) {
	e := t.byNonce[nonce]
	if e == nil {
		return
	}
	e.Fees = fees
	e.Hashes = append(e.Hashes, hash)
	e.SentAt = head
	e.Bumps++
}

// Resent records that the current version at nonce was sent again at head.
func (t *Tracker) Resent(nonce, head uint64) {
	if e := t.byNonce[nonce]; e != nil {
		e.SentAt = head
	}
}

// Entries returns copies of the entries in nonce order.
func (t *Tracker) Entries() []Entry {
	out := make([]Entry, 0, len(t.byNonce))
	for _, e := range t.byNonce {
		c := *e
		c.Hashes = slices.Clone(e.Hashes)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmpUint64(a.Nonce, b.Nonce) })
	return out
}

// OnHead applies one head's observations and returns the actions, in nonce
// order. Per entry, first match wins:
//
//  1. a version is mined: ActMined, and the entry is dropped;
//  2. the account's nonce passed it unmined: ActReassign, dropped;
//  3. the current version is not in the pool: ActResubmit;
//  4. it has been the account's next nonce for StuckBlocks heads (counted
//     from its last send): ActBump with BumpFees, or ActStuck once when it
//     cannot be bumped. Only the front of the queue is bumped: the ones
//     behind it wait for it, not for their price.
func (t *Tracker) OnHead(v HeadView) []Action {
	var out []Action
	for _, e := range t.Entries() {
		tv, ok := v.Txs[e.Nonce]
		if !ok {
			continue
		}
		live := t.byNonce[e.Nonce]
		act := Action{ID: e.ID, Nonce: e.Nonce, Hash: e.Current(), Fees: e.Fees, Bumps: e.Bumps}
		switch {
		case tv.Mined != nil:
			act.Kind, act.Hash = ActMined, *tv.Mined
			delete(t.byNonce, e.Nonce)
		case e.Nonce < v.StateNonce:
			act.Kind = ActReassign
			delete(t.byNonce, e.Nonce)
		case !tv.InPool:
			act.Kind = ActResubmit
		case e.Nonce == v.StateNonce:
			if live.FrontSince == 0 {
				live.FrontSince = v.Number
			}
			since := max(live.FrontSince, e.SentAt)
			if v.Number < since+t.p.StuckBlocks {
				continue
			}
			if e.Bumps < t.p.MaxBumps {
				if fees, ok := BumpFees(t.p, e.Fees, v.NextBaseFee); ok {
					act.Kind, act.Fees = ActBump, fees
					break
				}
			}
			if live.AtCap {
				continue
			}
			live.AtCap = true
			act.Kind = ActStuck
		default:
			continue
		}
		out = append(out, act)
	}
	return out
}

// ResyncNonce returns the nonce for the next first send: the local counter,
// moved up past nonces used on chain (stateNonce) or by executable pool
// transactions (poolNonce) that the wallet did not send. It never moves
// down: the wallet's own transactions queued behind a dropped one are not
// counted by the pool but still hold their nonces.
func ResyncNonce(local, stateNonce, poolNonce uint64) uint64 {
	return max(local, stateNonce, poolNonce)
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
