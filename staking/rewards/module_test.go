// Module tests run the rewards module with the staking module through a
// real go-ethereum EVM and StateDB (state/native/nativetest), driving the
// block hooks the way the chain does: BeginBlock, the block's
// transactions, EndBlock.
package rewards_test

import (
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

const testL = 10 // epoch length in blocks

var (
	stakingAddr = native.StakingAddress
	rewardsAddr = native.RewardsAddress
	jobsAddr    = native.JobsAddress
	// Four validator owners; v4 signs with a separate key.
	v1, v2, v3, v4 = addr(0xa1), addr(0xa2), addr(0xa3), addr(0xa4)
	v4signerKey, _ = crypto.ToECDSA(crypto.Keccak256([]byte("rewards-test-v4signer")))
	v4signer       = crypto.PubkeyToAddress(v4signerKey.PublicKey) // has a key: setSigner needs its consent
	alice, bob     = addr(0xb1), addr(0xb2)
	carol          = addr(0xb3) // holds nothing in the module
)

func addr(b byte) common.Address { return common.Address{19: b, 0: 0xee} }

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

// jobsABI is a stand-in for a module that reports proof-of-work credits
// through the AddCredits host API.
const jobsABI = `[
 {"type":"function","name":"report","stateMutability":"nonpayable","inputs":[{"name":"owner","type":"address"},{"name":"credits","type":"uint64"}],"outputs":[]},
 {"type":"function","name":"trade","stateMutability":"nonpayable","inputs":[{"name":"user","type":"address"},{"name":"provider","type":"address"},{"name":"fee","type":"uint256"}],"outputs":[]}
]`

type jobsModule struct{ r *rewards.Module }

func (j *jobsModule) Name() string            { return "jobs" }
func (j *jobsModule) Address() common.Address { return jobsAddr }
func (j *jobsModule) ABI() string             { return jobsABI }
func (j *jobsModule) Methods() []native.Method {
	return []native.Method{{Name: "report", Gas: rewards.AddCreditsGas + 1000, Mutates: true,
		Handler: func(c *native.Call, args []any) ([]any, error) {
			return nil, j.r.AddCredits(c, args[0].(common.Address), args[1].(uint64))
		}},
		{Name: "trade", Gas: rewards.RewardTradeGas + 1000, Mutates: true,
			Handler: func(c *native.Call, args []any) ([]any, error) {
				_, err := j.r.RewardTrade(c, args[0].(common.Address), args[1].(common.Address), uint256.MustFromBig(args[2].(*big.Int)))
				return nil, err
			}},
	}
}

type fixture struct {
	*nativetest.Chain
	t                  *testing.T
	mod                *rewards.Module
	abi, stABI, jobABI abi.ABI
}

// newFixture builds a chain with staking (any stake may validate),
// rewards (params as JSON, "" for defaults) and the test jobs module.
func newFixture(t *testing.T, params string) *fixture {
	t.Helper()
	return newFixtureWith(t, `{"minValidatorStakeWei":"1","minRouterStakeWei":"1"}`, params)
}

// newFixtureWith builds the chain with the given staking params and
// rewards params, and the rewards module's genesis positions.
func newFixtureWith(t *testing.T, stakingParams, params string, genesis ...rewards.GenesisPosition) *fixture {
	t.Helper()
	var raw json.RawMessage
	if params != "" {
		raw = json.RawMessage(params)
	}
	st, err := staking.Factory(testL)(json.RawMessage(stakingParams))
	if err != nil {
		t.Fatal(err)
	}
	m, err := rewards.Factory(testL, staking.RewardsView{}, genesis...)(raw)
	if err != nil {
		t.Fatal(err)
	}
	mod := m.(*rewards.Module)
	reg, err := native.NewRegistry(st, mod, &jobsModule{r: mod})
	if err != nil {
		t.Fatal(err)
	}
	alloc := types.GenesisAlloc{}
	for _, a := range []common.Address{v1, v2, v3, v4, v4signer, alice, bob, carol} {
		alloc[a] = types.Account{Balance: emc(10_000_000).ToBig()}
	}
	f := &fixture{Chain: nativetest.New(t, reg, alloc), t: t, mod: mod}
	f.Number = 0
	for _, x := range []struct {
		dst *abi.ABI
		src string
	}{{&f.abi, m.ABI()}, {&f.stABI, st.ABI()}, {&f.jobABI, jobsABI}} {
		if *x.dst, err = abi.JSON(strings.NewReader(x.src)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// block starts block n: BeginBlock with the parent's signers and the
// block's validator set (then the caller's transactions, then end).
func (f *fixture) block(n uint64, parentSigners, validators []common.Address) {
	f.t.Helper()
	f.Number = n
	env := &native.BlockEnv{Number: n, EpochLength: testL, ParentSigners: parentSigners, Validators: validators}
	if err := f.Registry.BeginBlock(f.State, env); err != nil {
		f.t.Fatalf("BeginBlock %d: %v", n, err)
	}
	if err := f.Registry.EndBlock(f.State, env); err != nil {
		f.t.Fatalf("EndBlock %d: %v", n, err)
	}
	f.State.Finalise(f.Rules())
	f.checkBalances()
}

func (f *fixture) checkBalances() {
	f.t.Helper()
	b := rewards.CheckBalances(f.State)
	if !b.BalanceWei.Eq(b.AccountedWei) {
		f.t.Fatalf("block %d: module balance %s != accounted %s", f.Number, b.BalanceWei, b.AccountedWei)
	}
}

func (f *fixture) send(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) (*nativetest.Chain, error, []byte, []*types.Log) {
	f.t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	res, logs := f.Apply(f.Msg(from, &to, value, data))
	f.checkBalances()
	return f.Chain, res.Err, res.ReturnData, logs
}

func (f *fixture) must(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) []*types.Log {
	f.t.Helper()
	_, err, ret, logs := f.send(to, a, from, value, name, args...)
	if err != nil {
		reason, _ := abi.UnpackRevert(ret)
		f.t.Fatalf("%s: %v %q", name, err, reason)
	}
	return logs
}

func (f *fixture) mustRevert(want error, from common.Address, name string) {
	f.t.Helper()
	_, err, ret, logs := f.send(rewardsAddr, f.abi, from, nil, name)
	if !errors.Is(err, vm.ErrExecutionReverted) {
		f.t.Fatalf("%s: err %v, want revert %q", name, err, want)
	}
	if reason, _ := abi.UnpackRevert(ret); !strings.HasPrefix(reason, want.Error()) {
		f.t.Fatalf("%s: reason %q, want %q", name, reason, want)
	}
	if len(logs) != 0 {
		f.t.Fatalf("%s: logs on revert", name)
	}
}

func (f *fixture) stake(from common.Address, role staking.Role, lock rewards.Lock, amount *uint256.Int) {
	f.t.Helper()
	f.must(stakingAddr, f.stABI, from, amount, "stake", uint8(role), uint8(lock))
}

// claim claims as from and returns what the module paid (the balance
// change plus the fee).
func (f *fixture) claim(from common.Address) *uint256.Int {
	f.t.Helper()
	before := f.State.GetBalance(from).Clone()
	data, _ := f.abi.Pack("claim")
	res, logs := f.Apply(f.Msg(from, &rewardsAddr, nil, data))
	if res.Err != nil {
		reason, _ := abi.UnpackRevert(res.ReturnData)
		f.t.Fatalf("claim: %v %q", res.Err, reason)
	}
	f.checkBalances()
	got := new(uint256.Int).Sub(f.State.GetBalance(from), before)
	got.Add(got, nativetest.Fee(res.UsedGas))
	ev := f.abi.Events["Claimed"]
	if len(logs) != 1 || logs[0].Topics[0] != ev.ID || logs[0].Topics[1] != common.BytesToHash(from[:]) {
		f.t.Fatalf("claim: logs %v", logs)
	}
	vals, err := ev.Inputs.NonIndexed().Unpack(logs[0].Data)
	if err != nil || uint256.MustFromBig(vals[0].(*big.Int)).Cmp(got) != 0 {
		f.t.Fatalf("Claimed amount %v, paid %s (%v)", vals, got, err)
	}
	return got
}

func bigOf(v *uint256.Int) *big.Int { return v.ToBig() }

func TestGenesisState(t *testing.T) {
	f := newFixture(t, "")
	p := rewards.DefaultModuleParams()
	want := p.GenesisBalanceWei()
	if got := f.State.GetBalance(rewardsAddr); !got.Eq(want) || !want.Eq(emc(370_000_000)) {
		t.Fatalf("genesis balance %s, want %s (370M EMC)", got, want)
	}
	pools := rewards.PoolsOf(f.State)
	for _, c := range []struct{ got, want *uint256.Int }{
		{pools.NodeWei, emc(100_000_000)}, {pools.TradeWei, emc(200_000_000)},
		{pools.StakingWei, emc(20_000_000)}, {pools.LongTermWei, emc(50_000_000)},
		{pools.NodeDustWei, new(uint256.Int)},
	} {
		if !c.got.Eq(c.want) {
			t.Errorf("pool %s, want %s", c.got, c.want)
		}
	}
	f.checkBalances()
	if p.StakingEpochWei.Dec() != "13689253935660506502395" || p.LongTermEpochWei.Dec() != "34223134839151266255989" {
		t.Errorf("default budgets %s %s", p.StakingEpochWei.Dec(), p.LongTermEpochWei.Dec())
	}
}

// runEpochs runs blocks from..to with the four validators' set; signers(n)
// gives block n's parent signers.
func (f *fixture) run(from, to uint64, set []common.Address, signers func(n uint64) []common.Address) {
	for n := from; n <= to; n++ {
		f.block(n, signers(n), set)
	}
}

// TestNodeRewardEpoch: 4 validators with different stakes; v4 (signing
// with a separate key) seals only 6 of epoch 1's 10 certificates (< 2/3)
// and earns nothing; a compute node reports credits through the host API.
// The paid amounts equal the white paper's formula to the wei.
func TestNodeRewardEpoch(t *testing.T) {
	f := newFixture(t, "")
	set := []common.Address{v1, v2, v3, v4signer}
	all := func(uint64) []common.Address { return set }
	f.block(1, nil, set)
	stakes := map[common.Address]*uint256.Int{v1: emc(1_000_000), v2: emc(2_000_000), v3: emc(3_000_000), v4: emc(4_000_000)}
	for _, v := range []common.Address{v1, v2, v3, v4} {
		f.stake(v, staking.RoleValidator, rewards.LockNone, stakes[v])
	}
	consent, err := staking.SignSignerConsent(v4signerKey, f.Config.ChainID, v4, staking.SignerNonce(f.State, v4signer))
	if err != nil {
		t.Fatal(err)
	}
	f.must(stakingAddr, f.stABI, v4, nil, "setSigner", v4signer, consent)
	f.stake(alice, staking.RoleCompute, rewards.LockNone, emc(500_000))
	f.run(2, 10, set, all)

	// Epoch 1: blocks 11..20; its seals arrive in blocks 12..21.
	f.block(11, set, set) // settles epoch 0: no stake was effective, nothing paid
	if p := rewards.PoolsOf(f.State); !p.NodeWei.Eq(emc(100_000_000)) || !rewards.AccruedTotal(f.State).IsZero() {
		t.Fatalf("after epoch 0: node pool %s accrued %s", p.NodeWei, rewards.AccruedTotal(f.State))
	}
	f.must(jobsAddr, f.jobABI, carol, nil, "report", alice, uint64(150))
	f.run(12, 21, set, func(n uint64) []common.Address {
		if n <= 16 { // blocks 11..15 lack v4's seal: v4 has 6 of 10
			return set[:3]
		}
		return set
	})
	// Formula: r = R(1)/90 = 50,000 EMC; share_i = ⌊r·E_i·s_i / Σ E_j·s_j⌋.
	r := new(big.Int).Quo(rewards.EMC(4_500_000), big.NewInt(90))
	works := []struct {
		owner   common.Address
		credits int64
		stake   *uint256.Int
	}{{v1, 200, stakes[v1]}, {v2, 200, stakes[v2]}, {v3, 200, stakes[v3]}, {alice, 150, emc(500_000)}}
	sum := new(big.Int)
	for _, w := range works {
		sum.Add(sum, new(big.Int).Mul(big.NewInt(w.credits), bigOf(w.stake)))
	}
	paid := new(big.Int)
	for _, w := range works {
		want := new(big.Int).Mul(big.NewInt(w.credits), bigOf(w.stake))
		want.Mul(want, r).Quo(want, sum)
		paid.Add(paid, want)
		docShows(t, want)
		if got := rewards.NodeAccrued(f.State, w.owner); got.ToBig().Cmp(want) != 0 {
			t.Errorf("%s accrued %s, want %s", w.owner, got, want)
		}
	}
	docShows(t, paid, new(big.Int).Sub(r, paid))
	if got := rewards.NodeAccrued(f.State, v4); !got.IsZero() {
		t.Errorf("v4 (6/10 seals) accrued %s", got)
	}
	if got := rewards.NodeAccrued(f.State, v4signer); !got.IsZero() {
		t.Errorf("v4's signer accrued %s", got)
	}
	dust := new(big.Int).Sub(r, paid)
	p := rewards.PoolsOf(f.State)
	if p.NodeDustWei.ToBig().Cmp(dust) != 0 || p.NodeWei.ToBig().Cmp(new(big.Int).Sub(rewards.EMC(100_000_000), r)) != 0 {
		t.Errorf("dust %s (want %s), node pool %s", p.NodeDustWei, dust, p.NodeWei)
	}
	if e, rw, ok := rewards.LastSettlement(f.State); !ok || e != 1 || rw.ToBig().Cmp(r) != 0 {
		t.Errorf("last settlement %d %s %v", e, rw, ok)
	}
	// Epoch 1's records are gone; epoch 2's set is recorded.
	if c := rewards.CountsOf(f.State, 1); c.Certs != 0 || len(c.Set) != 0 || len(rewards.LedgerOf(f.State, 1)) != 0 {
		t.Errorf("epoch 1 records left: %+v", c)
	}
	if c := rewards.CountsOf(f.State, 2); len(c.Set) != 4 || c.Set[3].Owner != v4 || !c.Set[3].StakeWei.Eq(stakes[v4]) {
		t.Errorf("epoch 2 set %+v", c.Set)
	}

	// Claims: the owner is paid its share exactly once; others get nothing.
	// (v1's stake also earned from the staking pool in epoch 1.)
	want := rewards.RewardsOf(f.State, v1)
	if want.StakingWei.IsZero() || !want.LongTermWei.IsZero() || !want.NodeWei.Eq(rewards.NodeAccrued(f.State, v1)) {
		t.Fatalf("v1 rewards %+v", want)
	}
	if got := f.claim(v1); !got.Eq(want.TotalWei) {
		t.Fatalf("v1 claimed %s, want %s", got, want.TotalWei)
	}
	f.mustRevert(rewards.ErrNothingToClaim, v1, "claim")
	f.mustRevert(rewards.ErrNothingToClaim, carol, "claim")
	f.mustRevert(rewards.ErrNothingToClaim, v4signer, "claim")
	if got := rewards.NodeAccrued(f.State, v2); got.IsZero() {
		t.Fatal("v2's reward went with v1's claim")
	}

	// The second epoch carries the dust: r + dust.
	f.run(22, 31, set, all)
	if _, rw, _ := rewards.LastSettlement(f.State); rw.ToBig().Cmp(new(big.Int).Add(r, dust)) != 0 {
		t.Errorf("epoch 2 reward %s, want r + dust %s", rw, new(big.Int).Add(r, dust))
	}
}

// TestSettlementOnce: replaying a block's hooks changes nothing; skipping
// blocks settles each epoch at most once and pays nothing for epochs never
// counted.
func TestSettlementOnce(t *testing.T) {
	f := newFixture(t, "")
	set := []common.Address{v1, v2, v3}
	all := func(uint64) []common.Address { return set }
	f.block(1, nil, set)
	for _, v := range set {
		f.stake(v, staking.RoleValidator, rewards.LockNone, emc(1_000_000))
	}
	f.run(2, 21, set, all)
	root := f.Root()
	accrued := rewards.AccruedTotal(f.State).Clone()
	if accrued.IsZero() {
		t.Fatal("nothing accrued in epoch 1")
	}
	f.block(21, set, set) // replay
	f.block(20, set, set) // an older block again
	f.block(11, set, set) // a settlement block again
	if f.Root() != root {
		t.Fatal("replayed hooks changed state")
	}
	// Skip blocks 22..40: epoch 2 (started, never settled) and epoch 3
	// (its set never recorded) pay nothing; the pool keeps their emission
	// (and takes back the dust epoch 3 carried but could not pay).
	p := rewards.PoolsOf(f.State)
	pool := new(uint256.Int).Add(p.NodeWei, p.NodeDustWei)
	f.block(41, set, set)
	if got := rewards.NextSettle(f.State); got != 4 {
		t.Fatalf("next settle %d, want 4", got)
	}
	if got := rewards.AccruedTotal(f.State); !got.Eq(accrued) {
		t.Fatalf("accrued %s after skipped epochs, want %s", got, accrued)
	}
	if p := rewards.PoolsOf(f.State); !p.NodeWei.Eq(pool) || !p.NodeDustWei.IsZero() {
		t.Fatalf("node pool %s dust %s, want %s", p.NodeWei, p.NodeDustWei, pool)
	}
}

// TestStakingRewards: the 20M pool weighs stake × lock multiplier, the 50M
// pool only locks ≥ 90 days; changes count from the next epoch; budgets
// never exceed what is left in the pools.
func TestStakingRewards(t *testing.T) {
	// Staking pool 2,500 EMC at 1,000 EMC an epoch; long-term 7 at 3.
	f := newFixture(t, `{"stakingWei":"2500000000000000000000","stakingEpochWei":"1000000000000000000000",
		"longTermStakingWei":"7","longTermEpochWei":"3"}`)
	f.block(1, nil, nil)
	f.stake(alice, staking.RoleCompute, rewards.LockNone, emc(100))
	f.block(5, nil, nil)
	f.stake(bob, staking.RoleCompute, rewards.Lock90Days, emc(300))
	f.run(6, 9, nil, func(uint64) []common.Address { return nil })
	f.block(10, nil, nil) // epoch 0 distributed: nothing was effective, budget stays
	if p := rewards.PoolsOf(f.State); !p.StakingWei.Eq(emc(2500)) || !p.LongTermWei.Eq(uint256.NewInt(7)) {
		t.Fatalf("after epoch 0: pools %s %s", p.StakingWei, p.LongTermWei)
	}
	if r := rewards.RewardsOf(f.State, alice); !r.TotalWei.IsZero() {
		t.Fatalf("alice owed %s before any effective epoch", r.TotalWei)
	}
	f.run(11, 19, nil, func(uint64) []common.Address { return nil })
	f.block(20, nil, nil) // epoch 1 distributed
	scale := rewards.AccScale()
	wa := new(big.Int).Mul(rewards.EMC(100), big.NewInt(10_000))
	wb := new(big.Int).Mul(rewards.EMC(300), big.NewInt(62_000))
	budget := rewards.EMC(1000)
	rise := func(b, w *big.Int) *big.Int { return new(big.Int).Quo(new(big.Int).Mul(b, scale), w) }
	owe := func(r, w *big.Int) *big.Int { return new(big.Int).Quo(new(big.Int).Mul(r, w), scale) }
	r1 := rise(budget, new(big.Int).Add(wa, wb))
	lt1 := rise(big.NewInt(3), wb)
	check := func(who common.Address, stakingWei, longWei *big.Int) {
		t.Helper()
		r := rewards.RewardsOf(f.State, who)
		if r.StakingWei.ToBig().Cmp(stakingWei) != 0 || r.LongTermWei.ToBig().Cmp(longWei) != 0 {
			t.Fatalf("%s owed %s + %s, want %s + %s", who, r.StakingWei, r.LongTermWei, stakingWei, longWei)
		}
	}
	check(alice, owe(r1, wa), big.NewInt(0))
	check(bob, owe(r1, wb), owe(lt1, wb))
	docShows(t, owe(r1, wa), owe(r1, wb), owe(lt1, wb))

	// alice unstakes half in epoch 2: epoch 2 still counts 100 EMC.
	f.block(25, nil, nil)
	f.must(stakingAddr, f.stABI, alice, nil, "unstake", emc(50).ToBig())
	// alice claims mid-epoch: epoch 1's share exactly.
	if got := f.claim(alice); got.ToBig().Cmp(owe(r1, wa)) != 0 {
		t.Fatalf("alice claimed %s, want %s", got, owe(r1, wa))
	}
	f.mustRevert(rewards.ErrNothingToClaim, alice, "claim")
	f.block(30, nil, nil) // epoch 2: same weights
	f.block(40, nil, nil) // epoch 3: alice at 50 EMC, and only 500 EMC left in the pool
	wa3 := new(big.Int).Mul(rewards.EMC(50), big.NewInt(10_000))
	// The accumulator rounds each rise down and carries the remainder.
	acc := new(big.Int).Set(r1)
	dust := new(big.Int).Sub(new(big.Int).Mul(budget, scale), new(big.Int).Mul(r1, new(big.Int).Add(wa, wb)))
	step := func(b, w *big.Int) *big.Int {
		num := new(big.Int).Add(new(big.Int).Mul(b, scale), dust)
		q, m := new(big.Int).QuoRem(num, w, new(big.Int))
		dust = m
		acc.Add(acc, q)
		return q
	}
	r2 := step(budget, new(big.Int).Add(wa, wb))
	r3 := step(rewards.EMC(500), new(big.Int).Add(wa3, wb))
	aliceOwed := new(big.Int).Add(new(big.Int).Mul(r2, wa), new(big.Int).Mul(r3, wa3))
	aliceOwed.Add(aliceOwed, new(big.Int).Mod(new(big.Int).Mul(r1, wa), scale)) // sub-wei kept from the claim
	check(alice, aliceOwed.Quo(aliceOwed, scale), big.NewInt(0))
	bobOwed := new(big.Int).Mul(new(big.Int).Add(new(big.Int).Add(r1, r2), r3), wb)
	// Long-term: 3 + 3 + 1 (what is left) over bob alone.
	ltAcc := new(big.Int).Add(lt1, big.NewInt(0))
	ltDust := new(big.Int).Sub(big.NewInt(3).Mul(big.NewInt(3), scale), new(big.Int).Mul(lt1, wb))
	for _, b := range []int64{3, 1} {
		num := new(big.Int).Add(new(big.Int).Mul(big.NewInt(b), scale), ltDust)
		q, m := new(big.Int).QuoRem(num, wb, new(big.Int))
		ltDust = m
		ltAcc.Add(ltAcc, q)
	}
	check(bob, bobOwed.Quo(bobOwed, scale), owe(ltAcc, wb))
	if p := rewards.PoolsOf(f.State); !p.StakingWei.IsZero() || !p.LongTermWei.IsZero() {
		t.Fatalf("pools not spent: %s %s", p.StakingWei, p.LongTermWei)
	}
	f.block(50, nil, nil) // nothing left: nothing more is owed
	check(bob, new(big.Int).Quo(new(big.Int).Mul(new(big.Int).Add(new(big.Int).Add(r1, r2), r3), wb), scale), owe(ltAcc, wb))

	// Conservation per pool: outstanding·scale == Σ owed (scaled) + dust.
	for p := uint64(0); p < 2; p++ {
		sumOwed := new(big.Int)
		for _, who := range []common.Address{alice, bob} {
			pos := rewards.StakePositionOf(f.State, p, who)
			owed := new(big.Int).Set(pos.CreditScaled.ToBig())
			if p == rewards.PoolStaking {
				if who == alice {
					owed.Add(owed, new(big.Int).Add(new(big.Int).Mul(r2, wa), new(big.Int).Mul(r3, wa3)))
				} else if pos.Settled < 5 {
					owed.Add(owed, new(big.Int).Mul(new(big.Int).Add(new(big.Int).Add(r1, r2), r3), wb))
				}
			} else if who == bob {
				owed.Add(owed, new(big.Int).Mul(ltAcc, wb))
			}
			sumOwed.Add(sumOwed, owed)
		}
		d := dust
		if p == rewards.PoolLongTerm {
			d = ltDust
		}
		out := new(big.Int).Mul(rewards.Outstanding(f.State, p).ToBig(), scale)
		if out.Cmp(new(big.Int).Add(sumOwed, d)) != 0 {
			t.Errorf("pool %d: outstanding·scale %s != owed %s + dust %s", p, out, sumOwed, d)
		}
	}
	claimedBob := f.claim(bob)
	if want := new(big.Int).Add(new(big.Int).Quo(new(big.Int).Mul(new(big.Int).Add(new(big.Int).Add(r1, r2), r3), wb), scale), owe(ltAcc, wb)); claimedBob.ToBig().Cmp(want) != 0 {
		t.Fatalf("bob claimed %s, want %s", claimedBob, want)
	}
	f.mustRevert(rewards.ErrNothingToClaim, bob, "claim")
}

// docShows fails unless docs/economics.md shows every value (its
// "rewards module" worked example).
func docShows(t *testing.T, vs ...*big.Int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "economics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if !strings.Contains(string(raw), "`"+v.String()+"`") {
			t.Errorf("docs/economics.md does not show `%s`", v)
		}
	}
}

func TestAddCreditsGuards(t *testing.T) {
	f := newFixture(t, "")
	f.block(1, nil, nil)
	// Only another module may add credits; zero credits are refused.
	c := &native.Call{State: f.State, Module: rewardsAddr, BlockNumber: 1}
	if err := f.mod.AddCredits(c, alice, 5); !errors.Is(err, rewards.ErrNotModule) {
		t.Fatalf("self AddCredits: %v", err)
	}
	c = &native.Call{State: f.State, Module: alice, BlockNumber: 1}
	if err := f.mod.AddCredits(c, alice, 5); !errors.Is(err, rewards.ErrNotModule) {
		t.Fatalf("non-module AddCredits: %v", err)
	}
	_, err, _, _ := f.send(jobsAddr, f.jobABI, carol, nil, "report", alice, uint64(0))
	if !errors.Is(err, vm.ErrExecutionReverted) {
		t.Fatalf("zero credits: %v", err)
	}
	// PositionChanged is staking's alone.
	c = &native.Call{State: f.State, Module: jobsAddr, BlockNumber: 1}
	if err := rewards.PositionChanged(c, alice, emc(1), rewards.LockNone, 0); !errors.Is(err, rewards.ErrNotModule) {
		t.Fatalf("PositionChanged from jobs: %v", err)
	}
	// A missing stake or an unknown lock is an error, not a panic.
	c = &native.Call{State: f.State, Module: stakingAddr, BlockNumber: 1}
	if err := rewards.PositionChanged(c, alice, nil, rewards.Lock7Days, 7); !errors.Is(err, rewards.ErrNegativeAmount) {
		t.Fatalf("PositionChanged without stake: %v", err)
	}
	if err := rewards.PositionChanged(c, alice, emc(1), rewards.NumLocks, 7); !errors.Is(err, rewards.ErrUnknownLock) {
		t.Fatalf("PositionChanged with lock %d: %v", rewards.NumLocks, err)
	}
}

func TestViews(t *testing.T) {
	f := newFixture(t, "")
	f.block(15, nil, nil)
	data, _ := f.abi.Pack("epochInfo")
	res := f.Call(f.Msg(alice, &rewardsAddr, nil, data))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	out, err := f.abi.Unpack("epochInfo", res.ReturnData)
	if err != nil {
		t.Fatal(err)
	}
	r := new(big.Int).Quo(rewards.EMC(4_500_000), big.NewInt(90))
	if out[0].(uint64) != 1 || out[1].(uint64) != 11 || out[2].(uint64) != 20 || out[3].(uint64) != 1 || out[4].(*big.Int).Cmp(r) != 0 {
		t.Fatalf("epochInfo %v", out)
	}
	data, _ = f.abi.Pack("pools")
	res = f.Call(f.Msg(alice, &rewardsAddr, nil, data))
	out, err = f.abi.Unpack("pools", res.ReturnData)
	if err != nil || out[0].(*big.Int).Cmp(rewards.EMC(100_000_000)) != 0 || out[2].(*big.Int).Cmp(rewards.EMC(200_000_000)) != 0 {
		t.Fatalf("pools %v %v", out, err)
	}
	data, _ = f.abi.Pack("rewardsOf", alice)
	res = f.Call(f.Msg(alice, &rewardsAddr, nil, data))
	if out, err = f.abi.Unpack("rewardsOf", res.ReturnData); err != nil || out[3].(*big.Int).Sign() != 0 {
		t.Fatalf("rewardsOf %v %v", out, err)
	}
}

func TestParams(t *testing.T) {
	for _, bad := range []string{
		`{"nodeRewardsWei":"-1"}`, `{"typo":1}`, `{"nodeRewardsWei":"0"}`,
		`{"stakingWei":"0x1000000000000000000000000000000000"}`,
		`{"emission":{"piNumerator":1}}`, `{"credits":{"validatorCredits":18446744073709551615}}`,
		`{"emission":{"firstPeriodRewardWei":"200000000000000000000000000"}}`,
	} {
		if _, err := rewards.ParseModuleParams(json.RawMessage(bad), testL); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("%s: err %v", bad, err)
		}
	}
	if _, err := rewards.ParseModuleParams(nil, 0); !errors.Is(err, native.ErrBadParams) {
		t.Errorf("zero epoch length: %v", err)
	}
	p, err := rewards.ParseModuleParams(json.RawMessage(`{"nodeRewardsWei":"0x10","emission":{"firstPeriodRewardWei":"9"}}`), testL)
	if err != nil || p.Emission.PoolWei.Int64() != 16 || p.GenesisBalanceWei().Cmp(new(uint256.Int).Add(uint256.NewInt(16), emc(270_000_000))) != 0 {
		t.Fatalf("params %+v %v", p, err)
	}
}

func FuzzParseModuleParams(f *testing.F) {
	f.Add([]byte(`{"nodeRewardsWei":"1000","emission":{"firstPeriodRewardWei":"10"},"credits":{"routerCredits":3}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"trade":{"vestingEpochs":3,"accountEpochCapWei":"0x10","pairEpochCapWei":"7","epochCapWei":"100"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := rewards.ParseModuleParams(raw, testL)
		if err != nil {
			if !errors.Is(err, native.ErrBadParams) {
				t.Fatalf("error %v does not wrap ErrBadParams", err)
			}
			return
		}
		if _, err := rewards.NewModule(p, staking.RewardsView{}); err != nil {
			t.Fatalf("valid params refused by NewModule: %v", err)
		}
	})
}

// TestNodePoolNeverOverpays: a 150 wei node pool with R(1) = 100 wei and
// one-epoch periods is spent in a few epochs and never paid beyond.
func TestNodePoolNeverOverpays(t *testing.T) {
	f := newFixture(t, `{"nodeRewardsWei":"150","emission":{"firstPeriodRewardWei":"100","periodEpochs":1}}`)
	set := []common.Address{v1}
	f.block(1, nil, set)
	f.stake(v1, staking.RoleValidator, rewards.LockNone, emc(1))
	for n := uint64(2); n <= 20*testL; n++ {
		f.block(n, set, set)
		p := rewards.PoolsOf(f.State)
		total := new(uint256.Int).Add(p.NodeWei, p.NodeDustWei)
		total.Add(total, rewards.AccruedTotal(f.State))
		if !total.Eq(uint256.NewInt(150)) {
			t.Fatalf("block %d: pool %s + dust %s + accrued %s != 150", n, p.NodeWei, p.NodeDustWei, rewards.AccruedTotal(f.State))
		}
	}
	if got := rewards.NodeAccrued(f.State, v1); !got.Eq(uint256.NewInt(150)) {
		t.Fatalf("v1 accrued %s, want the whole 150 wei pool", got)
	}
	before := f.State.GetBalance(rewardsAddr).Clone()
	f.claim(v1)
	if p := rewards.PoolsOf(f.State); !p.NodeWei.IsZero() || new(uint256.Int).Sub(before, f.State.GetBalance(rewardsAddr)).Cmp(uint256.NewInt(150)) < 0 {
		t.Fatalf("pool %s after claim", p.NodeWei)
	}
}

// TestPositionChangeBeforeHook: a position change reported in the first
// block of a staking epoch before the rewards module's BeginBlock (a slash
// from staking's own hook, which runs first) distributes the previous
// epoch itself, exactly as the hook would have: the result equals the
// usual order.
func TestPositionChangeBeforeHook(t *testing.T) {
	run := func(changeFirst bool) (rewards.Rewards, rewards.StakePosition, rewards.Pools) {
		f := newFixture(t, "")
		f.block(1, nil, nil)
		f.stake(alice, staking.RoleCompute, rewards.Lock90Days, emc(100))
		f.stake(bob, staking.RoleCompute, rewards.LockNone, emc(50))
		for n := uint64(2); n < 20; n++ {
			f.block(n, nil, nil)
		}
		change := func() {
			c := &native.Call{State: f.State, Module: stakingAddr, BlockNumber: 20, Value: new(uint256.Int)}
			if err := rewards.PositionChanged(c, alice, emc(40), rewards.Lock90Days, 90); err != nil {
				t.Fatal(err)
			}
		}
		if changeFirst {
			change()
			f.block(20, nil, nil)
		} else {
			f.block(20, nil, nil)
			change()
		}
		f.block(30, nil, nil)
		f.block(40, nil, nil)
		return rewards.RewardsOf(f.State, alice), rewards.StakePositionOf(f.State, rewards.PoolLongTerm, alice), rewards.PoolsOf(f.State)
	}
	r1, p1, pl1 := run(false)
	r2, p2, pl2 := run(true)
	if !r1.TotalWei.Eq(r2.TotalWei) || !r1.LongTermWei.Eq(r2.LongTermWei) || !p1.Weight.Eq(p2.Weight) ||
		!pl1.StakingWei.Eq(pl2.StakingWei) || !pl1.LongTermWei.Eq(pl2.LongTermWei) || r1.TotalWei.IsZero() {
		t.Fatalf("order changed the outcome: %+v %+v / %+v %+v", r1, p1, r2, p2)
	}
}
