package verify_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/staking/rewards"
)

// router is carol: no node, router credits from an accepted assignment.
var router = carol

// probers draws router's probers of epoch e and the validators not drawn.
func (f *fixture) probers(e uint64, r common.Address) (drawn, others []common.Address) {
	f.t.Helper()
	ps, ok := f.mod.DrawProbers(f.State, e, r)
	if !ok {
		f.t.Fatalf("no probers of %s in epoch %d at block %d", r, e, f.Number)
	}
	in := map[common.Address]bool{}
	for _, p := range ps {
		in[p] = true
	}
	for _, v := range f.validators {
		if !in[v] {
			others = append(others, v)
		}
	}
	return ps, others
}

// TestProbeFailRefusals: probeFail is refused from a validator the draw
// did not pick, from an account that is no validator, for another epoch,
// in the epoch's first block (no seed yet), twice from one prober, and for
// a router that earned no router credits in the epoch; each refusal
// leaves the module's state as it was.
func TestProbeFailRefusals(t *testing.T) {
	f := newFixture(t)
	f.routerCredit(router)
	ps, others := f.probers(e1, router)
	if len(ps) != 3 || len(others) != 2 {
		t.Fatalf("probers %v, others %v", ps, others)
	}
	f.mustRevert(others[0], verify.ErrNotProber, "probeFail", e1, router)
	f.mustRevert(n1, verify.ErrNotProber, "probeFail", e1, router)
	f.mustRevert(router, verify.ErrNotProber, "probeFail", e1, router)
	f.mustRevert(ps[0], verify.ErrWrongEpoch, "probeFail", e1+1, router)
	f.mustRevert(ps[0], verify.ErrWrongEpoch, "probeFail", e1-1, router)
	// n1 relayed nothing: nothing to probe, nothing to forfeit.
	if nps, _ := f.probers(e1, n1); len(nps) > 0 {
		f.mustRevert(nps[0], verify.ErrNothingToProbe, "probeFail", e1, n1)
	}
	f.send(ps[0], "probeFail", e1, router)
	f.mustRevert(ps[0], verify.ErrProbeDone, "probeFail", e1, router)
	// The next epoch's first block has no seed yet; the past epoch is closed.
	f.to(2 * testEpochLength)
	f.mustRevert(ps[1], verify.ErrWrongEpoch, "probeFail", e1, router)
	f.mustRevert(ps[1], verify.ErrNoSeed, "probeFail", e1+1, router)
}

// TestProbeFailForfeitsRouterCredits: one prober's report fails nothing;
// the second of three fails the router for the epoch and takes back
// exactly its router credits (its compute credits and everybody else's
// stay); the third is counted; the router earns no router credits for the
// rest of the epoch and earns them again the next epoch.
func TestProbeFailForfeitsRouterCredits(t *testing.T) {
	f := newFixture(t)
	k := rewards.RewardEpoch(f.Number, testEpochLength)
	routerCr, per := uint64(rewards.DefaultRouterCredits), uint64(rewards.DefaultComputeCreditsPerTask)
	f.routerCredit(router)
	f.jobDone(router)
	f.routerCredit(n1)
	if got := f.credits(k, router); got != routerCr+per {
		t.Fatalf("router credits %d, want %d", got, routerCr+per)
	}
	n1Before := f.credits(k, n1)
	ps, _ := f.probers(e1, router)
	for _, p := range ps {
		if p == router {
			t.Fatal("the router probes itself")
		}
	}
	ev := f.abi.Events["ProbeFailed"]
	r := f.send(ps[0], "probeFail", e1, router)
	if len(r.logs) != 1 || r.logs[0].Topics[0] != ev.ID || r.logs[0].Topics[3] != common.BytesToHash(ps[0][:]) {
		t.Fatalf("logs %v", r.logs)
	}
	if got := f.credits(k, router); got != routerCr+per {
		t.Fatalf("one report took credits: %d", got)
	}
	p, err := f.mod.ProbeOf(f.State, e1, router)
	if err != nil || p.RouterFailed || !p.Failed[0] || p.Failed[1] || p.Needed != 2 {
		t.Fatalf("probe after one report %+v %v", p, err)
	}
	r = f.send(ps[1], "probeFail", e1, router)
	vals, err := ev.Inputs.NonIndexed().Unpack(r.logs[0].Data)
	if err != nil || vals[0] != true {
		t.Fatalf("second report's event %v %v", vals, err)
	}
	if got := f.credits(k, router); got != per {
		t.Fatalf("failed router has %d credits, want its compute credits %d", got, per)
	}
	if got := f.credits(k, n1); got != n1Before {
		t.Fatalf("another router's credits moved: %d, was %d", got, n1Before)
	}
	f.send(ps[2], "probeFail", e1, router)
	if got := f.credits(k, router); got != per {
		t.Fatalf("third report: %d credits, want %d", got, per)
	}
	if got := verify.RouterProbesOf(f.State, router); got != (verify.RouterProbes{FailReports: 3, FailedEpochs: 1}) {
		t.Fatalf("counters %+v", got)
	}
	p, _ = f.mod.ProbeOf(f.State, e1, router)
	if !p.RouterFailed || !p.Failed[0] || !p.Failed[1] || !p.Failed[2] {
		t.Fatalf("probe %+v", p)
	}
	f.routerCredit(router)
	if got := f.credits(k, router); got != per {
		t.Fatalf("a failed router earned router credits again: %d", got)
	}
	// The view agrees with the Go reader.
	out, err := f.abi.Unpack("routerProbesOf", f.send(v1, "routerProbesOf", router).ret)
	if err != nil || out[0].(uint64) != 3 || out[1].(uint64) != 1 {
		t.Fatalf("routerProbesOf %v %v", out, err)
	}
	out, err = f.abi.Unpack("probeOf", f.send(v1, "probeOf", e1, router).ret)
	if err != nil || len(out[0].([]common.Address)) != 3 || out[0].([]common.Address)[1] != ps[1] ||
		len(out[1].([]bool)) != 3 || !out[1].([]bool)[2] || out[2].(uint8) != 2 || out[3] != true {
		t.Fatalf("probeOf %v %v", out, err)
	}
	// Next epoch: credits again, a fresh draw, counters kept.
	f.to(2*testEpochLength + 1)
	k2 := rewards.RewardEpoch(f.Number, testEpochLength)
	f.routerCredit(router)
	if got := f.credits(k2, router); got != routerCr {
		t.Fatalf("next epoch: %d credits, want %d", got, routerCr)
	}
	p2, _ := f.mod.ProbeOf(f.State, e1+1, router)
	if p2.RouterFailed || p2.Failed[0] {
		t.Fatalf("next epoch's probe %+v", p2)
	}
}

// TestOneLyingProberCannotFail: one report of three never fails a router
// (its credits stay to the epoch's end), and a router whose owner is a
// validator is never drawn to probe itself.
func TestOneLyingProberCannotFail(t *testing.T) {
	f := newFixtureWith(t, []common.Address{v1, v2, v3, router})
	f.to(2*testEpochLength + 1)
	const e2 = uint64(2)
	k := rewards.RewardEpoch(f.Number, testEpochLength)
	f.routerCredit(router)
	ps, others := f.probers(e2, router)
	if len(ps) != 3 || len(others) != 1 || others[0] != router {
		t.Fatalf("probers %v, not drawn %v", ps, others)
	}
	f.send(ps[2], "probeFail", e2, router)
	f.to(3*testEpochLength - 1)
	if got := f.credits(k, router); got != rewards.DefaultRouterCredits {
		t.Fatalf("one report took the router's credits: %d", got)
	}
	if got := verify.RouterProbesOf(f.State, router); got != (verify.RouterProbes{FailReports: 1}) {
		t.Fatalf("counters %+v", got)
	}
}
