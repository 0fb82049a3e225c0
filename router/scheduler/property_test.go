package scheduler

// Property tests, the way consensus/sim and the staking tests run: every
// iteration derives its inputs from one seed, prints SEED=<n> on failure, and
// `go test -run TestProperties -seed <n> -iters 1` replays it. The oracle is
// refSchedule, a brute-force scheduler written straight from the package doc
// with math/big: it visits every node in input order and keeps the best by
// (score, tie hash, ID). The indexed, pruned Table must agree with it on
// every assignment, reason and score. On top of that the invariants are
// checked directly: no unfit node, no overbooking, replay, node order.

import (
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

var (
	flagSeed  = flag.Uint64("seed", 1, "first seed of the property tests")
	flagIters = flag.Int("iters", 400, "iterations of the property tests")
)

func TestProperties(t *testing.T) {
	for it := range *flagIters {
		seed := *flagSeed + uint64(it)
		if err := checkSeed(seed); err != nil {
			t.Fatalf("SEED=%d: %v", seed, err)
		}
	}
}

func checkSeed(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	nodes := genNodes(rng, rng.IntN(60))
	jobs := genJobs(rng, rng.IntN(30))
	p := genParams(rng)
	var chainSeed [32]byte
	for i := range chainSeed {
		chainSeed[i] = byte(rng.Uint32())
	}

	got, err := Schedule(jobs, nodes, chainSeed, p)
	if err != nil {
		return fmt.Errorf("Schedule: %w", err)
	}
	if len(got) != len(jobs) {
		return fmt.Errorf("%d assignments for %d jobs", len(got), len(jobs))
	}
	want := refSchedule(jobs, nodes, chainSeed, p)
	for k := range jobs {
		g, w := got[k], want[k]
		g.Detail, w.Detail = "", "" // the wording is the table tests' business
		if g != w {
			return fmt.Errorf("job %d (%+v): got %+v, reference %+v", k, jobs[k], got[k], want[k])
		}
	}
	if err := checkInvariants(jobs, nodes, got, p); err != nil {
		return err
	}

	// Replay: same input, same output; the table is not consumed.
	tab, err := NewTable(nodes, p)
	if err != nil {
		return err
	}
	for range 2 {
		again, _ := tab.Schedule(jobs, chainSeed)
		if !reflect.DeepEqual(again, got) {
			return fmt.Errorf("replay differs:\n%+v\n%+v", again, got)
		}
	}
	// Pick is a batch of one.
	for _, j := range jobs {
		one, _ := tab.Schedule([]Job{j}, chainSeed)
		if pk := tab.Pick(j, chainSeed); pk != one[0] {
			return fmt.Errorf("Pick %+v != Schedule of one %+v", pk, one[0])
		}
	}
	// Node order (and image order) does not matter.
	shuffled := slices.Clone(nodes)
	rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
	for i := range shuffled {
		imgs := slices.Clone(shuffled[i].Images)
		rng.Shuffle(len(imgs), func(a, b int) { imgs[a], imgs[b] = imgs[b], imgs[a] })
		shuffled[i].Images = imgs
	}
	perm, _ := Schedule(jobs, shuffled, chainSeed, p)
	if !reflect.DeepEqual(perm, got) {
		return fmt.Errorf("node order changed the result:\n%+v\n%+v", perm, got)
	}
	return nil
}

// checkInvariants checks the safety rules on the output alone.
func checkInvariants(jobs []Job, nodes []Node, as []Assignment, p Params) error {
	byID := map[string]*Node{}
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	gpus, count := map[string]uint64{}, map[string]uint32{}
	for k, a := range as {
		j := &jobs[k]
		if a.JobID != j.ID {
			return fmt.Errorf("assignment %d names job %q, not %q", k, a.JobID, j.ID)
		}
		if a.Reason != Placed {
			if a.NodeID != "" {
				return fmt.Errorf("job %q not placed (%s) but names node %q", j.ID, a.Reason, a.NodeID)
			}
			continue
		}
		n := byID[a.NodeID]
		if n == nil {
			return fmt.Errorf("job %q placed on unknown node %q", j.ID, a.NodeID)
		}
		if why := refUnfit(j, n, p); why != Placed {
			return fmt.Errorf("job %q placed on unfit node %q (%s)", j.ID, n.ID, why)
		}
		gpus[n.ID] += uint64(j.GPUs)
		count[n.ID]++
		if gpus[n.ID] > uint64(n.FreeGPUs) {
			return fmt.Errorf("node %q overbooked: %d GPUs of %d free", n.ID, gpus[n.ID], n.FreeGPUs)
		}
		if p.MaxQueue > 0 && uint64(n.QueueLen)+uint64(count[n.ID]) > uint64(p.MaxQueue) {
			return fmt.Errorf("node %q queue over %d", n.ID, p.MaxQueue)
		}
	}
	return nil
}

// refUnfit is the hard constraints of the package doc, capacity aside,
// in their order; Placed when none fails.
func refUnfit(j *Job, n *Node, p Params) Reason {
	price := n.PriceWei
	if j.CPUOnly {
		price = n.CPUPriceWei
		if price == nil {
			return NoModel
		}
	} else if n.TotalGPUs == 0 || price == nil || (j.GPUModel != "" && n.GPUModel != j.GPUModel) || n.MemPerGPUMiB < j.MinMemMiB {
		return NoModel
	}
	switch {
	case n.LastSeen > p.MaxLastSeen:
		return NotLive
	case n.Scored && n.Score < p.MinScore:
		return LowScore
	case j.ImageDigest != "" && !j.ImagePullable && !slices.Contains(n.Images, j.ImageDigest):
		return NoImage
	case price.Cmp(j.MaxPriceWei) > 0:
		return OverPriceCap
	case n.Owner == j.Submitter && !p.AllowSelfDealing:
		return SelfDealing
	}
	return Placed
}

// refOrder is the order of the checks in the package doc.
var refOrder = map[Reason]int{Placed: 0, InvalidJob: 1, NoModel: 2, NotLive: 3, LowScore: 4, NoImage: 5,
	OverPriceCap: 6, SelfDealing: 7, NoCapacity: 8}

func refSchedule(jobs []Job, nodes []Node, seed [32]byte, p Params) []Assignment {
	free, queue := map[string]uint32{}, map[string]uint32{}
	for _, n := range nodes {
		free[n.ID], queue[n.ID] = n.FreeGPUs, n.QueueLen
	}
	seen := map[string]bool{}
	var out []Assignment
	for k := range jobs {
		j := &jobs[k]
		a := Assignment{JobID: j.ID}
		dup := seen[j.ID] // any repeat of an ID, even of a malformed job
		seen[j.ID] = true
		if dup || validateJob(j) != "" {
			a.Reason = InvalidJob
			out = append(out, a)
			continue
		}
		stage := NoModel
		var best *Node
		var bestScore *big.Int
		var bestTie uint64
		for i := range nodes {
			n := &nodes[i]
			why := refUnfit(j, n, p)
			if why == Placed && (free[n.ID] < j.GPUs || (p.MaxQueue > 0 && queue[n.ID] >= p.MaxQueue)) {
				why = NoCapacity
			}
			if why != Placed {
				if refOrder[why] > refOrder[stage] {
					stage = why
				}
				continue
			}
			s := refScore(j, n, free[n.ID], queue[n.ID], p)
			tie := mix(hashJob(seed, j.ID) ^ hashNodeID(n.ID))
			if best == nil || s.Cmp(bestScore) > 0 ||
				(s.Cmp(bestScore) == 0 && (tie > bestTie || (tie == bestTie && n.ID < best.ID))) {
				best, bestScore, bestTie = n, s, tie
			}
		}
		if best == nil {
			a.Reason = stage
		} else {
			a.NodeID, a.Score = best.ID, bestScore.Uint64()
			free[best.ID] -= j.GPUs
			queue[best.ID]++
		}
		out = append(out, a)
	}
	return out
}

func refScore(j *Job, n *Node, free, queue uint32, p Params) *big.Int {
	B := func(x uint64) *big.Int { return new(big.Int).SetUint64(x) }
	M := B(ppm)
	div := func(a, b *big.Int) *big.Int { return new(big.Int).Quo(a, b) }
	mul := func(a, b *big.Int) *big.Int { return new(big.Int).Mul(a, b) }
	add := func(xs ...*big.Int) *big.Int {
		s := new(big.Int)
		for _, x := range xs {
			s.Add(s, x)
		}
		return s
	}
	f := M
	if n.TotalGPUs > 0 {
		f = div(mul(M, B(uint64(free-j.GPUs))), B(uint64(n.TotalGPUs)))
	}
	idle := div(mul(M, B(uint64(100-n.UtilPct))), B(100))
	capacity := div(div(add(mul(B(2), f), idle), B(3)), B(1+uint64(queue)))

	rtt := div(M, B(2))
	if n.RTT > 0 {
		r := B(uint64(p.RTTRef))
		rtt = div(mul(M, r), add(r, B(uint64(n.RTT))))
	}
	s := add(B(n.Succeeded), B(p.PriorSucceeded))
	rel := div(mul(M, s), add(s, B(n.Failed), B(n.TimedOut), B(p.PriorFailed)))
	if n.Scored {
		rel = B(n.Score)
	}
	stake := new(big.Int)
	if n.StakeWei != nil {
		st := n.StakeWei.ToBig()
		stake = div(mul(M, st), add(st, p.StakeRefWei.ToBig()))
	}
	price, capWei := n.PriceWei.ToBig(), j.MaxPriceWei.ToBig()
	if j.CPUOnly {
		price = n.CPUPriceWei.ToBig()
	}
	priceTerm := M
	if capWei.Sign() > 0 {
		priceTerm = div(mul(M, new(big.Int).Sub(capWei, price)), capWei)
	}
	image := new(big.Int)
	if j.ImageDigest != "" && slices.Contains(n.Images, j.ImageDigest) {
		image = M
	}
	return add(mul(B(p.WCapacity), capacity), mul(B(p.WRTT), rtt), mul(B(p.WReliability), rel),
		mul(B(p.WStake), stake), mul(B(p.WPrice), priceTerm), mul(B(p.WImage), image))
}

// Generators: small value sets, so that models, prices and scores collide
// and the tie-break, the pruning and every reason are exercised.
var (
	genModels = []string{"A100", "H100", "L4"}
	genMems   = []uint64{24576, 40960, 81920}
	genImages = []string{"sha256:aa", "sha256:bb", "sha256:cc", "sha256:dd"}
	genOwners = []common.Address{alice, bob, common.HexToAddress("0xca401"), common.HexToAddress("0xda5e")}
)

func pickOf[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func genWei(rng *rand.Rand, xs ...uint64) *uint256.Int {
	if rng.IntN(20) == 0 {
		return new(uint256.Int).Lsh(uint256.NewInt(1+rng.Uint64N(4)), 70) // past uint64
	}
	return uint256.NewInt(pickOf(rng, xs))
}

func genNodes(rng *rand.Rand, count int) []Node {
	nodes := make([]Node, 0, count)
	for i, id := range rng.Perm(count) {
		var n Node
		if i > 0 && rng.IntN(3) == 0 { // an exact twin under another ID
			n = nodes[rng.IntN(i)]
		} else {
			total := pickOf(rng, []uint32{0, 1, 2, 4, 8})
			n = Node{
				Owner: pickOf(rng, genOwners), GPUModel: pickOf(rng, genModels), MemPerGPUMiB: pickOf(rng, genMems),
				TotalGPUs: total, FreeGPUs: uint32(rng.IntN(int(total) + 1)),
				QueueLen: uint32(rng.IntN(10)), UtilPct: uint32(rng.IntN(101)),
				RTT:       pickOf(rng, []time.Duration{0, 5 * time.Millisecond, 50 * time.Millisecond, time.Second, time.Duration(rng.Int64N(int64(time.Second)))}),
				Succeeded: rng.Uint64N(20), Failed: rng.Uint64N(5), TimedOut: rng.Uint64N(3),
				LastSeen: pickOf(rng, []time.Duration{0, time.Second, 29 * time.Second, 30 * time.Second, 31 * time.Second, time.Hour}),
			}
			if rng.IntN(10) > 0 {
				n.PriceWei = genWei(rng, 0, 50, 100, 150, 200)
			}
			if rng.IntN(3) > 0 {
				n.CPUPriceWei = genWei(rng, 5, 10, 20)
			}
			if rng.IntN(4) > 0 {
				n.StakeWei = pickOf(rng, []*uint256.Int{new(uint256.Int), uint256.NewInt(1), emc(10_000), emc(50_000)})
			}
			for _, im := range genImages {
				if rng.IntN(2) == 0 {
					n.Images = append(n.Images, im)
				}
			}
			if rng.IntN(40) == 0 {
				n.Succeeded, n.Failed = ^uint64(0), ^uint64(0)
			}
			if rng.IntN(3) == 0 {
				n.Scored, n.Score = true, pickOf(rng, []uint64{0, 144_230, DefaultMinScore - 1, DefaultMinScore, 500_000, ppm})
			}
		}
		n.ID = fmt.Sprintf("node-%03d", id)
		nodes = append(nodes, n)
	}
	return nodes
}

func genJobs(rng *rand.Rand, count int) []Job {
	jobs := make([]Job, count)
	for k := range jobs {
		j := Job{
			ID:            fmt.Sprintf("job-%d", rng.IntN(count*2+1)), // some repeat
			Submitter:     pickOf(rng, genOwners),
			GPUs:          pickOf(rng, []uint32{1, 1, 2, 4, 8, 9}),
			GPUModel:      pickOf(rng, []string{"", "", "A100", "H100", "L4", "V100"}),
			MinMemMiB:     pickOf(rng, []uint64{0, 0, 24576, 40960, 81920, 100000}),
			ImageDigest:   pickOf(rng, append([]string{"", "sha256:none"}, genImages...)),
			ImagePullable: rng.IntN(4) == 0,
			MaxPriceWei:   genWei(rng, 0, 100, 200, 1000),
		}
		switch rng.IntN(10) {
		case 0:
			j.CPUOnly, j.GPUs, j.GPUModel, j.MinMemMiB = true, 0, "", 0
		case 1:
			j.MaxPriceWei = nil
		case 2:
			j.GPUs = 0
		}
		jobs[k] = j
	}
	return jobs
}

func genParams(rng *rand.Rand) Params {
	p := DefaultParams()
	if rng.IntN(2) == 0 {
		w := func() uint64 { return pickOf(rng, []uint64{0, 1, 7, 100, MaxWeight}) }
		p.WCapacity, p.WRTT, p.WReliability, p.WStake, p.WPrice, p.WImage = w(), w(), w(), w(), w(), w()
	}
	p.MaxQueue = pickOf(rng, []uint32{0, 3, 8})
	p.MinScore = pickOf(rng, []uint64{0, DefaultMinScore, 600_000})
	p.AllowSelfDealing = rng.IntN(4) == 0
	p.PriorSucceeded, p.PriorFailed = pickOf(rng, []uint64{0, 1, 4}), pickOf(rng, []uint64{1, 2})
	return p
}

// TestFairness: equal nodes share the load across seeds, and across job IDs
// under one seed; one seed always gives the same winner.
func TestFairness(t *testing.T) {
	const nodes, rounds = 10, 10_000
	var ns []Node
	for i := range nodes {
		ns = append(ns, baseNode(fmt.Sprintf("n%d", i)))
	}
	tab, err := NewTable(ns, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, pick func(r int) Assignment) {
		wins := map[string]int{}
		for r := range rounds {
			a := pick(r)
			if a.Reason != Placed {
				t.Fatalf("%s: round %d not placed: %+v", name, r, a)
			}
			wins[a.NodeID]++
		}
		// Expected 1000 each; a binomial(10000, 0.1) has σ = 30, so ±150
		// is 5σ: a failure means bias, not bad luck (and the seeds are fixed).
		for _, n := range ns {
			if w := wins[n.ID]; w < rounds/nodes-150 || w > rounds/nodes+150 {
				t.Errorf("%s: node %s won %d of %d (want ≈%d): %v", name, n.ID, w, rounds, rounds/nodes, wins)
			}
		}
	}
	check("across seeds", func(r int) Assignment {
		var s [32]byte
		s[0], s[1], s[2] = byte(r), byte(r>>8), 0x77
		return tab.Pick(baseJob("job"), s)
	})
	check("across jobs", func(r int) Assignment { return tab.Pick(baseJob(fmt.Sprint("job-", r)), seed1) })
	a, b := tab.Pick(baseJob("job"), seed1), tab.Pick(baseJob("job"), seed1)
	if a != b {
		t.Fatalf("same seed, different picks: %+v %+v", a, b)
	}
}
