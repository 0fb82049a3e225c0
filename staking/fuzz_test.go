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
// reverting with a decodable reason, and keeps the module balance equal to
// the stakes plus unbonding.
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
		fx.mustSend(bob, emc(3), "stake", compute, lockNone)
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
		sum := new(uint256.Int).Add(staking.TotalStake(fx.State, staking.RoleCompute), staking.TotalUnbonding(fx.State))
		for _, r := range []staking.Role{staking.RoleValidator, staking.RoleRouter} {
			sum.Add(sum, staking.TotalStake(fx.State, r))
		}
		if bal := fx.State.GetBalance(native.StakingAddress); !sum.Eq(bal) {
			t.Fatalf("stakes + unbonding %s != module balance %s", sum, bal)
		}
	})
}

// FuzzScript runs an operation script (7 bytes an operation: kind, actor,
// role, lock, amount ×2, signer/advance) through the property test's
// simulator: every outcome matches the rules and every invariant holds.
func FuzzScript(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 0, 9, 0, 4, 0, 0, 0, 0, 0, 12, 1, 0, 0, 0, 0, 5, 0, 4, 0, 0, 0, 0, 0, 40, 2, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 1, 0x10, 0, 0, 3, 1, 0, 0, 0, 0, 4, 3, 1, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 7*200 {
			return
		}
		s := newSim(t, "FUZZ")
		for i := 0; i+7 <= len(script); i += 7 {
			b := script[i : i+7]
			o := op{kind: int(b[0] % 5), actor: int(b[1]) % len(s.actors), role: b[2], lock: b[3],
				amt: uint256.NewInt(uint64(b[4])<<8 | uint64(b[5])), other: int(b[6]) % len(s.signers), adv: uint64(b[6])}
			if b[0]&0x80 != 0 {
				o.amt.Mul(o.amt, emc(1)) // large amounts too
			}
			s.apply(i/7, o)
		}
	})
}
