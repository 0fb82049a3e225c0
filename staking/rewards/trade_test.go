package rewards_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"testing/quick"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// TestTradeRewardFormula pins Ru and Rp of a 1 EMC fee in periods 1 and 2
// (docs/economics.md, "Trade rewards"): period 1 pays the whole fee,
// ⌊F·2/π⌋ to the user; period 2 pays T = ⌊F·R(2)/R(1)⌋ split by
// df(2) = 2.25/π.
func TestTradeRewardFormula(t *testing.T) {
	s, err := rewards.NewSchedule(rewards.DefaultEmissionParams())
	if err != nil {
		t.Fatal(err)
	}
	fee := rewards.EMC(1)
	for _, c := range []struct {
		epoch      uint64
		user, prov string
	}{
		{0, "636618283677107206", "363381716322892794"},
		{89, "636618283677107206", "363381716322892794"},
		{90, "512936093251106956", "203259475885638651"},
	} {
		u, p := s.TradeReward(fee, c.epoch)
		if u.String() != c.user || p.String() != c.prov {
			t.Errorf("epoch %d: Ru %s Rp %s, want %s %s", c.epoch, u, p, c.user, c.prov)
		}
	}
	// P(n) decays: at epoch 2^40 (period 126) a 1 EMC fee earns 1.8 gwei;
	// a 1 wei fee in period 2 rounds down to nothing.
	if u, p := s.TradeReward(fee, 1<<40); new(big.Int).Add(u, p).String() != "1816483298" {
		t.Errorf("epoch 2^40: %s %s", u, p)
	}
	if u, p := s.TradeReward(big.NewInt(1), 90); u.Sign() != 0 || p.Sign() != 0 {
		t.Errorf("1 wei in period 2: %s %s", u, p)
	}
	for _, f := range []*big.Int{nil, big.NewInt(0), big.NewInt(-5)} {
		if u, p := s.TradeReward(f, 0); u.Sign() != 0 || p.Sign() != 0 {
			t.Errorf("fee %v: %s %s", f, u, p)
		}
	}
}

// TestTradeRewardProperties: for any fee and epoch, Ru + Rp ≤ fee, both
// are ≥ 0, and the total never grows from one epoch to a later one.
func TestTradeRewardProperties(t *testing.T) {
	s, err := rewards.NewSchedule(rewards.DefaultEmissionParams())
	if err != nil {
		t.Fatal(err)
	}
	prop := func(feeLo uint64, feeHi uint32, e1, e2 uint16) bool {
		fee := new(big.Int).Lsh(new(big.Int).SetUint64(uint64(feeHi)), 64)
		fee.Add(fee, new(big.Int).SetUint64(feeLo))
		a, b := uint64(min(e1, e2)), uint64(max(e1, e2))
		u1, p1 := s.TradeReward(fee, a)
		u2, p2 := s.TradeReward(fee, b)
		t1, t2 := new(big.Int).Add(u1, p1), new(big.Int).Add(u2, p2)
		return u1.Sign() >= 0 && p1.Sign() >= 0 && u2.Sign() >= 0 && p2.Sign() >= 0 &&
			t1.Cmp(fee) <= 0 && t2.Cmp(t1) <= 0
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 2000}); err != nil {
		t.Fatal(err)
	}
}

// TestTradeVestEpoch pins the vesting windows of V = 7: epochs 0–6 vest
// at 14, 7–13 at 21 (between V+1 and 2V epochs later).
func TestTradeVestEpoch(t *testing.T) {
	p := rewards.DefaultTradeParams()
	for _, c := range []struct{ k, want uint64 }{{0, 14}, {6, 14}, {7, 21}, {13, 21}, {14, 28}} {
		if got := p.VestEpoch(c.k); got != c.want {
			t.Errorf("VestEpoch(%d) = %d, want %d", c.k, got, c.want)
		}
		if d := p.VestEpoch(c.k) - c.k; d < p.VestingEpochs+1 || d > 2*p.VestingEpochs {
			t.Errorf("epoch %d vests %d later", c.k, d)
		}
	}
}

// TestTradeParams: the "trade" section parses, defaults fill the rest, and
// bad values are refused.
func TestTradeParams(t *testing.T) {
	p, err := rewards.ParseModuleParams(json.RawMessage(`{"trade":{"vestingEpochs":3,"pairEpochCapWei":"0x10"}}`), 10)
	if err != nil {
		t.Fatal(err)
	}
	d := rewards.DefaultTradeParams()
	if p.Trade.VestingEpochs != 3 || !p.Trade.PairEpochCapWei.Eq(uint256.NewInt(16)) ||
		!p.Trade.AccountEpochCapWei.Eq(d.AccountEpochCapWei) || !p.Trade.EpochCapWei.Eq(d.EpochCapWei) {
		t.Fatalf("parsed %+v", p.Trade)
	}
	for _, raw := range []string{
		`{"trade":{"vestingEpochs":0}}`,
		`{"trade":{"vestingEpochs":2000000}}`,
		`{"trade":{"epochCapWei":"-1"}}`,
		`{"trade":{"accountEpochCapWei":"0x1000000000000000000000000000000000"}}`,
		`{"trade":{"vesting":3}}`,
	} {
		if _, err := rewards.ParseModuleParams(json.RawMessage(raw), 10); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// TestTradeHostAPIsRefuseOutsiders: the host APIs are open to other
// chain-native modules only.
func TestTradeHostAPIsRefuseOutsiders(t *testing.T) {
	m, err := rewards.NewModule(rewards.DefaultModuleParams(), staking.RewardsView{})
	if err != nil {
		t.Fatal(err)
	}
	outsider := &native.Call{Module: native.RewardsAddress, Value: new(uint256.Int)}
	if _, err := m.RewardTrade(outsider, native.StakingAddress, native.JobsAddress, uint256.NewInt(1)); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("RewardTrade: %v", err)
	}
	if err := m.RouterAccepted(nil, native.JobsAddress); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("RouterAccepted: %v", err)
	}
	if _, err := m.ComputeJobDone(outsider, native.JobsAddress); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ComputeJobDone: %v", err)
	}
	if _, err := m.ForfeitComputeCredits(outsider, native.JobsAddress); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ForfeitComputeCredits: %v", err)
	}
	if _, err := m.ForfeitComputeCredits(&native.Call{Module: common.HexToAddress("0x99")}, native.JobsAddress); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ForfeitComputeCredits from a non-module: %v", err)
	}
	if _, err := rewards.ForfeitTrade(&native.Call{Module: native.JobsAddress}, native.JobsAddress); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ForfeitTrade: %v", err)
	}
}

// TestSlashForfeitsTrade: a double-sign slash of v1 forfeits v1's unvested
// trade rewards back to the pool (TradeForfeited in the report's logs);
// alice's, earned on the same trade, are untouched; v1's vested part
// stays claimable.
func TestSlashForfeitsTrade(t *testing.T) {
	f := newFixtureWith(t, `{"minValidatorStakeWei":"1","minRouterStakeWei":"1","slashFractionBps":5000}`,
		`{"trade":{"vestingEpochs":2}}`)
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("trade-slash")))
	if err != nil {
		t.Fatal(err)
	}
	signer := crypto.PubkeyToAddress(key.PublicKey)
	f.block(1, nil, nil)
	f.stake(v1, staking.RoleValidator, rewards.LockNone, emc(100))
	consent, err := staking.SignSignerConsent(key, f.Config.ChainID, v1, staking.SignerNonce(f.State, signer))
	if err != nil {
		t.Fatal(err)
	}
	f.must(stakingAddr, f.stABI, v1, nil, "setSigner", signer, consent)
	fee := emc(1).ToBig()
	f.must(jobsAddr, f.jobABI, alice, nil, "trade", alice, v1, fee) // epoch 0: vests at epoch 4
	f.Number = 4*testL + 1
	f.block(f.Number, nil, nil)
	f.must(jobsAddr, f.jobABI, alice, nil, "trade", alice, v1, fee) // epoch 4: vests at 8
	k := rewards.RewardEpoch(f.Number, testL)
	v1r, alr := rewards.TradeRewardsOf(f.State, v1, k), rewards.TradeRewardsOf(f.State, alice, k)
	if v1r.VestedWei.IsZero() || v1r.UnvestedWei.IsZero() || alr.UnvestedWei.IsZero() {
		t.Fatalf("before the slash: v1 %+v alice %+v", v1r, alr)
	}
	pool := rewards.PoolsOf(f.State).TradeWei.Clone()
	logs := f.must(stakingAddr, f.stABI, carol, nil, "reportDoubleSign", signedMsg(t, key, f.Number-1, 1), signedMsg(t, key, f.Number-1, 2))
	ev := f.abi.Events["TradeForfeited"]
	found := false
	for _, l := range logs {
		if l.Address == rewardsAddr && l.Topics[0] == ev.ID && l.Topics[1] == common.BytesToHash(v1[:]) {
			vals, _ := ev.Inputs.NonIndexed().Unpack(l.Data)
			found = vals[0].(*big.Int).Cmp(v1r.UnvestedWei.ToBig()) == 0
		}
	}
	if !found {
		t.Fatalf("no TradeForfeited(v1, %s) in %v", v1r.UnvestedWei, logs)
	}
	if got := new(uint256.Int).Sub(rewards.PoolsOf(f.State).TradeWei, pool); !got.Eq(v1r.UnvestedWei) {
		t.Fatalf("pool got back %s, want %s", got, v1r.UnvestedWei)
	}
	after := rewards.TradeRewardsOf(f.State, v1, k)
	if !after.VestedWei.Eq(v1r.VestedWei) || !after.UnvestedWei.IsZero() {
		t.Fatalf("v1 after the slash %+v", after)
	}
	if got := rewards.TradeRewardsOf(f.State, alice, k); !got.UnvestedWei.Eq(alr.UnvestedWei) {
		t.Fatalf("alice after v1's slash %+v", got)
	}
	if got := f.claim(v1); got.Lt(v1r.VestedWei) {
		t.Fatalf("v1 claimed %s, vested %s", got, v1r.VestedWei)
	}
}

// FuzzTradeReward: under any valid emission params, fee and epoch, the
// trade reward is never negative and never more than the fee.
func FuzzTradeReward(f *testing.F) {
	f.Add(uint64(1_000_000_000), uint64(0), uint64(90), uint64(4), uint64(31416), uint64(10000))
	f.Add(uint64(1), uint64(1<<40), uint64(1), uint64(1), uint64(3), uint64(1))
	f.Fuzz(func(t *testing.T, fee, epoch, periodEpochs, perGroup, piNum, piDen uint64) {
		p := rewards.DefaultEmissionParams()
		p.PeriodEpochs, p.PeriodsPerGroup, p.PiNumerator, p.PiDenominator = periodEpochs, perGroup, piNum, piDen
		s, err := rewards.NewSchedule(p)
		if err != nil {
			return
		}
		feeWei := new(big.Int).SetUint64(fee)
		u, pr := s.TradeReward(feeWei, epoch)
		if u.Sign() < 0 || pr.Sign() < 0 || new(big.Int).Add(u, pr).Cmp(feeWei) > 0 {
			t.Fatalf("fee %d epoch %d: Ru %s Rp %s", fee, epoch, u, pr)
		}
	})
}
