// Staking tests run the module through a real go-ethereum EVM
// (state/native/nativetest): every message is bound, applied with
// core.ApplyMessage and finalised as the block executor does, and balances
// are checked to the wei, fees included.
package staking_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// The fixture's accounts hold keys, so each can consent to be a signer;
// the keys were picked so the addresses keep the order the tests rely on
// (alice 0xa1… < carol 0xa2… < bob 0xb0… < dave 0xda…, as before).
var (
	stakingAddr = native.StakingAddress
	aliceKey    = mustKey("7ad2dc5c6c972b8ede9c0bb3ea15e275f17add82858ffc724b44ef71737ec222")
	bobKey      = mustKey("87f85adbff9037ca1c7a4ddb4bdec26f322e4a8f071159b9ecd6402d3d5312de")
	carolKey    = mustKey("809e0e47a2751505d2fcfc546a2b8a96a8bf4057f43d2b5050a127d7590695f4")
	daveKey     = mustKey("0b6f3ad0a021c1a66680ba04e0a5a5c5729450f4ef91596bcc4b71d9434a8214")
	alice       = keyAddr(aliceKey)
	bob         = keyAddr(bobKey)
	carol       = keyAddr(carolKey)
	dave        = keyAddr(daveKey)
)

func mustKey(hex string) *ecdsa.PrivateKey {
	k, err := crypto.HexToECDSA(hex)
	if err != nil {
		panic(err)
	}
	return k
}

const (
	testEpochLength = 10
	validator       = uint8(staking.RoleValidator)
	router          = uint8(staking.RoleRouter)
	compute         = uint8(staking.RoleCompute)
	lockNone        = uint8(rewards.LockNone)
	lock7           = uint8(rewards.Lock7Days)
	lock30          = uint8(rewards.Lock30Days)
)

// emc returns n EMC in wei.
func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type fixture struct {
	*nativetest.Chain
	t      *testing.T
	abi    abi.ABI
	params staking.Params
}

// newFixture builds a chain with the staking module (params as JSON, "" for
// defaults; epochs of testEpochLength blocks) and alice, bob, carol and dave
// holding 3,000,000 EMC each.
func newFixture(t *testing.T, params string) *fixture {
	t.Helper()
	return newFixtureAlloc(t, params, emc(3_000_000).ToBig())
}

func newFixtureAlloc(t *testing.T, params string, balance *big.Int) *fixture {
	t.Helper()
	var raw json.RawMessage
	if params != "" {
		raw = json.RawMessage(params)
	}
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: raw},
		map[string]native.Factory{staking.Name: staking.Factory(testEpochLength)})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(stakingAddr)
	parsed, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	alloc := types.GenesisAlloc{}
	for _, a := range []common.Address{alice, bob, carol, dave} {
		alloc[a] = types.Account{Balance: balance}
	}
	return &fixture{Chain: nativetest.New(t, reg, alloc), t: t, abi: parsed, params: m.(*staking.Module).Params()}
}

// consent returns k's consent to be owner's signer on the fixture's chain
// at k's current consent nonce.
func (f *fixture) consent(owner common.Address, k *ecdsa.PrivateKey) []byte {
	f.t.Helper()
	return f.consentAt(owner, k, staking.SignerNonce(f.State, keyAddr(k)))
}

func (f *fixture) consentAt(owner common.Address, k *ecdsa.PrivateKey, nonce uint64) []byte {
	f.t.Helper()
	sig, err := staking.SignSignerConsent(k, f.Config.ChainID, owner, nonce)
	if err != nil {
		f.t.Fatal(err)
	}
	return sig
}

// consent is k's consent to be owner's signer at nonce on the harness chain
// (nativetest.Config's chain id).
func consent(t testing.TB, owner common.Address, k *ecdsa.PrivateKey, nonce uint64) []byte {
	t.Helper()
	sig, err := staking.SignSignerConsent(k, nativetest.Config().ChainID, owner, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// setSigner makes k owner's signer with k's consent.
func (f *fixture) setSigner(owner common.Address, k *ecdsa.PrivateKey) []*types.Log {
	f.t.Helper()
	return f.mustSend(owner, nil, "setSigner", keyAddr(k), f.consent(owner, k))
}

// at moves the chain to block offset of epoch e.
func (f *fixture) at(e, offset uint64) { f.Number = e*testEpochLength + offset }

func (f *fixture) epoch() uint64 { return f.Number / testEpochLength }

func (f *fixture) pack(name string, args ...any) []byte {
	f.t.Helper()
	data, err := f.abi.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

type resultT struct {
	gasUsed uint64
	err     error
	ret     []byte
}

// send applies a direct transaction to the module.
func (f *fixture) send(from common.Address, valueWei *uint256.Int, name string, args ...any) (*resultT, []*types.Log) {
	f.t.Helper()
	res, logs := f.Apply(f.Msg(from, &stakingAddr, valueWei, f.pack(name, args...)))
	return &resultT{res.UsedGas, res.Err, res.ReturnData}, logs
}

func (f *fixture) mustSend(from common.Address, valueWei *uint256.Int, name string, args ...any) []*types.Log {
	f.t.Helper()
	res, logs := f.send(from, valueWei, name, args...)
	if res.err != nil {
		reason, _ := abi.UnpackRevert(res.ret)
		f.t.Fatalf("%s: %v %q", name, res.err, reason)
	}
	return logs
}

// mustRevert sends and checks the revert reason starts with want's text.
func (f *fixture) mustRevert(from common.Address, valueWei *uint256.Int, want error, name string, args ...any) {
	f.t.Helper()
	res, logs := f.send(from, valueWei, name, args...)
	if !errors.Is(res.err, vm.ErrExecutionReverted) {
		f.t.Fatalf("%s: err %v, want revert %q", name, res.err, want)
	}
	if reason, err := abi.UnpackRevert(res.ret); err != nil || !strings.HasPrefix(reason, want.Error()) {
		f.t.Fatalf("%s: reason %q (%v), want %q", name, reason, err, want)
	}
	if len(logs) != 0 {
		f.t.Fatalf("%s: %d logs on revert", name, len(logs))
	}
}

// view runs a read-only method with eth_call semantics and decodes its outputs.
func (f *fixture) view(name string, args ...any) []any {
	f.t.Helper()
	res := f.Call(f.Msg(alice, &stakingAddr, nil, f.pack(name, args...)))
	if res.Err != nil {
		f.t.Fatalf("%s: %v", name, res.Err)
	}
	out, err := f.abi.Unpack(name, res.ReturnData)
	if err != nil {
		f.t.Fatalf("%s: unpack: %v", name, err)
	}
	return out
}

func (f *fixture) effective(a common.Address, e uint64) *uint256.Int {
	f.t.Helper()
	v, err := staking.EffectiveStake(f.State, a, e)
	if err != nil {
		f.t.Fatalf("EffectiveStake(%s, %d): %v", a, e, err)
	}
	return v
}

// declared is the gas a direct call to the module is charged: intrinsic,
// the method's declared gas, and the framework's per-word input gas.
func declared(data []byte, methodGas uint64) uint64 {
	return nativetest.IntrinsicGas(data) + methodGas + (uint64(len(data))+31)/32*native.GasPerInputWord
}

func u(v any) *uint256.Int { return uint256.MustFromBig(v.(*big.Int)) }

// event decodes the single log in logs as event name and checks its
// indexed owner.
func (f *fixture) event(logs []*types.Log, name string, owner common.Address) []any {
	f.t.Helper()
	if len(logs) != 1 {
		f.t.Fatalf("%d logs, want 1 %s", len(logs), name)
	}
	l, ev := logs[0], f.abi.Events[name]
	if l.Address != stakingAddr || len(l.Topics) < 2 || l.Topics[0] != ev.ID || l.Topics[1] != common.BytesToHash(owner[:]) {
		f.t.Fatalf("%s log: address %s topics %v", name, l.Address, l.Topics)
	}
	vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
	if err != nil {
		f.t.Fatalf("%s data: %v", name, err)
	}
	return vals
}

func TestStakeUnstakeWithdrawExactBalances(t *testing.T) {
	f := newFixture(t, "")
	start := f.State.GetBalance(alice).Clone()
	fees := new(uint256.Int)
	f.at(2, 3)

	// stake 5 EMC as compute, no lock, in epoch 2
	res, logs := f.send(alice, emc(5), "stake", compute, lockNone)
	if res.err != nil {
		t.Fatalf("stake: %v", res.err)
	}
	if want := declared(f.pack("stake", compute, lockNone), staking.StakeGas); res.gasUsed != want {
		t.Errorf("stake gas %d, want declared %d", res.gasUsed, want)
	}
	fees.Add(fees, nativetest.Fee(res.gasUsed))
	if r, ok := staking.RoleOf(f.State, alice); !ok || r != staking.RoleCompute {
		t.Errorf("RoleOf(alice) = %s %t, want compute", r, ok)
	}
	if _, ok := staking.RoleOf(f.State, bob); ok {
		t.Error("RoleOf(bob) reports a role without a position")
	}
	vals := f.event(logs, "Staked", alice)
	if vals[0].(uint8) != compute || vals[1].(uint8) != lockNone || !u(vals[2]).Eq(emc(5)) || !u(vals[3]).Eq(emc(5)) || vals[4].(uint64) != 2 {
		t.Errorf("Staked %v", vals)
	}
	if got := f.State.GetBalance(stakingAddr); !got.Eq(emc(5)) {
		t.Errorf("module balance %s", got)
	}
	out := f.view("stakeOf", alice)
	if out[0].(uint8) != compute || !u(out[1]).Eq(emc(5)) || out[2].(uint8) != lockNone || out[3].(uint64) != 2 || out[4].(common.Address) != alice {
		t.Errorf("stakeOf = %v", out)
	}
	if got := u(f.view("totalStake", compute)[0]); !got.Eq(emc(5)) {
		t.Errorf("totalStake(compute) %s", got)
	}
	// Snapshot: not effective in epoch 2, effective from epoch 3.
	if !f.effective(alice, 2).IsZero() || !f.effective(alice, 3).Eq(emc(5)) {
		t.Errorf("effective: %s in 2, %s in 3", f.effective(alice, 2), f.effective(alice, 3))
	}

	// unstake 2 EMC in epoch 4: released at 4 + 1 + 7 = 12
	f.at(4, 0)
	res, logs = f.send(alice, nil, "unstake", emc(2).ToBig())
	if res.err != nil {
		t.Fatalf("unstake: %v", res.err)
	}
	if want := declared(f.pack("unstake", emc(2).ToBig()), staking.UnstakeGas); res.gasUsed != want {
		t.Errorf("unstake gas %d, want declared %d", res.gasUsed, want)
	}
	fees.Add(fees, nativetest.Fee(res.gasUsed))
	vals = f.event(logs, "Unstaked", alice)
	if !u(vals[0]).Eq(emc(2)) || !u(vals[1]).Eq(emc(3)) || vals[2].(uint64) != 12 {
		t.Errorf("Unstaked %v", vals)
	}
	if !f.effective(alice, 4).Eq(emc(5)) || !f.effective(alice, 5).Eq(emc(3)) {
		t.Errorf("effective after unstake: %s in 4, %s in 5", f.effective(alice, 4), f.effective(alice, 5))
	}
	out = f.view("unbondingOf", alice)
	if a, r := out[0].([]*big.Int), out[1].([]uint64); len(a) != 1 || !u(a[0]).Eq(emc(2)) || r[0] != 12 {
		t.Errorf("unbondingOf = %v", out)
	}
	if got := f.State.GetBalance(stakingAddr); !got.Eq(emc(5)) {
		t.Errorf("module balance %s: unbonding EMC stays in the module", got)
	}

	// withdraw before release reverts; at release it pays; twice reverts.
	f.at(11, 9)
	f.mustRevert(alice, nil, staking.ErrNothingToWithdraw, "withdraw")
	fees.Add(fees, nativetest.Fee(declared(f.pack("withdraw"), f.params.WithdrawGas())))
	f.at(12, 0)
	res, logs = f.send(alice, nil, "withdraw")
	if res.err != nil {
		t.Fatalf("withdraw: %v", res.err)
	}
	if want := declared(f.pack("withdraw"), f.params.WithdrawGas()); res.gasUsed != want {
		t.Errorf("withdraw gas %d, want declared %d", res.gasUsed, want)
	}
	fees.Add(fees, nativetest.Fee(res.gasUsed))
	if vals = f.event(logs, "Withdrawn", alice); !u(vals[0]).Eq(emc(2)) {
		t.Errorf("Withdrawn %v", vals)
	}
	f.mustRevert(alice, nil, staking.ErrNothingToWithdraw, "withdraw")
	fees.Add(fees, nativetest.Fee(declared(f.pack("withdraw"), f.params.WithdrawGas())))

	want := new(uint256.Int).Sub(start, emc(3))
	want.Sub(want, fees)
	if got := f.State.GetBalance(alice); !got.Eq(want) {
		t.Errorf("alice balance %s, want %s", got, want)
	}
	if got := f.State.GetBalance(stakingAddr); !got.Eq(emc(3)) || !staking.TotalUnbonding(f.State).IsZero() {
		t.Errorf("module balance %s, unbonding %s", got, staking.TotalUnbonding(f.State))
	}

	// Full exit: the position disappears after the last withdraw.
	f.mustSend(alice, nil, "unstake", emc(3).ToBig())
	if staking.OwnerCount(f.State) != 1 {
		t.Fatal("owner left the list before withdrawing")
	}
	f.at(12+1+7, 0)
	f.mustSend(alice, nil, "withdraw")
	p := staking.PositionOf(f.State, alice)
	if staking.OwnerCount(f.State) != 0 || p.HasRole || !p.AmountWei.IsZero() || len(p.Unbonding) != 0 || !f.State.GetBalance(stakingAddr).IsZero() {
		t.Errorf("after full exit: %d owners, %+v, module %s", staking.OwnerCount(f.State), p, f.State.GetBalance(stakingAddr))
	}
	// Empty again, alice may take another role.
	f.mustSend(alice, emc(100_000), "stake", router, lockNone)
}

// TestRules: each rule's revert with its reason, declared gas, and no state
// change beyond the fee.
func TestRules(t *testing.T) {
	validatorMin := emc(1_000_000)
	cases := []struct {
		name   string
		params string
		setup  func(f *fixture)
		value  *uint256.Int
		method string
		args   []any
		gas    func(p staking.Params) uint64
		want   error
	}{
		{name: "role out of range", value: emc(1), method: "stake", args: []any{uint8(3), lockNone}, want: staking.ErrBadRole},
		{name: "role 255", value: emc(1), method: "stake", args: []any{uint8(255), lockNone}, want: staking.ErrBadRole},
		{name: "lock out of range", value: emc(1), method: "stake", args: []any{compute, uint8(5)}, want: staking.ErrBadLock},
		{name: "stake zero", method: "stake", args: []any{compute, lockNone}, want: staking.ErrZeroAmount},
		{name: "validator below minimum", value: new(uint256.Int).Sub(validatorMin, uint256.NewInt(1)), method: "stake", args: []any{validator, lockNone}, want: staking.ErrBelowMinimum},
		{name: "router below minimum", value: emc(99_999), method: "stake", args: []any{router, lockNone}, want: staking.ErrBelowMinimum},
		{name: "role mismatch", setup: func(f *fixture) { f.mustSend(alice, emc(1), "stake", compute, lockNone) },
			value: emc(100_000), method: "stake", args: []any{router, lockNone}, want: staking.ErrRoleMismatch},
		{name: "role mismatch while unbonding", setup: func(f *fixture) {
			f.mustSend(alice, emc(1), "stake", compute, lockNone)
			f.mustSend(alice, nil, "unstake", emc(1).ToBig())
		}, value: emc(100_000), method: "stake", args: []any{router, lockNone}, want: staking.ErrRoleMismatch},
		{name: "unstake while locked", setup: func(f *fixture) {
			f.mustSend(alice, emc(1), "stake", compute, lock7)
			f.at(7, 9) // locked until epoch 1+7 = 8
		}, method: "unstake", args: []any{emc(1).ToBig()}, want: staking.ErrLocked},
		{name: "unstake beyond stake", setup: func(f *fixture) { f.mustSend(alice, emc(2), "stake", compute, lockNone) },
			method: "unstake", args: []any{emc(3).ToBig()}, want: staking.ErrInsufficientStake},
		{name: "unstake without stake", method: "unstake", args: []any{big.NewInt(1)}, want: staking.ErrInsufficientStake},
		{name: "unstake zero", method: "unstake", args: []any{big.NewInt(0)}, want: staking.ErrZeroAmount},
		{name: "unstake leaves below minimum", setup: func(f *fixture) { f.mustSend(alice, emc(150_000), "stake", router, lockNone) },
			method: "unstake", args: []any{emc(50_001).ToBig()}, want: staking.ErrBelowMinimum},
		{name: "value to unstake", setup: func(f *fixture) { f.mustSend(alice, emc(2), "stake", compute, lockNone) },
			value: uint256.NewInt(1), method: "unstake", args: []any{emc(1).ToBig()}, want: native.ErrNotPayable},
		{name: "withdraw nothing", method: "withdraw", want: staking.ErrNothingToWithdraw},
		{name: "withdraw before release", setup: func(f *fixture) {
			f.mustSend(alice, emc(2), "stake", compute, lockNone)
			f.mustSend(alice, nil, "unstake", emc(1).ToBig())
			f.at(1+1+6, 9)
		}, method: "withdraw", want: staking.ErrNothingToWithdraw},
		{name: "unbonding entries bounded", params: `{"maxUnbonding": 2}`, setup: func(f *fixture) {
			f.mustSend(alice, emc(3), "stake", compute, lockNone)
			f.mustSend(alice, nil, "unstake", emc(1).ToBig())
			f.mustSend(alice, nil, "unstake", emc(1).ToBig()) // same epoch: merged into one entry
			f.at(2, 0)
			f.mustSend(alice, nil, "unstake", uint256.NewInt(1).ToBig())
			f.at(3, 0)
		}, method: "unstake", args: []any{big.NewInt(1)}, want: staking.ErrTooManyUnbonding},
		{name: "positions bounded", params: `{"maxPositions": 2}`, setup: func(f *fixture) {
			f.mustSend(bob, emc(1), "stake", compute, lockNone)
			f.mustSend(carol, emc(1), "stake", compute, lockNone)
		}, value: emc(1), method: "stake", args: []any{compute, lockNone}, want: staking.ErrTooManyPositions},
		{name: "setSigner without position", method: "setSigner", args: []any{dave, consent(t, alice, daveKey, 0)}, want: staking.ErrNotValidator},
		{name: "setSigner by a router", setup: func(f *fixture) { f.mustSend(alice, emc(100_000), "stake", router, lockNone) },
			method: "setSigner", args: []any{dave, consent(t, alice, daveKey, 0)}, want: staking.ErrNotValidator},
		{name: "setSigner zero", setup: func(f *fixture) { f.mustSend(alice, validatorMin, "stake", validator, lockNone) },
			method: "setSigner", args: []any{common.Address{}, []byte{}}, want: staking.ErrZeroSigner},
		{name: "setSigner to someone else's signer", setup: func(f *fixture) {
			f.mustSend(bob, validatorMin, "stake", validator, lockNone)
			f.setSigner(bob, daveKey)
			f.mustSend(alice, validatorMin, "stake", validator, lockNone)
		}, method: "setSigner", args: []any{dave, consent(t, alice, daveKey, 1)}, want: staking.ErrSignerTaken},
		{name: "setSigner to another owner", setup: func(f *fixture) {
			f.mustSend(bob, emc(1), "stake", compute, lockNone)
			f.mustSend(alice, validatorMin, "stake", validator, lockNone)
		}, method: "setSigner", args: []any{bob, consent(t, alice, bobKey, 0)}, want: staking.ErrSignerTaken},
		{name: "validator stake from someone's signer", setup: func(f *fixture) {
			f.mustSend(bob, validatorMin, "stake", validator, lockNone)
			f.setSigner(bob, aliceKey)
		}, value: validatorMin, method: "stake", args: []any{validator, lockNone}, want: staking.ErrSignerTaken},
		{name: "setSigner without the signer's signature", setup: func(f *fixture) { f.mustSend(alice, validatorMin, "stake", validator, lockNone) },
			method: "setSigner", args: []any{dave, []byte{}}, want: staking.ErrBadSignature},
		{name: "setSigner with a signature by another key", setup: func(f *fixture) { f.mustSend(alice, validatorMin, "stake", validator, lockNone) },
			method: "setSigner", args: []any{dave, consent(t, alice, carolKey, 0)}, want: staking.ErrNoConsent},
		{name: "setSigner with the consent given to another owner", setup: func(f *fixture) {
			f.mustSend(alice, validatorMin, "stake", validator, lockNone)
		}, method: "setSigner", args: []any{dave, consent(t, bob, daveKey, 0)}, want: staking.ErrNoConsent},
		{name: "setSigner replaying a used consent", setup: func(f *fixture) {
			f.mustSend(alice, validatorMin, "stake", validator, lockNone)
			f.setSigner(alice, daveKey)
			f.mustSend(alice, nil, "setSigner", alice, []byte{})
		}, method: "setSigner", args: []any{dave, consent(t, alice, daveKey, 0)}, want: staking.ErrNoConsent},
		{name: "setSigner clearing with a signature", setup: func(f *fixture) { f.mustSend(alice, validatorMin, "stake", validator, lockNone) },
			method: "setSigner", args: []any{alice, consent(t, alice, aliceKey, 0)}, want: staking.ErrBadSignature},
	}
	gasOf := map[string]func(p staking.Params) uint64{
		"stake":     func(staking.Params) uint64 { return staking.StakeGas },
		"unstake":   func(staking.Params) uint64 { return staking.UnstakeGas },
		"setSigner": func(staking.Params) uint64 { return staking.SetSignerGas },
		"withdraw":  staking.Params.WithdrawGas,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.params)
			f.at(1, 5)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := f.State.GetBalance(alice).Clone()
			moduleBefore := f.State.GetBalance(stakingAddr).Clone()
			rootPos := staking.PositionOf(f.State, alice)
			data := f.pack(tc.method, tc.args...)
			res, logs := f.Apply(f.Msg(alice, &stakingAddr, tc.value, data))
			if !errors.Is(res.Err, vm.ErrExecutionReverted) {
				t.Fatalf("err %v, want revert", res.Err)
			}
			reason, err := abi.UnpackRevert(res.ReturnData)
			if err != nil || !strings.HasPrefix(reason, tc.want.Error()) {
				t.Errorf("reason %q (%v), want %q", reason, err, tc.want)
			}
			if want := declared(data, gasOf[tc.method](f.params)); res.UsedGas != want {
				t.Errorf("gas used %d, want %d", res.UsedGas, want)
			}
			if len(logs) != 0 {
				t.Errorf("%d logs", len(logs))
			}
			if spent := new(uint256.Int).Sub(before, f.State.GetBalance(alice)); !spent.Eq(nativetest.Fee(res.UsedGas)) {
				t.Errorf("alice spent %s, want only the fee %s", spent, nativetest.Fee(res.UsedGas))
			}
			if !f.State.GetBalance(stakingAddr).Eq(moduleBefore) {
				t.Errorf("module balance changed")
			}
			if p := staking.PositionOf(f.State, alice); !p.AmountWei.Eq(rootPos.AmountWei) || len(p.Unbonding) != len(rootPos.Unbonding) || p.Signer != rootPos.Signer {
				t.Errorf("position changed: %+v -> %+v", rootPos, p)
			}
		})
	}
}

// TestLockLongerWins: adding to a position keeps one lock, the one ending
// later (ties: the longer term); an expired lock is replaced.
func TestLockLongerWins(t *testing.T) {
	f := newFixture(t, "")
	f.at(1, 0)
	f.mustSend(alice, emc(1), "stake", compute, lock30) // until 31
	f.at(20, 0)
	vals := f.event(f.mustSend(alice, emc(1), "stake", compute, lock7), "Staked", alice) // 27 < 31: keep 30d
	if vals[1].(uint8) != lock30 || vals[4].(uint64) != 31 {
		t.Errorf("after shorter add: lock %d until %d, want 30d until 31", vals[1], vals[4])
	}
	f.at(25, 0)
	f.mustSend(alice, emc(1), "stake", compute, lock7) // 32 > 31: 7d until 32
	p := staking.PositionOf(f.State, alice)
	if p.Lock != rewards.Lock7Days || p.UnlockEpoch != 32 {
		t.Errorf("after later-ending add: %d until %d", p.Lock, p.UnlockEpoch)
	}
	f.at(31, 9)
	f.mustRevert(alice, nil, staking.ErrLocked, "unstake", emc(1).ToBig())
	f.at(40, 0)
	f.mustSend(alice, emc(1), "stake", compute, lockNone) // expired: replaced by none
	if p = staking.PositionOf(f.State, alice); p.Lock != rewards.LockNone || p.UnlockEpoch != 40 {
		t.Errorf("after expiry: %d until %d", p.Lock, p.UnlockEpoch)
	}
	f.mustSend(alice, nil, "unstake", emc(4).ToBig())
}

// TestFlashStake: staking and unstaking within one epoch changes no
// effective stake, in this epoch or the next, and the validator listing
// does not see it.
func TestFlashStake(t *testing.T) {
	f := newFixture(t, "")
	f.at(1, 0)
	f.mustSend(bob, emc(1_000_000), "stake", validator, lockNone)
	f.at(2, 0)
	f.mustSend(alice, emc(2_000_000), "stake", validator, lockNone)
	f.mustSend(bob, emc(500_000), "stake", validator, lockNone)
	f.mustSend(alice, nil, "unstake", emc(2_000_000).ToBig())
	f.mustSend(bob, nil, "unstake", emc(500_000).ToBig())
	for _, e := range []uint64{2, 3, 9} {
		if !f.effective(alice, e).IsZero() || !f.effective(bob, e).Eq(emc(1_000_000)) {
			t.Errorf("epoch %d: alice %s bob %s", e, f.effective(alice, e), f.effective(bob, e))
		}
		vs, err := staking.EffectiveValidators(f.State, e)
		if err != nil || len(vs) != 1 || vs[0].Owner != bob || !vs[0].StakeWei.Eq(emc(1_000_000)) {
			t.Errorf("epoch %d validators %+v %v", e, vs, err)
		}
	}
	if _, err := staking.EffectiveStake(f.State, bob, 0); !errors.Is(err, staking.ErrEpochTooOld) {
		t.Errorf("epoch before the last change: %v", err)
	}
}

// TestEffectiveValidators: the listing for the validator-set slice, with
// signers, ordered by stake then owner, snapshot per epoch.
func TestEffectiveValidators(t *testing.T) {
	f := newFixture(t, "")
	f.at(1, 0)
	f.mustSend(alice, emc(1_000_000), "stake", validator, lockNone)
	f.mustSend(bob, emc(2_000_000), "stake", validator, lockNone)
	f.mustSend(carol, emc(100_000), "stake", router, lockNone)
	logs := f.setSigner(alice, daveKey)
	if l := logs[0]; len(l.Topics) != 3 || l.Topics[2] != common.BytesToHash(dave[:]) {
		t.Errorf("SignerSet topics %v", l.Topics)
	}
	if vs, _ := staking.EffectiveValidators(f.State, 1); len(vs) != 0 {
		t.Errorf("epoch 1: %+v", vs)
	}
	vs, err := staking.EffectiveValidators(f.State, 2)
	if err != nil || len(vs) != 2 || vs[0].Owner != bob || vs[0].Signer != bob || vs[1].Owner != alice || vs[1].Signer != dave {
		t.Fatalf("epoch 2: %+v %v", vs, err)
	}
	if o, ok := staking.SignerOwner(f.State, dave); !ok || o != alice {
		t.Errorf("SignerOwner(dave) = %s %t", o, ok)
	}
	// Alice moves her signer to carol? carol owns a position: refused. Back
	// to herself: dave is free again and bob may claim him.
	f.mustRevert(alice, nil, staking.ErrSignerTaken, "setSigner", carol, f.consent(alice, carolKey))
	f.mustSend(alice, nil, "setSigner", alice, []byte{})
	if _, ok := staking.SignerOwner(f.State, dave); ok {
		t.Error("dave still claimed")
	}
	f.setSigner(bob, daveKey)
	f.mustSend(dave, emc(1), "stake", compute, lockNone) // a claimed signer may hold a non-validator position
	if vs, _ := staking.EffectiveValidators(f.State, 5); len(vs) != 2 || vs[0].Signer != dave || vs[1].Signer != alice {
		t.Errorf("epoch 5 validators %+v", vs)
	}
	if out := f.view("stakeOf", bob); out[4].(common.Address) != dave {
		t.Errorf("stakeOf(bob).signer = %v", out[4])
	}
	if got := u(f.view("totalStake", validator)[0]); !got.Eq(emc(3_000_000)) {
		t.Errorf("totalStake(validator) = %s", got)
	}
	if got := f.view("owners", big.NewInt(0), big.NewInt(10))[0].([]common.Address); len(got) != 4 || got[0] != alice || got[1] != bob || got[2] != carol || got[3] != dave {
		t.Errorf("owners() = %v", got)
	}
}

// TestFromContract: a contract can STATICCALL the views; it cannot stake,
// unstake, withdraw or set a signer on anyone's behalf.
func TestFromContract(t *testing.T) {
	f := newFixture(t, "")
	f.mustSend(bob, emc(7), "stake", compute, lockNone)

	viewer := f.Deploy(nativetest.Forwarder(stakingAddr, vm.STATICCALL))
	res, _ := f.Apply(f.Msg(alice, &viewer, nil, f.pack("stakeOf", bob)))
	if res.Err != nil {
		t.Fatalf("stakeOf via STATICCALL: %v", res.Err)
	}
	if out, err := f.abi.Unpack("stakeOf", res.ReturnData); err != nil || !u(out[1]).Eq(emc(7)) {
		t.Errorf("stakeOf via contract = %v %v", out, err)
	}
	caller := f.Deploy(nativetest.Forwarder(stakingAddr, vm.CALL))
	for _, tc := range []struct {
		value *uint256.Int
		data  []byte
		want  error
	}{
		{emc(3), f.pack("stake", compute, lockNone), native.ErrValueFromContract},
		{nil, f.pack("unstake", big.NewInt(1)), native.ErrNotDirect},
		{nil, f.pack("withdraw"), native.ErrNotDirect},
		{nil, f.pack("setSigner", dave, f.consent(alice, daveKey)), native.ErrNotDirect},
		{nil, f.pack("reportDoubleSign", []byte{1}, []byte{2}), native.ErrNotDirect},
	} {
		res, _ = f.Apply(f.Msg(alice, &caller, tc.value, tc.data))
		if !errors.Is(res.Err, vm.ErrExecutionReverted) {
			t.Fatalf("%x via contract: %v", tc.data[:4], res.Err)
		}
		if reason, _ := abi.UnpackRevert(res.ReturnData); !strings.HasPrefix(reason, tc.want.Error()) {
			t.Errorf("%x via contract: reason %q, want %q", tc.data[:4], reason, tc.want)
		}
	}
	if got := staking.TotalStake(f.State, staking.RoleCompute); !got.Eq(emc(7)) || !f.State.GetBalance(stakingAddr).Eq(emc(7)) {
		t.Errorf("total %s, module balance %s", got, f.State.GetBalance(stakingAddr))
	}
}

// TestOverflow: stakes summing past 2^256-1 wei revert, and the EVM's
// credit of the value to the module is rolled back with them.
func TestOverflow(t *testing.T) {
	half := new(uint256.Int).Lsh(uint256.NewInt(1), 255)
	f := newFixtureAlloc(t, "", new(big.Int).Add(half.ToBig(), emc(10).ToBig()))
	f.mustSend(alice, half, "stake", compute, lockNone)
	f.mustRevert(bob, half, staking.ErrOverflow, "stake", compute, lockNone)
	f.mustSend(bob, emc(1), "stake", compute, lockNone)
	max := new(uint256.Int).SetAllOne()
	f.mustRevert(alice, nil, staking.ErrInsufficientStake, "unstake", max.ToBig())
	if got := f.State.GetBalance(stakingAddr); !got.Eq(new(uint256.Int).Add(half, emc(1))) {
		t.Errorf("module balance %s", got)
	}
	if got := staking.TotalStake(f.State, staking.RoleCompute); !got.Eq(new(uint256.Int).Add(half, emc(1))) {
		t.Errorf("total %s", got)
	}
}

func TestParams(t *testing.T) {
	def := staking.DefaultParams()
	if !def.MinStakeWei[staking.RoleValidator].Eq(emc(1_000_000)) || !def.MinStakeWei[staking.RoleRouter].Eq(emc(100_000)) ||
		!def.MinStakeWei[staking.RoleCompute].IsZero() || def.UnbondingEpochs != 7 || def.LockEpochs != [5]uint64{0, 7, 30, 90, 180} {
		t.Errorf("defaults %+v", def)
	}
	cases := []struct {
		raw     string
		check   func(p staking.Params) bool
		wantErr bool
	}{
		{raw: ``, check: func(p staking.Params) bool {
			return p.MaxPositions == staking.DefaultMaxPositions && p.EpochLength == 10
		}},
		{raw: `null`, check: func(p staking.Params) bool { return p.MaxUnbonding == staking.DefaultMaxUnbonding }},
		{raw: `{"minValidatorStakeWei":"0x10","minRouterStakeWei":"7","minComputeStakeWei":"1","unbondingEpochs":0,"lockEpochs":[0,1,2,3,4],"maxPositions":3,"maxUnbonding":4}`,
			check: func(p staking.Params) bool {
				return p.MinStakeWei[0].Uint64() == 16 && p.MinStakeWei[1].Uint64() == 7 && p.MinStakeWei[2].Uint64() == 1 &&
					p.UnbondingEpochs == 0 && p.LockEpochs == [5]uint64{0, 1, 2, 3, 4} && p.MaxPositions == 3 && p.MaxUnbonding == 4
			}},
		{raw: `{"minValidatorStakeWei":"-1"}`, wantErr: true},
		{raw: `{"lockEpochs":[1,7,30,90,180]}`, wantErr: true},
		{raw: `{"lockEpochs":[0,7,3,90,180]}`, wantErr: true},
		{raw: `{"lockEpochs":[0,7]}`, wantErr: true}, // the missing terms are 0: decreasing
		{raw: `{"maxPositions":0}`, wantErr: true},
		{raw: `{"maxUnbonding":65}`, wantErr: true},
		{raw: `{"unbondingEpochs":5000000000}`, wantErr: true},
		{raw: `{"minStakeWei":"1"}`, wantErr: true},
		{raw: `[`, wantErr: true},
	}
	for _, tc := range cases {
		p, err := staking.ParseParams(json.RawMessage(tc.raw), 10)
		if tc.wantErr {
			if !errors.Is(err, native.ErrBadParams) {
				t.Errorf("%s: err %v, want ErrBadParams", tc.raw, err)
			}
			continue
		}
		if err != nil || !tc.check(p) {
			t.Errorf("%s: %+v %v", tc.raw, p, err)
		}
	}
	if _, err := staking.ParseParams(nil, 0); !errors.Is(err, native.ErrBadParams) {
		t.Errorf("epoch length 0: %v", err)
	}
}

// TestWorkedExample runs docs/economics.md's "Staking" example and checks
// that every number it computes appears in the section in code font.
func TestWorkedExample(t *testing.T) {
	f := newFixture(t, "")
	emcDec := func(v *uint256.Int) string { return new(uint256.Int).Div(v, emc(1)).Dec() }
	itoa := func(v uint64) string { return uint256.NewInt(v).Dec() }
	var shown []string
	show := func(v ...string) { shown = append(shown, v...) }
	show(emcDec(f.params.MinStakeWei[staking.RoleValidator]), emcDec(f.params.MinStakeWei[staking.RoleRouter]))

	f.at(10, 0)
	f.mustSend(alice, emc(1_000_000), "stake", validator, lock30)
	p := staking.PositionOf(f.State, alice)
	if p.UnlockEpoch != 40 || p.ChangeEpoch != 11 || !f.effective(alice, 10).IsZero() {
		t.Fatalf("after the first stake: %+v", p)
	}
	show(emcDec(p.AmountWei), itoa(p.UnlockEpoch), itoa(p.ChangeEpoch))

	f.at(20, 0)
	f.mustSend(alice, emc(500_000), "stake", validator, lock7)
	p = staking.PositionOf(f.State, alice)
	if p.Lock != rewards.Lock30Days || p.UnlockEpoch != 40 || !p.AmountWei.Eq(emc(1_500_000)) || p.ChangeEpoch != 21 ||
		!f.effective(alice, 20).Eq(emc(1_000_000)) {
		t.Fatalf("after adding: %+v", p)
	}
	show("500000", itoa(p.UnlockEpoch), emcDec(p.AmountWei), itoa(p.ChangeEpoch))

	f.at(40, 0)
	f.mustRevert(alice, nil, staking.ErrBelowMinimum, "unstake", emc(600_000).ToBig())
	show("600000", emcDec(new(uint256.Int).Sub(p.AmountWei, emc(600_000))))
	f.mustSend(alice, nil, "unstake", emc(500_000).ToBig())
	p = staking.PositionOf(f.State, alice)
	if !p.AmountWei.Eq(emc(1_000_000)) || p.ChangeEpoch != 41 || !f.effective(alice, 40).Eq(emc(1_500_000)) ||
		len(p.Unbonding) != 1 || p.Unbonding[0].ReleaseEpoch != 48 {
		t.Fatalf("after unstaking: %+v", p)
	}
	show(emcDec(p.AmountWei), itoa(p.ChangeEpoch), emcDec(f.effective(alice, 40)), emcDec(p.Unbonding[0].AmountWei), itoa(p.Unbonding[0].ReleaseEpoch))

	f.at(47, 0)
	f.mustRevert(alice, nil, staking.ErrNothingToWithdraw, "withdraw")
	f.at(48, 0)
	before := f.State.GetBalance(alice).Clone()
	res, _ := f.send(alice, nil, "withdraw")
	if res.err != nil {
		t.Fatal(res.err)
	}
	paid := new(uint256.Int).Sub(f.State.GetBalance(alice), before)
	paid.Add(paid, nativetest.Fee(res.gasUsed))
	if !paid.Eq(emc(500_000)) || !f.State.GetBalance(stakingAddr).Eq(emc(1_000_000)) {
		t.Fatalf("withdraw paid %s, module holds %s", paid, f.State.GetBalance(stakingAddr))
	}
	show(itoa(f.epoch()), emcDec(paid), emcDec(f.State.GetBalance(stakingAddr)))

	raw, err := os.ReadFile(filepath.Join("..", "docs", "economics.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Staking\n")
	if !ok {
		t.Fatal(`docs/economics.md has no "## Staking" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, w := range shown {
		if !strings.Contains(section, "`"+w+"`") {
			t.Errorf("the Staking section lacks `%s`", w)
		}
	}
	var lockEpochs []string
	for _, e := range f.params.LockEpochs {
		lockEpochs = append(lockEpochs, itoa(e))
	}
	if w := "`[" + strings.Join(lockEpochs, ", ") + "]`"; !strings.Contains(section, w) {
		t.Errorf("the Staking section lacks %s", w)
	}
}

// TestViewGas: each view charges its declared gas (unbondingOf by the
// maxUnbonding param, owners by the clamped page).
func TestViewGas(t *testing.T) {
	f := newFixture(t, `{"maxUnbonding": 5}`)
	f.mustSend(alice, emc(1), "stake", compute, lockNone)
	huge := new(big.Int).Lsh(big.NewInt(1), 200)
	for _, tc := range []struct {
		data []byte
		gas  uint64
	}{
		{f.pack("stakeOf", alice), staking.StakeOfGas},
		{f.pack("unbondingOf", alice), staking.ViewGas + 5*staking.EntryViewGas},
		{f.pack("totalStake", compute), staking.ViewGas},
		{f.pack("owners", big.NewInt(0), big.NewInt(3)), staking.ViewGas + 3*staking.OwnersGasPerItem},
		{f.pack("owners", huge, huge), staking.ViewGas + staking.MaxPage*staking.OwnersGasPerItem},
	} {
		res := f.Call(f.Msg(alice, &stakingAddr, nil, tc.data))
		if res.Err != nil || res.UsedGas != declared(tc.data, tc.gas) {
			t.Errorf("%x: gas %d (%v), want %d", tc.data[:4], res.UsedGas, res.Err, declared(tc.data, tc.gas))
		}
	}
	if out := f.view("owners", huge, huge); len(out[0].([]common.Address)) != 0 {
		t.Errorf("huge page = %v", out[0])
	}
	res := f.Call(f.Msg(alice, &stakingAddr, nil, f.pack("totalStake", uint8(3))))
	if !errors.Is(res.Err, vm.ErrExecutionReverted) {
		t.Errorf("totalStake(3): %v", res.Err)
	}
}
