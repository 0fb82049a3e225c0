package credits

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module account (Solidity layout, see
// state/native's doc):
//
//	slot 0                           totalCredits  uint256
//	slot 1                           reserveWei    uint256: EMC held for unspent Credits
//	slot 2                           burnedWei     uint256: wei burned by spends
//	slot 3                           paidWei       uint256: wei paid to providers by spends
//	keccak256(pad32(a) ‖ pad32(4))   credits[a]    uint256
//
// Invariant (the price is fixed at genesis): balance == reserveWei ==
// totalCredits × price == Σ credits[a] × price, and reserveWei + burnedWei +
// paidWei == all wei ever paid in.
const (
	slotTotal   = 0
	slotReserve = 1
	slotBurned  = 2
	slotPaid    = 3
	slotCredits = 4
)

// CreditsKey returns the storage key of a's credit balance in the module
// account (for eth_getStorageAt and eth_getProof users, and tests).
func CreditsKey(a common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotCredits), native.AddressKey(a))
}

// CreditsOf returns a's unspent Credits.
func CreditsOf(s native.StateReader, a common.Address) *uint256.Int {
	return native.LoadUint(s, native.CreditsAddress, CreditsKey(a))
}

// TotalCredits returns the sum of all unspent Credits.
func TotalCredits(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.CreditsAddress, native.Slot(slotTotal))
}

// Reserve returns the wei held for unspent Credits.
func Reserve(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.CreditsAddress, native.Slot(slotReserve))
}

// Burned returns the wei burned by spends so far.
func Burned(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.CreditsAddress, native.Slot(slotBurned))
}

// PaidToProviders returns the wei paid to providers by spends so far.
func PaidToProviders(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.CreditsAddress, native.Slot(slotPaid))
}
