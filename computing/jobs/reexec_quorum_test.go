package jobs_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/state/native"
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
