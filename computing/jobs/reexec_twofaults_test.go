package jobs_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
)

// TestReexecTwoFaultsOneBlock: a provider caught lying on two jobs whose
// re-executions are decided in the same block is slashed once per job,
// each slash taking ComputeSlashBps of what the one before left (100 →
// 50 → 25 EMC at 50 %), counted twice (slashes, jails, failures), jailed
// from that block, and both submitters' jobs are refunded; the supply
// holds to the wei (the fixture checks it at every block). This is the
// case a multi-process test met by chance (cmd/emcd
// TestReexecMultiProcess).
func TestReexecTwoFaultsOneBlock(t *testing.T) {
	f := newReexecFixture(t, reexecParams(10_000))
	a := f.detResult(n1, digestBad)
	b := f.detResult(n1, digestBad)
	// Two answers against the provider on each job (no quorum yet).
	for round := 0; round < 2; round++ {
		for _, id := range []uint64{a, b} {
			f.mustSend(f.current(id), nil, "submitReexec", bigID(id), digestOK)
		}
	}
	// The third answers of both in one block.
	ea, eb := f.current(a), f.current(b)
	if f.reexec(a).Current != ea {
		t.Fatalf("job %d's re-executor moved while waiting for job %d's", a, b)
	}
	stakeBefore := f.State.GetBalance(stakingAddr).Clone()
	block := f.Number
	f.mustSend(ea, nil, "submitReexec", bigID(a), digestOK)
	f.mustSend(eb, nil, "submitReexec", bigID(b), digestOK)
	if f.Number != block {
		t.Fatalf("the decisions spanned blocks %d to %d", block, f.Number)
	}
	for _, id := range []uint64{a, b} {
		if j := f.job(id); j.State != jobs.StateRefunded || j.Verify != jobs.VerifyFailed || !j.RefundWei.Eq(emc(1)) {
			t.Fatalf("job %d after the majority %+v", id, j)
		}
	}
	first := new(uint256.Int).Div(emc(computeWei), uint256.NewInt(2))
	second := new(uint256.Int).Div(new(uint256.Int).Sub(emc(computeWei), first), uint256.NewInt(2))
	total := new(uint256.Int).Add(first, second)
	if got := new(uint256.Int).Sub(stakeBefore, f.State.GetBalance(stakingAddr)); !got.Eq(total) {
		t.Fatalf("staking lost %s, want %s + %s", got, first, second)
	}
	if _, amt, _ := positionOf(f, n1); !amt.Eq(new(uint256.Int).Sub(emc(computeWei), total)) {
		t.Fatalf("n1's stake %s after two slashes, want %s", amt, new(uint256.Int).Sub(emc(computeWei), total))
	}
	fl := jobs.FaultsOf(f.State, n1)
	if fl.Slashes != 2 || !fl.SlashedWei.Eq(total) || fl.Jails != 2 || fl.Failed != 2 || fl.JailedUntil != block+jailTest {
		t.Fatalf("cheater faults %+v", fl)
	}
	for _, e := range []common.Address{n2, n4, n5} {
		if fl := jobs.FaultsOf(f.State, e); fl.Slashes != 0 {
			t.Fatalf("honest node %s slashed: %+v", e, fl)
		}
	}
	f.next()
	f.check()
}
