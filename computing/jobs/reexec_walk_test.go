package jobs_test

import (
	"math/big"
	"math/rand"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// TestReexecRandomWalk is a seeded random walk over deterministic jobs on
// the re-execution fixture: n1, n2 and n5 are honest (n5 sometimes misses
// its re-execution deadline), n4 cheats (a fresh random digest for every
// result and every re-execution); submitters dispute at random (honest
// results too, and with too small bonds), and random accounts send digests,
// disputes and settles for random jobs. After every call and every block
// the fixture checks that the module's balance equals the open escrows plus
// the open dispute bonds (and EscrowTotal), and that the supply is
// conserved to the wei (Σ balances + burned = genesis: slashes pass
// through the module to re-executors and the burn). At the end blocks run
// until every job has ended, and: the honest nodes were never slashed nor
// jailed; every ended job's books balance (settled: cost + fees + refund =
// escrow; refunded: refund = escrow, no cost; unresolved: refund + fees =
// escrow, or refund = escrow when the bond paid the fees); the slash burn equals the
// slashes less what the re-executors of overturned results were paid; a
// second run of the seed reaches the same state root. A failure prints
// SEED=<n>; replay with -jobs.seed=<n>. Seeds 1 to 3; seed 1 under
// -short.
func TestReexecRandomWalk(t *testing.T) {
	for _, seed := range walkSeeds(1, 2, 3) {
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("SEED=%d", seed)
				}
			}()
			root := reexecWalk(t, seed, 600, false)
			if again := reexecWalk(t, seed, 600, false); again != root {
				t.Fatalf("seed %d replayed to root %s, first run %s", seed, again, root)
			}
		})
	}
}

// TestReexecRandomWalkTiny is the walk on a tiny registry (n1, n2, the
// CPU-only n3 and the cheater n4: at most MaxReexecProbes nodes, so a
// disputed tie is decided by disputeTieBreak, here off as by default):
// submitters dispute honest results at random and the cheater is often
// the lone re-executor, yet no honest node is ever slashed or jailed,
// and every invariant of the walk holds; each seed reaches a disputed tie
// (left unresolved). With disputeTieBreak on, both seeds slash an honest
// node (n1, n2): the trade-off the param's doc names.
func TestReexecRandomWalkTiny(t *testing.T) {
	for _, seed := range walkSeeds(1, 2) {
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("SEED=%d", seed)
				}
			}()
			root := reexecWalk(t, seed, 300, true)
			if again := reexecWalk(t, seed, 300, true); again != root {
				t.Fatalf("seed %d replayed to root %s, first run %s", seed, again, root)
			}
		})
	}
}

func honestDigest(id uint64) [32]byte {
	return crypto.Keccak256Hash([]byte("out"), new(big.Int).SetUint64(id).Bytes())
}

// reexecWalk runs the walk of seed for steps; tiny: on the registry of
// n1, n2, n3 and n4 only (n5 funded, a submitter, not a node).
func reexecWalk(t *testing.T, seed int64, steps int, tiny bool) common.Hash {
	rng := rand.New(rand.NewSource(seed))
	var f *fixture
	nodes := []common.Address{n1, n2, n4, n5}
	if tiny {
		f, _ = buildFixture(t, fixtureConfig{jobsParams: reexecParams(5_000), withCredits: true, extra: []common.Address{n4, n5}})
		f.registerNode(n4, 4, 1, "NVIDIA H100", 81_920, priceA100, imageA)
		nodes = []common.Address{n1, n2, n4}
		for _, n := range nodes {
			f.mustCall(stakingAddr, f.stkABI, n, emc(computeWei), "stake", uint8(staking.RoleCompute), uint8(0))
		}
		f.next()
		if c := registry.NodeCount(f.State); c > jobs.MaxReexecProbes {
			t.Fatalf("tiny registry of %d nodes", c)
		}
	} else {
		f = newReexecFixture(t, reexecParams(5_000))
	}
	honest := map[common.Address]bool{n1: true, n2: true, n5: true}
	pick := func(xs ...common.Address) common.Address { return xs[rng.Intn(len(xs))] }
	randID := func() *big.Int { return bigID(uint64(rng.Intn(int(jobs.JobCount(f.State)) + 2))) }
	digestOf := func(node common.Address, id uint64) [32]byte {
		if honest[node] {
			return honestDigest(id)
		}
		var d [32]byte
		rng.Read(d[:])
		return d
	}
	answer := func(drain bool) {
		for _, n := range nodes {
			ids, _ := jobs.ReexecsOf(f.State, n, 0, jobs.MaxPage)
			for _, id := range ids {
				if !drain && (rng.Intn(3) == 0 || (n == n5 && rng.Intn(2) == 0)) {
					continue // later, or (n5) perhaps too late
				}
				f.send(n, nil, "submitReexec", bigID(id), digestOf(n, id))
			}
		}
	}
	slashedPaid := new(uint256.Int) // re-executors' pay from the slashes of overturned results
	for i := 0; i < steps; i++ {
		switch k := rng.Intn(14); k {
		case 0:
			if rng.Intn(2) == 0 {
				continue
			}
			s := detSpec()
			s.TimeoutSeconds = uint64(10 + rng.Intn(60))
			escrow := []*uint256.Int{emc(1), uint256.NewInt(uint64(rng.Int63n(1e14))), emc(2)}[rng.Intn(3)]
			f.send(pick(sub, carol, n5), escrow, "submitJob", encode(t, s), big.NewInt(2*priceH200)) // n5: a node submitting
		case 1, 2, 3, 4, 5, 6:
			var open []uint64
			for id := uint64(1); id <= jobs.JobCount(f.State); id++ {
				if !f.job(id).State.Ended() {
					open = append(open, id)
				}
			}
			if len(open) == 0 {
				continue
			}
			id := open[rng.Intn(len(open))]
			j := f.job(id)
			switch j.State {
			case jobs.StateSubmitted:
				router := j.OfferedRouter
				if router == (common.Address{}) || f.Number > j.OfferEndBlock {
					router = pick(r1, r2)
				}
				node := pick(nodes...)
				for _, alt := range nodes {
					if _, err := f.mod.Fit(f.State, &j, node, f.Number); err == nil || rng.Intn(5) == 0 {
						break
					}
					node = alt // mostly a node that fits
				}
				f.send(router, nil, "assign", bigID(id), node)
			case jobs.StateAssigned:
				f.send(j.Node, nil, "accept", bigID(id))
			case jobs.StateRunning:
				f.send(j.Node, nil, "submitResultDigest", bigID(id), [32]byte{byte(id)},
					uint64(rng.Int63n(int64(j.MaxUsageMillis()+1))), int32(rng.Intn(2)), digestOf(j.Node, id))
			case jobs.StateCompleted, jobs.StateFailed:
				if rng.Intn(2) == 0 {
					bond := []*uint256.Int{emc(1), emc(2), new(uint256.Int).Sub(emc(1), uint256.NewInt(1))}[rng.Intn(3)]
					f.send(j.Submitter, bond, "dispute", bigID(id))
				} else {
					f.send(carol, nil, "settle", bigID(id))
				}
			}
		case 7:
			answer(false)
		case 8:
			// Wrong senders and random jobs.
			switch rng.Intn(3) {
			case 0:
				f.send(pick(append(nodes, carol, sub)...), nil, "submitReexec", randID(), [32]byte{byte(rng.Intn(3))})
			case 1:
				f.send(pick(carol, sub, n1), emc(1), "dispute", randID())
			default:
				f.send(pick(carol, sub), nil, "settle", randID())
			}
		default:
			if rng.Intn(8) == 0 {
				f.Time += uint64(rng.Intn(120))
			}
			f.next()
		}
	}
	for i := 0; i < 600 && !f.State.GetBalance(native.JobsAddress).IsZero(); i++ {
		answer(true)
		f.next()
	}
	n := jobs.JobCount(f.State)
	ended := map[jobs.State]int{}
	verified := map[uint8]int{}
	disputes, unresolved, ties := 0, 0, 0 // ties: disputed ties left unresolved (one answer)
	for id := uint64(1); id <= n; id++ {
		j := f.job(id)
		if !j.State.Ended() {
			t.Fatalf("job %d still %s after the drain", id, j.State)
		}
		ended[j.State]++
		verified[j.Verify]++
		rx, ok, err := jobs.ReexecOf(f.State, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok && rx.Disputed {
			disputes++
		}
		seenExec := map[common.Address]bool{}
		for _, e := range rx.Executors {
			if e == j.Node || e == j.Submitter || seenExec[e] {
				t.Fatalf("job %d (node %s, submitter %s) drew %v", id, j.Node, j.Submitter, rx.Executors)
			}
			seenExec[e] = true
		}
		switch j.State {
		case jobs.StateSettled:
			sum := new(uint256.Int).Add(new(uint256.Int).Add(j.CostWei, j.FeesWei), j.RefundWei)
			if !sum.Eq(j.EscrowWei) {
				t.Fatalf("job %d: cost %s + fees %s + refund %s != escrow %s", id, j.CostWei, j.FeesWei, j.RefundWei, j.EscrowWei)
			}
		case jobs.StateRefunded:
			if j.Verify == jobs.VerifyUnresolved {
				// No quorum: nobody slashed, the re-executors' fees from the
				// escrow above the cost (sampled) or the bond (disputed).
				refund := new(uint256.Int).Add(j.RefundWei, j.FeesWei)
				if rx.Disputed {
					refund = j.RefundWei
				}
				if !refund.Eq(j.EscrowWei) || !j.CostWei.IsZero() {
					t.Fatalf("unresolved job %d %+v", id, j)
				}
				unresolved++
				answered := 0
				for _, d := range rx.Digests {
					if d != (common.Hash{}) {
						answered++
					}
				}
				if rx.Disputed && answered == 1 {
					ties++
				}
				continue
			}
			if !j.RefundWei.Eq(j.EscrowWei) || !j.CostWei.IsZero() || j.Verify != jobs.VerifyFailed {
				t.Fatalf("refunded job %d %+v", id, j)
			}
			fee := jobs.Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
			for _, d := range rx.Digests {
				if d != (common.Hash{}) {
					slashedPaid.Add(slashedPaid, fee) // capped by the slash below, checked in total
				}
			}
		}
	}
	slashed := new(uint256.Int)
	for _, nd := range nodes {
		fl := jobs.FaultsOf(f.State, nd)
		slashed.Add(slashed, fl.SlashedWei)
		if honest[nd] && (fl.Slashes != 0 || fl.Jails != 0) {
			t.Fatalf("honest node %s was slashed: %+v", nd, fl)
		}
	}
	stakeSum := staking.TotalUnbonding(f.State).Clone()
	for r := staking.Role(0); r < staking.NumRoles; r++ {
		stakeSum.Add(stakeSum, staking.TotalStake(f.State, r))
	}
	if bal := f.State.GetBalance(stakingAddr); !bal.Eq(stakeSum) {
		t.Fatalf("staking balance %s, Σ stakes and unbonding %s", bal, stakeSum)
	}
	burnedSlash := native.Burned(f.State, native.BurnSlash)
	if burnedSlash.Gt(slashed) || new(uint256.Int).Sub(slashed, burnedSlash).Gt(slashedPaid) {
		t.Fatalf("slash burn %s of %s slashed, at most %s paid to re-executors", burnedSlash, slashed, slashedPaid)
	}
	if ended[jobs.StateSettled] == 0 || verified[jobs.VerifyPassed] == 0 || disputes == 0 || (tiny && ties == 0) {
		t.Fatalf("the walk missed a path: ended %v, verify %v, %d disputes, %d disputed ties", ended, verified, disputes, ties)
	}
	t.Logf("seed %d: %d jobs, ended %v, verify %v, %d disputes, %d unresolved (%d disputed ties); cheater n4 %+v", seed, n, ended, verified,
		disputes, unresolved, ties,
		jobs.FaultsOf(f.State, n4))
	return f.Root()
}
