package verify_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// TestHappyPath: n1 commits its honest root, the three drawn verifiers
// attest with the chunks the chain samples for each, and the end of the
// window makes it a verified task paid in compute credits.
func TestHappyPath(t *testing.T) {
	f := newFixture(t)
	p := f.prove(n1, e1, 256)
	r := f.commit(n1, e1, p.Root())
	t.Logf("commitRoot gas %d (limit charged %d)", r.gasUsed, verify.CommitGas(3))
	ch := f.challenge(n1, e1)
	if ch.Status != verify.StatusCommitted || ch.N != 256 || ch.Root != p.Root() || ch.DeadlineBlock != simDL ||
		ch.WindowEnd != simDL+attestN || len(ch.Verifiers) != 3 || ch.Needed != 2 {
		t.Fatalf("challenge %+v", ch)
	}
	if slices.Contains(ch.Verifiers, n1) || !distinct(ch.Verifiers) {
		t.Fatalf("verifiers %v", ch.Verifiers)
	}
	f.to(simDL + 1)
	for _, v := range ch.Verifiers {
		r := f.send(v, "attest", e1, n1, f.evidence(p, n1, e1, v))
		t.Logf("attest gas %d (n 256, 4 chunks)", r.gasUsed)
	}
	if got := f.challenge(n1, e1).Slots; !slices.Equal(got, []uint8{verify.SlotPassed, verify.SlotPassed, verify.SlotPassed}) {
		t.Fatalf("slots %v", got)
	}
	f.to(ch.WindowEnd)
	if st := f.challenge(n1, e1).Status; st != verify.StatusCommitted {
		t.Fatalf("decided before the window's last block ended: %d", st)
	}
	f.next()
	if st := f.challenge(n1, e1).Status; st != verify.StatusVerified {
		t.Fatalf("status %d, want verified", st)
	}
	if got := f.faults(n1); got != (verify.Faults{Passed: 1}) {
		t.Fatalf("faults %+v", got)
	}
	for _, v := range ch.Verifiers {
		if got := f.faults(v); got != (verify.Faults{}) {
			t.Fatalf("verifier %s faults %+v", v, got)
		}
	}
	k := rewards.RewardEpoch(ch.WindowEnd, testEpochLength)
	if got := f.credits(k, n1); got != rewards.DefaultComputeCreditsPerTask {
		t.Fatalf("credits %d, want %d", got, rewards.DefaultComputeCreditsPerTask)
	}
	// Decided: nothing more can be posted.
	f.mustRevert(ch.Verifiers[0], verify.ErrWindow, "attestFail", e1, n1)
}

func distinct(as []common.Address) bool {
	seen := map[common.Address]bool{}
	for _, a := range as {
		if seen[a] {
			return false
		}
		seen[a] = true
	}
	return true
}

// TestCommitRefusals: every way commitRoot is refused.
func TestCommitRefusals(t *testing.T) {
	f := newFixture(t)
	p := f.prove(n1, e1, 256)
	root := [32]byte(p.Root())
	f.mustRevert(n1, verify.ErrWrongEpoch, "commitRoot", e1+1, root)
	f.mustRevert(n1, verify.ErrWrongEpoch, "commitRoot", e1-1, root)
	f.mustRevert(n1, verify.ErrZeroRoot, "commitRoot", e1, [32]byte{})
	f.mustRevert(carol, verify.ErrNotNode, "commitRoot", e1, root)
	// Registered during the epoch: challenged from the next one.
	f.registerNode(late, 4, 1, true)
	f.mustRevert(late, verify.ErrNotNode, "commitRoot", e1, root)
	// A listing changed during the epoch may have changed class.
	f.mustCall(regAddr, f.regABI, n2, "updateNode", [32]byte{9}, uint32(1), "NVIDIA H200", uint64(143_771), false,
		[]string{"NVIDIA H200"}, []*bigInt{bigOne()}, bigZero(), [][32]byte{{0xaa}})
	f.mustRevert(n2, verify.ErrListingChanged, "commitRoot", e1, root)

	f.commit(n1, e1, p.Root())
	f.mustRevert(n1, verify.ErrCommitted, "commitRoot", e1, root)
	f.mustRevert(n1, verify.ErrCommitted, "commitRoot", e1, [32]byte{1})

	// n3 (CPU class, deadline block b+11): on time at the deadline block,
	// late one block after; and late by block time even in time by block.
	f.to(cpuDL + 1)
	f.mustRevert(n3, verify.ErrLate, "commitRoot", e1, [32]byte{3})

	g := newFixture(t)
	g.to(simDL)
	g.Time += 1 // a slow block: the deadline block's time is past seed time + 10 s
	gp := g.prove(n1, e1, 256)
	g.mustRevert(n1, verify.ErrLate, "commitRoot", e1, [32]byte(gp.Root()))

	// The epoch's first block has no seed yet.
	h := newFixture(t)
	h.to(2 * testEpochLength)
	h.mustRevert(n1, verify.ErrNoSeed, "commitRoot", uint64(2), root)
}

// TestAttestRefusals: attestations by the wrong account, at the wrong
// time, twice, or with evidence that does not check are refused.
func TestAttestRefusals(t *testing.T) {
	f := newFixture(t)
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	p2 := f.prove(n2, e1, 256)
	f.commit(n2, e1, p2.Root())
	ch := f.challenge(n1, e1)
	vA, vB, vC := ch.Verifiers[0], ch.Verifiers[1], ch.Verifiers[2]
	outsider := notIn(ch.Verifiers, v1, v2, v3, v4, v5)

	// Before the window: the sample seed does not exist yet.
	f.mustRevert(vA, verify.ErrWindow, "attestFail", e1, n1)
	f.mustRevert(vA, verify.ErrWindow, "attest", e1, n1, []byte{1})
	f.to(simDL + 1)
	good := f.evidence(p, n1, e1, vA)

	f.mustRevert(outsider, verify.ErrNotVerifier, "attest", e1, n1, f.evidence(p, n1, e1, outsider))
	f.mustRevert(outsider, verify.ErrNotVerifier, "attestFail", e1, n1)
	f.mustRevert(carol, verify.ErrNotVerifier, "attest", e1, n1, good)
	f.mustRevert(n1, verify.ErrNotVerifier, "attest", e1, n1, good)
	f.mustRevert(vA, verify.ErrNoChallenge, "attest", e1, n3, good)
	f.mustRevert(vA, verify.ErrNoChallenge, "attest", e1+1, n1, good)

	// Forged evidence: another verifier's chunks, another node's chunks
	// (valid against that node's root), chunks of the right node under a
	// proof of another root, a flipped entry, junk, a wrong n.
	f.mustRevert(vA, verify.ErrEvidence, "attest", e1, n1, f.evidence(p, n1, e1, vB))
	f.mustRevert(vA, verify.ErrEvidence, "attest", e1, n1, f.evidence(p2, n1, e1, vA))
	flipped := slices.Clone(good)
	flipped[6+4+3] ^= 1 // first chunk, first entry
	f.mustRevert(vA, verify.ErrEvidence, "attest", e1, n1, flipped)
	f.mustRevert(vA, verify.ErrEvidence, "attest", e1, n1, []byte{})
	f.mustRevert(vA, verify.ErrEvidence, "attest", e1, n1, []byte{2, 0, 0, 1, 0, 4})
	other := f.prove(n1, e1, 128) // right seed, wrong size
	f.mustRevert(vA, verify.ErrEvidence, "attest", e1, n1, encodeFor(t, other, []int{0, 1, 2, 3}))
	f.provers[n1] = p

	f.send(vA, "attest", e1, n1, good)
	f.mustRevert(vA, verify.ErrSlotDone, "attest", e1, n1, good)
	f.mustRevert(vA, verify.ErrSlotDone, "attestFail", e1, n1)
	f.send(vB, "attestFail", e1, n1)
	f.mustRevert(vB, verify.ErrSlotDone, "attestFail", e1, n1)
	f.mustRevert(vB, verify.ErrSlotDone, "attest", e1, n1, f.evidence(p, n1, e1, vB))

	// Late: after the window's last block.
	lateEv := f.evidence(p, n1, e1, vC)
	f.to(ch.WindowEnd + 1)
	f.mustRevert(vC, verify.ErrWindow, "attest", e1, n1, lateEv)
	// vA passed, vB failed, vC silent: 1 pass of 2 needed.
	if st := f.challenge(n1, e1).Status; st != verify.StatusFailed {
		t.Fatalf("status %d, want failed", st)
	}
	if got := f.faults(n1); got != (verify.Faults{Failed: 1}) {
		t.Fatalf("node faults %+v", got)
	}
	// n2's challenge got no attestation at all: a missed duty for each
	// of its verifiers too.
	n2vs := f.challenge(n2, e1).Verifiers
	if got, want := f.faults(vC).MissedDuties, 1+dutyIn(n2vs, vC); got != want {
		t.Fatalf("silent verifier: %d missed duties, want %d", got, want)
	}
	if got := f.faults(vB); got != (verify.Faults{MissedDuties: dutyIn(n2vs, vB)}) {
		t.Fatalf("unrebutted fail counted against the verifier: %+v", got)
	}
}

// dutyIn is 1 if v is among vs.
func dutyIn(vs []common.Address, v common.Address) uint64 {
	if slices.Contains(vs, v) {
		return 1
	}
	return 0
}

// encodeFor encodes p's openings of chunks.
func encodeFor(t *testing.T, p *pow.Prover, chunks []int) []byte {
	t.Helper()
	ops, err := p.Open(chunks)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pow.EncodeOpenings(p.Workload().N, ops)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// notIn is the first of cands not in xs.
func notIn(xs []common.Address, cands ...common.Address) common.Address {
	for _, c := range cands {
		if !slices.Contains(xs, c) {
			return c
		}
	}
	panic("no candidate left")
}

// TestCheaterFailsDespiteCollusion: n2 commits a root over an output it
// did not compute (all zeros). Two colluding verifiers want to pass it;
// every attestation they can make is refused, because the chain checks
// the chunks against the recomputed ones; the honest third fails it. The
// cheater cannot rebut either. The challenge fails and pays nothing.
func TestCheaterFailsDespiteCollusion(t *testing.T) {
	f := newFixture(t)
	w := pow.Workload{Seed: pow.ChallengeSeed(f.seed(e1), n2), N: 256}
	junk, err := pow.NewProver(w, make([]int32, 256*256), 1)
	if err != nil {
		t.Fatal(err)
	}
	f.commit(n2, e1, junk.Root())
	ch := f.challenge(n2, e1)
	f.to(simDL + 1)
	for _, v := range ch.Verifiers[:2] {
		// The colluders post the cheater's own openings: Merkle-valid
		// against the committed root, wrong against the workload.
		f.mustRevert(v, verify.ErrEvidence, "attest", e1, n2, f.evidence(junk, n2, e1, v))
		// Or an honest node's answer: not under this root.
		honest := f.prove(n2, e1, 256)
		f.mustRevert(v, verify.ErrEvidence, "attest", e1, n2, f.evidence(honest, n2, e1, v))
	}
	f.send(ch.Verifiers[2], "attestFail", e1, n2)
	f.mustRevert(n2, verify.ErrEvidence, "rebut", e1, ch.Verifiers[2], f.evidence(junk, n2, e1, ch.Verifiers[2]))
	f.to(ch.WindowEnd + 1)
	if st := f.challenge(n2, e1).Status; st != verify.StatusFailed {
		t.Fatalf("status %d, want failed", st)
	}
	if got := f.faults(n2); got != (verify.Faults{Failed: 1}) {
		t.Fatalf("faults %+v", got)
	}
	if got := f.credits(rewards.RewardEpoch(ch.WindowEnd, testEpochLength), n2); got != 0 {
		t.Fatalf("cheater earned %d credits", got)
	}
}

// TestRebutSavesHonestNode: two colluding verifiers attest fail on an
// honest node and the third stays silent; the node posts their evidence
// itself and the challenge is verified. The false fails are counted
// against the two.
func TestRebutSavesHonestNode(t *testing.T) {
	f := newFixture(t)
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	p2 := f.prove(n2, e1, 256)
	f.commit(n2, e1, p2.Root())
	ch := f.challenge(n1, e1)
	vA, vB, vC := ch.Verifiers[0], ch.Verifiers[1], ch.Verifiers[2]
	f.to(simDL + 1)
	f.send(vA, "attestFail", e1, n1)
	f.send(vB, "attestFail", e1, n1)

	// Refusals: a rebut by an account without a challenge, for an account
	// that is not a verifier, with the wrong chunks or another node's.
	f.mustRevert(carol, verify.ErrNoChallenge, "rebut", e1, vA, f.evidence(p, n1, e1, vA))
	f.mustRevert(n1, verify.ErrNotVerifier, "rebut", e1, carol, f.evidence(p, n1, e1, vA))
	f.mustRevert(n1, verify.ErrEvidence, "rebut", e1, vA, f.evidence(p, n1, e1, vB))
	f.mustRevert(n1, verify.ErrEvidence, "rebut", e1, vA, f.evidence(p2, n1, e1, vA))
	// n2 cannot rebut for n1: rebut acts on the caller's own challenge,
	// and n1's evidence does not check against n2's.
	if slices.Contains(f.challenge(n2, e1).Verifiers, vA) {
		f.mustRevert(n2, verify.ErrEvidence, "rebut", e1, vA, f.evidence(p, n1, e1, vA))
	}

	r := f.send(n1, "rebut", e1, vA, f.evidence(p, n1, e1, vA))
	t.Logf("rebut gas %d (n 256, 4 chunks, a false fail)", r.gasUsed)
	f.send(n1, "rebut", e1, vB, f.evidence(p, n1, e1, vB))
	f.mustRevert(n1, verify.ErrSlotDone, "rebut", e1, vB, f.evidence(p, n1, e1, vB))
	f.send(n1, "rebut", e1, vC, f.evidence(p, n1, e1, vC))
	f.mustRevert(vC, verify.ErrSlotDone, "attest", e1, n1, f.evidence(p, n1, e1, vC))
	f.mustRevert(vC, verify.ErrSlotDone, "attestFail", e1, n1)
	want := []uint8{verify.SlotRebutted, verify.SlotRebutted, verify.SlotProvenByNode}
	if got := f.challenge(n1, e1).Slots; !slices.Equal(got, want) {
		t.Fatalf("slots %v, want %v", got, want)
	}
	f.to(ch.WindowEnd + 1)
	if st := f.challenge(n1, e1).Status; st != verify.StatusVerified {
		t.Fatalf("status %d, want verified", st)
	}
	if got := f.faults(n1); got != (verify.Faults{Passed: 1}) {
		t.Fatalf("node faults %+v", got)
	}
	n2vs := f.challenge(n2, e1).Verifiers // n2's challenge got no attestation: a duty missed by each
	// vC, whose slot the node proved before it acted, is not blamed.
	for v, want := range map[common.Address]verify.Faults{vA: {FalseFails: 1}, vB: {FalseFails: 1}, vC: {}} {
		want.MissedDuties += dutyIn(n2vs, v)
		if got := f.faults(v); got != want {
			t.Fatalf("verifier %s: %+v, want %+v", v, got, want)
		}
	}
	if got := f.credits(rewards.RewardEpoch(ch.WindowEnd, testEpochLength), n1); got != rewards.DefaultComputeCreditsPerTask {
		t.Fatalf("credits %d", got)
	}
}

// TestMiss: a node that never commits is reported missed once every
// deadline of the epoch passed, and recordMiss counts it once.
func TestMiss(t *testing.T) {
	f := newFixture(t)
	f.mustRevert(carol, verify.ErrWindow, "recordMiss", e1, n3)
	if st := f.challenge(n3, e1).Status; st != verify.StatusNone {
		t.Fatalf("status %d before the deadline", st)
	}
	f.to(cpuDL + 1)
	if st := f.challenge(n3, e1).Status; st != verify.StatusMissed {
		t.Fatalf("status %d, want missed (lazily)", st)
	}
	if st := f.challenge(carol, e1).Status; st != verify.StatusNone {
		t.Fatalf("an account without a node: status %d", st)
	}
	f.mustRevert(carol, verify.ErrNotNode, "recordMiss", e1, carol)
	f.mustRevert(carol, verify.ErrNoSeed, "recordMiss", e1+5, n3)
	f.send(carol, "recordMiss", e1, n3)
	f.mustRevert(carol, verify.ErrCommitted, "recordMiss", e1, n3)
	if got := f.faults(n3); got != (verify.Faults{Missed: 1}) {
		t.Fatalf("faults %+v", got)
	}
	if st := f.challenge(n3, e1).Status; st != verify.StatusMissed {
		t.Fatalf("status %d, want missed", st)
	}
	f.mustRevert(n3, verify.ErrCommitted, "commitRoot", e1, [32]byte{1})
}

// TestVerifiersNeverTheOwner: a node whose owner is a validator is never
// its own verifier, whatever the seed; with no other validator its
// challenge is void (neither a task nor a fault).
func TestVerifiersNeverTheOwner(t *testing.T) {
	f := newFixtureWith(t, []common.Address{v1, n1, v2, v3})
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	ch := f.challenge(n1, e1)
	slices.SortFunc(ch.Verifiers, func(a, b common.Address) int { return a.Cmp(b) })
	if !slices.Equal(ch.Verifiers, []common.Address{v1, v2, v3}) {
		t.Fatalf("verifiers %v", ch.Verifiers)
	}
	// Two validators besides the owner: 2 slots, both needed.
	g := newFixtureWith(t, []common.Address{n1, v1, v2})
	gp := g.prove(n1, e1, 256)
	g.commit(n1, e1, gp.Root())
	if ch := g.challenge(n1, e1); len(ch.Verifiers) != 2 || ch.Needed != 2 {
		t.Fatalf("challenge %+v", ch)
	}
	h := newFixtureWith(t, []common.Address{n1})
	hp := h.prove(n1, e1, 256)
	h.commit(n1, e1, hp.Root())
	hc := h.challenge(n1, e1)
	if len(hc.Verifiers) != 0 {
		t.Fatalf("verifiers %v", hc.Verifiers)
	}
	h.to(hc.WindowEnd + 1)
	if st := h.challenge(n1, e1).Status; st != verify.StatusVoid {
		t.Fatalf("status %d, want void", st)
	}
	if got := h.faults(n1); got != (verify.Faults{}) {
		t.Fatalf("faults %+v", got)
	}
}

// TestDrawSpreads: over many nodes the draw uses every validator and
// never repeats one in a challenge.
func TestDrawSpreads(t *testing.T) {
	f := newFixture(t)
	seen := map[common.Address]int{}
	for i := range 200 {
		node := common.BigToAddress(bigInt64(int64(1000 + i)))
		vs := f.mod.DrawVerifiers(f.State, e1, pow.ChallengeSeed(f.seed(e1), node), node)
		if len(vs) != 3 || !distinct(vs) {
			t.Fatalf("draw %v", vs)
		}
		for _, v := range vs {
			seen[v]++
		}
	}
	for _, v := range []common.Address{v1, v2, v3, v4, v5} {
		if seen[v] < 80 { // 600 draws over 5: 120 expected
			t.Fatalf("validator %s drawn %d times: %v", v, seen[v], seen)
		}
	}
}

// TestFailForfeitsJobCredits: a node that fails its challenge loses the
// compute credits its jobs earned in the epoch, before and after the
// decision, but keeps its router credits; a node that passes keeps its
// job credits and earns the task's; a miss recorded in the epoch forfeits
// too.
func TestFailForfeitsJobCredits(t *testing.T) {
	f := newFixture(t)
	per := uint64(rewards.DefaultComputeCreditsPerTask)
	k := rewards.RewardEpoch(f.Number, testEpochLength)
	if f.jobDone(n2) != per || f.jobDone(n2) != per || f.jobDone(n1) != per || f.jobDone(n3) != per {
		t.Fatal("job credits not added")
	}
	f.routerCredit(n2)
	routerCredits := f.credits(k, n2) - 2*per
	if routerCredits == 0 {
		t.Fatal("no router credits")
	}
	w := pow.Workload{Seed: pow.ChallengeSeed(f.seed(e1), n2), N: 256}
	junk, err := pow.NewProver(w, make([]int32, 256*256), 1)
	if err != nil {
		t.Fatal(err)
	}
	f.commit(n2, e1, junk.Root())
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	ch := f.challenge(n1, e1)
	f.to(simDL + 1)
	for _, v := range ch.Verifiers {
		f.send(v, "attest", e1, n1, f.evidence(p, n1, e1, v))
	}
	f.to(ch.WindowEnd + 1)
	if got := f.credits(k, n2); got != routerCredits {
		t.Fatalf("failed node: %d credits, want its router credits %d", got, routerCredits)
	}
	if got := f.jobDone(n2); got != 0 || f.credits(k, n2) != routerCredits {
		t.Fatalf("a job after the failure earned %d", got)
	}
	if got := f.credits(k, n1); got != 2*per {
		t.Fatalf("verified node: %d credits, want %d (a job and the task)", got, 2*per)
	}
	// n3 never commits; the miss, recorded in the epoch, forfeits.
	f.send(carol, "recordMiss", e1, n3)
	if got := f.credits(k, n3); got != 0 {
		t.Fatalf("missed node kept %d credits", got)
	}
	// A miss recorded after the epoch counts but takes nothing from the
	// next epoch's credits.
	g := newFixture(t)
	g.to(2*testEpochLength + 1)
	k2 := rewards.RewardEpoch(g.Number, testEpochLength)
	g.jobDone(n3)
	g.send(carol, "recordMiss", e1, n3)
	if got := g.credits(k2, n3); got != per {
		t.Fatalf("a past miss took %d of the current epoch's credits", got)
	}
	if got := g.faults(n3); got.Missed != 1 {
		t.Fatalf("faults %+v", got)
	}
}

// TestVerifierNotTheOwnersSigner: the set lists signers; a validator
// whose signer the node's owner claimed (staking setSigner) is never that
// node's verifier.
func TestVerifierNotTheOwnersSigner(t *testing.T) {
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("n1's signer")))
	if err != nil {
		t.Fatal(err)
	}
	sgn := crypto.PubkeyToAddress(key.PublicKey)
	f := newFixtureWith(t, []common.Address{v1, sgn, v2, v3})
	r := f.callValue(native.StakingAddress, f.stkABI, n1, emc(1), "stake", uint8(staking.RoleValidator), uint8(0))
	if r.err != nil {
		t.Fatalf("stake: %v %q", r.err, r.reason())
	}
	consent, err := staking.SignSignerConsent(key, f.Config.ChainID, n1, staking.SignerNonce(f.State, sgn))
	if err != nil {
		t.Fatal(err)
	}
	f.mustCall(native.StakingAddress, f.stkABI, n1, "setSigner", sgn, consent)
	if o, ok := staking.SignerOwner(f.State, sgn); !ok || o != n1 {
		t.Fatalf("signer owner %s %v", o, ok)
	}
	p := f.prove(n1, e1, 256)
	f.commit(n1, e1, p.Root())
	vs := f.challenge(n1, e1).Verifiers
	slices.SortFunc(vs, func(a, b common.Address) int { return a.Cmp(b) })
	if !slices.Equal(vs, []common.Address{v1, v2, v3}) {
		t.Fatalf("verifiers %v", vs)
	}
	// Another node may draw that signer.
	seen := false
	for i := range 50 {
		node := common.BigToAddress(bigInt64(int64(5000 + i)))
		seen = seen || slices.Contains(f.mod.DrawVerifiers(f.State, e1, pow.ChallengeSeed(f.seed(e1), node), node), sgn)
	}
	if !seen {
		t.Fatal("the signer is never drawn for other nodes")
	}
}

// FuzzAttestEvidence: whatever bytes a verifier posts as openings, the
// attest handler refuses them with ErrEvidence and writes nothing, and
// the gas function prices them without panicking; only the evidence
// itself (left out here: accepting it changes the slot) passes. The
// handler runs on the fixture's state, as the EVM would run it for the
// verifier's direct call.
func FuzzAttestEvidence(f *testing.F) {
	fx := newFixture(f)
	p := fx.prove(n1, e1, 256)
	fx.commit(n1, e1, p.Root())
	ch := fx.challenge(n1, e1)
	fx.to(simDL + 1)
	v := ch.Verifiers[0]
	good := fx.evidence(p, n1, e1, v)
	var attest native.Method
	for _, m := range fx.mod.Methods() {
		if m.Name == "attest" {
			attest = m
		}
	}
	f.Add(good)
	f.Add(fx.evidence(p, n1, e1, ch.Verifiers[1]))
	f.Add(good[:len(good)-1])
	f.Add([]byte{2, 0, 0, 1, 0, 4})
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	root := fx.State.GetStorageRoot(verifyAddr)
	f.Fuzz(func(t *testing.T, b []byte) {
		args := []any{e1, n1, b}
		_ = attest.InputGas(args)
		if slices.Equal(b, good) {
			return
		}
		c := &native.Call{State: fx.State, Module: verifyAddr, Direct: true, Caller: v, BlockNumber: fx.Number, Time: fx.Time,
			Value: new(uint256.Int), ChainID: new(uint256.Int)}
		if _, err := attest.Handler(c, args); !errors.Is(err, verify.ErrEvidence) {
			t.Fatalf("%d bytes: %v", len(b), err)
		}
		if fx.State.GetStorageRoot(verifyAddr) != root {
			t.Fatal("a refused attestation wrote state")
		}
	})
}

// TestLazyNodes: nodes that computed only part of their output (the rest
// zeros) over three epochs. For every verifier, attest succeeds exactly
// when each chunk sampled for it was computed, and is refused otherwise;
// the decision follows the passing slots (2 of 3). A node that computed
// half the chunks passes a slot with probability 1/16; one that computed
// 90 % with about 0.66.
func TestLazyNodes(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(31, 32))
	verified := map[common.Address]int{}
	for e := e1; e <= 3; e++ {
		f.to(e*testEpochLength + 1)
		skipped := map[common.Address]map[int]bool{}
		provers := map[common.Address]*pow.Prover{}
		for node, frac := range map[common.Address]float64{n1: 0.5, n2: 0.9} {
			w := pow.Workload{Seed: pow.ChallengeSeed(f.seed(e), node), N: 256}
			c, err := pow.Compute(context.Background(), w, 2)
			if err != nil {
				t.Fatal(err)
			}
			skipped[node] = map[int]bool{}
			for i := range pow.Chunks(256) {
				if rng.Float64() >= frac {
					skipped[node][i] = true
					clear(c[i*pow.ChunkEntries : (i+1)*pow.ChunkEntries])
				}
			}
			if provers[node], err = pow.NewProver(w, c, 2); err != nil {
				t.Fatal(err)
			}
			f.commit(node, e, provers[node].Root())
		}
		f.to(e*testEpochLength + 1 + 5 + 1) // the simulated class's window opens
		passes := map[common.Address]int{}
		for node, p := range provers {
			ch := f.challenge(node, e)
			sampleSeed, _ := verify.SampleSeed(f.State, ch.DeadlineBlock)
			for _, v := range ch.Verifiers {
				chunks, err := pow.SampleChunks(sampleSeed, p.Root(), v, 256, 4)
				if err != nil {
					t.Fatal(err)
				}
				ev := f.evidence(p, node, e, v)
				if slices.ContainsFunc(chunks, func(i int) bool { return skipped[node][i] }) {
					f.mustRevert(v, verify.ErrEvidence, "attest", e, node, ev)
					f.send(v, "attestFail", e, node)
				} else {
					f.send(v, "attest", e, node, ev)
					passes[node]++
				}
			}
		}
		f.to(e*testEpochLength + 1 + 5 + attestN + 1)
		for node := range provers {
			want := verify.StatusFailed
			if passes[node] >= 2 {
				want = verify.StatusVerified
				verified[node]++
			}
			if got := f.challenge(node, e).Status; got != want {
				t.Fatalf("epoch %d node %s: %d slots passed, status %d, want %d", e, node, passes[node], got, want)
			}
		}
		// n3 never commits in these epochs.
		f.send(carol, "recordMiss", e, n3)
	}
	t.Logf("verified challenges over 3 epochs: half-computed %d, 90%%-computed %d", verified[n1], verified[n2])
	got1, got2 := f.faults(n1), f.faults(n2)
	if got1.Passed+got1.Failed != 3 || got2.Passed+got2.Failed != 3 || f.faults(n3).Missed != 3 {
		t.Fatalf("counters n1 %+v n2 %+v n3 %+v", got1, got2, f.faults(n3))
	}
}

// TestSlotTransitions: one row per (slot state, action) edge of a
// verifier slot: attest and attestFail by its verifier, rebut by the
// node; every edge out of a decided slot is refused.
func TestSlotTransitions(t *testing.T) {
	type action int
	const (
		attest action = iota
		attestFail
		rebut
	)
	reach := map[uint8][]action{
		verify.SlotPending:      nil,
		verify.SlotPassed:       {attest},
		verify.SlotFailed:       {attestFail},
		verify.SlotRebutted:     {attestFail, rebut},
		verify.SlotProvenByNode: {rebut},
	}
	for _, tc := range []struct {
		from uint8
		do   action
		to   uint8
		err  error
	}{
		{verify.SlotPending, attest, verify.SlotPassed, nil},
		{verify.SlotPending, attestFail, verify.SlotFailed, nil},
		{verify.SlotPending, rebut, verify.SlotProvenByNode, nil},
		{verify.SlotPassed, attest, 0, verify.ErrSlotDone},
		{verify.SlotPassed, attestFail, 0, verify.ErrSlotDone},
		{verify.SlotPassed, rebut, 0, verify.ErrSlotDone},
		{verify.SlotFailed, attest, 0, verify.ErrSlotDone},
		{verify.SlotFailed, attestFail, 0, verify.ErrSlotDone},
		{verify.SlotFailed, rebut, verify.SlotRebutted, nil},
		{verify.SlotRebutted, attest, 0, verify.ErrSlotDone},
		{verify.SlotRebutted, attestFail, 0, verify.ErrSlotDone},
		{verify.SlotRebutted, rebut, 0, verify.ErrSlotDone},
		{verify.SlotProvenByNode, attest, 0, verify.ErrSlotDone},
		{verify.SlotProvenByNode, attestFail, 0, verify.ErrSlotDone},
		{verify.SlotProvenByNode, rebut, 0, verify.ErrSlotDone},
	} {
		f := newFixture(t)
		p := f.prove(n1, e1, 256)
		f.commit(n1, e1, p.Root())
		v := f.challenge(n1, e1).Verifiers[1]
		f.to(simDL + 1)
		act := func(a action, want error) {
			t.Helper()
			var name string
			var from common.Address
			var args []any
			switch a {
			case attest:
				name, from, args = "attest", v, []any{e1, n1, f.evidence(p, n1, e1, v)}
			case attestFail:
				name, from, args = "attestFail", v, []any{e1, n1}
			case rebut:
				name, from, args = "rebut", n1, []any{e1, v, f.evidence(p, n1, e1, v)}
			}
			if want != nil {
				f.mustRevert(from, want, name, args...)
			} else {
				f.send(from, name, args...)
			}
		}
		for _, a := range reach[tc.from] {
			act(a, nil)
		}
		if got := f.challenge(n1, e1).Slots[1]; got != tc.from {
			t.Fatalf("setup of %d reached %d", tc.from, got)
		}
		act(tc.do, tc.err)
		want := tc.to
		if tc.err != nil {
			want = tc.from
		}
		if got := f.challenge(n1, e1).Slots[1]; got != want {
			t.Errorf("slot %d, action %d: %d, want %d", tc.from, tc.do, got, want)
		}
	}
}

// TestListingOf: what commitRoot accepts, as the node's service reads it.
func TestListingOf(t *testing.T) {
	f := newFixture(t)
	get := func(who common.Address) verify.Listing {
		t.Helper()
		l, err := f.mod.ListingOf(f.State, e1, who)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := get(n1); !l.Challenged || l.N != 256 || l.Deadline != simDL {
		t.Errorf("n1: %+v, want challenged, n 256, deadline %d", l, simDL)
	}
	if l := get(n3); !l.Challenged || l.N != 64 || l.Deadline != cpuDL {
		t.Errorf("n3: %+v, want challenged, n 64, deadline %d", l, cpuDL)
	}
	if l := get(carol); l.Challenged {
		t.Errorf("carol (no node): %+v", l)
	}
	f.registerNode(late, 4, 1, true)
	if l := get(late); l.Challenged {
		t.Errorf("registered during the epoch: %+v", l)
	}
	f.mustCall(regAddr, f.regABI, n2, "updateNode", [32]byte{9}, uint32(1), "NVIDIA H200", uint64(143_771), false,
		[]string{"NVIDIA H200"}, []*bigInt{bigOne()}, bigZero(), [][32]byte{{0xaa}})
	if l := get(n2); l.Challenged {
		t.Errorf("listing changed during the epoch: %+v", l)
	}
	if got := f.mod.EpochOf(e1Start + testEpochLength - 1); got != e1 {
		t.Errorf("EpochOf: %d", got)
	}
}
