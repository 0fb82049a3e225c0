package native

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
)

// TestHostAndBurn: writes through a Host call mark the outer call written
// (so a read-only method cannot mutate through a host API), and Burn takes
// wei out of the module's balance, refusing more than it holds.
func TestHostAndBurn(t *testing.T) {
	st, err := state.New(types.EmptyRootHash, state.NewDatabaseForTesting())
	if err != nil {
		t.Fatal(err)
	}
	outer := &Call{State: st, Module: JobsAddress, Caller: common.Address{1}, Value: uint256.NewInt(5), BlockNumber: 7, ChainID: uint256.NewInt(1337)}
	h := outer.Host(CreditsAddress, nil)
	if h.Module != CreditsAddress || h.Caller != outer.Caller || !h.Value.IsZero() || h.Direct || h.BlockNumber != 7 ||
		h.ChainID.Uint64() != 1337 || h.ChainID == outer.ChainID {
		t.Fatalf("host call %+v (want a copy of the chain id)", h)
	}
	_ = h.LoadUint(Slot(0))
	if outer.wrote || h.wrote {
		t.Fatal("a read marked a write")
	}
	h.StoreUint(Slot(0), uint256.NewInt(9))
	if !outer.wrote || !h.wrote {
		t.Fatal("a host write did not mark the outer call")
	}
	if got := LoadUint(st, CreditsAddress, Slot(0)); got.Uint64() != 9 {
		t.Fatalf("host wrote %s at the wrong account", got)
	}
	st.SetBalance(CreditsAddress, uint256.NewInt(100), tracing.BalanceChangeUnspecified)
	if err := h.Burn(BurnRent, uint256.NewInt(101)); !errors.Is(err, ErrInternal) {
		t.Fatalf("burn beyond the balance: %v", err)
	}
	if err := h.Burn(BurnRent, uint256.NewInt(40)); err != nil {
		t.Fatal(err)
	}
	if got := st.GetBalance(CreditsAddress); got.Uint64() != 60 {
		t.Fatalf("balance after burn %s, want 60", got)
	}
	if got := Burned(st, BurnRent); got.Uint64() != 40 {
		t.Fatalf("ledger counts %s rent burned, want 40", got)
	}
	if got := BurnedTotal(st); got.Uint64() != 40 {
		t.Fatalf("ledger total %s, want 40", got)
	}
	if err := h.Burn(0, uint256.NewInt(1)); !errors.Is(err, ErrInternal) {
		t.Fatalf("burn of an unknown kind: %v", err)
	}
	if got := st.GetBalance(CreditsAddress); got.Uint64() != 60 {
		t.Fatalf("a refused burn moved the balance to %s", got)
	}
}
