package rewards_test

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// ledgerCredits is who's credits in reward epoch k's ledger, and the sum
// over every entry.
func ledgerCredits(f *fixture, k uint64, who common.Address) (mine, total uint64) {
	for _, e := range rewards.LedgerOf(f.State, k) {
		total += e.Credits
		if e.Owner == who {
			mine = e.Credits
		}
	}
	return mine, total
}

func hostCall(f *fixture, from common.Address) *native.Call {
	return &native.Call{State: f.State, Module: from, BlockNumber: f.Number, Value: new(uint256.Int), ChainID: new(uint256.Int)}
}

// TestForfeitRouterCredits: a router that earned its router credits and
// compute credits in an epoch loses exactly the router credits, once, and
// earns no router credits for the rest of the epoch (its compute credits
// still grow); the next epoch it earns again. A router that earned nothing
// loses nothing and is blocked for the epoch too. Nobody else's credits
// move, and the ledger's total drops by exactly what was taken.
func TestForfeitRouterCredits(t *testing.T) {
	f := newFixture(t, "")
	f.block(1, nil, nil)
	f.stake(alice, staking.RoleRouter, rewards.LockNone, emc(100))
	f.stake(bob, staking.RoleRouter, rewards.LockNone, emc(100))
	f.Number = testL + 1 // reward epoch 1
	f.block(f.Number, nil, nil)
	k := rewards.RewardEpoch(f.Number, testL)
	jobs, verify := hostCall(f, native.JobsAddress), hostCall(f, native.VerifyAddress)
	router := uint64(rewards.DefaultRouterCredits)
	per := uint64(rewards.DefaultComputeCreditsPerTask)
	for _, who := range []common.Address{alice, bob} {
		if err := f.mod.RouterAccepted(jobs, who); err != nil {
			t.Fatal(err)
		}
		if _, err := f.mod.ComputeJobDone(jobs, who); err != nil {
			t.Fatal(err)
		}
	}
	if !rewards.RouterCredited(f.State, alice, k) || rewards.RouterCredited(f.State, carol, k) {
		t.Fatal("RouterCredited before the forfeit")
	}
	bobBefore, totalBefore := ledgerCredits(f, k, bob)
	if got, _ := ledgerCredits(f, k, alice); got != router+per {
		t.Fatalf("alice has %d credits, want %d", got, router+per)
	}
	taken, err := f.mod.ForfeitRouterCredits(verify, alice)
	if err != nil || taken != router {
		t.Fatalf("forfeit took %d (%v), want %d", taken, err, router)
	}
	mine, total := ledgerCredits(f, k, alice)
	if mine != per || total != totalBefore-router {
		t.Fatalf("after the forfeit alice %d, total %d; want %d, %d", mine, total, per, totalBefore-router)
	}
	if got, _ := ledgerCredits(f, k, bob); got != bobBefore {
		t.Fatalf("bob's credits moved: %d, was %d", got, bobBefore)
	}
	if rewards.RouterCredited(f.State, alice, k) {
		t.Fatal("RouterCredited after the forfeit")
	}
	// A second forfeit takes nothing; a new accepted assignment earns
	// nothing in this epoch; compute credits still come.
	if taken, err := f.mod.ForfeitRouterCredits(verify, alice); err != nil || taken != 0 {
		t.Fatalf("second forfeit took %d (%v)", taken, err)
	}
	if err := f.mod.RouterAccepted(jobs, alice); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.mod.ComputeJobDone(jobs, alice); got != per {
		t.Fatalf("compute credits after a router forfeit: %d", got)
	}
	if mine, _ := ledgerCredits(f, k, alice); mine != 2*per {
		t.Fatalf("alice %d credits, want %d (two jobs, no router credits)", mine, 2*per)
	}
	// Carol earned nothing: the forfeit takes nothing and blocks her
	// router credits for the epoch.
	if taken, err := f.mod.ForfeitRouterCredits(verify, carol); err != nil || taken != 0 {
		t.Fatalf("forfeit of a router without credits took %d (%v)", taken, err)
	}
	if err := f.mod.RouterAccepted(jobs, carol); err != nil {
		t.Fatal(err)
	}
	if mine, _ := ledgerCredits(f, k, carol); mine != 0 {
		t.Fatalf("carol earned %d router credits after her forfeit", mine)
	}
	// The next epoch earns again.
	f.Number = 2*testL + 1
	f.block(f.Number, nil, nil)
	k2 := rewards.RewardEpoch(f.Number, testL)
	if err := f.mod.RouterAccepted(hostCall(f, native.JobsAddress), alice); err != nil {
		t.Fatal(err)
	}
	if mine, _ := ledgerCredits(f, k2, alice); mine != router || !rewards.RouterCredited(f.State, alice, k2) {
		t.Fatalf("next epoch: alice %d credits, want %d", mine, router)
	}
	// Outsiders are refused.
	if _, err := f.mod.ForfeitRouterCredits(hostCall(f, native.RewardsAddress), alice); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ForfeitRouterCredits from the rewards account: %v", err)
	}
	if _, err := f.mod.ForfeitRouterCredits(hostCall(f, common.HexToAddress("0x99")), alice); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ForfeitRouterCredits from a non-module: %v", err)
	}
	if _, err := f.mod.ForfeitRouterCredits(nil, alice); !errors.Is(err, rewards.ErrNotModule) {
		t.Errorf("ForfeitRouterCredits with no call: %v", err)
	}
}
