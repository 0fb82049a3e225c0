package jobs_test

import (
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// The re-execution tests run on the fixture with two more GPU nodes, n4
// and n5, and compute stakes of 100 EMC for n1, n2, n4 and n5. The
// deterministic spec fits n1, n2, n4 and n5 (one GPU of any model, image
// A), not the CPU-only n3.
var (
	n4 = common.HexToAddress("0x1400000000000000000000000000000000000008") // 1 × H100
	n5 = common.HexToAddress("0x1500000000000000000000000000000000000009") // 1 × L40
)

var (
	digestOK  = [32]byte{0xd0} // the honest output digest
	digestBad = [32]byte{0xba} // a wrong one
)

const (
	detMillis   = 50_000 // GPU-ms each result reports
	computeWei  = 100    // EMC staked per node
	jailTest    = 50
	bondTestEMC = 1
)

// reexecParams are testParams with sampling at sample basis points, a
// 50 % compute slash, a 50-block jail and a 1 EMC bond.
func reexecParams(sample int) string {
	s := itoa(uint64(sample))
	return strings.TrimSuffix(testParams, "}") + `,"sampleBps":` + s + `,"newNodeSampleBps":` + s +
		`,"computeSlashBps":5000,"jailBlocks":50,"disputeBondWei":"1000000000000000000"}`
}

// withTieBreak is params with disputeTieBreak on (a two-node network's
// disputed tie fails the provider).
func withTieBreak(params string) string {
	return strings.TrimSuffix(params, "}") + `,"disputeTieBreak":true}`
}

func itoa(v uint64) string { return new(uint256.Int).SetUint64(v).Dec() }

// newReexecFixture is the fixture with params, n4 and n5 registered and the
// GPU nodes' compute stakes.
func newReexecFixture(t testing.TB, params string) *fixture {
	t.Helper()
	f, _ := buildFixture(t, fixtureConfig{jobsParams: params, withCredits: true, extra: []common.Address{n4, n5}})
	f.registerNode(n4, 4, 1, "NVIDIA H100", 81_920, priceA100, imageA)
	f.registerNode(n5, 5, 1, "NVIDIA L40", 49_152, priceA100, imageA)
	for _, n := range []common.Address{n1, n2, n4, n5} {
		f.mustCall(stakingAddr, f.stkABI, n, emc(computeWei), "stake", uint8(staking.RoleCompute), uint8(0))
	}
	f.next()
	return f
}

func detSpec() jobs.Spec {
	return jobs.Spec{Image: imageA, Args: []string{"sum"}, GPUs: 1, TimeoutSeconds: 100, Deterministic: true}
}

// detResult submits a deterministic job from sub (1 EMC escrow, cap
// 2 × priceH200), has node run it and report digest, and returns its id.
// The result is in the current block.
func (f *fixture) detResult(node common.Address, digest [32]byte) uint64 {
	f.t.Helper()
	id := f.submit(detSpec(), 2*priceH200, emc(1))
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), node)
	f.mustSend(node, nil, "accept", bigID(id))
	f.mustSend(node, nil, "submitResultDigest", bigID(id), [32]byte{1}, uint64(detMillis), int32(0), digest)
	return id
}

func (f *fixture) reexec(id uint64) jobs.Reexec {
	f.t.Helper()
	r, ok, err := jobs.ReexecOf(f.State, id)
	if err != nil || !ok {
		f.t.Fatalf("job %d: no re-execution record: %v", id, err)
	}
	return r
}

// current runs blocks until job id waits for a re-executor's digest and
// returns that node.
func (f *fixture) current(id uint64) common.Address {
	f.t.Helper()
	for i := 0; i < 5; i++ {
		if r, ok, _ := jobs.ReexecOf(f.State, id); ok && r.Current != (common.Address{}) {
			return r.Current
		}
		f.next()
	}
	f.t.Fatalf("job %d: no re-executor drawn by block %d (%s)", id, f.Number, f.job(id).State)
	return common.Address{}
}

// detCost is the cost of a deterministic result of n1 (its price).
func detCost() *uint256.Int {
	return jobs.Cost(detMillis, uint256.NewInt(priceH200), emc(1))
}

// TestReexecSampledAgree: a sampled result whose re-executor agrees
// settles as usual at the end of its dispute window; the re-executor is
// paid the job's cost from the escrow's rest; the counters move; the
// attacker's moves (a node not drawn, the provider, a second digest)
// revert.
func TestReexecSampledAgree(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	subBefore := f.State.GetBalance(sub).Clone()
	id := f.detResult(n1, digestOK)
	j := f.job(id)
	if j.State != jobs.StateCompleted || j.Verify != jobs.VerifyPending || j.OutputDigest != digestOK || !j.Deterministic {
		t.Fatalf("job after result %+v", j)
	}
	f.next()
	if f.job(id).State != jobs.StateCompleted {
		t.Fatal("sampled before the block after the result ended")
	}
	e := f.current(id)
	if e == n1 || e == sub || e == n3 {
		t.Fatalf("drew %s", e)
	}
	if got := f.job(id); got.State != jobs.StateReexec || got.Verify != jobs.VerifyRunning {
		t.Fatalf("job after sampling %s verify %d", got.State, got.Verify)
	}
	if ids, total := jobs.ReexecsOf(f.State, e, 0, 10); total != 1 || ids[0] != id {
		t.Fatalf("reexecsOf(%s) = %v %d", e, ids, total)
	}
	out := f.view("reexecsOf", e, big.NewInt(0), big.NewInt(10))
	if ids := out[0].([]*big.Int); len(ids) != 1 || ids[0].Uint64() != id {
		t.Fatalf("reexecsOf view %v", out)
	}
	g := f.view("getReexec", bigID(id))
	if !g[0].(bool) || g[1].(bool) || g[5].(common.Address) != e || len(g[7].([]common.Address)) != 1 {
		t.Fatalf("getReexec %v", g)
	}
	for _, who := range []common.Address{n1, carol, sub, other3(e)} {
		f.mustRevert(who, nil, jobs.ErrNotReexecutor, "submitReexec", bigID(id), digestOK)
	}
	f.mustRevert(e, nil, jobs.ErrNoDigest, "submitReexec", bigID(id), [32]byte{})
	f.mustRevert(n1, nil, jobs.ErrWrongState, "settle", bigID(id))
	r := f.mustSend(e, nil, "submitReexec", bigID(id), digestOK)
	if len(r.logs) != 2 || r.logs[0].Topics[0] != f.abi.Events["ReexecResult"].ID || r.logs[1].Topics[0] != f.abi.Events["JobVerified"].ID {
		t.Fatalf("submitReexec logs %d", len(r.logs))
	}
	f.mustRevert(e, nil, jobs.ErrWrongState, "submitReexec", bigID(id), digestOK) // a second digest
	eBefore := f.State.GetBalance(e).Clone()
	if got := f.job(id); got.State != jobs.StateCompleted || got.Verify != jobs.VerifyPassed {
		t.Fatalf("job after agreement %s verify %d", got.State, got.Verify)
	}
	if _, total := jobs.ReexecsOf(f.State, e, 0, 10); total != 0 {
		t.Fatalf("reexecsOf(%s) still lists %d", e, total)
	}
	f.to(f.job(id).Deadline + 1)
	j = f.job(id)
	cost := detCost()
	if j.State != jobs.StateSettled || !j.CostWei.Eq(cost) || !j.FeesWei.Eq(cost) ||
		!new(uint256.Int).Add(new(uint256.Int).Add(j.CostWei, j.FeesWei), j.RefundWei).Eq(j.EscrowWei) {
		t.Fatalf("settled job %+v", j)
	}
	wantE := new(uint256.Int).Add(eBefore, cost) // paid at settlement
	if got := f.State.GetBalance(e); !got.Eq(wantE) {
		t.Fatalf("re-executor balance %s, want %s", got, wantE)
	}
	if got := f.State.GetBalance(sub); got.Gt(new(uint256.Int).Sub(subBefore, new(uint256.Int).Add(cost, cost))) {
		t.Fatalf("submitter paid less than cost + fee: %s of %s", got, subBefore)
	}
	if fl := jobs.FaultsOf(f.State, n1); fl.Passed != 1 || fl.Slashes != 0 || fl.Failed != 0 {
		t.Fatalf("provider faults %+v", fl)
	}
	if fl := jobs.FaultsOf(f.State, e); fl.Passed != 1 || fl.Reexecs != 1 || fl.Slashes != 0 {
		t.Fatalf("re-executor faults %+v", fl)
	}
	fv := f.view("faultsOf", e)
	if len(fv) != 9 || fv[4].(uint64) != 1 || fv[7].(uint64) != 1 || fv[8].(uint64) != 0 {
		t.Fatalf("faultsOf view %v", fv)
	}
}

// other3 is a GPU node other than n and n1.
func other3(n common.Address) common.Address {
	for _, c := range []common.Address{n2, n4, n5} {
		if c != n {
			return c
		}
	}
	return n2
}

// TestReexecCheaterSlashed: a provider that reports a wrong digest is
// contradicted by three re-executors (a lone liar against 3 honest): it loses ComputeSlashBps of its
// compute stake (paying each re-executor the job's cost, the rest burned
// to the wei), is jailed (no assignment, no draw) for JailBlocks, and the
// submitter gets the whole escrow back.
func TestReexecCheaterSlashed(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	subBefore := f.State.GetBalance(sub).Clone()
	id := f.detResult(n1, digestBad)
	subFees := new(uint256.Int).Sub(subBefore, f.State.GetBalance(sub))
	subFees.Sub(subFees, emc(1))
	e1 := f.current(id)
	f.mustSend(e1, nil, "submitReexec", bigID(id), digestOK)
	if got := f.job(id); got.State != jobs.StateReexec || f.reexec(id).Current != (common.Address{}) {
		t.Fatalf("after a disagreement: %s, current %s", got.State, f.reexec(id).Current)
	}
	e2 := f.current(id)
	if e2 == e1 || e2 == n1 {
		t.Fatalf("second re-executor %s (first %s)", e2, e1)
	}
	f.mustSend(e2, nil, "submitReexec", bigID(id), digestOK)
	if got := f.job(id); got.State != jobs.StateReexec {
		t.Fatalf("after 2 answers against the provider (no quorum yet): %s", got.State)
	}
	e3 := f.current(id)
	if e3 == e1 || e3 == e2 || e3 == n1 {
		t.Fatalf("third re-executor %s (first %s, second %s)", e3, e1, e2)
	}
	stakeBefore := f.State.GetBalance(stakingAddr).Clone()
	slashBurnBefore := native.Burned(f.State, native.BurnSlash).Clone()
	balBefore := map[common.Address]*uint256.Int{e1: f.State.GetBalance(e1).Clone(), e2: f.State.GetBalance(e2).Clone(),
		e3: f.State.GetBalance(e3).Clone()}
	r := f.mustSend(e3, nil, "submitReexec", bigID(id), digestOK)
	j := f.job(id)
	if j.State != jobs.StateRefunded || j.Verify != jobs.VerifyFailed || !j.RefundWei.Eq(emc(1)) || !j.State.Ended() {
		t.Fatalf("job after the majority %+v", j)
	}
	slash := new(uint256.Int).Div(emc(computeWei), uint256.NewInt(2))
	if got := new(uint256.Int).Sub(stakeBefore, f.State.GetBalance(stakingAddr)); !got.Eq(slash) {
		t.Fatalf("staking lost %s, want %s", got, slash)
	}
	if _, amt, _ := positionOf(f, n1); !amt.Eq(slash) {
		t.Fatalf("n1's stake %s after the slash, want %s", amt, slash)
	}
	cost := detCost()
	burned := new(uint256.Int).Sub(native.Burned(f.State, native.BurnSlash), slashBurnBefore)
	if want := new(uint256.Int).Sub(slash, new(uint256.Int).Mul(cost, uint256.NewInt(3))); !burned.Eq(want) {
		t.Fatalf("slash burned %s, want %s", burned, want)
	}
	for _, e := range []common.Address{e1, e2} {
		if got, want := f.State.GetBalance(e), new(uint256.Int).Add(balBefore[e], cost); !got.Eq(want) {
			t.Fatalf("re-executor %s: %s, want %s", e, got, want)
		}
	}
	if got, want := f.State.GetBalance(e3), new(uint256.Int).Sub(new(uint256.Int).Add(balBefore[e3], cost), nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		t.Fatalf("third re-executor %s, want %s", got, want)
	}
	if got, want := f.State.GetBalance(sub), new(uint256.Int).Sub(subBefore, subFees); !got.Eq(want) {
		t.Fatalf("submitter %s, want %s (refunded in full)", got, want)
	}
	fl := jobs.FaultsOf(f.State, n1)
	if fl.Slashes != 1 || !fl.SlashedWei.Eq(slash) || fl.Jails != 1 || fl.Failed != 1 || fl.JailedUntil != f.Number+jailTest {
		t.Fatalf("cheater faults %+v", fl)
	}
	for _, e := range []common.Address{e1, e2, e3} {
		if fl := jobs.FaultsOf(f.State, e); fl.Slashes != 0 || fl.Passed != 1 {
			t.Fatalf("honest re-executor %s faults %+v", e, fl)
		}
	}
	// Jailed: no assignment until the jail ends.
	id2 := f.submit(detSpec(), 2*priceH200, emc(1))
	f.mustRevert(f.drawn(id2), nil, jobs.ErrNodeJailed, "assign", bigID(id2), n1)
	if !jobs.Jailed(f.State, n1, f.Number) {
		t.Fatal("n1 not jailed")
	}
	f.to(fl.JailedUntil)
	if jobs.Jailed(f.State, n1, f.Number) {
		t.Fatal("n1 still jailed after JailBlocks")
	}
	id3 := f.submit(detSpec(), 2*priceH200, emc(1))
	f.mustSend(f.drawn(id3), nil, "assign", bigID(id3), n1)
}

func positionOf(f *fixture, owner common.Address) (uint8, *uint256.Int, error) {
	out, err := f.stkABI.Unpack("stakeOf", f.Call(f.Msg(carol, &stakingAddr, nil, mustPack(f, "stakeOf", owner))).ReturnData)
	if err != nil {
		return 0, nil, err
	}
	return out[0].(uint8), uint256.MustFromBig(out[1].(*big.Int)), nil
}

func mustPack(f *fixture, name string, args ...any) []byte {
	data, err := f.stkABI.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// TestReexecLyingReexecutor: an honest provider and a lying first
// re-executor: the two more nodes drawn agree with the provider (3
// digests of 4); the liar is slashed (all burned) and jailed, the provider
// never; the job settles and the agreeing re-executors are paid from the
// escrow.
func TestReexecLyingReexecutor(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	id := f.detResult(n1, digestOK)
	e1 := f.current(id)
	f.mustSend(e1, nil, "submitReexec", bigID(id), digestBad)
	f.mustSend(f.current(id), nil, "submitReexec", bigID(id), digestOK)
	if j := f.job(id); j.State != jobs.StateReexec || jobs.FaultsOf(f.State, e1).Slashes != 0 {
		t.Fatalf("decided on 2 of 3 digests: %s", j.State)
	}
	e3 := f.current(id)
	burnBefore := native.Burned(f.State, native.BurnSlash).Clone()
	f.mustSend(e3, nil, "submitReexec", bigID(id), digestOK)
	slash := new(uint256.Int).Div(emc(computeWei), uint256.NewInt(2))
	if got := new(uint256.Int).Sub(native.Burned(f.State, native.BurnSlash), burnBefore); !got.Eq(slash) {
		t.Fatalf("burned %s of the liar's slash %s", got, slash)
	}
	if fl := jobs.FaultsOf(f.State, e1); fl.Slashes != 1 || fl.Failed != 1 || !jobs.Jailed(f.State, e1, f.Number) {
		t.Fatalf("liar faults %+v", fl)
	}
	if fl := jobs.FaultsOf(f.State, n1); fl.Slashes != 0 || fl.Passed != 1 || jobs.Jailed(f.State, n1, f.Number) {
		t.Fatalf("honest provider faults %+v", fl)
	}
	f.to(f.job(id).Deadline + 1)
	if j := f.job(id); j.State != jobs.StateSettled || !j.FeesWei.Eq(new(uint256.Int).Add(detCost(), detCost())) {
		t.Fatalf("job %+v", j)
	}
}

// TestReexecTimeout: a re-executor that does not answer in time is marked
// timed out and replaced; its late digest reverts; a digest at the
// deadline's block time reverts; when the draws run out the result
// stands (inconclusive) and settles.
func TestReexecTimeout(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	id := f.detResult(n1, digestOK)
	seen := map[common.Address]bool{}
	for k := 0; k < jobs.MaxReexecDraws; k++ {
		e := f.current(id)
		if seen[e] || e == n1 {
			t.Fatalf("draw %d: %s again", k, e)
		}
		seen[e] = true
		rx := f.reexec(id)
		if k == 0 {
			saved := f.Time
			f.Time = rx.Deadline
			f.mustRevert(e, nil, jobs.ErrDeadline, "submitReexec", bigID(id), digestOK)
			f.Time = saved
		}
		for f.reexec(id).Current == e {
			f.next()
		}
		if f.job(id).State.Ended() {
			f.mustRevert(e, nil, jobs.ErrWrongState, "submitReexec", bigID(id), digestOK)
		} else {
			f.mustRevert(e, nil, jobs.ErrNotReexecutor, "submitReexec", bigID(id), digestOK)
		}
		if fl := jobs.FaultsOf(f.State, e); fl.TimedOut != 1 {
			t.Fatalf("timed-out re-executor faults %+v", fl)
		}
		// The no-show reaches the score (providerStats' timedOut).
		if in := score.Gather(f.State, e); in.TimedOut != 1 || score.Of(in) >= score.Neutral {
			t.Fatalf("timed-out re-executor's score inputs %+v, score %d", in, score.Of(in))
		}
		if _, total := jobs.ReexecsOf(f.State, e, 0, 1); total != 0 {
			t.Fatal("timed-out re-executor still lists the job")
		}
		if f.job(id).State.Ended() {
			break
		}
	}
	j := f.job(id)
	if j.Verify != jobs.VerifyInconclusive || j.State != jobs.StateSettled || !j.FeesWei.IsZero() {
		t.Fatalf("job after the draws ran out %+v", j)
	}
	if len(seen) != 3 {
		t.Fatalf("drew %d nodes, want 3 (n2, n4, n5)", len(seen))
	}
}

// TestDisputeProviderWrong: the submitter disputes a wrong result; three
// re-executors contradict it: the provider is slashed and jailed, the
// submitter gets escrow and bond back.
func TestDisputeProviderWrong(t *testing.T) {
	f := newReexecFixture(t, reexecParams(0))
	id := f.detResult(n1, digestBad)
	f.next()
	f.next()
	if j := f.job(id); j.Verify != jobs.VerifySkipped || j.State != jobs.StateCompleted {
		t.Fatalf("job without sampling %s verify %d", j.State, j.Verify)
	}
	f.mustRevert(sub, emc(bondTestEMC).Sub(emc(bondTestEMC), uint256.NewInt(1)), jobs.ErrBond, "dispute", bigID(id))
	r := f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(id))
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobDisputed"].ID {
		t.Fatal("no JobDisputed log")
	}
	f.mustRevert(sub, emc(bondTestEMC), jobs.ErrWrongState, "dispute", bigID(id)) // twice
	subBefore := f.State.GetBalance(sub).Clone()
	if total, _ := jobs.BondTotal(f.State); !total.Eq(emc(bondTestEMC)) {
		t.Fatalf("bond total %s", total)
	}
	e1 := f.current(id)
	f.mustSend(e1, nil, "submitReexec", bigID(id), digestOK)
	f.mustSend(f.current(id), nil, "submitReexec", bigID(id), digestOK)
	f.mustSend(f.current(id), nil, "submitReexec", bigID(id), digestOK)
	j := f.job(id)
	if j.State != jobs.StateRefunded || j.Verify != jobs.VerifyFailed {
		t.Fatalf("job %+v", j)
	}
	if got, want := f.State.GetBalance(sub), new(uint256.Int).Add(subBefore, emc(1+bondTestEMC)); !got.Eq(want) {
		t.Fatalf("submitter %s, want %s (escrow and bond back)", got, want)
	}
	if fl := jobs.FaultsOf(f.State, n1); fl.Slashes != 1 || !jobs.Jailed(f.State, n1, f.Number) {
		t.Fatalf("provider faults %+v", fl)
	}
}

// TestDisputeProviderRight: a dispute of a right result loses the bond:
// it pays the re-executor the job's cost and the rest goes to the
// provider; the job settles as usual; a second dispute reverts.
func TestDisputeProviderRight(t *testing.T) {
	f := newReexecFixture(t, reexecParams(0))
	id := f.detResult(n1, digestOK)
	f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(id)) // in the result's block: the sampling check is skipped
	e := f.current(id)
	n1Before := f.State.GetBalance(n1).Clone()
	eBefore := f.State.GetBalance(e).Clone()
	r := f.mustSend(e, nil, "submitReexec", bigID(id), digestOK)
	if j := f.job(id); j.State != jobs.StateCompleted || j.Verify != jobs.VerifyPassed {
		t.Fatalf("job %s verify %d", j.State, j.Verify)
	}
	if f.Number < f.job(id).Deadline {
		f.mustRevert(sub, emc(bondTestEMC), jobs.ErrVerified, "dispute", bigID(id))
	}
	f.to(f.job(id).Deadline + 1)
	j := f.job(id)
	cost := detCost()
	provider, _ := jobs.Split(cost)
	bondRest := new(uint256.Int).Sub(emc(bondTestEMC), cost)
	if j.State != jobs.StateSettled || !j.FeesWei.IsZero() || !j.RefundWei.Eq(new(uint256.Int).Sub(emc(1), cost)) {
		t.Fatalf("job %+v", j)
	}
	if got, want := f.State.GetBalance(n1), new(uint256.Int).Add(n1Before, new(uint256.Int).Add(provider, bondRest)); !got.Eq(want) {
		t.Fatalf("provider %s, want %s", got, want)
	}
	if got, want := f.State.GetBalance(e), new(uint256.Int).Sub(new(uint256.Int).Add(eBefore, cost), nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		t.Fatalf("re-executor %s, want %s", got, want)
	}
	if total, _ := jobs.BondTotal(f.State); !total.IsZero() {
		t.Fatalf("bond total %s after settlement", total)
	}
}

// TestReexecRules: the reverts of the new methods and of the old ones on
// deterministic jobs.
func TestReexecRules(t *testing.T) {
	f := newReexecFixture(t, strings.Replace(reexecParams(0), `"disputeBlocks":5`, `"disputeBlocks":2`, 1))
	// Credits cannot escrow a deterministic job.
	f.buyCredits(sub, 10)
	f.mustRevert(sub, nil, jobs.ErrDeterministicCredits, "submitJobCredits", encode(t, detSpec()), big.NewInt(2*priceH200), big.NewInt(5))
	// A plain job: no digest, no dispute.
	plain := f.submit(goodSpec(), 2*priceH200, emc(1))
	f.mustSend(f.drawn(plain), nil, "assign", bigID(plain), n1)
	f.mustSend(n1, nil, "accept", bigID(plain))
	f.mustRevert(n1, nil, jobs.ErrNotDeterministic, "submitResultDigest", bigID(plain), [32]byte{1}, uint64(1), int32(0), digestOK)
	f.mustSend(n1, nil, "submitResult", bigID(plain), [32]byte{1}, uint64(1), int32(0))
	f.mustRevert(sub, emc(1), jobs.ErrNotDeterministic, "dispute", bigID(plain))
	// A deterministic job: the digest is required and not zero.
	id := f.submit(detSpec(), 2*priceH200, emc(1))
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), n2)
	f.mustSend(n2, nil, "accept", bigID(id))
	f.mustRevert(n2, nil, jobs.ErrNeedDigest, "submitResult", bigID(id), [32]byte{1}, uint64(1), int32(0))
	f.mustRevert(n2, nil, jobs.ErrNoDigest, "submitResultDigest", bigID(id), [32]byte{1}, uint64(1), int32(0), [32]byte{})
	f.mustRevert(sub, emc(1), jobs.ErrWrongState, "dispute", bigID(id)) // still running
	f.mustSend(n2, nil, "submitResultDigest", bigID(id), [32]byte{1}, uint64(1), int32(3), digestOK)
	if j := f.job(id); j.State != jobs.StateFailed || j.Verify != jobs.VerifyPending {
		t.Fatalf("job %s verify %d", j.State, j.Verify)
	}
	f.mustRevert(carol, emc(1), jobs.ErrNotDisputer, "dispute", bigID(id))
	f.mustRevert(n2, emc(1), jobs.ErrNotDisputer, "dispute", bigID(id))
	f.mustRevert(n2, nil, jobs.ErrWrongState, "submitReexec", bigID(id), digestOK)
	f.next()
	f.next() // the result's block + 2: the window closed
	if j := f.job(id); j.State != jobs.StateSettled {
		// disputeBlocks 2: settles at the end of the result block + 2
		f.mustRevert(sub, emc(1), jobs.ErrDisputeClosed, "dispute", bigID(id))
	}
	f.next()
	if j := f.job(id); j.State != jobs.StateSettled || j.Verify != jobs.VerifySkipped {
		t.Fatalf("job %s verify %d", j.State, j.Verify)
	}
	f.mustRevert(sub, emc(1), jobs.ErrWrongState, "dispute", bigID(id))
}

// TestSettleWaitsForSampling: with a one-block dispute window, a settle in
// the block after the result (before its sampling check) reverts.
func TestSettleWaitsForSampling(t *testing.T) {
	f := newReexecFixture(t, strings.Replace(reexecParams(0), `"disputeBlocks":5`, `"disputeBlocks":1`, 1))
	id := f.detResult(n1, digestOK)
	f.next()
	f.mustRevert(carol, nil, jobs.ErrVerifying, "settle", bigID(id))
	f.next()
	if j := f.job(id); j.State != jobs.StateSettled || j.Verify != jobs.VerifySkipped {
		t.Fatalf("job %s verify %d", j.State, j.Verify)
	}
}

// TestTwoNodesCheater is the on-chain half of the acceptance: two
// compute nodes, n1 returning wrong digests (as provider and as
// re-executor), n2 honest. With no third node a sampled disagreement is a
// tie and the result stands, so the honest n2 is paid for its job even
// though the cheater contradicts it; the submitter, who knows the cheater's
// result is wrong, disputes the tie and, with disputeTieBreak on, its bond
// breaks it: n1 is slashed and jailed, the submitter refunded in full with
// its bond; with n1 jailed, n2's next job finds no re-executor and
// settles. (TestDisputeTieBreak has the rule off.)
func TestTwoNodesCheater(t *testing.T) {
	f := newFixtureWith(t, withTieBreak(reexecParams(10_000)))
	for _, n := range []common.Address{n1, n2} {
		f.mustCall(stakingAddr, f.stkABI, n, emc(computeWei), "stake", uint8(staking.RoleCompute), uint8(0))
	}
	f.next()
	cheat := func(id uint64) [32]byte { return [32]byte{0xba, byte(id)} }

	// n2's honest job, re-executed by the lying n1: a tie, the result stands.
	honest := f.detResult(n2, digestOK)
	if e := f.current(honest); e != n1 {
		t.Fatalf("re-executor %s, want n1 (the only other node that fits)", e)
	}
	f.mustSend(n1, nil, "submitReexec", bigID(honest), cheat(honest))
	f.next()
	f.next()
	if j := f.job(honest); j.State != jobs.StateCompleted || j.Verify != jobs.VerifyInconclusive {
		t.Fatalf("honest job %s verify %d", j.State, j.Verify)
	}
	n2Before := f.State.GetBalance(n2).Clone()
	f.to(f.job(honest).Deadline + 1)
	provider, _ := jobs.Split(jobs.Cost(detMillis, uint256.NewInt(priceA100), emc(1)))
	if j := f.job(honest); j.State != jobs.StateSettled || !f.State.GetBalance(n2).Eq(new(uint256.Int).Add(n2Before, provider)) {
		t.Fatalf("honest job %s, n2 earned %s", j.State, new(uint256.Int).Sub(f.State.GetBalance(n2), n2Before))
	}

	// n1's wrong result, re-executed by n2: a tie; the submitter disputes it.
	bad := f.detResult(n1, cheat(0))
	f.mustSend(f.current(bad), nil, "submitReexec", bigID(bad), digestOK)
	f.next()
	f.next()
	if j := f.job(bad); j.State != jobs.StateCompleted || j.Verify != jobs.VerifyInconclusive {
		t.Fatalf("cheater's job %s verify %d", j.State, j.Verify)
	}
	f.mustRevert(carol, emc(1), jobs.ErrNotDisputer, "dispute", bigID(bad))
	f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(bad))
	subBefore := f.State.GetBalance(sub).Clone()
	f.next()
	f.next()
	j := f.job(bad)
	if j.State != jobs.StateRefunded || j.Verify != jobs.VerifyFailed {
		t.Fatalf("disputed tie: %s verify %d", j.State, j.Verify)
	}
	if got, want := f.State.GetBalance(sub), new(uint256.Int).Add(subBefore, emc(1+bondTestEMC)); !got.Eq(want) {
		t.Fatalf("submitter %s, want %s", got, want)
	}
	if fl := jobs.FaultsOf(f.State, n1); fl.Slashes != 1 || !jobs.Jailed(f.State, n1, f.Number) {
		t.Fatalf("cheater faults %+v", fl)
	}
	if fl := jobs.FaultsOf(f.State, n2); fl.Slashes != 0 || fl.Jails != 0 {
		t.Fatalf("honest node faults %+v", fl)
	}

	// n2's next job: the jailed n1 is never drawn; the sample is skipped.
	next := f.detResult(n2, digestOK)
	f.next()
	f.next()
	if j := f.job(next); j.Verify != jobs.VerifySkipped {
		t.Fatalf("job with the cheater jailed: %s verify %d", j.State, j.Verify)
	}
}

// FuzzReexecCalldata sends arbitrary calldata (the re-execution methods
// among the seeds) from the submitter, the provider or the drawn
// re-executor of a job in re-execution, through the EVM: no panic, and
// every invariant the fixture checks (escrows and bonds, the supply) still
// holds, in that block and the next.
func FuzzReexecCalldata(f *testing.F) {
	a := jobsABIFor(f)
	for _, seed := range [][]any{
		{"submitReexec", big.NewInt(1), digestOK},
		{"submitReexec", big.NewInt(1), digestBad},
		{"dispute", big.NewInt(1)},
		{"getReexec", new(big.Int).Lsh(big.NewInt(1), 70)},
		{"reexecsOf", n2, big.NewInt(0), big.NewInt(1000)},
		{"faultsOf", n1},
		{"submitResultDigest", big.NewInt(1), [32]byte{1}, uint64(1), int32(0), digestOK},
	} {
		data, err := a.Pack(seed[0].(string), seed[1:]...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), data)
		f.Add(uint8(2), data)
	}
	f.Fuzz(func(t *testing.T, who uint8, data []byte) {
		fx := newReexecFixture(t, reexecParams(10_000))
		id := fx.detResult(n1, digestBad)
		from := []common.Address{sub, n1, fx.current(id), carol}[int(who)%4]
		value := new(uint256.Int)
		if who >= 128 {
			value = emc(1)
		}
		msg := fx.Msg(from, &jobsAddr, value, data)
		msg.GasLimit = 8_000_000
		res, _ := fx.Apply(msg)
		fx.blockGas += res.UsedGas
		fx.check()
		fx.next()
	})
}

// TestReexecAccessorsConcurrent: the Go accessors the RPC views use
// (ReexecOf, ReexecsOf, FaultsOf, Jailed, BondTotal) read the same answers
// from many goroutines at once, each on its own copy of the state (a
// StateDB is not safe for concurrent use); run under -race.
func TestReexecAccessorsConcurrent(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	id := f.detResult(n1, digestBad)
	e := f.current(id)
	f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(f.detResult(n2, digestOK)))
	f.next()
	want := f.reexec(id)
	wantIDs, wantTotal := jobs.ReexecsOf(f.State, e, 0, jobs.MaxPage)
	wantFaults := jobs.FaultsOf(f.State, e)
	wantBonds, err := jobs.BondTotal(f.State)
	if err != nil || !wantBonds.Eq(emc(bondTestEMC)) {
		t.Fatalf("bond total %s %v", wantBonds, err)
	}
	copies := make([]native.StateReader, 8)
	for i := range copies {
		copies[i] = f.State.Copy()
	}
	errs := make(chan error, len(copies))
	for _, st := range copies {
		go func() {
			for k := 0; k < 20; k++ {
				r, ok, err := jobs.ReexecOf(st, id)
				ids, total := jobs.ReexecsOf(st, e, 0, jobs.MaxPage)
				fl := jobs.FaultsOf(st, e)
				bonds, berr := jobs.BondTotal(st)
				switch {
				case err != nil || berr != nil || !ok || r.Current != want.Current || len(r.Executors) != len(want.Executors):
					errs <- fmt.Errorf("ReexecOf: %+v %v %v %v", r, ok, err, berr)
					return
				case total != wantTotal || len(ids) != len(wantIDs) || fl.Reexecs != wantFaults.Reexecs || !bonds.Eq(wantBonds):
					errs <- fmt.Errorf("lists %v %d, faults %+v, bonds %s", ids, total, fl, bonds)
					return
				case jobs.Jailed(st, n1, f.Number):
					errs <- fmt.Errorf("n1 jailed")
					return
				}
			}
			errs <- nil
		}()
	}
	for range copies {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestReexecGas: submitResultDigest, dispute and submitReexec cost their
// declared gas (which prepays the hooks' rounds: ResultDigestGas,
// DisputeGas) plus the intrinsic and per-word input gas; a deterministic
// result stays well inside a block.
func TestReexecGas(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	declared := func(name string, methodGas uint64, args ...any) uint64 {
		data, err := f.abi.Pack(name, args...)
		if err != nil {
			t.Fatal(err)
		}
		return nativetest.IntrinsicGas(data) + methodGas + (uint64(len(data))+31)/32*native.GasPerInputWord
	}
	id := f.submit(detSpec(), 2*priceH200, emc(1))
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), n1)
	f.mustSend(n1, nil, "accept", bigID(id))
	args := []any{bigID(id), [32]byte{1}, uint64(detMillis), int32(0), digestOK}
	if r := f.mustSend(n1, nil, "submitResultDigest", args...); r.gasUsed != declared("submitResultDigest", jobs.ResultDigestGas, args...) {
		t.Errorf("submitResultDigest gas %d, want %d", r.gasUsed, declared("submitResultDigest", jobs.ResultDigestGas, args...))
	}
	if r := f.mustSend(sub, emc(1), "dispute", bigID(id)); r.gasUsed != declared("dispute", jobs.DisputeGas, bigID(id)) {
		t.Errorf("dispute gas %d, want %d", r.gasUsed, declared("dispute", jobs.DisputeGas, bigID(id)))
	}
	e := f.current(id)
	if r := f.mustSend(e, nil, "submitReexec", bigID(id), digestOK); r.gasUsed != declared("submitReexec", jobs.SubmitReexecGas, bigID(id), digestOK) {
		t.Errorf("submitReexec gas %d, want %d", r.gasUsed, declared("submitReexec", jobs.SubmitReexecGas, bigID(id), digestOK))
	}
	for name, g := range map[string]uint64{"submitResultDigest": jobs.ResultDigestGas, "dispute": jobs.DisputeGas, "submitReexec": jobs.SubmitReexecGas} {
		if g > 8_000_000 {
			t.Errorf("%s declares %d gas", name, g)
		}
		t.Logf("%s: %d gas", name, g)
	}
}

// TestReexecRewards: with the rewards module, a result that passes
// re-execution settles from completed and earns its node compute credits
// and trade rewards; a cheater overturned by a disputed tie (disputeTieBreak
// on) earns nothing
// for it and its slash forfeits its unvested trade rewards (staking's
// SlashCompute), the rewards module's balance staying accounted.
func TestReexecRewards(t *testing.T) {
	f, rw := buildFixture(t, fixtureConfig{jobsParams: withTieBreak(reexecParams(10_000)), rewardsParams: `{"trade":` + defaultTrade + `}`, withCredits: true})
	m := &market{fixture: f, rw: rw}
	for _, n := range []common.Address{n1, n2} {
		f.mustCall(stakingAddr, f.stkABI, n, emc(computeWei), "stake", uint8(staking.RoleCompute), uint8(0))
	}
	f.next()
	passed := func(node common.Address) uint64 {
		t.Helper()
		id := f.detResult(node, digestOK)
		e := f.current(id)
		f.mustSend(e, nil, "submitReexec", bigID(id), digestOK)
		f.to(f.job(id).Deadline)
		f.mustSend(carol, nil, "settle", bigID(id))
		if j := f.job(id); j.State != jobs.StateSettled || j.Verify != jobs.VerifyPassed {
			t.Fatalf("job %d %s verify %d", id, j.State, j.Verify)
		}
		m.checkRewards()
		return id
	}
	passed(n2)
	if m.credits(m.epoch(), n2) == 0 || m.owed(n2).IsZero() {
		t.Fatalf("n2 earned %d credits, %s trade rewards for a passed job", m.credits(m.epoch(), n2), m.owed(n2))
	}
	passed(n1)
	if m.credits(m.epoch(), n1) == 0 {
		t.Fatal("n1 earned no credits for a passed job")
	}
	if m.trade(n2).UnvestedWei.IsZero() {
		t.Fatal("n2 has no unvested trade rewards to lose")
	}
	credits2 := m.credits(m.epoch(), n2)
	bad := f.detResult(n2, digestBad)
	f.mustSend(f.current(bad), nil, "submitReexec", bigID(bad), digestOK)
	f.next()
	f.next()
	f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(bad))
	f.next()
	f.next()
	if j := f.job(bad); j.State != jobs.StateRefunded {
		t.Fatalf("cheater's job %s verify %d", j.State, j.Verify)
	}
	m.checkRewards()
	if got := m.trade(n2).UnvestedWei; !got.IsZero() {
		t.Fatalf("cheater keeps %s unvested trade rewards", got)
	}
	if got := m.credits(m.epoch(), n2); got > credits2 {
		t.Fatalf("cheater's credits rose from %d to %d", credits2, got)
	}
}

// TestJailedReexecutorRefused: a node drawn to re-execute and jailed
// before it answers (it lost another job's dispute) cannot answer: its
// digest reverts, it times out, and with no other node the result stands
// (n1 is jailed by a disputed tie, disputeTieBreak on).
func TestJailedReexecutorRefused(t *testing.T) {
	f := newFixtureWith(t, withTieBreak(reexecParams(10_000)))
	for _, n := range []common.Address{n1, n2} {
		f.mustCall(stakingAddr, f.stkABI, n, emc(computeWei), "stake", uint8(staking.RoleCompute), uint8(0))
	}
	f.next()
	pending := f.detResult(n2, digestOK)
	if e := f.current(pending); e != n1 {
		t.Fatalf("re-executor %s, want n1", e)
	}
	bad := f.detResult(n1, digestBad)
	f.mustSend(f.current(bad), nil, "submitReexec", bigID(bad), digestOK)
	f.next()
	f.next()
	f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(bad))
	f.next()
	f.next()
	if !jobs.Jailed(f.State, n1, f.Number) || f.reexec(pending).Current != n1 {
		t.Fatalf("n1 jailed %v, pending job's re-executor %s", jobs.Jailed(f.State, n1, f.Number), f.reexec(pending).Current)
	}
	f.mustRevert(n1, nil, jobs.ErrNodeJailed, "submitReexec", bigID(pending), digestBad)
	for f.reexec(pending).Current == n1 {
		f.next()
	}
	if fl := jobs.FaultsOf(f.State, n1); fl.TimedOut != 1 {
		t.Fatalf("jailed re-executor faults %+v", fl)
	}
	if j := f.job(pending); j.Verify != jobs.VerifyInconclusive {
		t.Fatalf("pending job %s verify %d", j.State, j.Verify)
	}
}
