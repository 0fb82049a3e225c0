package scheduler

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/holiman/uint256"
)

// Schedule places a batch of jobs on a snapshot of nodes: NewTable then
// Table.Schedule. Use a Table directly to schedule several batches on one
// snapshot.
func Schedule(jobs []Job, nodes []Node, seed [32]byte, p Params) ([]Assignment, error) {
	t, err := NewTable(nodes, p)
	if err != nil {
		return nil, err
	}
	return t.Schedule(jobs, seed)
}

// Schedule places jobs in the order given (the caller's priority, e.g.
// oldest first), one Assignment per job in that order. Each placement
// consumes the node's free GPUs and one queue slot for the rest of the
// batch, so two jobs never overbook a node. The table is not modified.
func (t *Table) Schedule(jobs []Job, seed [32]byte) ([]Assignment, error) {
	if len(jobs) > MaxJobs {
		return nil, fmt.Errorf("%w: %d above %d", ErrTooManyJobs, len(jobs), MaxJobs)
	}
	st := state{free: slices.Clone(t.free), queue: slices.Clone(t.queue)}
	seen := make(map[string]struct{}, len(jobs))
	out := make([]Assignment, len(jobs))
	for k := range jobs {
		j := &jobs[k]
		if _, dup := seen[j.ID]; dup {
			out[k] = Assignment{JobID: j.ID, Reason: InvalidJob, Detail: "duplicate job ID in batch"}
			continue
		}
		seen[j.ID] = struct{}{}
		a, i := t.pick(j, seed, &st)
		out[k] = a
		if a.Reason == Placed {
			st.free[i] -= j.GPUs
			if st.queue[i] < ^uint32(0) {
				st.queue[i]++
			}
		}
	}
	return out, nil
}

// Pick chooses a node for one job against the snapshot as reported,
// consuming nothing.
func (t *Table) Pick(j Job, seed [32]byte) Assignment {
	a, _ := t.pick(&j, seed, &state{free: t.free, queue: t.queue})
	return a
}

// state is what a batch consumes: free GPUs and queue slots per node.
type state struct {
	free, queue []uint32
}

// candidate is the best node found so far.
type candidate struct {
	i      int32
	score  uint64
	idHash uint64
}

// pick runs the hard constraints and the score over the groups the job can
// use. It returns the assignment and the chosen node's index.
func (t *Table) pick(j *Job, seed [32]byte, st *state) (Assignment, int32) {
	a := Assignment{JobID: j.ID}
	if detail := validateJob(j); detail != "" {
		a.Reason, a.Detail = InvalidJob, detail
		return a, -1
	}
	q := query{job: j, seed: &seed, cap: offer{set: true, wei: *j.MaxPriceWei, fits64: j.MaxPriceWei.IsUint64(), u64: j.MaxPriceWei.Uint64()}}
	q.image = -1
	if j.ImageDigest != "" {
		if id, ok := t.images[j.ImageDigest]; ok {
			q.image = int64(id)
		}
	}
	q.stage = NoModel
	q.best.i = -1

	if j.CPUOnly {
		t.scan(&t.cpu, &q, st)
	} else {
		for gi := range t.gpu {
			g := &t.gpu[gi]
			if (j.GPUModel == "" || g.model == j.GPUModel) && g.memMiB >= j.MinMemMiB {
				t.scan(g, &q, st)
			}
		}
	}
	if q.best.i < 0 {
		a.Reason = q.stage
		return a, -1
	}
	a.NodeID, a.Score = t.nodes[q.best.i].id, q.best.score
	return a, q.best.i
}

// query is one pick in progress.
type query struct {
	job    *Job
	jobTie uint64 // hashJob(seed, id), computed on the first tie only
	tieSet bool
	seed   *[32]byte
	cap    offer
	image  int64 // interned digest, -1: no node holds it (or none asked)
	// priceMax bounds WPrice·price in the group being scanned.
	priceMax uint64
	stage    Reason // furthest reason reached while nothing fits
	best     candidate
}

// scan visits a group's buckets that can hold the job, each highest bound
// first, and stops when no node left can beat the best found. While
// nothing fits it also visits the rest, to learn the reason.
func (t *Table) scan(g *group, q *query, st *state) {
	if g.stale {
		q.reach(NotLive)
	}
	if g.low {
		q.reach(LowScore)
	}
	q.priceMax = 0
	if g.minPrice.le(&q.cap) {
		q.priceMax = t.p.WPrice * priceTerm(&g.minPrice, &q.cap)
	}
	for bi := range g.buckets {
		b := &g.buckets[bi]
		if b.free < q.job.GPUs && (q.best.i >= 0 || q.stage == NoCapacity) {
			return // none fits, and the reason is known or not needed
		}
		t.scanBucket(b.nodes, q, st)
	}
}

func (t *Table) scanBucket(nodes []int32, q *query, st *state) {
	j := q.job
	for _, i := range nodes {
		e := &t.nodes[i]
		if q.best.i >= 0 && e.bound+q.priceMax < q.best.score {
			return // sorted by bound: nobody left in the bucket can win
		}
		held := q.image >= 0 && hasImage(e.images, uint32(q.image))
		if j.ImageDigest != "" && !held && !j.ImagePullable {
			q.reach(NoImage)
			continue
		}
		price := &e.price
		if j.CPUOnly {
			price = &e.cpuPrice
		}
		if !price.le(&q.cap) {
			q.reach(OverPriceCap)
			continue
		}
		if e.owner == j.Submitter && !t.p.AllowSelfDealing {
			q.reach(SelfDealing)
			continue
		}
		free, queue := st.free[i], st.queue[i]
		if free < j.GPUs || (t.p.MaxQueue > 0 && queue >= t.p.MaxQueue) {
			q.reach(NoCapacity)
			continue
		}
		score := e.static +
			t.p.WCapacity*capacityTerm(e, free, queue, j) +
			t.p.WPrice*priceTerm(price, &q.cap)
		if held {
			score += t.p.WImage * ppm
		}
		q.consider(i, score, e.idHash)
	}
}

// reach records that a node got as far as the check that refused it with
// r; the job keeps the reason of the furthest one (Reason.order).
func (q *query) reach(r Reason) {
	if r.order() > q.stage.order() {
		q.stage = r
	}
}

// consider keeps the better of the best so far and node i: higher score,
// then higher tie hash mix(hashJob(seed, job ID) ^ hashNodeID(node ID)),
// then lower index (lower ID). That is a total order, so the choice does not
// depend on the order nodes are visited in.
func (q *query) consider(i int32, score, idHash uint64) {
	b := &q.best
	switch {
	case b.i < 0 || score > b.score:
		*b = candidate{i: i, score: score, idHash: idHash}
		return
	case score < b.score:
		return
	}
	if !q.tieSet { // hashed once per pick, and only when scores tie
		q.jobTie, q.tieSet = hashJob(*q.seed, q.job.ID), true
	}
	ti, tb := mix(q.jobTie^idHash), mix(q.jobTie^b.idHash)
	if ti > tb || (ti == tb && i < b.i) {
		*b = candidate{i: i, score: score, idHash: idHash}
	}
}

// capacityTerm = ⌊(2·free + idle) / 3 / (1 + queue)⌋ with
// free = ⌊1e6·(free GPUs − wanted)/total⌋ (CPU-only: free GPUs/total, 1e6
// without GPUs) and idle = 1e6·(100 − util)/100.
func capacityTerm(e *entry, free, queue uint32, j *Job) uint64 {
	var f uint64 = ppm
	if e.total > 0 {
		f = ppm * uint64(free-j.GPUs) / uint64(e.total) // round down; caller checked free ≥ GPUs
	}
	idle := uint64(100-e.util) * (ppm / 100)
	return (2*f + idle) / 3 / (1 + uint64(queue)) // round down
}

// priceTerm = ⌊1e6·(cap − price)/cap⌋; 1e6 when cap = 0 (price is 0 then).
func priceTerm(price, cap *offer) uint64 {
	if cap.fits64 { // price ≤ cap, so both fit
		if cap.u64 == 0 {
			return ppm
		}
		hi, lo := bits.Mul64(ppm, cap.u64-price.u64)
		quo, _ := bits.Div64(hi, lo, cap.u64) // hi < cap as ppm·(cap−price) < 2^64·cap
		return quo
	}
	diff := new(uint256.Int).Sub(&cap.wei, &price.wei)
	q, _ := diff.MulDivOverflow(diff, uint256.NewInt(ppm), &cap.wei)
	return q.Uint64()
}

// le reports o ≤ cap.
func (o *offer) le(cap *offer) bool {
	if !o.set {
		return false
	}
	if o.fits64 && cap.fits64 {
		return o.u64 <= cap.u64
	}
	return !o.wei.Gt(&cap.wei)
}

func hasImage(images []uint32, id uint32) bool {
	_, ok := slices.BinarySearch(images, id)
	return ok
}

// validateJob returns why a job is malformed, or "".
func validateJob(j *Job) string {
	switch {
	case j.ID == "" || len(j.ID) > MaxIDBytes:
		return fmt.Sprintf("ID length %d outside 1…%d", len(j.ID), MaxIDBytes)
	case j.MaxPriceWei == nil:
		return "no price cap"
	case j.CPUOnly && (j.GPUs != 0 || j.GPUModel != "" || j.MinMemMiB != 0):
		return "CPU-only job asks for GPUs"
	case !j.CPUOnly && j.GPUs == 0:
		return "no GPUs asked (set CPUOnly for CPU work)"
	case j.GPUs > MaxGPUsPerJob:
		return fmt.Sprintf("%d GPUs above %d", j.GPUs, MaxGPUsPerJob)
	case len(j.GPUModel) > MaxModelBytes:
		return fmt.Sprintf("GPU model longer than %d bytes", MaxModelBytes)
	case len(j.ImageDigest) > MaxImageBytes:
		return fmt.Sprintf("image digest longer than %d bytes", MaxImageBytes)
	}
	return ""
}
