package jsonrpc

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common/hexutil"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// rewardsSetup runs the real staking and rewards modules (epochs of 10
// blocks) on the next block's state: devAddr stakes 100 EMC (no lock) in
// block 25, and the hooks of block 40 distribute staking epochs 0 … 3,
// of which only epoch 3 has weight: devAddr alone. It returns the budget
// devAddr is owed (the staking pool's per-epoch budget, less the
// accumulator's rounding).
func rewardsSetup(f *fakeBackend) *big.Int {
	t := f.t
	rm, err := rewards.Factory(10, staking.RewardsView{})(nil)
	if err != nil {
		t.Fatal(err)
	}
	f.rewards = rm.(*rewards.Module)
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: json.RawMessage(`{"minValidatorStakeWei":"1"}`)},
		map[string]native.Factory{staking.Name: staking.Factory(10), rewards.Name: func(json.RawMessage) (native.Module, error) { return rm, nil }})
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
			st.SetBalance(addr, uint256.MustFromBig(acct.Balance), tracing.BalanceIncreaseGenesisBalance)
			for k, v := range acct.Storage {
				st.SetState(addr, k, v)
			}
		}
		ch.State, ch.Number = st, 25
		hundred := uint256.MustFromBig(new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether)))
		data, _ := a.Pack("stake", uint8(staking.RoleCompute), uint8(0))
		if res, _ := ch.Apply(ch.Msg(devAddr, &native.StakingAddress, hundred, data)); res.Err != nil {
			t.Fatalf("stake: %v", res.Err)
		}
		if err := reg.BeginBlock(st, &native.BlockEnv{Number: 40, EpochLength: 10}); err != nil {
			t.Fatal(err)
		}
	})
	budget := rewards.DefaultModuleParams().StakingEpochWei.ToBig()
	w := new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))
	w.Mul(w, big.NewInt(10_000))
	rise := new(big.Int).Quo(new(big.Int).Mul(budget, rewards.AccScale()), w)
	return rise.Mul(rise, w).Quo(rise, rewards.AccScale())
}

func TestRewardsOfAndEpochInfo(t *testing.T) {
	_, b := newTestServer(t)
	api := &emcAPI{b: b}
	if _, err := api.EpochInfo(t.Context(), nil); err == nil || err != errNoRewards {
		t.Fatalf("epochInfo without the module: %v", err)
	}
	want := rewardsSetup(b)
	r, err := api.RewardsOf(t.Context(), devAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Staking.ToInt().Cmp(want) != 0 || r.Total.ToInt().Cmp(want) != 0 || r.Node.ToInt().Sign() != 0 || r.LongTerm.ToInt().Sign() != 0 ||
		r.Trade == nil || r.Trade.ToInt().Sign() != 0 || r.TradeVesting == nil || r.TradeVesting.ToInt().Sign() != 0 {
		t.Fatalf("rewardsOf %+v, want staking %s", r, want)
	}
	info, err := api.EpochInfo(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	head := b.CurrentHeader().Number.Uint64()
	k := (head - 1) / 10
	r1 := new(big.Int).Quo(rewards.EMC(4_500_000), big.NewInt(90))
	if uint64(info.Epoch) != k || uint64(info.FirstBlock) != 10*k+1 || uint64(info.LastBlock) != 10*k+10 ||
		info.Period != 1 || info.EpochReward.ToInt().Cmp(r1) != 0 || info.LastSettled != nil {
		t.Fatalf("epochInfo %+v", info)
	}
	left := new(big.Int).Sub(rewards.EMC(20_000_000), rewards.DefaultModuleParams().StakingEpochWei.ToBig())
	if info.Pools.Staking.ToInt().Cmp(left) != 0 || info.Pools.Trade.ToInt().Cmp(rewards.EMC(200_000_000)) != 0 {
		t.Fatalf("pools %+v", info.Pools)
	}
	// The JSON shape: hex quantities.
	raw, _ := json.Marshal(info)
	if !strings.Contains(string(raw), `"epochReward":"`+(*hexutil.Big)(r1).String()+`"`) {
		t.Fatalf("json %s", raw)
	}
}
