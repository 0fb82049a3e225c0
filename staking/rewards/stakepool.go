package rewards

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// The staking pools in storage: each is a [Pool] accumulator (total weight,
// accPerWeight, dust) plus what the module needs for snapshot semantics:
// a weight change made in staking epoch e counts from epoch e+1, like the
// stake change behind it (staking.EffectiveStake).
//
//   - The pools distribute staking epoch e's budgets at the first block of
//     epoch e+1 (BeginBlock of block (e+1)·L), before any transaction of
//     e+1, after adding to the total weight the changes that take effect
//     at e (delta[e], made during e−1). So every transaction runs with
//     epochs < its own epoch distributed.
//   - accAt[e] keeps accPerWeight as it was before epoch e distributed; a
//     position stores the weight it had before its last change (prev), the
//     weight after it and the epoch the change counts from, so its reward
//     since it last settled is prev·(accAt[min(change, D)] − accAt[settled])
//     + weight·(accAt[D] − accAt[max(change, settled)]), D the next epoch
//     to distribute. Nothing walks the positions.

func accScaleU() *uint256.Int { return uint256.MustFromBig(accScale()) }

// budgetOf returns pool p's per-epoch budget.
func budgetOf(s native.StateReader, p uint64) *uint256.Int {
	return load(s, native.Slot(slotStakingBudget+p))
}

// distributeUpTo distributes every staking epoch before e not yet
// distributed, in order; epochs already distributed are never redone.
func distributeUpTo(c *native.Call, e uint64) error {
	next := c.LoadUint(native.Slot(slotNextDistribute)).Uint64()
	if next >= e {
		return nil
	}
	for ; next < e; next++ {
		for p := uint64(0); p < numPools; p++ {
			if err := distribute(c, p, next); err != nil {
				return err
			}
		}
	}
	c.StoreUint(native.Slot(slotNextDistribute), uint256.NewInt(e))
	return nil
}

// distribute applies the weight changes effective at epoch e to pool p's
// total, then distributes e's budget (what is left of the pool when less)
// over it; with no weight the budget stays in the pool.
func distribute(c *native.Call, p, e uint64) error {
	base := poolBase(p)
	total := c.LoadUint(add(base, plTotalWeight))
	addW, subW := c.LoadUint(deltaKey(p, e, false)), c.LoadUint(deltaKey(p, e, true))
	if !addW.IsZero() || !subW.IsZero() {
		total.Add(total, addW)
		if total.Lt(subW) {
			return fmt.Errorf("%w: rewards: pool %d weight %s below a removal of %s", native.ErrInternal, p, total, subW)
		}
		total.Sub(total, subW)
		c.Store(deltaKey(p, e, false), common.Hash{})
		c.Store(deltaKey(p, e, true), common.Hash{})
		c.StoreUint(add(base, plTotalWeight), total)
	}
	poolKey := native.Slot(slotStakingPool + p)
	left := c.LoadUint(poolKey)
	budget := budgetOf(c.State, p)
	if left.Lt(budget) {
		budget = left
	}
	pl := &Pool{
		TotalWeight:  total.ToBig(),
		AccPerWeight: c.LoadUint(add(base, plAcc)).ToBig(),
		DustScaled:   c.LoadUint(add(base, plDust)).ToBig(),
	}
	if !budget.IsZero() {
		unpaid, err := pl.Distribute(budget.ToBig())
		if err != nil {
			return fmt.Errorf("%w: rewards: %w", native.ErrInternal, err)
		}
		paid := new(uint256.Int).Sub(budget, uint256.MustFromBig(unpaid))
		if !paid.IsZero() {
			acc, overflow := uint256.FromBig(pl.AccPerWeight)
			if overflow {
				return fmt.Errorf("%w: rewards: pool %d accumulator overflows", native.ErrInternal, p)
			}
			c.StoreUint(add(base, plAcc), acc)
			c.StoreUint(add(base, plDust), uint256.MustFromBig(pl.DustScaled)) // < total weight
			c.StoreUint(poolKey, left.Sub(left, paid))
			out := c.LoadUint(add(base, plOutstanding))
			c.StoreUint(add(base, plOutstanding), out.Add(out, paid))
		}
	}
	if acc := c.LoadUint(add(base, plAcc)); !acc.IsZero() {
		c.StoreUint(accAtKey(p, e+1), acc)
	}
	return nil
}

// owedScaled returns what pos earned in pool p since it last settled, in
// wei × AccScale, with epochs < d distributed (see the file comment).
func owedScaled(s native.StateReader, p uint64, pos StakePosition, d uint64) *uint256.Int {
	owed := new(uint256.Int)
	acc := func(e uint64) *uint256.Int { return load(s, accAtKey(p, e)) }
	seg := func(w *uint256.Int, from, to uint64) {
		if to <= from || w.IsZero() {
			return
		}
		rise := new(uint256.Int).Sub(acc(to), acc(from)) // accAt never decreases
		owed.Add(owed, rise.Mul(rise, w))
	}
	c, st := pos.ChangeEpoch, pos.Settled
	if c > st {
		seg(pos.PrevWeight, st, min(c, d))
	}
	seg(pos.Weight, max(c, st), d)
	return owed
}

// settlePosition moves owner's reward in pool p up to the epochs
// distributed into its credit and returns the position as stored after.
func settlePosition(c *native.Call, p uint64, owner common.Address) StakePosition {
	d := c.LoadUint(native.Slot(slotNextDistribute)).Uint64()
	pos := StakePositionOf(c.State, p, owner)
	if pos.Settled >= d {
		return pos
	}
	q := positionBase(p, owner)
	owed := owedScaled(c.State, p, pos, d)
	if !owed.IsZero() {
		pos.CreditScaled.Add(pos.CreditScaled, owed)
		c.StoreUint(add(q, posCredit), pos.CreditScaled)
	}
	if pos.Weight.IsZero() && pos.PrevWeight.IsZero() {
		return pos // nothing to track: leave the slots empty
	}
	pos.Settled = d
	c.StoreUint(add(q, posSettled), uint256.NewInt(d))
	if pos.ChangeEpoch <= d && !pos.PrevWeight.Eq(pos.Weight) {
		pos.PrevWeight = pos.Weight.Clone()
		c.StoreUint(add(q, posPrev), pos.PrevWeight)
	}
	return pos
}

// PositionChanged is the rewards module's host API for the staking
// module: owner's position now holds stakeWei under lock, a change made in
// the current staking epoch e that counts from e+1. Its weight in the
// staking pool becomes stakeWei × lock's multiplier
// ([DefaultLockParams]'s, the staking module's locks) and, for locks of 90
// days or more, the same in the long-term pool. c is the staking module's
// Call; the staking method must include PositionChangeGas. On a chain
// without the rewards module it does nothing.
func PositionChanged(c *native.Call, owner common.Address, stakeWei *uint256.Int, lock Lock) error {
	if c == nil || c.Module != native.StakingAddress {
		return ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 {
		return nil
	}
	lp := DefaultLockParams()
	w, err := lp.Weight(stakeWei.ToBig(), lock)
	if err != nil {
		return err
	}
	weight, overflow := uint256.FromBig(w) // stake < 2^256 / 10^7 in any real supply
	if overflow {
		return fmt.Errorf("%w: rewards: weight of %s overflows", native.ErrInternal, owner)
	}
	parsed, err := moduleABI()
	if err != nil {
		return err
	}
	h := c.Host(native.RewardsAddress, parsed)
	L := h.LoadUint(native.Slot(slotEpochLength)).Uint64()
	if L == 0 {
		return fmt.Errorf("%w: rewards: no epoch length in state", native.ErrInternal)
	}
	e := c.BlockNumber / L
	if err := distributeUpTo(h, e); err != nil {
		return err
	}
	for p := uint64(0); p < numPools; p++ {
		nw := weight
		if p == PoolLongTerm && !lp.LongTermEligible(lock) {
			nw = new(uint256.Int)
		}
		if err := changeWeight(h, p, owner, nw, e); err != nil {
			return err
		}
	}
	return nil
}

// changeWeight sets owner's weight in pool p to w from epoch e+1 on.
func changeWeight(c *native.Call, p uint64, owner common.Address, w *uint256.Int, e uint64) error {
	pos := settlePosition(c, p, owner)
	if pos.Weight.Eq(w) {
		return nil
	}
	q := positionBase(p, owner)
	if pos.ChangeEpoch != e+1 {
		// The weight effective through e is the current one (settle made
		// prev equal to it when its change had taken effect).
		c.StoreUint(add(q, posPrev), pos.Weight)
		c.StoreUint(add(q, posChange), uint256.NewInt(e+1))
	}
	if pos.Settled < e {
		// A position first seen now: nothing to settle before e.
		c.StoreUint(add(q, posSettled), uint256.NewInt(e))
	}
	if w.Gt(pos.Weight) {
		k := deltaKey(p, e+1, false)
		v := c.LoadUint(k)
		c.StoreUint(k, v.Add(v, new(uint256.Int).Sub(w, pos.Weight)))
	} else {
		k := deltaKey(p, e+1, true)
		v := c.LoadUint(k)
		c.StoreUint(k, v.Add(v, new(uint256.Int).Sub(pos.Weight, w)))
	}
	c.StoreUint(add(q, posWeight), w)
	return nil
}
