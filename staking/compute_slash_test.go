package staking_test

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// TestSlashCompute: the jobs module's host API takes bps of a compute
// position's stake and of its unbonding entries, pays the take to the
// calling module, keeps the role total and the module balance exact, and
// leaves other roles, empty accounts and non-module callers alone.
func TestSlashCompute(t *testing.T) {
	f := newFixture(t, "")
	f.at(1, 1)
	f.mustSend(alice, emc(1_000), "stake", compute, lockNone)
	f.mustSend(bob, emc(100_000), "stake", router, lockNone)
	f.mustSend(dave, emc(10), "stake", compute, lockNone)
	f.at(2, 1)
	f.mustSend(alice, nil, "unstake", emc(200).ToBig()) // 800 staked, 200 unbonding
	accts := []common.Address{alice, bob, carol, dave, native.JobsAddress}
	supply0 := f.supply(accts...)
	call := func(module common.Address) *native.Call {
		return &native.Call{State: f.State, Module: module, Value: new(uint256.Int), BlockNumber: f.Number, ChainID: new(uint256.Int)}
	}
	for _, m := range []common.Address{native.StakingAddress, alice} {
		if _, err := staking.SlashCompute(call(m), alice, 5_000, testEpochLength); !errors.Is(err, staking.ErrNotModule) {
			t.Fatalf("caller %s: err %v", m, err)
		}
	}
	if _, err := staking.SlashCompute(nil, alice, 5_000, testEpochLength); !errors.Is(err, staking.ErrNotModule) {
		t.Fatalf("nil call: err %v", err)
	}
	computeTotal := staking.TotalStake(f.State, staking.RoleCompute).Clone()
	got, err := staking.SlashCompute(call(native.JobsAddress), alice, 5_000, testEpochLength)
	if err != nil || !got.Eq(emc(500)) {
		t.Fatalf("slash of alice: %s %v", got, err)
	}
	if bal := f.State.GetBalance(native.JobsAddress); !bal.Eq(emc(500)) {
		t.Fatalf("jobs module holds %s", bal)
	}
	p := staking.PositionOf(f.State, alice)
	if !p.AmountWei.Eq(emc(400)) || len(p.Unbonding) != 1 || !p.Unbonding[0].AmountWei.Eq(emc(100)) {
		t.Fatalf("alice after the slash: %+v", p)
	}
	if want := new(uint256.Int).Sub(computeTotal, emc(400)); !staking.TotalStake(f.State, staking.RoleCompute).Eq(want) {
		t.Fatalf("compute total %s, want %s", staking.TotalStake(f.State, staking.RoleCompute), want)
	}
	f.moduleInvariant()
	if s := f.supply(accts...); !s.Eq(supply0) {
		t.Fatalf("supply %s, was %s", s, supply0)
	}
	for _, who := range []common.Address{bob, carol} { // a router, nobody
		if got, err := staking.SlashCompute(call(native.JobsAddress), who, 10_000, testEpochLength); err != nil || !got.IsZero() {
			t.Fatalf("slash of %s: %s %v", who, got, err)
		}
	}
	// All of it: the position is removed.
	owners := staking.OwnerCount(f.State)
	if got, err := staking.SlashCompute(call(native.JobsAddress), dave, 10_000, testEpochLength); err != nil || !got.Eq(emc(10)) {
		t.Fatalf("full slash of dave: %s %v", got, err)
	}
	if staking.OwnerCount(f.State) != owners-1 {
		t.Fatal("emptied position still listed")
	}
	f.moduleInvariant()
	if s := f.supply(accts...); !s.Eq(supply0) {
		t.Fatalf("supply %s, was %s", s, supply0)
	}
	if _, err := staking.SlashCompute(call(native.JobsAddress), alice, 10_001, testEpochLength); err == nil {
		t.Fatal("slash above 100 %")
	}
}
