package scheduler

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// Table is an indexed, immutable snapshot of the router's live table. Build
// it once per snapshot with NewTable (O(n log n)); then each pick visits
// only the nodes of the job's model and memory class, highest score bound
// first, and stops as soon as no remaining node can beat the best found.
//
// A Table is safe for concurrent use: Pick and Schedule never modify it.
type Table struct {
	p      Params
	nodes  []entry  // sorted by ID: input order never matters
	free   []uint32 // free GPUs per node, as reported
	queue  []uint32 // queue length per node, as reported
	gpu    []group  // GPU offers, sorted by (model, memory)
	cpu    group    // CPU-only offers
	images map[string]uint32
}

// entry is a node with everything that does not depend on the job or the
// batch computed once.
type entry struct {
	id       string
	owner    common.Address
	total    uint32
	util     uint32
	price    offer
	cpuPrice offer
	images   []uint32 // interned digests, sorted
	static   uint64   // WRTT·rtt + WReliability·rel + WStake·stake
	// bound ≥ static + WCapacity·capacity + WImage·image for any job and
	// any batch state: capacity at the reported free GPUs and queue (a
	// batch only lowers it), image as if held when the node holds any.
	bound  uint64
	idHash uint64 // tie-break input, from the node ID
}

// offer is a price in wei; fits64 caches whether it fits a uint64 so that
// the common case compares and divides without uint256.
type offer struct {
	set    bool
	wei    uint256.Int
	fits64 bool
	u64    uint64
}

// group is one class of equivalent offers: GPU nodes of one model and one
// memory size, or all CPU-only offers.
type group struct {
	model  string
	memMiB uint64
	// live members as added; NewTable moves them into buckets.
	live []int32
	// buckets hold the live members by reported free GPUs, most first; a
	// batch only lowers free GPUs, so a job of n GPUs never needs a bucket
	// with fewer than n. Within a bucket: bound descending, then index.
	buckets []bucket
	// minPrice is the lowest price among live members (per GPU-second, or
	// CPU-only per second for the CPU group); it bounds the price term.
	minPrice offer
	// stale is set when a member is not live (NotLive is then reachable).
	stale bool
	// low is set when a live member scores below Params.MinScore (LowScore
	// is then reachable); such members are left out like stale ones.
	low bool
}

// NewTable validates and indexes a snapshot of nodes. The order of nodes
// does not matter. Nodes past Params.MaxLastSeen are kept (so that a job
// can be told NotLive) but never chosen.
func NewTable(nodes []Node, p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %d above %d", ErrTooManyNodes, len(nodes), MaxNodes)
	}
	order := make([]int, len(nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(nodes[a].ID, nodes[b].ID) })

	t := &Table{
		p:      p,
		nodes:  make([]entry, len(nodes)),
		free:   make([]uint32, len(nodes)),
		queue:  make([]uint32, len(nodes)),
		images: make(map[string]uint32),
	}
	type key struct {
		model  string
		memMiB uint64
	}
	groups := make(map[key]*group)
	for i, oi := range order {
		n := &nodes[oi]
		if err := validateNode(n); err != nil {
			return nil, err
		}
		if i > 0 && nodes[order[i-1]].ID == n.ID {
			return nil, fmt.Errorf("%w %q: duplicate ID", ErrInvalidNode, n.ID)
		}
		e := &t.nodes[i]
		e.id, e.owner, e.total, e.util = n.ID, n.Owner, n.TotalGPUs, n.UtilPct
		e.price = newOffer(n.PriceWei)
		e.cpuPrice = newOffer(n.CPUPriceWei)
		for _, img := range n.Images {
			id, ok := t.images[img]
			if !ok {
				id = uint32(len(t.images))
				t.images[img] = id
			}
			e.images = append(e.images, id)
		}
		slices.Sort(e.images)
		e.images = slices.Compact(e.images)
		e.static = staticScore(n, &p)
		e.bound = e.static + p.WCapacity*capacityTerm(e, n.FreeGPUs, n.QueueLen, &Job{})
		if len(e.images) > 0 {
			e.bound += p.WImage * ppm
		}
		e.idHash = hashNodeID(n.ID)
		t.free[i], t.queue[i] = n.FreeGPUs, n.QueueLen

		live := n.LastSeen <= p.MaxLastSeen
		low := n.Scored && n.Score < p.MinScore
		if n.TotalGPUs > 0 && e.price.set {
			k := key{n.GPUModel, n.MemPerGPUMiB}
			g := groups[k]
			if g == nil {
				g = &group{model: k.model, memMiB: k.memMiB}
				groups[k] = g
			}
			g.add(int32(i), live, low, &e.price)
		}
		if e.cpuPrice.set {
			t.cpu.add(int32(i), live, low, &e.cpuPrice)
		}
	}
	for _, g := range groups {
		t.gpu = append(t.gpu, *g)
	}
	slices.SortFunc(t.gpu, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.memMiB, b.memMiB))
	})
	for i := range t.gpu {
		t.sortGroup(&t.gpu[i])
	}
	t.sortGroup(&t.cpu)
	return t, nil
}

// Len is the number of nodes in the table, live or not.
func (t *Table) Len() int { return len(t.nodes) }

func (g *group) add(i int32, live, low bool, price *offer) {
	switch {
	case live && low:
		g.low = true
	case live:
		g.live = append(g.live, i)
		if !g.minPrice.set || price.wei.Lt(&g.minPrice.wei) {
			g.minPrice = *price
		}
	default:
		g.stale = true
	}
}

// bucket is the live members of a group with the same reported free GPUs.
type bucket struct {
	free  uint32
	nodes []int32
}

func (t *Table) sortGroup(g *group) {
	slices.SortFunc(g.live, func(a, b int32) int {
		return cmp.Or(cmp.Compare(t.free[b], t.free[a]), cmp.Compare(t.nodes[b].bound, t.nodes[a].bound), cmp.Compare(a, b))
	})
	for start := 0; start < len(g.live); {
		end := start + 1
		for end < len(g.live) && t.free[g.live[end]] == t.free[g.live[start]] {
			end++
		}
		g.buckets = append(g.buckets, bucket{free: t.free[g.live[start]], nodes: g.live[start:end:end]})
		start = end
	}
	g.live = nil
}

func validateNode(n *Node) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidNode, n.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case n.ID == "" || len(n.ID) > MaxIDBytes:
		return bad("ID length %d outside 1…%d", len(n.ID), MaxIDBytes)
	case len(n.GPUModel) > MaxModelBytes:
		return bad("GPU model longer than %d bytes", MaxModelBytes)
	case n.TotalGPUs > MaxGPUsPerNode:
		return bad("%d GPUs above %d", n.TotalGPUs, MaxGPUsPerNode)
	case n.FreeGPUs > n.TotalGPUs:
		return bad("%d free GPUs of %d", n.FreeGPUs, n.TotalGPUs)
	case n.TotalGPUs > 0 && n.PriceWei != nil && (n.GPUModel == "" || n.MemPerGPUMiB == 0):
		return bad("GPUs offered without a model or memory size")
	case n.UtilPct > 100:
		return bad("utilisation %d%% above 100%%", n.UtilPct)
	case n.RTT < 0:
		return bad("negative round-trip time %v", n.RTT)
	case n.LastSeen < 0:
		return bad("negative last-seen age %v", n.LastSeen)
	case n.Score > ppm:
		return bad("score %d above %d", n.Score, ppm)
	case len(n.Images) > MaxImagesPerNode:
		return bad("%d images above %d", len(n.Images), MaxImagesPerNode)
	}
	for _, img := range n.Images {
		if img == "" || len(img) > MaxImageBytes {
			return bad("image digest length %d outside 1…%d", len(img), MaxImageBytes)
		}
	}
	return nil
}

func newOffer(wei *uint256.Int) offer {
	if wei == nil {
		return offer{}
	}
	return offer{set: true, wei: *wei, fits64: wei.IsUint64(), u64: wei.Uint64()}
}

// staticScore is the part of the score that depends on the node alone.
func staticScore(n *Node, p *Params) uint64 {
	return p.WRTT*rttTerm(n, p) + p.WReliability*reliabilityTerm(n, p) + p.WStake*stakeTerm(n, p)
}

// rttTerm = ⌊1e6·R / (R + rtt)⌋, R = Params.RTTRef; unmeasured: 1e6/2.
func rttTerm(n *Node, p *Params) uint64 {
	if n.RTT == 0 {
		return ppm / 2
	}
	r, rtt := uint64(p.RTTRef), uint64(n.RTT)
	if rtt > 1<<62 { // keeps R + rtt in range; the term is 0 there anyway
		rtt = 1 << 62
	}
	return ppm * r / (r + rtt) // round down; ppm·R ≤ 6e16
}

// reliabilityTerm = ⌊1e6·(s + a) / (s + f + t + a + b)⌋ with the prior a, b;
// a scored node's score.
func reliabilityTerm(n *Node, p *Params) uint64 {
	if n.Scored {
		return n.Score
	}
	num := new(uint256.Int).AddUint64(uint256.NewInt(n.Succeeded), p.PriorSucceeded)
	den := new(uint256.Int).Add(num, uint256.NewInt(n.Failed))
	den.AddUint64(den, n.TimedOut).AddUint64(den, p.PriorFailed)
	num.Mul(num, uint256.NewInt(ppm))
	return num.Div(num, den).Uint64() // round down; den ≥ 1 by Params.Validate
}

// stakeTerm = ⌊1e6·stake / (stake + StakeRef)⌋.
func stakeTerm(n *Node, p *Params) uint64 {
	if n.StakeWei == nil || n.StakeWei.IsZero() {
		return 0
	}
	den, overflow := new(uint256.Int).AddOverflow(n.StakeWei, p.StakeRefWei)
	if overflow { // stake near 2^256: the term is ppm to the last digit
		return ppm - 1
	}
	q, _ := new(uint256.Int).MulDivOverflow(n.StakeWei, uint256.NewInt(ppm), den)
	return q.Uint64() // round down
}

// hashNodeID and hashJob feed the tie-break: tie = mix(hashJob ^ hashNodeID).
// Both are SHA-256 with a domain tag, cut to the first 8 bytes (big endian).
func hashNodeID(id string) uint64 {
	var buf [len(nodeTag) + MaxIDBytes]byte
	sum := sha256.Sum256(append(append(buf[:0], nodeTag...), id...))
	return binary.BigEndian.Uint64(sum[:8])
}

func hashJob(seed [32]byte, id string) uint64 {
	var buf [len(jobTag) + 32 + MaxIDBytes]byte
	sum := sha256.Sum256(append(append(append(buf[:0], jobTag...), seed[:]...), id...))
	return binary.BigEndian.Uint64(sum[:8])
}

const (
	nodeTag = "emc/scheduler/node\x00"
	jobTag  = "emc/scheduler/job\x00"
)

// mix is the splitmix64 finaliser: a bijection that spreads every input bit.
func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
