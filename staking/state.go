package staking

import (
	"bytes"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module account (Solidity layout, see
// state/native's doc):
//
//	slot 0                       totalStakeWei       uint256
//	slot 1                       stakers.length      uint256
//	keccak256(pad32(1)) + i      stakers[i]          address, left-padded
//	keccak256(pad32(a) ‖ pad32(2)) stakeWei[a]       uint256
//	keccak256(pad32(a) ‖ pad32(3)) position[a]       uint256: index in stakers + 1, 0 = absent
//
// stakers holds exactly the accounts with non-zero stake, in insertion order
// except that removal moves the last element into the freed place.
const (
	slotTotal    = 0
	slotStakers  = 1
	slotStake    = 2
	slotPosition = 3
)

func stakeKey(a common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotStake), native.AddressKey(a))
}

func positionKey(a common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotPosition), native.AddressKey(a))
}

func stakerKey(i uint64) common.Hash {
	return native.ArraySlot(native.Slot(slotStakers), i)
}

// StakeOf returns addr's stake in wei.
func StakeOf(s native.StateReader, addr common.Address) *uint256.Int {
	return native.LoadUint(s, native.StakingAddress, stakeKey(addr))
}

// TotalStake returns the sum of all stakes in wei.
func TotalStake(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.StakingAddress, native.Slot(slotTotal))
}

// StakerCount returns the number of accounts with non-zero stake.
func StakerCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.StakingAddress, native.Slot(slotStakers)).Uint64()
}

// Staker is one account's stake.
type Staker struct {
	Address  common.Address
	StakeWei *uint256.Int
}

// Stakers returns the stakers at positions [offset, offset+limit) of the
// stakers list (fewer at its end), in list order.
func Stakers(s native.StateReader, offset, limit uint64) []Staker {
	n := StakerCount(s)
	if offset >= n {
		return nil
	}
	end := n
	if limit < n-offset {
		end = offset + limit
	}
	out := make([]Staker, 0, end-offset)
	for i := offset; i < end; i++ {
		a := common.BytesToAddress(s.GetState(native.StakingAddress, stakerKey(i)).Bytes())
		out = append(out, Staker{Address: a, StakeWei: StakeOf(s, a)})
	}
	return out
}

// TopStakers returns the n largest stakers, largest first, ties broken by
// ascending address so every node derives the same order: the hook for
// drawing the validator set from stake. It reads every staker (at most
// MaxStakers).
func TopStakers(s native.StateReader, n int) []Staker {
	all := Stakers(s, 0, StakerCount(s))
	slices.SortFunc(all, func(a, b Staker) int {
		if c := b.StakeWei.Cmp(a.StakeWei); c != 0 {
			return c
		}
		return bytes.Compare(a.Address[:], b.Address[:])
	})
	if n < 0 {
		n = 0
	}
	if n < len(all) {
		all = all[:n]
	}
	return all
}
