package rewards

import (
	"fmt"
	"math/big"
)

// Lock is a staking lock term: stake locked longer weighs more in the
// staking-reward pools.
type Lock uint8

// The lock terms of the white paper.
const (
	LockNone Lock = iota
	Lock7Days
	Lock30Days
	Lock90Days
	Lock180Days
	// NumLocks is the number of lock terms.
	NumLocks = 5
)

// MultiplierScale is the fixed-point scale of LockTerm.MultiplierBps:
// basis points, 10,000 = 1×.
const MultiplierScale = 10_000

// maxMultiplierBps bounds a multiplier at 1000×.
const maxMultiplierBps = 1000 * MultiplierScale

// LockTerm is one lock's length and reward multiplier.
type LockTerm struct {
	// Epochs is how long the stake stays locked (0 for LockNone).
	Epochs uint64
	// MultiplierBps is the weight multiplier in basis points (14,000 = 1.4×).
	MultiplierBps uint64
}

// LockParams are the lock terms, indexed by Lock, and the shortest lock
// that earns from the long-term staking pool.
type LockParams struct {
	Terms           [NumLocks]LockTerm
	LongTermMinLock Lock
}

// DefaultLockParams returns the white paper's terms with one epoch taken as
// one day (the production epoch): none 1×, 7 days 1.4×, 30 days 2.7×,
// 90 days 6.2×, 180 days 10×; locks of 90 days or more earn from the
// long-term pool.
func DefaultLockParams() LockParams {
	return LockParams{
		Terms: [NumLocks]LockTerm{
			LockNone:    {Epochs: 0, MultiplierBps: 10_000},
			Lock7Days:   {Epochs: 7, MultiplierBps: 14_000},
			Lock30Days:  {Epochs: 30, MultiplierBps: 27_000},
			Lock90Days:  {Epochs: 90, MultiplierBps: 62_000},
			Lock180Days: {Epochs: 180, MultiplierBps: 100_000},
		},
		LongTermMinLock: Lock90Days,
	}
}

// Validate checks that LockNone is 0 epochs at 1×, that longer locks never
// weigh less, and that multipliers are at most 1000×; errors wrap
// ErrBadParams.
func (p LockParams) Validate() error {
	if p.Terms[LockNone] != (LockTerm{Epochs: 0, MultiplierBps: MultiplierScale}) {
		return fmt.Errorf("%w: locks: the no-lock term must be 0 epochs at 1x", ErrBadParams)
	}
	for l := Lock(1); l < NumLocks; l++ {
		t, prev := p.Terms[l], p.Terms[l-1]
		if t.Epochs < prev.Epochs || t.MultiplierBps < prev.MultiplierBps || t.MultiplierBps > maxMultiplierBps {
			return fmt.Errorf("%w: locks: term %d (%d epochs, %d bps) must not be shorter or weigh less than term %d, and at most 1000x",
				ErrBadParams, l, t.Epochs, t.MultiplierBps, l-1)
		}
	}
	if p.LongTermMinLock >= NumLocks {
		return fmt.Errorf("%w: locks: longTermMinLock %d", ErrBadParams, p.LongTermMinLock)
	}
	return nil
}

// Term returns lock's term, or ErrUnknownLock.
func (p LockParams) Term(lock Lock) (LockTerm, error) {
	if lock >= NumLocks {
		return LockTerm{}, fmt.Errorf("%w: %d", ErrUnknownLock, lock)
	}
	return p.Terms[lock], nil
}

// Weight returns a position's weight in a staking-reward pool:
// stakeWei × MultiplierBps, exact (no division, so no rounding; the unit is
// wei·bps, and only ratios of weights matter).
func (p LockParams) Weight(stakeWei *big.Int, lock Lock) (*big.Int, error) {
	if stakeWei == nil || stakeWei.Sign() < 0 {
		return nil, fmt.Errorf("%w: stake %v", ErrNegativeAmount, stakeWei)
	}
	t, err := p.Term(lock)
	if err != nil {
		return nil, err
	}
	return new(big.Int).Mul(stakeWei, new(big.Int).SetUint64(t.MultiplierBps)), nil
}

// LongTermEligible reports whether a stake locked with lock earns from the
// long-term staking pool.
func (p LockParams) LongTermEligible(lock Lock) bool {
	return lock >= p.LongTermMinLock && lock < NumLocks
}
