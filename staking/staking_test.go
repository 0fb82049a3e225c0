// Staking tests run the module through a real go-ethereum EVM
// (state/native/nativetest): every message is bound, applied with
// core.ApplyMessage and finalised as the block executor does, and balances
// are checked to the wei, fees included.
package staking_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var (
	stakingAddr = native.StakingAddress
	alice       = common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	bob         = common.HexToAddress("0xb0b0000000000000000000000000000000000002")
	carol       = common.HexToAddress("0xca201000000000000000000000000000000000003")
)

// emc returns n EMC in wei.
func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type fixture struct {
	*nativetest.Chain
	t   *testing.T
	abi abi.ABI
}

// newFixture builds a chain with the staking module (params as JSON, "" for
// defaults) and alice, bob and carol holding 1000 EMC each.
func newFixture(t *testing.T, params string) *fixture {
	t.Helper()
	var raw json.RawMessage
	if params != "" {
		raw = json.RawMessage(params)
	}
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: raw}, map[string]native.Factory{staking.Name: staking.New})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(stakingAddr)
	parsed, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	alloc := types.GenesisAlloc{}
	for _, a := range []common.Address{alice, bob, carol} {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	return &fixture{Chain: nativetest.New(t, reg, alloc), t: t, abi: parsed}
}

func (f *fixture) pack(name string, args ...any) []byte {
	f.t.Helper()
	data, err := f.abi.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// send applies a direct transaction to the module.
func (f *fixture) send(from common.Address, valueWei *uint256.Int, name string, args ...any) (*resultT, []*types.Log) {
	f.t.Helper()
	res, logs := f.Apply(f.Msg(from, &stakingAddr, valueWei, f.pack(name, args...)))
	return &resultT{res.UsedGas, res.Err, res.ReturnData}, logs
}

type resultT struct {
	gasUsed uint64
	err     error
	ret     []byte
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

// declared is the gas a direct call to the module is charged: intrinsic,
// the method's declared gas, and the framework's per-word input gas.
func declared(data []byte, methodGas uint64) uint64 {
	return nativetest.IntrinsicGas(data) + methodGas + (uint64(len(data))+31)/32*native.GasPerInputWord
}

func u(v any) *uint256.Int { return uint256.MustFromBig(v.(*big.Int)) }

func TestStakeUnstakeExactBalances(t *testing.T) {
	f := newFixture(t, "")
	start := f.State.GetBalance(alice).Clone()

	// stake 5 EMC
	res, logs := f.send(alice, emc(5), "stake")
	if res.err != nil {
		t.Fatalf("stake: %v", res.err)
	}
	if want := declared(f.pack("stake"), staking.StakeGas); res.gasUsed != want {
		t.Errorf("stake gas %d, want declared %d", res.gasUsed, want)
	}
	fees := nativetest.Fee(res.gasUsed)
	wantAlice := new(uint256.Int).Sub(start, emc(5))
	wantAlice.Sub(wantAlice, fees)
	if got := f.State.GetBalance(alice); !got.Eq(wantAlice) {
		t.Errorf("alice balance %s, want %s", got, wantAlice)
	}
	if got := f.State.GetBalance(stakingAddr); !got.Eq(emc(5)) {
		t.Errorf("module balance %s", got)
	}
	f.checkEvent(logs, "Staked", alice, emc(5), emc(5))
	if got := staking.StakeOf(f.State, alice); !got.Eq(emc(5)) {
		t.Errorf("StakeOf %s", got)
	}
	if got := u(f.view("stakeOf", alice)[0]); !got.Eq(emc(5)) {
		t.Errorf("stakeOf() %s", got)
	}
	if got := u(f.view("totalStake")[0]); !got.Eq(emc(5)) {
		t.Errorf("totalStake() %s", got)
	}

	// unstake 2 EMC
	res, logs = f.send(alice, nil, "unstake", emc(2).ToBig())
	if res.err != nil {
		t.Fatalf("unstake: %v", res.err)
	}
	if want := declared(f.pack("unstake", emc(2).ToBig()), staking.UnstakeGas); res.gasUsed != want {
		t.Errorf("unstake gas %d, want declared %d", res.gasUsed, want)
	}
	fees.Add(fees, nativetest.Fee(res.gasUsed))
	wantAlice = new(uint256.Int).Sub(start, emc(3))
	wantAlice.Sub(wantAlice, fees)
	if got := f.State.GetBalance(alice); !got.Eq(wantAlice) {
		t.Errorf("alice balance %s, want %s", got, wantAlice)
	}
	f.checkEvent(logs, "Unstaked", alice, emc(2), emc(3))

	// unstake the rest: alice leaves the stakers list
	res, logs = f.send(alice, nil, "unstake", emc(3).ToBig())
	if res.err != nil {
		t.Fatalf("unstake rest: %v", res.err)
	}
	fees.Add(fees, nativetest.Fee(res.gasUsed))
	f.checkEvent(logs, "Unstaked", alice, emc(3), new(uint256.Int))
	wantAlice = new(uint256.Int).Sub(start, fees)
	if got := f.State.GetBalance(alice); !got.Eq(wantAlice) {
		t.Errorf("alice balance %s, want %s (all stake back, fees gone)", got, wantAlice)
	}
	if !f.State.GetBalance(stakingAddr).IsZero() || !staking.TotalStake(f.State).IsZero() || staking.StakerCount(f.State) != 0 {
		t.Errorf("module not empty: balance %s total %s count %d",
			f.State.GetBalance(stakingAddr), staking.TotalStake(f.State), staking.StakerCount(f.State))
	}
	// The module account is still there after Finalise(true) although it
	// holds nothing: nonce 1 and code keep it from being EIP-161 empty.
	f.State.Finalise(f.Rules())
	if !f.State.Exist(stakingAddr) || f.State.GetNonce(stakingAddr) != 1 {
		t.Error("module account deleted")
	}
}

func (f *fixture) checkEvent(logs []*types.Log, name string, who common.Address, amount, total *uint256.Int) {
	f.t.Helper()
	if len(logs) != 1 {
		f.t.Fatalf("%d logs, want 1 %s", len(logs), name)
	}
	l := logs[0]
	ev := f.abi.Events[name]
	if l.Address != stakingAddr || len(l.Topics) != 2 || l.Topics[0] != ev.ID || l.Topics[1] != common.BytesToHash(who[:]) {
		f.t.Fatalf("%s log: address %s topics %v", name, l.Address, l.Topics)
	}
	vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
	if err != nil {
		f.t.Fatalf("%s data: %v", name, err)
	}
	if !u(vals[0]).Eq(amount) || !u(vals[1]).Eq(total) {
		f.t.Errorf("%s(amount %s, total %s), want (%s, %s)", name, vals[0], vals[1], amount, total)
	}
}

// TestRules: each rule's revert, with its reason, declared gas, and no state
// change.
func TestRules(t *testing.T) {
	cases := []struct {
		name   string
		params string
		setup  func(f *fixture)
		from   common.Address
		value  *uint256.Int
		method string
		args   []any
		gas    uint64
		want   error
	}{
		{name: "unstake beyond stake", setup: func(f *fixture) { f.mustSend(alice, emc(2), "stake") },
			method: "unstake", args: []any{emc(3).ToBig()}, gas: staking.UnstakeGas, want: staking.ErrInsufficientStake},
		{name: "unstake without stake", method: "unstake", args: []any{big.NewInt(1)}, gas: staking.UnstakeGas, want: staking.ErrInsufficientStake},
		{name: "unstake zero", method: "unstake", args: []any{big.NewInt(0)}, gas: staking.UnstakeGas, want: staking.ErrZeroAmount},
		{name: "stake zero", method: "stake", gas: staking.StakeGas, want: staking.ErrZeroAmount},
		{name: "stake below minimum", value: new(uint256.Int).Sub(emc(1), uint256.NewInt(1)), method: "stake", gas: staking.StakeGas, want: staking.ErrBelowMinimum},
		{name: "leave below minimum", setup: func(f *fixture) { f.mustSend(alice, emc(2), "stake") },
			method: "unstake", args: []any{new(uint256.Int).Add(emc(1), uint256.NewInt(1)).ToBig()}, gas: staking.UnstakeGas, want: staking.ErrBelowMinimum},
		{name: "staker limit", params: `{"maxStakers": 2}`, setup: func(f *fixture) {
			f.mustSend(bob, emc(1), "stake")
			f.mustSend(carol, emc(1), "stake")
		}, method: "stake", value: emc(1), gas: staking.StakeGas, want: staking.ErrTooManyStakers},
		{name: "value to unstake", setup: func(f *fixture) { f.mustSend(alice, emc(2), "stake") },
			method: "unstake", value: uint256.NewInt(1), args: []any{emc(1).ToBig()}, gas: staking.UnstakeGas, want: native.ErrNotPayable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.params)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := f.State.GetBalance(alice).Clone()
			data := f.pack(tc.method, tc.args...)
			res, logs := f.Apply(f.Msg(alice, &stakingAddr, tc.value, data))
			if !errors.Is(res.Err, vm.ErrExecutionReverted) {
				t.Fatalf("err %v, want revert", res.Err)
			}
			reason, err := abi.UnpackRevert(res.ReturnData)
			if err != nil || !strings.HasPrefix(reason, tc.want.Error()) {
				t.Errorf("reason %q (%v), want %q", reason, err, tc.want)
			}
			if want := declared(data, tc.gas); res.UsedGas != want {
				t.Errorf("gas used %d, want %d", res.UsedGas, want)
			}
			if len(logs) != 0 {
				t.Errorf("%d logs", len(logs))
			}
			if spent := new(uint256.Int).Sub(before, f.State.GetBalance(alice)); !spent.Eq(nativetest.Fee(res.UsedGas)) {
				t.Errorf("alice spent %s, want only the fee %s", spent, nativetest.Fee(res.UsedGas))
			}
		})
	}
}

func (f *fixture) mustSend(from common.Address, valueWei *uint256.Int, name string, args ...any) {
	f.t.Helper()
	if res, _ := f.send(from, valueWei, name, args...); res.err != nil {
		reason, _ := abi.UnpackRevert(res.ret)
		f.t.Fatalf("%s: %v %q", name, res.err, reason)
	}
}

// TestFromContract: a contract can STATICCALL stakeOf; a contract cannot
// stake on anyone's behalf.
func TestFromContract(t *testing.T) {
	f := newFixture(t, "")
	f.mustSend(bob, emc(7), "stake")

	viewer := f.Deploy(nativetest.Forwarder(stakingAddr, vm.STATICCALL))
	res, _ := f.Apply(f.Msg(alice, &viewer, nil, f.pack("stakeOf", bob)))
	if res.Err != nil {
		t.Fatalf("stakeOf via STATICCALL: %v", res.Err)
	}
	if got := new(uint256.Int).SetBytes(res.ReturnData); !got.Eq(emc(7)) {
		t.Errorf("stakeOf via contract = %s", got)
	}

	caller := f.Deploy(nativetest.Forwarder(stakingAddr, vm.CALL))
	res, _ = f.Apply(f.Msg(alice, &caller, emc(3), f.pack("stake")))
	if !errors.Is(res.Err, vm.ErrExecutionReverted) {
		t.Fatalf("stake via contract: %v", res.Err)
	}
	if reason, _ := abi.UnpackRevert(res.ReturnData); !strings.HasPrefix(reason, native.ErrValueFromContract.Error()) {
		t.Errorf("reason %q", reason)
	}
	res, _ = f.Apply(f.Msg(alice, &caller, nil, f.pack("unstake", big.NewInt(1))))
	if reason, _ := abi.UnpackRevert(res.ReturnData); !strings.HasPrefix(reason, native.ErrNotDirect.Error()) {
		t.Errorf("reason %q", reason)
	}
	if got := staking.TotalStake(f.State); !got.Eq(emc(7)) {
		t.Errorf("total stake %s", got)
	}
	if !f.State.GetBalance(stakingAddr).Eq(emc(7)) {
		t.Errorf("module balance %s", f.State.GetBalance(stakingAddr))
	}
}

func TestStakersAndTopStakers(t *testing.T) {
	f := newFixture(t, "")
	f.mustSend(alice, emc(3), "stake")
	f.mustSend(bob, emc(5), "stake")
	f.mustSend(carol, emc(3), "stake")
	f.mustSend(alice, emc(1), "stake") // no duplicate entry

	out := f.view("stakers", big.NewInt(0), big.NewInt(10))
	addrs, amounts := out[0].([]common.Address), out[1].([]*big.Int)
	wantAddrs := []common.Address{alice, bob, carol}
	wantAmts := []*uint256.Int{emc(4), emc(5), emc(3)}
	if len(addrs) != 3 || len(amounts) != 3 {
		t.Fatalf("stakers() = %v %v", addrs, amounts)
	}
	for i := range wantAddrs {
		if addrs[i] != wantAddrs[i] || !u(amounts[i]).Eq(wantAmts[i]) {
			t.Errorf("stakers()[%d] = %s %s", i, addrs[i], amounts[i])
		}
	}
	if out := f.view("stakers", big.NewInt(1), big.NewInt(1)); len(out[0].([]common.Address)) != 1 || out[0].([]common.Address)[0] != bob {
		t.Errorf("page (1,1) = %v", out[0])
	}
	if out := f.view("stakers", big.NewInt(5), big.NewInt(1)); len(out[0].([]common.Address)) != 0 {
		t.Errorf("page past end = %v", out[0])
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 200)
	if out := f.view("stakers", huge, huge); len(out[0].([]common.Address)) != 0 {
		t.Errorf("huge page = %v", out[0])
	}
	// Page gas: base + per item of the clamped limit.
	data := f.pack("stakers", big.NewInt(0), big.NewInt(2))
	res := f.Call(f.Msg(alice, &stakingAddr, nil, data))
	if want := declared(data, staking.ViewGas+2*staking.StakersGasPerItem); res.UsedGas != want {
		t.Errorf("stakers gas %d, want %d", res.UsedGas, want)
	}
	data = f.pack("stakers", big.NewInt(0), huge)
	res = f.Call(f.Msg(alice, &stakingAddr, nil, data))
	if want := declared(data, staking.ViewGas+staking.MaxPage*staking.StakersGasPerItem); res.UsedGas != want {
		t.Errorf("stakers gas (clamped) %d, want %d", res.UsedGas, want)
	}

	top := staking.TopStakers(f.State, 2)
	if len(top) != 2 || top[0].Address != bob || top[1].Address != alice {
		t.Errorf("TopStakers(2) = %v", top)
	}
	// Ties break by ascending address: alice leaves, alice re-enters with 3.
	f.mustSend(alice, nil, "unstake", emc(1).ToBig())
	top = staking.TopStakers(f.State, 10)
	if len(top) != 3 || top[0].Address != bob || top[1].Address != alice || top[2].Address != carol {
		t.Errorf("TopStakers with tie = %v", top)
	}
	// Removal swaps the last staker into the freed place.
	f.mustSend(alice, nil, "unstake", emc(3).ToBig())
	if got := staking.Stakers(f.State, 0, 10); len(got) != 2 || got[0].Address != carol || got[1].Address != bob {
		t.Errorf("after removal: %v", got)
	}
}

func TestParams(t *testing.T) {
	cases := []struct {
		raw     string
		min     *uint256.Int
		max     uint64
		wantErr bool
	}{
		{raw: ``, min: emc(1), max: staking.DefaultMaxStakers},
		{raw: `null`, min: emc(1), max: staking.DefaultMaxStakers},
		{raw: `{}`, min: emc(1), max: staking.DefaultMaxStakers},
		{raw: `{"minStakeWei":"32000000000000000000"}`, min: emc(32), max: staking.DefaultMaxStakers},
		{raw: `{"minStakeWei":"0x10","maxStakers":7}`, min: uint256.NewInt(16), max: 7},
		{raw: `{"minStakeWei":"0"}`, wantErr: true},
		{raw: `{"minStakeWei":"-1"}`, wantErr: true},
		{raw: `{"maxStakers":0}`, wantErr: true},
		{raw: `{"maxStakers":100001}`, wantErr: true},
		{raw: `{"minStake":"1"}`, wantErr: true},
		{raw: `{"minStakeWei":1}`, min: uint256.NewInt(1), max: staking.DefaultMaxStakers}, // JSON numbers are accepted too
		{raw: `[`, wantErr: true},
	}
	for _, tc := range cases {
		p, err := staking.ParseParams(json.RawMessage(tc.raw))
		if tc.wantErr {
			if !errors.Is(err, native.ErrBadParams) {
				t.Errorf("%s: err %v, want ErrBadParams", tc.raw, err)
			}
			continue
		}
		if err != nil || !p.MinStakeWei.Eq(tc.min) || p.MaxStakers != tc.max {
			t.Errorf("%s: %+v %v", tc.raw, p, err)
		}
	}
}
