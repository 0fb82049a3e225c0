package credits_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
)

// FuzzModule feeds arbitrary input (and value, direct or from a contract) to
// the credits module and to the test spender after a purchase exists: it
// never panics, fails only by reverting with a decodable reason, and keeps
// balance == reserve == totalCredits × price.
func FuzzModule(f *testing.F) {
	a, err := abi.JSON(strings.NewReader(jobsABI))
	if err != nil {
		f.Fatal(err)
	}
	m, _ := credits.New(nil)
	ca, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		f.Fatal(err)
	}
	for _, x := range []abi.ABI{a, ca} {
		for _, m := range x.Methods {
			f.Add(m.ID, true, uint64(0), false)
			f.Add(append(m.ID, make([]byte, 96)...), true, uint64(20_000_000_000_000_000), false)
			f.Add(append(m.ID, 0xff), false, uint64(1), true)
		}
	}
	f.Fuzz(func(t *testing.T, input []byte, direct bool, value uint64, toJobs bool) {
		fx := newFixture(t, "")
		target := creditsAddr
		if toJobs {
			target = jobsAddr
		}
		msgTo := target
		if !direct {
			msgTo = common.HexToAddress("0xc0de")
		}
		if res, _ := fx.Apply(fx.Msg(bob, &creditsAddr, uint256.NewInt(30_000_000_000_000_000), mustPack(t, ca, "buyCredits", alice))); res.Err != nil {
			t.Fatal(res.Err)
		}
		msg := fx.Msg(alice, &msgTo, uint256.NewInt(value), input)
		ret, err := fx.Invoke(msg, target, input, uint256.NewInt(value))
		if err != nil && !errors.Is(err, vm.ErrOutOfGas) {
			if !errors.Is(err, vm.ErrExecutionReverted) {
				t.Fatalf("error %v is not a revert", err)
			}
			if _, uerr := abi.UnpackRevert(ret); uerr != nil {
				t.Fatalf("revert data %x: %v", ret, uerr)
			}
		}
		bal, reserve := fx.State.GetBalance(native.CreditsAddress), credits.Reserve(fx.State)
		total := new(uint256.Int).Mul(credits.TotalCredits(fx.State), uint256.NewInt(credits.DefaultCreditPriceWei))
		if !bal.Eq(reserve) || !reserve.Eq(total) {
			t.Fatalf("balance %s, reserve %s, totalCredits × price %s", bal, reserve, total)
		}
	})
}

func mustPack(t *testing.T, a abi.ABI, name string, args ...any) []byte {
	t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
