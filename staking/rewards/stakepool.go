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
//   - A lock ends on its own: a change under a lock whose unlock epoch u
//     comes after the change's epoch also schedules the drop to the
//     weight without the lock (stake × 1× in the staking pool, 0 in the
//     long-term pool). The position stores u and that after-weight, the
//     pool a delta at u, and the reward splits at u into one more segment
//     after·(accAt[D] − accAt[max(u, settled)]), the weight segment ending
//     at min(u, D). The next change before u cancels that delta exactly
//     and schedules its own; settling past u folds the after-weight into
//     the weight. Still nothing walks the positions.

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
// wei × AccScale, with epochs < d distributed (see the file comment): up
// to three segments, prev before the change epoch, weight from it until
// the expiry epoch, after-weight from the expiry on.
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
	c, st, u := pos.ChangeEpoch, pos.Settled, pos.ExpiryEpoch
	if c > st {
		seg(pos.PrevWeight, st, min(c, d))
	}
	if u == 0 {
		seg(pos.Weight, max(c, st), d)
		return owed
	}
	seg(pos.Weight, max(c, st), min(u, d)) // u > c
	seg(pos.AfterWeight, max(u, st), d)
	return owed
}

// settlePosition moves owner's reward in pool p up to the epochs
// distributed into its credit and returns the position as stored after:
// a lock expiry that has taken effect (at or before the next epoch to
// distribute) is folded into the weight.
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
	if pos.Weight.IsZero() && pos.PrevWeight.IsZero() && pos.ExpiryEpoch == 0 {
		return pos // nothing to track: leave the slots empty
	}
	pos.Settled = d
	c.StoreUint(add(q, posSettled), uint256.NewInt(d))
	if pos.ExpiryEpoch != 0 && pos.ExpiryEpoch <= d {
		// The lock has ended: its delta is applied, or pending at d.
		pos.Weight, pos.ExpiryEpoch, pos.AfterWeight = pos.AfterWeight, 0, new(uint256.Int)
		c.StoreUint(add(q, posWeight), pos.Weight)
		c.Store(add(q, posExpiry), common.Hash{})
		c.Store(add(q, posAfter), common.Hash{})
	}
	if pos.ChangeEpoch <= d && !pos.PrevWeight.Eq(pos.Weight) {
		pos.PrevWeight = pos.Weight.Clone()
		c.StoreUint(add(q, posPrev), pos.PrevWeight)
	}
	return pos
}

// PositionChanged is the rewards module's host API for the staking
// module: owner's position now holds stakeWei under lock until
// unlockEpoch, a change made in the current staking epoch e that counts
// from e+1. Its weight in the staking pool becomes stakeWei × lock's
// multiplier ([DefaultLockParams]'s, the staking module's locks) and, for
// locks of 90 days or more, the same in the long-term pool; from
// unlockEpoch on (when it is after e+1) the weights drop by themselves to
// stakeWei × 1× and 0, with no further call; a lock already ended by e+1
// weighs so at once. Each call replaces the position's schedule. c is the
// staking module's Call; the staking method must include
// PositionChangeGas. On a chain without the rewards module it does
// nothing.
func PositionChanged(c *native.Call, owner common.Address, stakeWei *uint256.Int, lock Lock, unlockEpoch uint64) error {
	if c == nil || c.Module != native.StakingAddress {
		return ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 {
		return nil
	}
	lp := DefaultLockParams()
	weights, err := positionWeights(lp, owner, stakeWei, lock)
	if err != nil {
		return err
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
		if err := changeWeight(h, p, owner, weights[p], e, unlockEpoch); err != nil {
			return err
		}
	}
	return nil
}

// poolWeight is a position's weight in one pool under its lock (locked)
// and once the lock has ended (after).
type poolWeight struct{ locked, after *uint256.Int }

// positionWeights returns stakeWei's weights under lock in each pool.
func positionWeights(lp LockParams, owner common.Address, stakeWei *uint256.Int, lock Lock) ([numPools]poolWeight, error) {
	var out [numPools]poolWeight
	if stakeWei == nil {
		return out, fmt.Errorf("%w: no stake for %s", ErrNegativeAmount, owner)
	}
	weigh := func(l Lock) (*uint256.Int, error) {
		w, err := lp.Weight(stakeWei.ToBig(), l)
		if err != nil {
			return nil, err
		}
		u, overflow := uint256.FromBig(w) // stake < 2^256 / 10^7 in any real supply
		if overflow {
			return nil, fmt.Errorf("%w: rewards: weight of %s overflows", native.ErrInternal, owner)
		}
		return u, nil
	}
	locked, err := weigh(lock)
	if err != nil {
		return out, err
	}
	after, err := weigh(LockNone)
	if err != nil {
		return out, err
	}
	out[PoolStaking] = poolWeight{locked, after}
	out[PoolLongTerm] = poolWeight{new(uint256.Int), new(uint256.Int)}
	if lp.LongTermEligible(lock) {
		out[PoolLongTerm].locked = locked
	}
	return out, nil
}

// schedule is a position's weights from a change epoch on: weight, and
// from expiry (0: never) after.
type schedule struct {
	weight, after *uint256.Int
	expiry        uint64
}

// scheduleOf is the schedule of w from epoch from on under a lock that
// ends at unlock: no expiry when the lock has ended by then or changes
// nothing.
func scheduleOf(w poolWeight, from, unlock uint64) schedule {
	switch {
	case unlock <= from:
		return schedule{weight: w.after, after: new(uint256.Int)}
	case w.locked.Eq(w.after):
		return schedule{weight: w.locked, after: new(uint256.Int)}
	default:
		return schedule{weight: w.locked, after: w.after, expiry: unlock}
	}
}

// changeWeight sets owner's weights in pool p from epoch e+1 on to w,
// with its lock ending at unlock, replacing what was scheduled.
func changeWeight(c *native.Call, p uint64, owner common.Address, w poolWeight, e, unlock uint64) error {
	pos := settlePosition(c, p, owner) // any expiry left is after e
	next := scheduleOf(w, e+1, unlock)
	if pos.Weight.Eq(next.weight) && pos.ExpiryEpoch == next.expiry && pos.AfterWeight.Eq(next.after) {
		return nil
	}
	q := positionBase(p, owner)
	if pos.ExpiryEpoch != 0 {
		if err := unscheduleDelta(c, p, pos.ExpiryEpoch, pos.Weight, pos.AfterWeight); err != nil {
			return err
		}
	}
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
	scheduleDelta(c, p, e+1, pos.Weight, next.weight)
	c.StoreUint(add(q, posWeight), next.weight)
	if next.expiry != 0 {
		scheduleDelta(c, p, next.expiry, next.weight, next.after)
	}
	c.StoreUint(add(q, posExpiry), uint256.NewInt(next.expiry))
	c.StoreUint(add(q, posAfter), next.after)
	return nil
}

// scheduleDelta records in pool p's delta at epoch e that a weight moves
// from from to to.
func scheduleDelta(c *native.Call, p, e uint64, from, to *uint256.Int) {
	switch to.Cmp(from) {
	case 1:
		k := deltaKey(p, e, false)
		v := c.LoadUint(k)
		c.StoreUint(k, v.Add(v, new(uint256.Int).Sub(to, from)))
	case -1:
		k := deltaKey(p, e, true)
		v := c.LoadUint(k)
		c.StoreUint(k, v.Add(v, new(uint256.Int).Sub(from, to)))
	}
}

// unscheduleDelta takes back exactly what scheduleDelta(p, e, from, to)
// recorded; e must not be distributed yet.
func unscheduleDelta(c *native.Call, p, e uint64, from, to *uint256.Int) error {
	k, diff := deltaKey(p, e, false), new(uint256.Int)
	switch to.Cmp(from) {
	case 0:
		return nil
	case 1:
		diff.Sub(to, from)
	case -1:
		k = deltaKey(p, e, true)
		diff.Sub(from, to)
	}
	v := c.LoadUint(k)
	if v.Lt(diff) {
		return fmt.Errorf("%w: rewards: pool %d delta at epoch %d is %s, below a scheduled %s", native.ErrInternal, p, e, v, diff)
	}
	c.StoreUint(k, v.Sub(v, diff))
	return nil
}
