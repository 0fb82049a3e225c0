package staking_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// FuzzModule feeds arbitrary input (and value, direct or from a contract) to
// the staking module after a stake exists: it never panics, fails only by
// reverting with a decodable reason, and keeps totalStake == module balance.
func FuzzModule(f *testing.F) {
	m, err := staking.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range a.Methods {
		f.Add(m.ID, true, uint64(0))
		f.Add(append(m.ID, make([]byte, 64)...), true, uint64(2_000_000_000_000_000_000))
		f.Add(append(m.ID, 0xff), false, uint64(1))
	}
	f.Fuzz(func(t *testing.T, input []byte, direct bool, value uint64) {
		fx := newFixture(t, "")
		fx.mustSend(bob, emc(3), "stake")
		to := native.StakingAddress
		if !direct {
			to = common.HexToAddress("0xc0de")
		}
		msg := fx.Msg(alice, &to, uint256.NewInt(value), input)
		ret, err := fx.Invoke(msg, native.StakingAddress, input, uint256.NewInt(value))
		if err != nil && !errors.Is(err, vm.ErrOutOfGas) {
			if !errors.Is(err, vm.ErrExecutionReverted) {
				t.Fatalf("error %v is not a revert", err)
			}
			if _, uerr := abi.UnpackRevert(ret); uerr != nil {
				t.Fatalf("revert data %x: %v", ret, uerr)
			}
		}
		if total, bal := staking.TotalStake(fx.State), fx.State.GetBalance(native.StakingAddress); !total.Eq(bal) {
			t.Fatalf("totalStake %s != module balance %s", total, bal)
		}
	})
}
