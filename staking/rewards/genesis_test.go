package rewards_test

import (
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// TestGenesisPositionsWeighFromEpochZero: genesis stakes weigh in the
// staking pools from epoch 0 without any transaction: alice (no lock, 1×)
// and bob (90 days, 6.2×) share epoch 0's staking budget by weight, and
// bob alone takes the long-term budget.
func TestGenesisPositionsWeighFromEpochZero(t *testing.T) {
	stakeA, stakeB := emc(1_000_000), emc(2_000_000)
	sp := `{"minValidatorStakeWei":"1","genesisStakes":[` +
		`{"owner":"` + alice.Hex() + `","amountWei":"` + stakeA.Dec() + `","lock":0},` +
		`{"owner":"` + bob.Hex() + `","amountWei":"` + stakeB.Dec() + `","lock":3}]}`
	st, err := staking.Factory(testL)(json.RawMessage(sp))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rewards.Factory(testL, staking.RewardsView{},
		rewards.GenesisPosition{Owner: alice, StakeWei: stakeA, Lock: rewards.LockNone},
		rewards.GenesisPosition{Owner: bob, StakeWei: stakeB, Lock: rewards.Lock90Days, UnlockEpoch: 90})(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rewards.Factory(testL, staking.RewardsView{}, rewards.GenesisPosition{Owner: alice})(nil); err == nil {
		t.Fatal("a genesis position without stake was accepted")
	}
	reg, err := native.NewRegistry(st, m)
	if err != nil {
		t.Fatal(err)
	}
	c := nativetest.New(t, reg, types.GenesisAlloc{})
	for n := uint64(1); n <= testL; n++ { // block testL distributes epoch 0
		c.Number = n
		env := &native.BlockEnv{Number: n, EpochLength: testL}
		if err := reg.BeginBlock(c.State, env); err != nil {
			t.Fatal(err)
		}
		if err := reg.EndBlock(c.State, env); err != nil {
			t.Fatal(err)
		}
	}
	p := rewards.DefaultModuleParams()
	wA := new(uint256.Int).Set(stakeA)                                                               // 1×
	wB := new(uint256.Int).Div(new(uint256.Int).Mul(stakeB, uint256.NewInt(62)), uint256.NewInt(10)) // 6.2×
	total := new(uint256.Int).Add(wA, wB)
	share := func(w *uint256.Int) *uint256.Int {
		return new(uint256.Int).Div(new(uint256.Int).Mul(p.StakingEpochWei, w), total)
	}
	ra, rb := rewards.RewardsOf(c.State, alice), rewards.RewardsOf(c.State, bob)
	if !ra.StakingWei.Eq(share(wA)) || !rb.StakingWei.Eq(share(wB)) {
		t.Fatalf("staking pool shares %s / %s, want %s / %s", ra.StakingWei, rb.StakingWei, share(wA), share(wB))
	}
	// The accumulator rounds its rise down: bob may be a wei short, which
	// stays in the pool as dust.
	lowB := new(uint256.Int).SubUint64(p.LongTermEpochWei, 1)
	if !ra.LongTermWei.IsZero() || rb.LongTermWei.Gt(p.LongTermEpochWei) || rb.LongTermWei.Lt(lowB) {
		t.Fatalf("long-term shares %s / %s, want 0 / %s", ra.LongTermWei, rb.LongTermWei, p.LongTermEpochWei)
	}
	// Weights are wei × multiplier in basis points.
	if got, want := rewards.StakePositionOf(c.State, rewards.PoolStaking, common.Address(alice)).Weight,
		new(uint256.Int).Mul(wA, uint256.NewInt(rewards.MultiplierScale)); !got.Eq(want) {
		t.Fatalf("alice's weight %s, want %s", got, want)
	}
	b := rewards.CheckBalances(c.State)
	if !b.BalanceWei.Eq(b.AccountedWei) {
		t.Fatalf("module balance %s != accounted %s", b.BalanceWei, b.AccountedWei)
	}
}
