package jobs_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// quorumCase answers job id's re-executions with digests in draw order
// and returns the re-executors drawn.
func (f *fixture) answerAll(id uint64, digests ...[32]byte) []common.Address {
	f.t.Helper()
	var drawn []common.Address
	for _, d := range digests {
		e := f.current(id)
		drawn = append(drawn, e)
		f.mustSend(e, nil, "submitReexec", bigID(id), d)
	}
	return drawn
}

// checkUnresolved checks job id ended unresolved: nobody slashed nor
// jailed, the provider unpaid, each answering re-executor paid the job's
// cost from fees (the escrow above the cost, or the bond), the
// submitter's balance moved by want, and the disagreement counted for
// everyone who answered.
func checkUnresolved(t *testing.T, f *fixture, id uint64, provider common.Address, drawn []common.Address,
	subBefore, provBefore *uint256.Int, subGain *uint256.Int) {
	t.Helper()
	j := f.job(id)
	if j.State != jobs.StateRefunded || j.Verify != jobs.VerifyUnresolved || !j.CostWei.IsZero() {
		t.Fatalf("job %+v", j)
	}
	if rx := f.reexec(id); rx.Outcome != jobs.VerifyUnresolved {
		t.Fatalf("re-execution outcome %d", rx.Outcome)
	}
	fees := new(uint256.Int).Mul(detCost(), uint256.NewInt(uint64(len(drawn))))
	if !j.FeesWei.Eq(fees) {
		t.Fatalf("fees %s, want %s", j.FeesWei, fees)
	}
	for _, n := range append([]common.Address{provider}, drawn...) {
		fl := jobs.FaultsOf(f.State, n)
		if fl.Slashes != 0 || fl.Jails != 0 || fl.Failed != 0 || jobs.Jailed(f.State, n, f.Number) || fl.Unresolved != 1 {
			t.Fatalf("%s after an unresolved disagreement: %+v", n, fl)
		}
		if fv := f.view("faultsOf", n); len(fv) != 9 || fv[8].(uint64) != 1 || fv[0].(uint64) != 0 {
			t.Fatalf("%s: faultsOf view %v (unresolved is the ninth output)", n, fv)
		}
		// The disagreement reaches the score, mildly: below a new node's,
		// far above a slashed one's.
		if in := score.Gather(f.State, n); in.Unresolved != 1 || in.Slashes != 0 ||
			score.Of(in) >= score.Neutral || score.Of(in) <= score.Neutral/2 {
			t.Fatalf("%s: score inputs %+v, score %d", n, in, score.Of(in))
		}
	}
	if got := f.State.GetBalance(provider); !got.Eq(provBefore) {
		t.Fatalf("provider %s, was %s (not paid)", got, provBefore)
	}
	if got, want := f.State.GetBalance(sub), new(uint256.Int).Add(subBefore, subGain); !got.Eq(want) {
		t.Fatalf("submitter %s, want %s", got, want)
	}
	if !native.Burned(f.State, native.BurnSlash).IsZero() {
		t.Fatalf("slash burn %s", native.Burned(f.State, native.BurnSlash))
	}
}

// TestReexecColludingPairFramesNobody: the colluding-pair framings of
// issue 12 (a provider and its partner drawn as a re-executor against two
// honest re-executors; an honest provider and one honest re-executor
// against a colluding pair of re-executors) end 2-2: nobody is slashed,
// the submitter is refunded (the job's cost in full, the escrow less the
// re-executors' fees), each answering re-executor is paid the job's cost.
func TestReexecColludingPairFramesNobody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider [32]byte
		answers  [][32]byte
	}{
		{"colluding provider", digestBad, [][32]byte{digestOK, digestBad, digestOK}},
		{"colluding re-executors", digestOK, [][32]byte{digestBad, digestBad, digestOK}},
		{"colluding first and third", digestOK, [][32]byte{digestBad, digestOK, digestBad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReexecFixture(t, reexecParams(10_000))
			id := f.detResult(n1, tc.provider)
			subBefore, provBefore := f.State.GetBalance(sub).Clone(), f.State.GetBalance(n1).Clone()
			drawn := f.answerAll(id, tc.answers...)
			refund := new(uint256.Int).Sub(emc(1), new(uint256.Int).Mul(detCost(), uint256.NewInt(3)))
			checkUnresolved(t, f, id, n1, drawn, subBefore, provBefore, refund)
			if j := f.job(id); !j.RefundWei.Eq(refund) {
				t.Fatalf("refund %s, want %s", j.RefundWei, refund)
			}
			f.mustRevert(sub, emc(bondTestEMC), jobs.ErrWrongState, "dispute", bigID(id)) // ended
		})
	}
}

// TestDisputeUnresolved: a dispute that ends 2-2 pays the re-executors
// from the bond and gives the submitter the whole escrow and the bond's
// rest back; nobody is slashed.
func TestDisputeUnresolved(t *testing.T) {
	f := newReexecFixture(t, reexecParams(0))
	id := f.detResult(n1, digestBad)
	f.next()
	f.next()
	f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(id))
	subBefore, provBefore := f.State.GetBalance(sub).Clone(), f.State.GetBalance(n1).Clone()
	drawn := f.answerAll(id, digestOK, digestBad, digestOK)
	gain := new(uint256.Int).Sub(emc(1+bondTestEMC), new(uint256.Int).Mul(detCost(), uint256.NewInt(3)))
	checkUnresolved(t, f, id, n1, drawn, subBefore, provBefore, gain)
	if total, _ := jobs.BondTotal(f.State); !total.IsZero() {
		t.Fatalf("bond total %s", total)
	}
}

// TestReexecThreeDigests: the provider and two re-executors give three
// different digests: no digest can reach the quorum with the one answer
// left, so it ends unresolved at once, without a third draw.
func TestReexecThreeDigests(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	id := f.detResult(n1, digestBad)
	subBefore, provBefore := f.State.GetBalance(sub).Clone(), f.State.GetBalance(n1).Clone()
	drawn := f.answerAll(id, digestOK, [32]byte{0xcc})
	if rx := f.reexec(id); len(rx.Executors) != 2 {
		t.Fatalf("drew %v", rx.Executors)
	}
	refund := new(uint256.Int).Sub(emc(1), new(uint256.Int).Mul(detCost(), uint256.NewInt(2)))
	checkUnresolved(t, f, id, n1, drawn, subBefore, provBefore, refund)
}

// TestReexecLateAnswersUnresolved: after a disagreement the other
// re-executors time out: at the last draw no digest has the quorum, so
// the job is refunded unresolved (the provider never slashed by two
// voices).
func TestReexecLateAnswersUnresolved(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	id := f.detResult(n1, digestOK)
	subBefore, provBefore := f.State.GetBalance(sub).Clone(), f.State.GetBalance(n1).Clone()
	drawn := f.answerAll(id, digestBad, digestOK)
	for i := 0; i < 2000 && !f.job(id).State.Ended(); i++ {
		f.next() // the rest time out (or none is left to draw)
	}
	refund := new(uint256.Int).Sub(emc(1), new(uint256.Int).Mul(detCost(), uint256.NewInt(2)))
	checkUnresolved(t, f, id, n1, drawn, subBefore, provBefore, refund)
}

// TestDisputeTieBreak: the two-node attack on an honest provider. n1 is
// honest, n2 lies as its re-executor, and the submitter disputes (after a
// sampled tie, or at once); no third node fits, so the dispute's draw
// finds nobody in a registry of at most MaxReexecProbes nodes. With
// disputeTieBreak off (the default) that is unresolved: nobody slashed,
// the provider unpaid, the liar paid the job's cost from the bond, the
// submitter back the escrow and the bond's rest, supply exact (the
// fixture checks it every block). With it on, the old rule: the bond
// breaks the tie, the honest provider is slashed and jailed, the liar
// paid from the slash, the submitter refunded escrow and bond.
func TestDisputeTieBreak(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sampled  bool
		tieBreak bool
	}{
		{"sampled tie, off", true, false},
		{"direct dispute, off", false, false},
		{"sampled tie, on", true, true},
		{"direct dispute, on", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := reexecParams(0)
			if tc.sampled {
				params = reexecParams(10_000)
			}
			if tc.tieBreak {
				params = withTieBreak(params)
			}
			f := newFixtureWith(t, params)
			for _, n := range []common.Address{n1, n2} {
				f.mustCall(stakingAddr, f.stkABI, n, emc(computeWei), "stake", uint8(staking.RoleCompute), uint8(0))
			}
			f.next()
			id := f.detResult(n1, digestOK)
			if tc.sampled {
				if e := f.current(id); e != n2 {
					t.Fatalf("re-executor %s, want n2", e)
				}
				f.mustSend(n2, nil, "submitReexec", bigID(id), digestBad)
				f.next()
				f.next()
				if j := f.job(id); j.State != jobs.StateCompleted || j.Verify != jobs.VerifyInconclusive {
					t.Fatalf("sampled tie: %s verify %d", j.State, j.Verify)
				}
			} else {
				f.next()
				f.next()
			}
			f.mustSend(sub, emc(bondTestEMC), "dispute", bigID(id))
			subBefore, provBefore, liarBefore := f.State.GetBalance(sub).Clone(), f.State.GetBalance(n1).Clone(), f.State.GetBalance(n2).Clone()
			if !tc.sampled {
				if e := f.current(id); e != n2 {
					t.Fatalf("re-executor %s, want n2", e)
				}
				r := f.mustSend(n2, nil, "submitReexec", bigID(id), digestBad)
				liarBefore.Sub(liarBefore, nativetest.Fee(r.gasUsed))
			}
			for i := 0; i < 5 && !f.job(id).State.Ended(); i++ {
				f.next() // the next draw finds no third node
			}
			if rx := f.reexec(id); len(rx.Executors) != 1 || rx.Executors[0] != n2 {
				t.Fatalf("drew %v, want n2 alone", rx.Executors)
			}
			if total, _ := jobs.BondTotal(f.State); !total.IsZero() {
				t.Fatalf("bond total %s", total)
			}
			if bal := f.State.GetBalance(jobsAddr); !bal.IsZero() {
				t.Fatalf("module holds %s", bal)
			}
			cost := detCost()
			if !tc.tieBreak {
				checkUnresolved(t, f, id, n1, []common.Address{n2}, subBefore, provBefore,
					new(uint256.Int).Sub(emc(1+bondTestEMC), cost))
				if got, want := f.State.GetBalance(n2), new(uint256.Int).Add(liarBefore, cost); !got.Eq(want) {
					t.Fatalf("re-executor %s, want %s (the job's cost from the bond)", got, want)
				}
				if j := f.job(id); !j.RefundWei.Eq(emc(1)) {
					t.Fatalf("refund %s, want the escrow", j.RefundWei)
				}
				return
			}
			j := f.job(id)
			if j.State != jobs.StateRefunded || j.Verify != jobs.VerifyFailed {
				t.Fatalf("tie broken: %s verify %d", j.State, j.Verify)
			}
			if fl := jobs.FaultsOf(f.State, n1); fl.Slashes != 1 || !jobs.Jailed(f.State, n1, f.Number) {
				t.Fatalf("provider faults %+v (the tie break slashes it)", fl)
			}
			if fl := jobs.FaultsOf(f.State, n2); fl.Slashes != 0 || fl.Passed != 1 {
				t.Fatalf("re-executor faults %+v", fl)
			}
			if got, want := f.State.GetBalance(sub), new(uint256.Int).Add(subBefore, emc(1+bondTestEMC)); !got.Eq(want) {
				t.Fatalf("submitter %s, want %s", got, want)
			}
			if got, want := f.State.GetBalance(n2), new(uint256.Int).Add(liarBefore, cost); !got.Eq(want) {
				t.Fatalf("re-executor %s, want %s (the job's cost from the slash)", got, want)
			}
		})
	}
}
