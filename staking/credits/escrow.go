package credits

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Gas of the escrow host APIs, counted as SpendGas is.
const (
	// LockGas is what a module that calls Lock adds to its method's gas:
	// 2 slots read (credits[from], credits[module]) 4,200 + a reset and a
	// fresh write 22,900, rounded up.
	LockGas = 27_200
	// ReleaseGas is what a module that calls Release adds: 2 slots read
	// 4,200 + a reset and a fresh write 22,900, rounded up.
	ReleaseGas = 27_200
)

// ErrInsufficientLocked is returned by Release for more credits than the
// calling module holds in escrow.
var ErrInsufficientLocked = fmt.Errorf("%w held in escrow by the module", ErrInsufficientCredits)

// Lock is a host API for other chain-native modules: it moves credits from
// from's balance to the calling module's own credit balance (its escrow),
// where they stay until the module spends them (Spend with the module's
// address as from) or releases them (Release). Credits stay Credits: the
// total and the reserve do not change, so the module's invariant holds with
// the module's account counted among the holders. Lock changes nothing when
// it returns an error. c is the calling module's Call from inside a
// mutating method, which adds LockGas to its gas.
func (m *Module) Lock(c *native.Call, from common.Address, credits *uint256.Int) error {
	if c == nil || c.Module == native.CreditsAddress || !native.IsReserved(c.Module) {
		return ErrNotModule
	}
	if credits == nil || credits.IsZero() {
		return ErrZeroCredits
	}
	if from == c.Module {
		return fmt.Errorf("%w: a module locks its own credits", ErrNotModule)
	}
	return m.move(c, from, c.Module, credits, ErrInsufficientCredits)
}

// Release is Lock's reverse: it moves credits from the calling module's
// escrow to the account to (a refund). The same rules as Lock; ReleaseGas.
func (m *Module) Release(c *native.Call, to common.Address, credits *uint256.Int) error {
	if c == nil || c.Module == native.CreditsAddress || !native.IsReserved(c.Module) {
		return ErrNotModule
	}
	if credits == nil || credits.IsZero() {
		return ErrZeroCredits
	}
	if to == (common.Address{}) {
		return fmt.Errorf("%w: release to", ErrZeroAddress)
	}
	return m.move(c, c.Module, to, credits, ErrInsufficientLocked)
}

// move moves credits between two balances of the credits module; short is
// the error when from holds too few.
func (m *Module) move(c *native.Call, from, to common.Address, credits *uint256.Int, short error) error {
	h := c.Host(native.CreditsAddress, &m.abi)
	fromBal := h.LoadUint(CreditsKey(from))
	if fromBal.Lt(credits) {
		return fmt.Errorf("%w: %s holds %s, moving %s", short, from, fromBal, credits)
	}
	toBal, overflow := new(uint256.Int).AddOverflow(h.LoadUint(CreditsKey(to)), credits)
	if overflow {
		return fmt.Errorf("%w: credits of %s", ErrOverflow, to) // impossible: both are part of the total
	}
	h.StoreUint(CreditsKey(from), fromBal.Sub(fromBal, credits))
	h.StoreUint(CreditsKey(to), toBal)
	return nil
}

// CreditPriceWei returns the module's price of one Credit.
func (m *Module) CreditPriceWei() *uint256.Int { return m.params.CreditPriceWei.Clone() }
