package jsonrpc

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// stakeSignerKey is the dev account's consensus signer: setSigner needs its
// consent.
var (
	stakeSignerKey, _ = crypto.ToECDSA(crypto.Keccak256([]byte("jsonrpc-test-stake-signer")))
	stakeSignerAddr   = crypto.PubkeyToAddress(stakeSignerKey.PublicKey)
)

// stakeSetup runs the real staking module (epochs of 10 blocks, a 1 EMC
// validator minimum) on block 3's state, in block 25 (epoch 2): devAddr
// stakes 100 EMC as a validator locked 30 epochs and sets a signer;
// otherAddr stakes 5 EMC for compute and unstakes 2 (released in epoch
// 2+1+7 = 10).
func stakeSetup(f *fakeBackend) {
	t := f.t
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: json.RawMessage(`{"minValidatorStakeWei":"1000000000000000000"}`)},
		map[string]native.Factory{staking.Name: staking.Factory(10)})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(native.StakingAddress)
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	f.mineState(func(st *ethstate.StateDB) {
		ch := nativetest.New(t, reg, nil)
		for addr, acct := range reg.GenesisAlloc() {
			st.SetCode(addr, acct.Code, tracing.CodeChangeGenesis)
			st.SetNonce(addr, acct.Nonce, tracing.NonceChangeGenesis)
		}
		st.AddBalance(otherAddr, uint256.NewInt(10*params.Ether), tracing.BalanceChangeUnspecified)
		ch.State, ch.Number = st, 25
		eth := func(n int64) *uint256.Int {
			return uint256.MustFromBig(new(big.Int).Mul(big.NewInt(n), big.NewInt(params.Ether)))
		}
		send := func(from common.Address, value *uint256.Int, method string, args ...any) {
			data, err := a.Pack(method, args...)
			if err != nil {
				t.Fatal(err)
			}
			if res, _ := ch.Apply(ch.Msg(from, &native.StakingAddress, value, data)); res.Err != nil {
				t.Fatalf("%s: %v", method, res.Err)
			}
		}
		send(devAddr, eth(100), "stake", uint8(staking.RoleValidator), uint8(2))
		consent, err := staking.SignSignerConsent(stakeSignerKey, ch.Config.ChainID, devAddr, 0)
		if err != nil {
			t.Fatal(err)
		}
		send(devAddr, nil, "setSigner", stakeSignerAddr, consent)
		send(otherAddr, eth(5), "stake", uint8(staking.RoleCompute), uint8(0))
		send(otherAddr, nil, "unstake", eth(2).ToBig())
	})
}

// TestStakeOfConcurrent: emc_stakeOf from many goroutines at once (each
// request opens its own state) agrees with the module's accessor.
func TestStakeOfConcurrent(t *testing.T) {
	_, b := newTestServer(t)
	stakeSetup(b)
	api := &emcAPI{b: b}
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			p, err := api.StakeOf(t.Context(), devAddr, nil)
			if err == nil && (p.Role == nil || *p.Role != "validator" || p.Signer != stakeSignerAddr || p.UnlockEpoch != 32) {
				err = errBadPosition
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

var errBadPosition = errorString("emc_stakeOf returned a wrong position")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestValidators: emc_validators lists the set in force with each
// validator's position; a validator without a validator position has no
// owner and zero stake.
func TestValidators(t *testing.T) {
	_, b := newTestServer(t)
	stakeSetup(b)
	api := &emcAPI{b: b}
	vs, err := api.Validators(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d validators, want 2", len(vs))
	}
	v := vs[0]
	hundred := new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))
	if v.Address != stakeSignerAddr || v.Owner == nil || *v.Owner != devAddr || v.Stake.ToInt().Cmp(hundred) != 0 ||
		v.Lock != 2 || v.LockMultiplierBps != 27_000 || v.Jailed {
		t.Errorf("validator 0 = %+v", v)
	}
	if v := vs[1]; v.Address != otherAddr || v.Owner != nil || v.Stake.ToInt().Sign() != 0 || v.Jailed {
		t.Errorf("validator 1 (a compute owner) = %+v", v)
	}
	out, err := json.Marshal(vs[0])
	if err != nil || !strings.Contains(string(out), `"stake":"0x56bc75e2d63100000"`) || !strings.Contains(string(out), `"jailed":false`) {
		t.Errorf("JSON %s %v", out, err)
	}
	p, err := api.StakeOf(t.Context(), devAddr, nil)
	if err != nil || p.Jailed {
		t.Errorf("stakeOf: %+v %v", p, err)
	}
}
