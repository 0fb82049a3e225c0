package verify_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/verify"
)

// pruneParams are testParams keeping 2 epochs.
var pruneParams = strings.Replace(testParams, `"passesNeeded": 2}`, `"passesNeeded": 2, "keepEpochs": 2}`, 1)

// epochRecords fills epoch e (the current one, at its seed block) with
// every kind of per-epoch record: n1 commits root, n3's miss is
// recorded after its deadline, and router gets a failure report.
func (f *fixture) epochRecords(e uint64, root common.Hash) (commitGas uint64) {
	f.t.Helper()
	start := e * testEpochLength
	commitGas = f.commit(n1, e, root).gasUsed
	f.to(start + 1 + 10 + 1) // past the CPU class's deadline
	f.send(carol, "recordMiss", e, n3)
	f.routerCredit(router)
	ps, _ := f.probers(e, router)
	f.send(ps[0], "probeFail", e, router)
	return commitGas
}

func nonZero(words []common.Hash) bool {
	for _, w := range words {
		if w != (common.Hash{}) {
			return true
		}
	}
	return false
}

// TestPruneFork: with the verifyPrune fork at block 80 (epoch 2's first
// block) and keepEpochs 2, epoch 1 (begun before the fork) is never
// indexed nor deleted; epoch 2's records are indexed and deleted whole at
// the start of epoch 4 (block 161), after which every view and method
// that names epoch 2 reverts with ErrPruned; the counters and histories,
// which are not per epoch, stay; commitRoot costs IndexGas more from the
// fork on.
func TestPruneFork(t *testing.T) {
	const forkBlock = 2 * testEpochLength
	f := newFixtureCfg(t, []common.Address{v1, v2, v3, v4, v5}, pruneParams, verify.WithPruneFrom(forkBlock))
	root := common.Hash{0x01, 0x02, 0x03}

	gas1 := f.epochRecords(e1, root)
	if idx := verify.EpochIndex(f.State, e1); len(idx) != 0 {
		t.Fatalf("epoch 1 began before the fork but is indexed: %v", idx)
	}
	const e2 = uint64(2)
	f.to(e2*testEpochLength + 1)
	gas2 := f.epochRecords(e2, root)
	if gas2-gas1 != verify.IndexGas {
		t.Fatalf("commitRoot gas %d before the fork, %d after: want %d more", gas1, gas2, verify.IndexGas)
	}
	if idx := verify.EpochIndex(f.State, e2); len(idx) != 3 || idx[0] != n1 || idx[1] != n3 || idx[2] != router {
		t.Fatalf("epoch 2's index %v, want [n1 n3 router]", idx)
	}

	// The last block before the deletion: all of epoch 2 is there.
	pruneAt := (e2+2)*testEpochLength + 1
	f.to(pruneAt - 1)
	if st := f.challenge(n1, e2).Status; st != verify.StatusFailed {
		t.Fatalf("n1's epoch 2 challenge: status %d, want failed (nobody attested)", st)
	}
	if !nonZero(verify.ChallengeWords(f.State, e2, n1)) || !nonZero(verify.ChallengeWords(f.State, e2, n3)) ||
		verify.ProbeWord(f.State, e2, router) == (common.Hash{}) {
		t.Fatal("epoch 2's records are gone before their block")
	}
	simDL2 := e2*testEpochLength + 1 + 5
	cpuDL2 := e2*testEpochLength + 1 + 10
	if _, ok := verify.SampleSeed(f.State, simDL2); !ok {
		t.Fatal("no sample seed for epoch 2's simulated deadline")
	}

	f.next() // BeginBlock of pruneAt deletes epoch 2
	if f.Number != pruneAt {
		t.Fatalf("at block %d, want %d", f.Number, pruneAt)
	}
	for _, node := range []common.Address{n1, n3} {
		if w := verify.ChallengeWords(f.State, e2, node); nonZero(w) {
			t.Fatalf("%s's epoch 2 challenge kept: %v", node, w)
		}
	}
	if w := verify.ProbeWord(f.State, e2, router); w != (common.Hash{}) {
		t.Fatalf("epoch 2's probe word kept: %v", w)
	}
	if idx := verify.EpochIndex(f.State, e2); len(idx) != 0 {
		t.Fatalf("epoch 2's index kept: %v", idx)
	}
	if _, _, ok := verify.EpochSeed(f.State, e2); ok || verify.ValidatorCount(f.State, e2) != 0 {
		t.Fatal("epoch 2's seed or validator set kept")
	}
	for _, d := range []uint64{simDL2, cpuDL2} {
		if _, ok := verify.SampleSeed(f.State, d); ok {
			t.Fatalf("sample seed of block %d kept", d)
		}
	}
	if _, err := f.mod.ChallengeOf(f.State, e2, n1, f.Number); !errors.Is(err, verify.ErrPruned) {
		t.Fatalf("ChallengeOf a deleted epoch: %v, want ErrPruned", err)
	}
	f.mustRevert(carol, verify.ErrPruned, "challengeOf", e2, n1)
	f.mustRevert(carol, verify.ErrPruned, "epochSeed", e2)
	f.mustRevert(carol, verify.ErrPruned, "missRecorded", e2, n3)
	f.mustRevert(carol, verify.ErrPruned, "probeOf", e2, router)
	f.mustRevert(carol, verify.ErrPruned, "recordMiss", e2, n2)
	f.mustRevert(v1, verify.ErrPruned, "attestFail", e2, n1)
	// An epoch number too large to prune is no epoch at all.
	f.mustRevert(carol, verify.ErrNoSeed, "recordMiss", uint64(math.MaxUint64), n3)

	// Epoch 1, begun before the fork, is kept whole; epoch 3 is not due.
	if !nonZero(verify.ChallengeWords(f.State, e1, n1)) || verify.ProbeWord(f.State, e1, router) == (common.Hash{}) {
		t.Fatal("epoch 1's records were deleted")
	}
	if ok, err := verify.MissRecorded(f.State, e1, n3); !ok || err != nil {
		t.Fatalf("epoch 1's recorded miss: %v %v", ok, err)
	}
	if st := f.challenge(n1, e1).Status; st != verify.StatusFailed {
		t.Fatalf("n1's epoch 1 challenge: status %d", st)
	}
	if _, _, ok := verify.EpochSeed(f.State, 3); !ok {
		t.Fatal("epoch 3's seed is gone")
	}
	// The counters are not per epoch.
	if got := f.faults(n1); got.Failed != 2 {
		t.Fatalf("n1's counters %+v, want 2 failed", got)
	}
	if got := f.faults(n3); got.Missed != 2 {
		t.Fatalf("n3's counters %+v, want 2 missed", got)
	}
	if got := verify.RouterProbesOf(f.State, router); got.FailReports != 2 {
		t.Fatalf("router's probe counters %+v, want 2 reports", got)
	}

	// Epoch 3 goes at the start of epoch 5; epoch 1 still stays.
	f.to(5*testEpochLength + 1)
	if _, _, ok := verify.EpochSeed(f.State, 3); ok {
		t.Fatal("epoch 3's seed kept past its block")
	}
	if _, _, ok := verify.EpochSeed(f.State, e1); !ok {
		t.Fatal("epoch 1's seed is gone")
	}
}

// TestNoPruneWithoutFork: a chain that does not schedule the fork keeps
// every epoch, indexes nothing and charges no index gas, whatever its
// keepEpochs.
func TestNoPruneWithoutFork(t *testing.T) {
	f := newFixtureCfg(t, []common.Address{v1, v2, v3, v4, v5}, pruneParams)
	root := common.Hash{0x01, 0x02, 0x03}
	gas1 := f.epochRecords(e1, root)
	f.to(2*testEpochLength + 1)
	if gas2 := f.commit(n1, 2, root).gasUsed; gas2 != gas1 {
		t.Fatalf("commitRoot gas %d in epoch 1, %d in epoch 2, without the fork", gas1, gas2)
	}
	f.to(5*testEpochLength + 1)
	if idx := verify.EpochIndex(f.State, e1); len(idx) != 0 {
		t.Fatalf("epoch 1 indexed without the fork: %v", idx)
	}
	if _, _, ok := verify.EpochSeed(f.State, e1); !ok || !nonZero(verify.ChallengeWords(f.State, e1, n1)) {
		t.Fatal("epoch 1 deleted without the fork")
	}
	if st := f.challenge(n1, e1).Status; st != verify.StatusFailed {
		t.Fatalf("n1's epoch 1 challenge: status %d", st)
	}
}
