package credits_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
)

// call has the test jobs module run method (lock or release) with args,
// sent by sender; it returns the revert reason ("" on success).
func (f *fixture) escrowCall(sender common.Address, method string, args ...any) string {
	f.t.Helper()
	res, _ := f.Apply(f.Msg(sender, &jobsAddr, nil, pack(f.t, f.jobsABI, method, args...)))
	r := &resultT{res.UsedGas, res.Err, res.ReturnData}
	if r.err == nil {
		return ""
	}
	return r.reason()
}

// TestLockRelease: a module locks an account's Credits into its own
// balance, spends some from there and releases the rest; Credits move
// between balances only, so the total, the reserve and the invariant hold
// throughout. Refusals change nothing.
func TestLockRelease(t *testing.T) {
	f := newFixture(t, "")
	f.buy(alice, emc(1), alice) // 100 Credits
	accounts := []common.Address{alice, bob, jobsAddr}
	check := func(aliceN, moduleN uint64) {
		t.Helper()
		if a, m := credits.CreditsOf(f.State, alice).Uint64(), credits.CreditsOf(f.State, jobsAddr).Uint64(); a != aliceN || m != moduleN {
			t.Fatalf("alice %d, module %d Credits; want %d, %d", a, m, aliceN, moduleN)
		}
		f.checkInvariant(t, accounts, emc(1))
	}
	if r := f.escrowCall(bob, "lock", alice, big.NewInt(40)); r != "" {
		t.Fatal(r)
	}
	check(60, 40)
	root := f.State.GetStorageRoot(creditsAddr)
	for _, tc := range []struct {
		method string
		args   []any
		want   error
	}{
		{"lock", []any{alice, big.NewInt(61)}, credits.ErrInsufficientCredits},
		{"lock", []any{bob, big.NewInt(1)}, credits.ErrInsufficientCredits},
		{"lock", []any{alice, big.NewInt(0)}, credits.ErrZeroCredits},
		{"lock", []any{jobsAddr, big.NewInt(1)}, credits.ErrNotModule},
		{"release", []any{alice, big.NewInt(41)}, credits.ErrInsufficientLocked},
		{"release", []any{alice, big.NewInt(0)}, credits.ErrZeroCredits},
		{"release", []any{common.Address{}, big.NewInt(1)}, credits.ErrZeroAddress},
	} {
		if r := f.escrowCall(bob, tc.method, tc.args...); !strings.HasPrefix(r, tc.want.Error()) {
			t.Errorf("%s %v: reason %q, want %q", tc.method, tc.args, r, tc.want)
		}
	}
	if f.State.GetStorageRoot(creditsAddr) != root {
		t.Fatal("a refused lock or release changed the module's storage")
	}
	// Spend 10 of the locked Credits, release the other 30 to alice.
	if res, _ := f.spend(bob, jobsAddr, provider, 10); res.err != nil {
		t.Fatal(res.reason())
	}
	if r := f.escrowCall(bob, "release", alice, big.NewInt(30)); r != "" {
		t.Fatal(r)
	}
	check(90, 0)
	if got := f.State.GetBalance(provider); !got.Eq(new(uint256.Int).Div(new(uint256.Int).Mul(emc(1), uint256.NewInt(8)), uint256.NewInt(100))) {
		t.Fatalf("provider got %s for 10 Credits", got)
	}
	// Go callers that are not another module.
	for _, c := range []*native.Call{nil, {State: f.State, Module: alice}, {State: f.State, Module: creditsAddr}} {
		if err := f.mod.Lock(c, alice, uint256.NewInt(1)); !errors.Is(err, credits.ErrNotModule) {
			t.Errorf("Lock from %+v: %v", c, err)
		}
		if err := f.mod.Release(c, alice, uint256.NewInt(1)); !errors.Is(err, credits.ErrNotModule) {
			t.Errorf("Release from %+v: %v", c, err)
		}
	}
}
