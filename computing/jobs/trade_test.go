// Tests of the market's rewards (trade.go): the jobs module next to the
// real rewards module, on the fixture's chain. Each test reads the
// rewards module's storage through its Go accessors and checks, besides
// the fixture's invariants (jobs balance == open escrows, supply
// conserved), the rewards module's own: its balance == Σ pools + Σ owed.
package jobs_test

import (
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var rewardsAddr = native.RewardsAddress

// market is the fixture with the rewards module wired to the jobs module.
type market struct {
	*fixture
	rw *rewards.Module
}

// defaultTrade are the market tests' trade params: vesting over 3 epochs,
// caps of 1 EMC per account, 0.6 EMC per pair, 5 EMC per epoch.
const defaultTrade = `{"vestingEpochs":3,"accountEpochCapWei":"1000000000000000000","pairEpochCapWei":"600000000000000000","epochCapWei":"5000000000000000000"}`

// newMarket builds the fixture of newFixture with the rewards module
// (params rewardsRaw, e.g. `{"trade": …}`) reporting to it, and extra
// accounts funded with 1000 EMC each.
func newMarket(t testing.TB, rewardsRaw string, extra ...common.Address) *market {
	t.Helper()
	f, rw := buildFixture(t, fixtureConfig{jobsParams: testParams, rewardsParams: rewardsRaw, extra: extra})
	m := &market{fixture: f, rw: rw}
	m.checkRewards()
	return m
}

// checkRewards asserts the rewards module's balance invariant.
func (m *market) checkRewards() {
	m.t.Helper()
	if b := rewards.CheckBalances(m.State); !b.BalanceWei.Eq(b.AccountedWei) {
		m.t.Fatalf("block %d: rewards balance %s, accounted %s", m.Number, b.BalanceWei, b.AccountedWei)
	}
}

// epoch is the current block's reward epoch.
func (m *market) epoch() uint64 { return rewards.RewardEpoch(m.Number, testEpochLength) }

// trade returns who's trade rewards now.
func (m *market) trade(who common.Address) rewards.TradeRewards {
	return rewards.TradeRewardsOf(m.State, who, m.epoch())
}

// owed is who's vested + unvested trade rewards.
func (m *market) owed(who common.Address) *uint256.Int {
	r := m.trade(who)
	return new(uint256.Int).Add(r.VestedWei, r.UnvestedWei)
}

// credits returns who's credits in the ledger of reward epoch k.
func (m *market) credits(k uint64, who common.Address) uint64 {
	for _, e := range rewards.LedgerOf(m.State, k) {
		if e.Owner == who {
			return e.Credits
		}
	}
	return 0
}

// runJob runs one job of from on node with gpuMillis and exit, through
// the drawn router, and returns its id once it is settled by the hook
// (the settlement block has ended).
func (m *market) runJob(from, node common.Address, capWei, gpuMillis uint64, exit int32) uint64 {
	m.t.Helper()
	s := goodSpec()
	s.GPUModel = ""
	s.MinMemoryMiB = 0
	r := m.mustSend(from, emc(2), "submitJob", encode(m.t, s), new(big.Int).SetUint64(capWei))
	out, err := m.abi.Unpack("submitJob", r.ret)
	if err != nil {
		m.t.Fatal(err)
	}
	id := out[0].(*big.Int).Uint64()
	router := m.drawn(id)
	m.mustSend(router, nil, "assign", bigID(id), node)
	m.mustSend(node, nil, "accept", bigID(id))
	m.next()
	m.mustSend(node, nil, "submitResult", bigID(id), [32]byte{1}, gpuMillis, exit)
	m.to(m.job(id).Deadline + 1)
	if st := m.job(id).State; st != jobs.StateSettled {
		m.t.Fatalf("job %d is %s", id, st)
	}
	m.checkRewards()
	return id
}

// dfSplit is ⌊t·df(1)⌋ and the rest: df(1) = 2/π = 2·10000/31416.
func dfSplit(t *uint256.Int) (user, provider *uint256.Int) {
	user = new(uint256.Int).Mul(t, uint256.NewInt(20000))
	user.Div(user, uint256.NewInt(31416))
	return user, new(uint256.Int).Sub(t, user)
}

// TestTradeReward: a job between two accounts, settled without dispute in
// period 1 (P = 100 %), pays back exactly the burned fee, split ⌊F·2/π⌋
// to the submitter and the rest to the node's owner; both vest; the
// router and the node earn their credits; the pool pays it.
func TestTradeReward(t *testing.T) {
	m := newMarket(t, `{"trade":`+defaultTrade+`}`)
	pool := rewards.PoolsOf(m.State).TradeWei.Clone()
	id := m.runJob(sub, n1, priceH200, 100_000, 0) // 100 GPU-s at 1 gwei: cost 1e11 wei
	j := m.job(id)
	fee := j.BurnedWei
	if want := uint256.NewInt(20_000_000_000); !fee.Eq(want) {
		t.Fatalf("burn %s, want %s", fee, want)
	}
	wantU, wantP := dfSplit(fee)
	if got := m.owed(sub); !got.Eq(wantU) {
		t.Errorf("submitter owed %s, want %s", got, wantU)
	}
	if got := m.owed(n1); !got.Eq(wantP) {
		t.Errorf("provider owed %s, want %s", got, wantP)
	}
	if got := new(uint256.Int).Sub(pool, rewards.PoolsOf(m.State).TradeWei); !got.Eq(fee) {
		t.Errorf("pool paid %s, want the fee %s", got, fee)
	}
	if !m.trade(sub).VestedWei.IsZero() {
		t.Errorf("vested at once: %+v", m.trade(sub))
	}
}

// TestTradeRewardRefused: a failed job, a self-dealt job (submitter owns
// the node) and a second settle earn nothing more; only the router's
// credit (for the accept) remains.
func TestTradeRewardRefused(t *testing.T) {
	m := newMarket(t, `{"trade":`+defaultTrade+`}`)
	pool := rewards.PoolsOf(m.State).TradeWei.Clone()
	failed := m.runJob(sub, n1, priceH200, 100_000, 1)
	self := m.runJob(n1, n1, priceH200, 100_000, 0)
	if m.job(failed).BurnedWei.IsZero() || m.job(self).BurnedWei.IsZero() {
		t.Fatal("jobs burned nothing")
	}
	if !m.owed(sub).IsZero() || !m.owed(n1).IsZero() || !rewards.PoolsOf(m.State).TradeWei.Eq(pool) {
		t.Fatalf("refused trades paid: sub %s n1 %s", m.owed(sub), m.owed(n1))
	}
	for _, id := range []uint64{failed, self} {
		k := rewards.RewardEpoch(m.job(id).EndBlock, testEpochLength)
		if m.Number > (k+1)*testEpochLength {
			continue // settled already: the ledger is gone
		}
		if got := m.credits(k, n1); got != 0 {
			t.Errorf("job %d: node credits %d", id, got)
		}
	}
	// A second settlement is refused and pays nothing.
	ok := m.runJob(sub, n1, priceH200, 100_000, 0)
	owed := m.owed(sub).Clone()
	m.mustRevert(carol, nil, jobs.ErrWrongState, "settle", bigID(ok))
	if !m.owed(sub).Eq(owed) {
		t.Fatal("second settle paid")
	}
	// A job settles only from completed or failed (a disputed job returns
	// to its state when its result stands); the rule is EarnsRewards'.
	j := m.job(ok)
	for _, c := range []struct {
		prior jobs.State
		want  bool
	}{{jobs.StateCompleted, true}, {jobs.StateFailed, false}, {jobs.StateDisputed, false}, {jobs.StateSettled, false}} {
		if got := jobs.EarnsRewards(&j, c.prior); got != c.want {
			t.Errorf("EarnsRewards(%s) = %v", c.prior, got)
		}
	}
	j.Node = j.Submitter
	if jobs.EarnsRewards(&j, jobs.StateCompleted) {
		t.Error("self-dealt job earns")
	}
}

// TestTradeCaps: every job here burns F = 0.2 EMC (100 GPU-s at 0.01
// EMC), Ru = ⌊F·2/π⌋ ≈ 0.127, Rp ≈ 0.073. Caps: 0.15 EMC per account,
// 0.3 per pair, 0.4 per epoch. Five jobs settle in one block, in order:
// (sub, carol) ×3, (u2, carol) ×2.
//
//	job 1: Ru, Rp                            (all rooms larger)
//	job 2: sub's room 0.15−Ru; carol's room 0.15−Rp ≥ Rp; pair room 0.1 ≥ both
//	job 3: sub 0; carol's room 0.15−2Rp; the pair's 0.3−0.2−(0.15−Ru)−Rp: equal
//	job 4: carol 0; u2 Ru clipped by the epoch's room 0.4−0.3 = 0.1
//	job 5: nothing (the epoch cap is reached)
//
// so sub and carol end at the account cap, the pair at its cap, u2 at
// 0.1 and the epoch at its cap. The next epoch starts afresh.
func TestTradeCaps(t *testing.T) {
	u2 := common.HexToAddress("0x5b00000000000000000000000000000000000009")
	m := newMarket(t, `{"trade":{"vestingEpochs":3,"accountEpochCapWei":"150000000000000000","pairEpochCapWei":"300000000000000000","epochCapWei":"400000000000000000"}}`, u2)
	const price = 10_000_000_000_000_000 // 0.01 EMC per GPU-second
	m.registerNode(carol, 30, 1, "NVIDIA H200", 143_771, price, imageA)
	m.to((m.Number/testEpochLength+1)*testEpochLength + 1) // an epoch's first block: all settle in it
	var ids []uint64
	s := goodSpec()
	s.GPUModel, s.MinMemoryMiB = "", 0
	for _, from := range []common.Address{sub, sub, sub, u2, u2} {
		r := m.mustSend(from, emc(2), "submitJob", encode(t, s), big.NewInt(price))
		out, _ := m.abi.Unpack("submitJob", r.ret)
		ids = append(ids, out[0].(*big.Int).Uint64())
	}
	for _, id := range ids {
		m.mustSend(m.drawn(id), nil, "assign", bigID(id), carol)
	}
	for _, id := range ids {
		m.mustSend(carol, nil, "accept", bigID(id))
	}
	m.next()
	for _, id := range ids {
		m.mustSend(carol, nil, "submitResult", bigID(id), [32]byte{1}, uint64(100_000), int32(0))
	}
	m.to(m.job(ids[0]).Deadline + 1)
	m.checkRewards()
	k := rewards.RewardEpoch(m.job(ids[0]).EndBlock, testEpochLength)
	for _, id := range ids {
		if j := m.job(id); j.State != jobs.StateSettled || rewards.RewardEpoch(j.EndBlock, testEpochLength) != k {
			t.Fatalf("job %d %s at block %d", id, j.State, j.EndBlock)
		}
	}
	fee := m.job(ids[0]).BurnedWei
	if !fee.Eq(uint256.NewInt(200_000_000_000_000_000)) {
		t.Fatalf("fee %s", fee)
	}
	e := func(milli uint64) *uint256.Int { return uint256.NewInt(milli * 1_000_000_000_000_000) }
	for _, c := range []struct {
		who  common.Address
		want *uint256.Int
	}{{sub, e(150)}, {carol, e(150)}, {u2, e(100)}} {
		if got := m.owed(c.who); !got.Eq(c.want) {
			t.Errorf("%s owed %s, want %s", c.who, got, c.want)
		}
	}
	if got := rewards.TradeEpochPaid(m.State, k); !got.Eq(e(400)) {
		t.Errorf("epoch %d paid %s, want the epoch cap", k, got)
	}
	// Next epoch: the caps start afresh.
	m.to((k+1)*testEpochLength + 1)
	before := m.owed(sub).Clone()
	m.runJob(sub, carol, price, 100_000, 0)
	u1, _ := dfSplit(fee)
	if got := new(uint256.Int).Sub(m.owed(sub), before); !got.Eq(u1) {
		t.Errorf("next epoch sub earned %s, want %s", got, u1)
	}
}

// TestMarketCredits: a router earns its 20 credits once per epoch in which
// an assignment of its was accepted; a node 10 per settled job, capped per
// epoch (35 here, not reached: TestComputeCreditsCap reaches it); a
// self-dealt job earns the node nothing.
func TestMarketCredits(t *testing.T) {
	m := newMarket(t, `{"credits":{"maxComputeCreditsPerEpoch":35},"trade":`+defaultTrade+`}`)
	m.to((m.Number/testEpochLength+1)*testEpochLength + 1)
	k := m.epoch()
	s := goodSpec()
	s.GPUModel, s.MinMemoryMiB = "", 0
	var ids []uint64
	for _, from := range []common.Address{sub, sub, carol, n1} {
		r := m.mustSend(from, emc(1), "submitJob", encode(t, s), big.NewInt(priceH200))
		out, _ := m.abi.Unpack("submitJob", r.ret)
		ids = append(ids, out[0].(*big.Int).Uint64())
	}
	routers := map[common.Address]bool{}
	for _, id := range ids {
		router := m.drawn(id)
		routers[router] = true
		m.mustSend(router, nil, "assign", bigID(id), n1)
	}
	for _, id := range ids {
		m.mustSend(n1, nil, "accept", bigID(id))
	}
	for r := range routers {
		if got := m.credits(k, r); got != rewards.DefaultRouterCredits {
			t.Errorf("router %s: %d credits after %d accepts", r, got, len(ids))
		}
	}
	m.next()
	for _, id := range ids {
		m.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(1000), int32(0))
	}
	m.to(m.job(ids[0]).Deadline)
	if m.epoch() != k {
		t.Fatalf("settlement in epoch %d, not %d", m.epoch(), k)
	}
	for i, want := range []uint64{10, 20, 30, 30} { // the 4th is self-dealt
		m.mustSend(carol, nil, "settle", bigID(ids[i]))
		if got := m.credits(k, n1); got != want {
			t.Errorf("after job %d: node credits %d, want %d", i+1, got, want)
		}
	}
	m.checkRewards()
	// The next epoch: the router earns again.
	m.to((k+1)*testEpochLength + 1)
	r := m.mustSend(sub, emc(1), "submitJob", encode(t, s), big.NewInt(priceH200))
	out, _ := m.abi.Unpack("submitJob", r.ret)
	id := out[0].(*big.Int).Uint64()
	router := m.drawn(id)
	m.mustSend(router, nil, "assign", bigID(id), n2)
	m.mustSend(n2, nil, "accept", bigID(id))
	if got := m.credits(k+1, router); m.epoch() != k+1 || got != rewards.DefaultRouterCredits {
		t.Errorf("epoch %d: router %s has %d credits in epoch %d", m.epoch(), router, got, k+1)
	}
}

// settleNow runs job id (submitted by from, on node) up to its dispute
// deadline and settles it by a transaction, returning the settle result.
func (m *market) settleNow(from, node common.Address, gpuMillis uint64) (uint64, *result) {
	m.t.Helper()
	s := goodSpec()
	s.GPUModel, s.MinMemoryMiB = "", 0
	r := m.mustSend(from, emc(1), "submitJob", encode(m.t, s), big.NewInt(priceH200))
	out, _ := m.abi.Unpack("submitJob", r.ret)
	id := out[0].(*big.Int).Uint64()
	m.mustSend(m.drawn(id), nil, "assign", bigID(id), node)
	m.mustSend(node, nil, "accept", bigID(id))
	m.next()
	m.mustSend(node, nil, "submitResult", bigID(id), [32]byte{1}, gpuMillis, int32(0))
	m.to(m.job(id).Deadline)
	res := m.mustSend(carol, nil, "settle", bigID(id))
	m.checkRewards()
	return id, res
}

// claim sends claim() from who.
func (m *market) claim(who common.Address) *result {
	m.t.Helper()
	r := m.call(rewardsAddr, m.rwABI, who, nil, "claim")
	m.check()
	m.checkRewards()
	return r
}

// TestTradeVesting: a reward earned in epoch k vests at (⌊k/3⌋+2)·3; a
// claim in the epoch before pays nothing of it (reverts when nothing else
// is owed), a claim at the vest epoch pays it exactly; a settle
// transaction emits TradeRewarded with the figures and the vest epoch.
func TestTradeVesting(t *testing.T) {
	m := newMarket(t, `{"trade":`+defaultTrade+`}`)
	id, res := m.settleNow(sub, n1, 100_000)
	k := m.epoch()
	vest := (k/3 + 2) * 3
	fee := m.job(id).BurnedWei
	wantU, wantP := dfSplit(fee)
	ev := m.rwABI.Events["TradeRewarded"]
	var found bool
	for _, l := range res.logs {
		if l.Address != rewardsAddr || l.Topics[0] != ev.ID {
			continue
		}
		found = true
		vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
		if err != nil {
			t.Fatal(err)
		}
		if common.BytesToAddress(l.Topics[1][:]) != sub || common.BytesToAddress(l.Topics[2][:]) != n1 ||
			vals[0].(*big.Int).Cmp(wantU.ToBig()) != 0 || vals[1].(*big.Int).Cmp(wantP.ToBig()) != 0 || vals[2].(uint64) != vest {
			t.Fatalf("TradeRewarded %v %v", l.Topics, vals)
		}
	}
	if !found {
		t.Fatal("no TradeRewarded log")
	}
	if tr := m.trade(sub); !tr.UnvestedWei.Eq(wantU) || !tr.VestedWei.IsZero() || tr.NextVestEpoch != vest {
		t.Fatalf("trade rewards %+v, want %s unvested until %d", tr, wantU, vest)
	}
	out := func() []any {
		data, _ := m.rwABI.Pack("tradeRewardsOf", sub)
		r := m.Call(m.Msg(carol, &rewardsAddr, nil, data))
		o, err := m.rwABI.Unpack("tradeRewardsOf", r.ReturnData)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	m.to(vest * testEpochLength) // the last block of epoch vest−1
	if o := out(); o[0].(*big.Int).Sign() != 0 || o[1].(*big.Int).Cmp(wantU.ToBig()) != 0 || o[2].(uint64) != vest {
		t.Fatalf("tradeRewardsOf before vesting %v", o)
	}
	if r := m.claim(sub); r.err == nil || !strings.HasPrefix(r.reason(), rewards.ErrNothingToClaim.Error()) {
		t.Fatalf("claim before vesting: %v %q", r.err, r.reason())
	}
	m.next() // epoch vest
	if o := out(); o[0].(*big.Int).Cmp(wantU.ToBig()) != 0 || o[1].(*big.Int).Sign() != 0 {
		t.Fatalf("tradeRewardsOf at vesting %v", o)
	}
	before := m.State.GetBalance(sub).Clone()
	r := m.claim(sub)
	if r.err != nil {
		t.Fatalf("claim: %v %q", r.err, r.reason())
	}
	want := new(uint256.Int).Sub(new(uint256.Int).Add(before, wantU), nativetest.Fee(r.gasUsed))
	if got := m.State.GetBalance(sub); !got.Eq(want) {
		t.Fatalf("balance after claim %s, want %s", got, want)
	}
	if !m.owed(sub).IsZero() {
		t.Fatalf("owed after claim %s", m.owed(sub))
	}
	if r := m.claim(sub); r.err == nil {
		t.Fatal("second claim paid")
	}
}

// TestTradeForfeit: a slash forfeits what has not vested (back to the
// pool) and keeps what has; only the staking module may ask.
func TestTradeForfeit(t *testing.T) {
	m := newMarket(t, `{"trade":`+defaultTrade+`}`)
	m.settleNow(sub, n1, 100_000)
	vested := m.owed(n1).Clone()
	m.to((m.epoch()/3+2)*3*testEpochLength + 1) // job 1's reward has vested
	m.settleNow(sub, n1, 100_000)
	unvested := new(uint256.Int).Sub(m.owed(n1), vested)
	if tr := m.trade(n1); !tr.VestedWei.Eq(vested) || !tr.UnvestedWei.Eq(unvested) || unvested.IsZero() {
		t.Fatalf("before the slash %+v, want %s vested, %s not", tr, vested, unvested)
	}
	call := func(module common.Address) *native.Call {
		return &native.Call{State: m.State, Module: module, BlockNumber: m.Number, Time: m.Time, Value: new(uint256.Int), ChainID: new(uint256.Int)}
	}
	if _, err := rewards.ForfeitTrade(call(jobsAddr), n1); err == nil {
		t.Fatal("the jobs module forfeited")
	}
	pool := rewards.PoolsOf(m.State).TradeWei.Clone()
	lost, err := rewards.ForfeitTrade(call(stakingAddr), n1)
	if err != nil || !lost.Eq(unvested) {
		t.Fatalf("forfeit %s %v, want %s", lost, err, unvested)
	}
	if tr := m.trade(n1); !tr.VestedWei.Eq(vested) || !tr.UnvestedWei.IsZero() {
		t.Fatalf("after the slash %+v", tr)
	}
	if got := new(uint256.Int).Sub(rewards.PoolsOf(m.State).TradeWei, pool); !got.Eq(unvested) {
		t.Fatalf("pool got back %s, want %s", got, unvested)
	}
	m.checkRewards()
	if lost, err := rewards.ForfeitTrade(call(stakingAddr), n1); err != nil || !lost.IsZero() {
		t.Fatalf("second forfeit %s %v", lost, err)
	}
	if r := m.claim(n1); r.err != nil {
		t.Fatalf("claim of the vested part: %q", r.reason())
	}
	if !m.owed(n1).IsZero() {
		t.Fatal("owed after claim")
	}
}

// TestTradeEmptyPool: a pool of 1.5e10 wei pays the first trade's user
// in full and its provider what is left; later trades get nothing.
func TestTradeEmptyPool(t *testing.T) {
	m := newMarket(t, `{"tradeRewardsWei":"15000000000","trade":`+defaultTrade+`}`)
	id, _ := m.settleNow(sub, n1, 100_000)
	wantU, _ := dfSplit(m.job(id).BurnedWei) // 2e10 burned
	if !m.owed(sub).Eq(wantU) || !new(uint256.Int).Add(m.owed(sub), m.owed(n1)).Eq(uint256.NewInt(15_000_000_000)) {
		t.Fatalf("owed sub %s n1 %s", m.owed(sub), m.owed(n1))
	}
	if !rewards.PoolsOf(m.State).TradeWei.IsZero() {
		t.Fatal("pool not empty")
	}
	_, res := m.settleNow(carol, n1, 100_000)
	for _, l := range res.logs {
		if l.Address == rewardsAddr && l.Topics[0] == m.rwABI.Events["TradeRewarded"].ID {
			t.Fatal("empty pool rewarded")
		}
	}
	if !m.owed(carol).IsZero() {
		t.Fatal("carol paid from an empty pool")
	}
}

// TestComputeCreditsCap: with a cap of 15 credits per epoch, a node's
// three settled jobs earn 10, then 5, then nothing.
func TestComputeCreditsCap(t *testing.T) {
	m := newMarket(t, `{"credits":{"maxComputeCreditsPerEpoch":15},"trade":`+defaultTrade+`}`)
	m.to((m.Number/testEpochLength+1)*testEpochLength + 1)
	k := m.epoch()
	s := goodSpec()
	s.GPUModel, s.MinMemoryMiB = "", 0
	var ids []uint64
	for range 3 {
		r := m.mustSend(sub, emc(1), "submitJob", encode(t, s), big.NewInt(priceH200))
		out, _ := m.abi.Unpack("submitJob", r.ret)
		ids = append(ids, out[0].(*big.Int).Uint64())
	}
	for _, id := range ids {
		m.mustSend(m.drawn(id), nil, "assign", bigID(id), n1)
		m.mustSend(n1, nil, "accept", bigID(id))
	}
	m.next()
	for _, id := range ids {
		m.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(1000), int32(0))
	}
	m.to(m.job(ids[0]).Deadline)
	for i, want := range []uint64{10, 15, 15} {
		m.mustSend(carol, nil, "settle", bigID(ids[i]))
		if got := m.credits(k, n1); got != want || m.epoch() != k {
			t.Errorf("after job %d (epoch %d): node credits %d, want %d", i+1, m.epoch(), got, want)
		}
	}
}
