package verify_test

import (
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/verify"
)

// missRecordedView calls the missRecorded view.
func (f *fixture) missRecordedView(e uint64, node common.Address) bool {
	f.t.Helper()
	r := f.mustCall(verifyAddr, f.abi, carol, "missRecorded", e, node)
	out, err := f.abi.Unpack("missRecorded", r.ret)
	if err != nil {
		f.t.Fatal(err)
	}
	return out[0].(bool)
}

func (f *fixture) historyView(node common.Address) []uint8 {
	f.t.Helper()
	r := f.mustCall(verifyAddr, f.abi, carol, "historyOf", node)
	out, err := f.abi.Unpack("historyOf", r.ret)
	if err != nil {
		f.t.Fatal(err)
	}
	return out[0].([]uint8)
}

// TestMissRecordedAndHistory: a lazily reported miss is not recorded
// until recordMiss; then missRecorded and the Go view say so, and the
// history holds it. Decisions and misses enter the history newest first;
// it keeps the last HistoryLen, while the counters keep counting.
func TestMissRecordedAndHistory(t *testing.T) {
	f := newFixture(t)
	if h := f.historyView(n3); len(h) != 0 || verify.HistoryOf(f.State, n3) != nil {
		t.Fatalf("history of a new node: %v", h)
	}
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	ch := f.challenge(n1, e1)
	if ch.Recorded {
		t.Fatal("a pending challenge reported recorded")
	}
	f.to(cpuDL + 1)
	if ch := f.challenge(n3, e1); ch.Status != verify.StatusMissed || ch.Recorded || f.missRecordedView(e1, n3) {
		t.Fatalf("lazy miss: %+v", ch)
	}
	f.send(carol, "recordMiss", e1, n3)
	if ch := f.challenge(n3, e1); ch.Status != verify.StatusMissed || !ch.Recorded || !f.missRecordedView(e1, n3) {
		t.Fatalf("recorded miss: %+v", ch)
	}
	if ok, err := verify.MissRecorded(f.State, e1, n3); err != nil || !ok {
		t.Fatalf("MissRecorded %v %v", ok, err)
	}
	if h := f.historyView(n3); !slices.Equal(h, []uint8{verify.StatusMissed}) {
		t.Fatalf("history %v", h)
	}
	for _, v := range ch.Verifiers[:2] {
		f.send(v, "attest", e1, n1, f.evidence(p, n1, e1, v))
	}
	f.to(ch.WindowEnd + 1)
	if ch := f.challenge(n1, e1); ch.Status != verify.StatusVerified || !ch.Recorded || f.missRecordedView(e1, n1) {
		t.Fatalf("verified challenge: %+v", ch)
	}
	// n2 committed nothing, and nobody recorded it: no history.
	if h := verify.HistoryOf(f.State, n2); h != nil {
		t.Fatalf("unrecorded miss entered the history: %v", h)
	}
	// n1 and n3 miss the next HistoryLen+1 epochs.
	const extra = verify.HistoryLen + 1
	for e := e1 + 1; e <= e1+extra; e++ {
		f.to(e*testEpochLength + 12)
		f.send(carol, "recordMiss", e, n1)
		f.send(carol, "recordMiss", e, n3)
		if e == e1+1 {
			if h := verify.HistoryOf(f.State, n1); !slices.Equal(h, []uint8{verify.StatusMissed, verify.StatusVerified}) {
				t.Fatalf("n1's history %v, want missed then verified", h)
			}
		}
	}
	want := slices.Repeat([]uint8{verify.StatusMissed}, verify.HistoryLen)
	if h := f.historyView(n1); !slices.Equal(h, want) {
		t.Fatalf("n1's history %v, want %d misses (the pass dropped)", h, verify.HistoryLen)
	}
	if got := f.faults(n1); got != (verify.Faults{Passed: 1, Missed: extra}) {
		t.Fatalf("n1's counters %+v", got)
	}
	if got := f.faults(n3); got != (verify.Faults{Missed: extra + 1}) {
		t.Fatalf("n3's counters %+v", got)
	}
}

// TestReplayedAttestationRefused: a verifier's accepted attestation of
// epoch 1 cannot be replayed: not again in epoch 1 (the slot is taken),
// not for epoch 2 (another workload and sample), not for another node.
func TestReplayedAttestationRefused(t *testing.T) {
	f := newFixture(t)
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	ch := f.challenge(n1, e1)
	f.to(simDL + 1)
	vA := ch.Verifiers[0]
	good := f.evidence(p, n1, e1, vA)
	f.send(vA, "attest", e1, n1, good)
	f.mustRevert(vA, verify.ErrSlotDone, "attest", e1, n1, good)
	// Epoch 2: n1 commits the same root again (it does not recompute).
	e2 := e1 + 1
	f.to(e2*testEpochLength + 1)
	f.commit(n1, e2, p.Root())
	ch2 := f.challenge(n1, e2)
	f.to(ch2.DeadlineBlock + 1)
	for _, v := range ch2.Verifiers {
		// The epoch-1 evidence of the same verifier under the same root
		// is refused: the sample and the workload are the epoch's own.
		f.mustRevert(v, verify.ErrEvidence, "attest", e2, n1, f.evidence(p, n1, e1, v))
	}
}
