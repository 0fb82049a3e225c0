package txpool

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
)

// txEntry is one pooled transaction with what the pool derived from it at
// admission. All fields but pending and heapIdx are fixed once created.
type txEntry struct {
	tx     *types.Transaction
	hash   common.Hash
	from   common.Address
	nonce  uint64
	feeCap *uint256.Int // validated to fit 256 bits
	tip    *uint256.Int
	cost   *big.Int // gas * feeCap + value: the most it can take from the sender
	slots  int      // capacity units, ceil(size / 32 KiB)
	seq    uint64   // arrival order: tie-break in the price heap and for block building
	local  bool     // submitted by this node's user: exempt from price and staleness eviction

	pending bool // in account.pending (else in account.queued)
	heapIdx int  // position in Pool.prices, -1 when absent (locals)
}

// account holds one sender's transactions.
//
// Invariant: pending is contiguous from nonce, i.e. pending[i].nonce ==
// nonce+i, and every queued nonce is >= nonce+len(pending)+1 (a gap
// separates them). checkInternals in the tests asserts it after every step.
type account struct {
	nonce   uint64              // state nonce at the pool's head
	pending []*txEntry          // executable now, in nonce order
	queued  map[uint64]*txEntry // future transactions, by nonce
	spent   *big.Int            // sum of cost over pending and queued
	beat    mclock.AbsTime      // last activity (add, promotion): staleness clock
}

func newAccount(nonce uint64, now mclock.AbsTime) *account {
	return &account{nonce: nonce, queued: make(map[uint64]*txEntry), spent: new(big.Int), beat: now}
}

// next is the nonce the next executable transaction must carry.
func (a *account) next() uint64 { return a.nonce + uint64(len(a.pending)) }

// get returns the entry with the given nonce in either list, or nil.
func (a *account) get(nonce uint64) *txEntry {
	if nonce >= a.nonce && nonce < a.next() {
		return a.pending[nonce-a.nonce]
	}
	return a.queued[nonce]
}

func (a *account) empty() bool { return len(a.pending) == 0 && len(a.queued) == 0 }

// highestQueued returns the queued entry with the highest nonce, remote
// ones only when remoteOnly, or nil.
func (a *account) highestQueued(remoteOnly bool) *txEntry {
	var best *txEntry
	for _, e := range a.queued {
		if remoteOnly && e.local {
			continue
		}
		if best == nil || e.nonce > best.nonce {
			best = e
		}
	}
	return best
}

// numSlots is the capacity a transaction takes.
func numSlots(tx *types.Transaction) int {
	return int((tx.Size() + txSlotSize - 1) / txSlotSize)
}
