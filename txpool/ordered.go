package txpool

import (
	"container/heap"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
)

// Ordered hands out executable transactions for block building: across
// accounts by effective tip at a base fee (highest first, earliest arrival on
// ties), within an account by nonce. It is a snapshot taken by
// Pool.Ordered; the pool may change meanwhile without affecting it. It is
// not safe for concurrent use.
//
// The builder loop, as in geth's miner:
//
//	for tx, from := it.Peek(); tx != nil; tx, from = it.Peek() {
//		switch err := apply(tx); {
//		case err == nil:            it.Shift() // included: offer the account's next nonce
//		case nonceOrFundsError(err): it.Pop()   // the account cannot continue
//		default:                     it.Shift()
//		}
//	}
type Ordered struct {
	baseFee *uint256.Int
	heads   orderedHeap                   // one entry per account: its lowest remaining nonce
	rest    map[common.Address][]*txEntry // the rest of each account's run
}

// Ordered returns a block-building iterator over the pending transactions
// that can pay baseFee (nil means the pool's next-block base fee). An
// account's run stops before its first transaction whose fee cap is under
// baseFee.
func (p *Pool) Ordered(baseFee *big.Int) *Ordered {
	p.mu.RLock()
	defer p.mu.RUnlock()
	fee := p.baseFee256
	if baseFee != nil {
		var overflow bool
		if fee, overflow = uint256.FromBig(baseFee); overflow || baseFee.Sign() < 0 {
			return &Ordered{baseFee: new(uint256.Int)} // nothing pays that
		}
	}
	o := &Ordered{
		baseFee: fee,
		heads:   orderedHeap{baseFee: fee, items: make([]*txEntry, 0, len(p.accounts))},
		rest:    make(map[common.Address][]*txEntry, len(p.accounts)),
	}
	for addr, a := range p.accounts {
		n := len(a.pending)
		for i, e := range a.pending {
			if e.feeCap.Lt(fee) {
				n = i
				break
			}
		}
		if n == 0 {
			continue
		}
		o.heads.items = append(o.heads.items, a.pending[0])
		if n > 1 {
			o.rest[addr] = append([]*txEntry(nil), a.pending[1:n]...)
		}
	}
	heap.Init(&o.heads)
	return o
}

// Peek returns the best remaining transaction and its sender, or nil when
// the iterator is exhausted.
func (o *Ordered) Peek() (*types.Transaction, common.Address) {
	if len(o.heads.items) == 0 {
		return nil, common.Address{}
	}
	e := o.heads.items[0]
	return e.tx, e.from
}

// EffectiveTip returns what the Peek transaction pays the proposer per gas
// at the iterator's base fee, or nil when exhausted.
func (o *Ordered) EffectiveTip() *uint256.Int {
	if len(o.heads.items) == 0 {
		return nil
	}
	e := o.heads.items[0]
	v, _ := effectiveTip(e.feeCap, e.tip, o.baseFee)
	return &v
}

// Shift replaces the Peek transaction with its sender's next nonce, if any.
func (o *Ordered) Shift() {
	if len(o.heads.items) == 0 {
		return
	}
	from := o.heads.items[0].from
	if rest := o.rest[from]; len(rest) > 0 {
		o.heads.items[0] = rest[0]
		if len(rest) == 1 {
			delete(o.rest, from)
		} else {
			o.rest[from] = rest[1:]
		}
		heap.Fix(&o.heads, 0)
		return
	}
	heap.Pop(&o.heads)
}

// Pop drops the Peek transaction's sender altogether: use it when the
// transaction failed in a way its successors would too.
func (o *Ordered) Pop() {
	if len(o.heads.items) == 0 {
		return
	}
	delete(o.rest, o.heads.items[0].from)
	heap.Pop(&o.heads)
}

// Empty reports whether nothing is left.
func (o *Ordered) Empty() bool { return len(o.heads.items) == 0 }

// orderedHeap is a max-heap of account heads by effective tip. It shares
// txEntry with the pool but never touches heapIdx (that belongs to the
// pool's price heap).
type orderedHeap struct {
	baseFee *uint256.Int
	items   []*txEntry
}

func (h *orderedHeap) Len() int { return len(h.items) }
func (h *orderedHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := cmpEffectiveTip(a.feeCap, a.tip, b.feeCap, b.tip, h.baseFee); c != 0 {
		return c > 0
	}
	return a.seq < b.seq
}
func (h *orderedHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *orderedHeap) Push(x any)    { h.items = append(h.items, x.(*txEntry)) }
func (h *orderedHeap) Pop() any {
	n := len(h.items)
	e := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	return e
}
