// TestWashTrading is a seeded adversarial simulation of the compute
// market's trade rewards. Method: the real staking, registry, jobs and
// rewards modules run on the fixture's in-memory chain for simEpochs
// reward epochs of testEpochLength blocks; every block, each actor may
// submit a job and every open job advances one step (the drawn router
// assigns it to the node its submitter wants, the node accepts, then
// reports usage; the EndBlock hook settles it after the dispute window).
// Actors (none of them staked; the two routers are honest):
//
//   - honest: three users buying compute from two honest providers, some
//     jobs failing;
//   - direct: a provider that submits jobs to its own node (self-dealing);
//   - sidekick: a provider buying its own compute through a second
//     account, at high volume (a job every other block);
//   - quiet: the same, one job an epoch or so, to stay under every cap;
//   - sybil: one owner with 3 nodes and 6 submitter accounts, rotating
//     pairs on every job to dodge the pair cap.
//
// Checked after every block: Σ balances + burned == the genesis supply,
// the jobs module's balance == its escrow total, the rewards module's
// balance == Σ pools + owed. Checked at every epoch's end: the trade pool
// drained by at most the epoch cap and by at most the rent burned in the
// epoch; no account earned more than the account cap, no single-pair
// group more than the pair cap, self-dealing nothing; Σ of what accounts
// earned == the drain. At the end, after every reward has vested and
// been claimed, every wash group owns less EMC than it started with, and
// its loss is at least the gas it paid (no trade ever returned more than
// its fee), and a second run of the seed reaches the same state root.
// The emission periods are 30 epochs here, so P(n) decays
// through 7 periods (simEpochs); under -short (the race leg of make test)
// the run is shortSimEpochs, through 3 periods, every actor and check
// kept. A failure prints SEED=<n>; replay with -jobs.washseed=<n>.
package jobs_test

import (
	"flag"
	"fmt"
	"math/big"
	"math/rand"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var washSeedFlag = flag.Int64("jobs.washseed", 0, "run TestWashTrading with this seed only")

const (
	simEpochs = 200
	// shortSimEpochs is the run under -short: past two period
	// boundaries, so the emission still decays.
	shortSimEpochs = 70
	simPrice       = 10_000_000_000_000_000 // 0.01 EMC per GPU-second
	simVesting     = 3
	// Caps: 0.5 EMC per account, 0.3 per pair, 3 EMC per epoch.
	simAccountCap = 500_000_000_000_000_000
	simPairCap    = 300_000_000_000_000_000
	simEpochCap   = 3_000_000_000_000_000_000
)

func TestWashTrading(t *testing.T) {
	seeds := []int64{1}
	if *washSeedFlag != 0 {
		seeds = []int64{*washSeedFlag}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("SEED=%d", seed)
				}
			}()
			epochs := simEpochs
			if testing.Short() {
				epochs = shortSimEpochs
			}
			root := washSim(t, seed, epochs)
			if again := washSim(t, seed, epochs); again != root {
				t.Fatalf("seed %d replayed to root %s, first run %s", seed, again, root)
			}
		})
	}
}

// simActor is one account of the simulation.
type simActor struct {
	addr  common.Address
	group string
}

// simJob is an open job and the node its submitter wants.
type simJob struct {
	id        uint64
	node      common.Address
	gpuMillis uint64
	exit      int32
}

func simAddr(i int) common.Address {
	return common.BigToAddress(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(0xd0), 152), big.NewInt(int64(i))))
}

// washSim runs the simulation of seed and returns its final state root.
func washSim(t *testing.T, seed int64, epochs int) common.Hash {
	rng := rand.New(rand.NewSource(seed))
	var actors []simActor
	add := func(group string) common.Address {
		a := simAddr(len(actors) + 1)
		actors = append(actors, simActor{a, group})
		return a
	}
	honestUsers := []common.Address{add("honest"), add("honest"), add("honest")}
	honestNodes := []common.Address{add("honest"), add("honest")}
	direct := add("direct")
	sidekickNode, sidekickUser := add("sidekick"), add("sidekick")
	quietNode, quietUser := add("quiet"), add("quiet")
	var sybilNodes, sybilUsers []common.Address
	for range 3 {
		sybilNodes = append(sybilNodes, add("sybil"))
	}
	for range 6 {
		sybilUsers = append(sybilUsers, add("sybil"))
	}
	addrs := make([]common.Address, len(actors))
	for i, a := range actors {
		addrs[i] = a.addr
	}
	raw := fmt.Sprintf(`{"emission":{"periodEpochs":30},"trade":{"vestingEpochs":%d,"accountEpochCapWei":"%d","pairEpochCapWei":"%d","epochCapWei":"%d"}}`,
		simVesting, uint64(simAccountCap), uint64(simPairCap), uint64(simEpochCap))
	m := newMarket(t, raw, addrs...)
	allNodes := append(append(append([]common.Address{}, honestNodes...), direct, sidekickNode, quietNode), sybilNodes...)
	for i, n := range allNodes {
		m.registerNode(n, int64(100+i), 2, "NVIDIA H200", 143_771, simPrice, imageA)
	}
	m.to((m.Number/testEpochLength+1)*testEpochLength + 1)

	groupOf := map[common.Address]string{}
	for _, a := range actors {
		groupOf[a.addr] = a.group
	}
	wealth := func() map[string]*uint256.Int {
		w := map[string]*uint256.Int{}
		for _, a := range actors {
			if w[a.group] == nil {
				w[a.group] = new(uint256.Int)
			}
			w[a.group].Add(w[a.group], m.State.GetBalance(a.addr))
		}
		return w
	}
	start := wealth()
	gas := map[string]*uint256.Int{}
	fees := map[string]*uint256.Int{}
	jobsRun := map[string]int{}
	for _, a := range actors {
		gas[a.group], fees[a.group] = new(uint256.Int), new(uint256.Int)
	}
	send := func(from common.Address, name string, value *uint256.Int, args ...any) *result {
		r := m.call(jobsAddr, m.abi, from, value, name, args...)
		if g, ok := groupOf[from]; ok {
			gas[g].Add(gas[g], nativetest.Fee(r.gasUsed))
		}
		return r
	}
	spec := goodSpec()
	spec.GPUModel, spec.MinMemoryMiB = "", 0
	specRaw := encode(t, spec)
	var open []simJob
	submit := func(from, node common.Address, exit int32) {
		gpuMillis := uint64(10_000 + rng.Intn(40_001)) // 0.1 to 0.5 EMC
		r := send(from, "submitJob", emc(2), specRaw, big.NewInt(simPrice))
		if r.err != nil {
			t.Fatalf("block %d: submit by %s: %q", m.Number, from, r.reason())
		}
		out, _ := m.abi.Unpack("submitJob", r.ret)
		open = append(open, simJob{out[0].(*big.Int).Uint64(), node, gpuMillis, exit})
		jobsRun[groupOf[from]]++
	}
	// step advances every open job by one transaction and drops the ended.
	step := func() {
		kept := open[:0]
		for _, sj := range open {
			j := m.job(sj.id)
			var r *result
			switch {
			case j.State == jobs.StateSubmitted && j.Offered:
				router := j.OfferedRouter
				if router == (common.Address{}) || m.Number > j.OfferEndBlock {
					router = r1
				}
				r = send(router, "assign", nil, bigID(sj.id), sj.node)
			case j.State == jobs.StateAssigned:
				r = send(sj.node, "accept", nil, bigID(sj.id))
			case j.State == jobs.StateRunning:
				r = send(sj.node, "submitResult", nil, bigID(sj.id), [32]byte{1}, sj.gpuMillis, sj.exit)
			case j.State.Ended():
				if j.State != jobs.StateSettled {
					t.Fatalf("job %d ended %s", sj.id, j.State)
				}
				if g := groupOf[j.Submitter]; g != "" {
					fees[g].Add(fees[g], j.BurnedWei)
				}
				continue
			}
			if r != nil && r.err != nil {
				t.Fatalf("block %d: job %d (%s): %q", m.Number, sj.id, j.State, r.reason())
			}
			kept = append(kept, sj)
		}
		open = kept
	}
	// next is the fixture's next without its walk over every job (the
	// escrow check here is the module's balance against its total).
	next := func() {
		if err := m.Registry.EndBlock(m.State, m.env()); err != nil {
			t.Fatalf("EndBlock %d: %v", m.Number, err)
		}
		m.blockGas = 0
		m.State.Finalise(m.Rules())
		m.Number++
		m.Time += testPeriodMs / 1000
		if err := m.Registry.BeginBlock(m.State, m.env()); err != nil {
			t.Fatalf("BeginBlock %d: %v", m.Number, err)
		}
		m.State.Finalise(m.Rules())
		if got := m.supply(); !got.Eq(m.genesisSupply) {
			t.Fatalf("block %d: supply %s, genesis %s", m.Number, got, m.genesisSupply)
		}
		if bal := m.State.GetBalance(jobsAddr); !bal.Eq(jobs.EscrowTotal(m.State)) {
			t.Fatalf("block %d: jobs balance %s, escrow total %s", m.Number, bal, jobs.EscrowTotal(m.State))
		}
		m.checkRewards()
	}
	owedAll := func() map[common.Address]*uint256.Int {
		o := map[common.Address]*uint256.Int{}
		for _, a := range actors {
			o[a.addr] = m.owed(a.addr)
		}
		return o
	}

	prevOwed, prevPool, prevRent := owedAll(), rewards.PoolsOf(m.State).TradeWei.Clone(), native.Burned(m.State, native.BurnRent).Clone()
	maxDrain := new(uint256.Int)
	first := m.epoch()
	for m.epoch() < first+uint64(epochs) {
		k := m.epoch()
		// Submissions of this block.
		if rng.Intn(3) == 0 {
			u := honestUsers[rng.Intn(len(honestUsers))]
			exit := int32(0)
			if rng.Intn(10) == 0 {
				exit = 1
			}
			submit(u, honestNodes[rng.Intn(len(honestNodes))], exit)
		}
		if rng.Intn(10) == 0 {
			submit(direct, direct, 0)
		}
		if rng.Intn(2) == 0 {
			submit(sidekickUser, sidekickNode, 0)
		}
		if rng.Intn(12) == 0 {
			submit(quietUser, quietNode, 0)
		}
		if rng.Intn(3) == 0 {
			submit(sybilUsers[rng.Intn(len(sybilUsers))], sybilNodes[rng.Intn(len(sybilNodes))], 0)
		}
		step()
		next()
		if m.epoch() == k {
			continue
		}
		// Every node keeps itself live (the registry's liveness window is
		// 900 blocks, 90 epochs here), paying for it as a node does.
		if k%30 == 0 {
			for _, n := range allNodes {
				m.mustCall(regAddr, m.regABI, n, nil, "ping")
			}
		}
		// Epoch k ended: its drain and each account's earnings.
		pool, rent, owed := rewards.PoolsOf(m.State).TradeWei.Clone(), native.Burned(m.State, native.BurnRent).Clone(), owedAll()
		drain := new(uint256.Int).Sub(prevPool, pool)
		burned := new(uint256.Int).Sub(rent, prevRent)
		if drain.Gt(uint256.NewInt(simEpochCap)) || drain.Gt(burned) {
			t.Fatalf("epoch %d: pool drained %s (cap %d, rent burned %s)", k, drain, uint64(simEpochCap), burned)
		}
		earned := new(uint256.Int)
		byGroup := map[string]*uint256.Int{"sidekick": new(uint256.Int), "quiet": new(uint256.Int), "direct": new(uint256.Int)}
		for a, v := range owed {
			d := new(uint256.Int).Sub(v, prevOwed[a])
			if d.Gt(uint256.NewInt(simAccountCap)) {
				t.Fatalf("epoch %d: %s (%s) earned %s above the account cap", k, a, groupOf[a], d)
			}
			earned.Add(earned, d)
			if g := byGroup[groupOf[a]]; g != nil {
				g.Add(g, d)
			}
		}
		// sidekick and quiet are one (user, provider) pair each.
		for _, g := range []string{"sidekick", "quiet"} {
			if byGroup[g].Gt(uint256.NewInt(simPairCap)) {
				t.Fatalf("epoch %d: pair %s earned %s above the pair cap", k, g, byGroup[g])
			}
		}
		if !byGroup["direct"].IsZero() {
			t.Fatalf("epoch %d: self-dealing earned %s", k, byGroup["direct"])
		}
		if !earned.Eq(drain) {
			t.Fatalf("epoch %d: accounts earned %s, pool drained %s", k, earned, drain)
		}
		if drain.Gt(maxDrain) {
			maxDrain = drain
		}
		prevPool, prevRent, prevOwed = pool, rent, owed
	}
	// Let every job end and every reward vest, then everyone claims.
	for len(open) > 0 {
		step()
		next()
	}
	for range 2*simVesting + 1 {
		for range testEpochLength {
			next()
		}
	}
	earnedBy := map[string]*uint256.Int{}
	for _, a := range actors {
		if earnedBy[a.group] == nil {
			earnedBy[a.group] = new(uint256.Int)
		}
		o := m.owed(a.addr)
		if o.IsZero() {
			continue
		}
		if tr := m.trade(a.addr); !tr.UnvestedWei.IsZero() {
			t.Fatalf("%s still vesting %s", a.addr, tr.UnvestedWei)
		}
		earnedBy[a.group].Add(earnedBy[a.group], o)
		r := m.call(rewardsAddr, m.rwABI, a.addr, nil, "claim")
		if r.err != nil {
			t.Fatalf("claim by %s: %q", a.addr, r.reason())
		}
		gas[a.group].Add(gas[a.group], nativetest.Fee(r.gasUsed))
	}
	next()
	end := wealth()
	for _, g := range []string{"honest", "direct", "sidekick", "quiet", "sybil"} {
		loss := new(big.Int).Sub(start[g].ToBig(), end[g].ToBig())
		t.Logf("%-8s jobs %4d  fees burned %26s  trade rewards %26s  gas %12s  net %27s wei",
			g, jobsRun[g], fees[g], earnedBy[g], gas[g], new(big.Int).Neg(loss))
		if g == "honest" {
			if earnedBy[g].IsZero() {
				t.Errorf("honest users earned no trade rewards")
			}
			continue
		}
		if jobsRun[g] == 0 {
			t.Fatalf("%s ran no jobs", g)
		}
		if loss.Sign() <= 0 {
			t.Errorf("wash strategy %s gained %s wei", g, new(big.Int).Neg(loss))
		}
		if loss.Cmp(gas[g].ToBig()) < 0 {
			t.Errorf("wash strategy %s lost %s, less than its gas %s: a trade returned more than its fee", g, loss, gas[g])
		}
		if earnedBy[g].Gt(fees[g]) {
			t.Errorf("%s earned %s of trade rewards for %s of fees", g, earnedBy[g], fees[g])
		}
	}
	if !earnedBy["direct"].IsZero() {
		t.Errorf("self-dealing earned %s", earnedBy["direct"])
	}
	t.Logf("largest epoch drain %s wei (epoch cap %d); trade pool left %s", maxDrain, uint64(simEpochCap), rewards.PoolsOf(m.State).TradeWei)
	return m.Root()
}
