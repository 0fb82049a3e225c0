package staking

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// changeSnap is a position's amount and lock before a change.
type changeSnap struct {
	amountWei   *uint256.Int
	lock        rewards.Lock
	unlockEpoch uint64
}

// beforeChange records owner's amount and lock before a method (stake,
// unstake, a slash) changes them; pass the result to afterChange.
func beforeChange(c *native.Call, owner common.Address) changeSnap {
	base := positionBase(owner)
	md := decodeMeta(c.LoadUint(field(base, fieldMeta)))
	return changeSnap{
		amountWei:   c.LoadUint(field(base, fieldAmount)),
		lock:        md.lock,
		unlockEpoch: md.unlockEpoch,
	}
}

// afterChange tells the rewards module about owner's new amount, lock or
// unlock epoch (its staking-reward weight changes from the next epoch on,
// like the stake, and drops to the unlocked weight at the unlock epoch by
// itself). Nothing is sent when none changed. Every method that calls it
// includes rewards.PositionChangeGas in its gas.
func afterChange(c *native.Call, owner common.Address, s changeSnap) error {
	base := positionBase(owner)
	amt := c.LoadUint(field(base, fieldAmount))
	md := decodeMeta(c.LoadUint(field(base, fieldMeta)))
	if amt.Eq(s.amountWei) && md.lock == s.lock && md.unlockEpoch == s.unlockEpoch {
		return nil
	}
	if err := rewards.PositionChanged(c, owner, amt, md.lock, md.unlockEpoch); err != nil {
		return fmt.Errorf("staking: rewards of %s: %w", owner, err)
	}
	return nil
}

// RewardsView is the rewards module's view of staking (rewards.StakeReader):
// signer owners and effective stakes, read from state.
type RewardsView struct{}

var _ rewards.StakeReader = RewardsView{}

// SignerOwner implements rewards.StakeReader.
func (RewardsView) SignerOwner(s native.StateReader, signer common.Address) (common.Address, bool) {
	return SignerOwner(s, signer)
}

// EffectiveStake implements rewards.StakeReader.
func (RewardsView) EffectiveStake(s native.StateReader, owner common.Address, epoch uint64) (*uint256.Int, error) {
	return EffectiveStake(s, owner, epoch)
}
