package txpool

import "github.com/holiman/uint256"

// priceHeap is a min-heap of the pool's remote transactions, cheapest first,
// at the next block's base fee. It answers "what goes when the pool is full".
// Local transactions are never in it: they are never evicted for price. The
// order depends on the base fee, so Reset re-heapifies it (O(n)).
type priceHeap struct {
	baseFee *uint256.Int
	items   []*txEntry
}

func (h *priceHeap) Len() int { return len(h.items) }

func (h *priceHeap) Less(i, j int) bool {
	if c := cmpPrice(h.items[i], h.items[j], h.baseFee); c != 0 {
		return c < 0
	}
	// Equal price: the newer one goes first, so the long-waiting one keeps
	// its place (and the order is deterministic).
	return h.items[i].seq > h.items[j].seq
}

func (h *priceHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIdx = i
	h.items[j].heapIdx = j
}

func (h *priceHeap) Push(x any) {
	e := x.(*txEntry)
	e.heapIdx = len(h.items)
	h.items = append(h.items, e)
}

func (h *priceHeap) Pop() any {
	n := len(h.items)
	e := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	e.heapIdx = -1
	return e
}

// cmpPrice orders two transactions by what they pay the proposer at baseFee:
// effective tip first (negative when the fee cap is under the base fee), then
// fee cap, then tip cap. It returns -1, 0 or +1.
func cmpPrice(a, b *txEntry, baseFee *uint256.Int) int {
	if c := cmpEffectiveTip(a.feeCap, a.tip, b.feeCap, b.tip, baseFee); c != 0 {
		return c
	}
	if c := a.feeCap.Cmp(b.feeCap); c != 0 {
		return c
	}
	return a.tip.Cmp(b.tip)
}

// effectiveTip returns min(tip, feeCap-baseFee) as a magnitude and a sign:
// neg is true when feeCap < baseFee and the value is baseFee-feeCap.
func effectiveTip(feeCap, tip, baseFee *uint256.Int) (v uint256.Int, neg bool) {
	if feeCap.Lt(baseFee) {
		v.Sub(baseFee, feeCap)
		return v, true
	}
	v.Sub(feeCap, baseFee)
	if tip.Lt(&v) {
		v.Set(tip)
	}
	return v, false
}

func cmpEffectiveTip(feeA, tipA, feeB, tipB, baseFee *uint256.Int) int {
	va, negA := effectiveTip(feeA, tipA, baseFee)
	vb, negB := effectiveTip(feeB, tipB, baseFee)
	switch {
	case negA && !negB:
		return -1
	case !negA && negB:
		return 1
	case negA && negB:
		return vb.Cmp(&va) // more negative is smaller
	default:
		return va.Cmp(&vb)
	}
}
