package staking

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/state/native"
)

// changeSnap is what beforeChange records of a position before its amount
// or lock changes. Placeholder: the rewards work replaces this file with
// the version that settles the position's staking rewards.
type changeSnap struct{}

// beforeChange is called before every change of owner's amount or lock.
func (m *Module) beforeChange(c *native.Call, owner common.Address) changeSnap {
	return changeSnap{}
}

// afterChange is called after every change of owner's amount or lock, with
// beforeChange's snapshot.
func (m *Module) afterChange(c *native.Call, owner common.Address, s changeSnap) error {
	return nil
}
