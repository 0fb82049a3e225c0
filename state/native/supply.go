package native

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

// BurnKind says why wei left the supply. Every burn on the chain is counted
// in the supply ledger under its kind, so that at every block
//
//	Σ balances + Burned(total) == the genesis total supply.
type BurnKind uint8

// The burn kinds. Their values are storage slots of the ledger: never
// renumber them.
const (
	// BurnBaseFee is the EIP-1559 base fee: gasUsed × baseFee of every
	// block, which go-ethereum's state transition credits to nobody.
	BurnBaseFee BurnKind = 1
	// BurnRent is the burned share of compute rent (20 %): of Credits
	// spent, and of the EMC cost of jobs settled by the jobs module.
	BurnRent BurnKind = 2
	// BurnSlash is the burned part of slashed stake.
	BurnSlash BurnKind = 3
	// numBurnKinds bounds the kinds (slots 1..numBurnKinds-1).
	numBurnKinds = 4
)

// String names the kind as emc_supply does.
func (k BurnKind) String() string {
	switch k {
	case BurnBaseFee:
		return "baseFee"
	case BurnRent:
		return "rent"
	case BurnSlash:
		return "slash"
	}
	return fmt.Sprintf("kind%d", uint8(k))
}

// The supply ledger lives in the storage of SupplyAddress, an account the
// registry creates at genesis (code 0xFE, so nothing can call it):
//
//	slot 0   burned total   uint256: Σ of every kind
//	slot k   burned[k]      uint256: per BurnKind k
const slotBurnedTotal = 0

// Burned returns the wei burned so far under kind.
func Burned(s StateReader, kind BurnKind) *uint256.Int {
	return LoadUint(s, SupplyAddress, Slot(uint64(kind)))
}

// BurnedTotal returns the wei burned so far, all kinds.
func BurnedTotal(s StateReader) *uint256.Int {
	return LoadUint(s, SupplyAddress, Slot(slotBurnedTotal))
}

// recordBurn adds amount to the ledger under kind. The ledger cannot
// overflow while amounts come out of balances (the supply fits in far
// fewer than 256 bits), but an overflow is still an error, never a wrap.
func recordBurn(s vm.StateDB, kind BurnKind, amount *uint256.Int) error {
	if kind == 0 || kind >= numBurnKinds {
		return fmt.Errorf("%w: unknown burn kind %d", ErrInternal, kind)
	}
	for _, slot := range []uint64{slotBurnedTotal, uint64(kind)} {
		cur := LoadUint(s, SupplyAddress, Slot(slot))
		sum, overflow := new(uint256.Int).AddOverflow(cur, amount)
		if overflow {
			return fmt.Errorf("%w: burn ledger overflow", ErrInternal)
		}
		s.SetState(SupplyAddress, Slot(slot), sum.Bytes32())
	}
	return nil
}

// Burn destroys amountWei of the module's balance and counts it in the
// supply ledger under kind: the wei leaves the supply, sent to no account.
// It fails, burning nothing, if the module holds less.
func (c *Call) Burn(kind BurnKind, amountWei *uint256.Int) error {
	c.markWrote()
	if c.State.GetBalance(c.Module).Lt(amountWei) {
		return fmt.Errorf("%w: module balance below burn of %s wei", ErrInternal, amountWei)
	}
	if err := recordBurn(c.State, kind, amountWei); err != nil {
		return err
	}
	c.State.SubBalance(c.Module, amountWei, tracing.BalanceChangeUnspecified)
	return nil
}

// recordBaseFeeBurn counts env's base fee burn (gasUsed × baseFee), which
// the state transition has already taken from senders.
func recordBaseFeeBurn(s vm.StateDB, env *BlockEnv) error {
	if env.GasUsed == 0 || env.BaseFee == nil || env.BaseFee.Sign() == 0 {
		return nil
	}
	b := new(big.Int).Mul(new(big.Int).SetUint64(env.GasUsed), env.BaseFee)
	amt, overflow := uint256.FromBig(b)
	if overflow {
		return fmt.Errorf("%w: base fee burn overflows", ErrInternal)
	}
	return recordBurn(s, BurnBaseFee, amt)
}
