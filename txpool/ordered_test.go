package txpool

// Method: a hand-worked example pins the order (effective tip across
// accounts, nonce within one, Shift and Pop semantics); a randomized pool is
// then drained and compared with a slow reference that scans all account
// heads each step.

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

func drain(it *Ordered) []*types.Transaction {
	var out []*types.Transaction
	for tx, _ := it.Peek(); tx != nil; tx, _ = it.Peek() {
		out = append(out, tx)
		it.Shift()
	}
	return out
}

func TestOrderedByEffectiveTip(t *testing.T) {
	env := newTestEnv(t, Config{})
	a, b, c, d := testKey(0), testKey(1), testKey(2), testKey(3)
	for _, k := range []int{0, 1, 2, 3} {
		env.fund(testKey(k), 0, eth(10))
	}
	A0, A1 := tipTx(a, 0, 5), tipTx(a, 1, 1)
	B0, B1 := tipTx(b, 0, 3), tipTx(b, 1, 4)
	C0 := dynTx(c, 0, 5*gwei+gwei/2, 5*gwei+gwei/2) // pays 5.5 at base fee 0, 4.5 at 1
	D0 := dynTx(d, 0, 2*gwei, gwei)                 // fee cap 2 gwei
	env.mustAdd(A0, A1, B0, B1, C0, D0)

	name := map[common.Hash]string{A0.Hash(): "A0", A1.Hash(): "A1", B0.Hash(): "B0", B1.Hash(): "B1", C0.Hash(): "C0", D0.Hash(): "D0"}
	names := func(txs []*types.Transaction) string {
		s := ""
		for _, tx := range txs {
			s += name[tx.Hash()] + " "
		}
		return s
	}
	// At 1 gwei: D0 effective tip 1 (cap 2 - base 1), same as A1 but later.
	if got, want := names(drain(env.pool.Ordered(big.NewInt(testBaseFee)))), "A0 C0 B0 B1 A1 D0 "; got != want {
		t.Fatalf("order at 1 gwei: %s, want %s", got, want)
	}
	// At base fee 0 C0 pays its full tip and leads.
	if got, want := names(drain(env.pool.Ordered(new(big.Int)))), "C0 A0 B0 B1 A1 D0 "; got != want {
		t.Fatalf("order at 0: %s, want %s", got, want)
	}
	// At 2.5 gwei D0 cannot pay and is left out; C0 pays 3, ties B0, came later.
	if got, want := names(drain(env.pool.Ordered(big.NewInt(2*gwei+gwei/2)))), "A0 B0 B1 C0 A1 "; got != want {
		t.Fatalf("order at 2.5 gwei: %s, want %s", got, want)
	}
	// nil: the pool's next base fee (1 gwei here).
	if got, want := names(drain(env.pool.Ordered(nil))), "A0 C0 B0 B1 A1 D0 "; got != want {
		t.Fatalf("order at pool base fee: %s, want %s", got, want)
	}

	// Pop drops the whole account; EffectiveTip reports the head's tip.
	it := env.pool.Ordered(big.NewInt(testBaseFee))
	if tx, from := it.Peek(); tx != A0 || from != crypto.PubkeyToAddress(a.PublicKey) {
		t.Fatal("peek")
	}
	if tip := it.EffectiveTip(); !tip.Eq(uint256.NewInt(5 * gwei)) {
		t.Fatalf("effective tip %v", tip)
	}
	it.Pop()
	if got, want := names(drain(it)), "C0 B0 B1 D0 "; got != want {
		t.Fatalf("after Pop: %s, want %s", got, want)
	}
	if !it.Empty() || it.EffectiveTip() != nil {
		t.Fatal("drained iterator not empty")
	}
	it.Shift() // no-ops when empty
	it.Pop()
}

func TestOrderedMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	env := newTestEnv(t, Config{})
	const accounts = 20
	for i := range accounts {
		env.fund(testKey(i), 0, eth(100))
	}
	for i := range accounts {
		n := 1 + rng.IntN(8)
		for nonce := range uint64(n) {
			feeCap := uint64(1+rng.IntN(20)) * gwei / 2
			tip := min(feeCap, uint64(rng.IntN(10))*gwei/3)
			if feeCap < testBaseFee {
				feeCap = testBaseFee
			}
			env.mustAdd(dynTx(testKey(i), nonce, feeCap, tip))
		}
	}
	for _, baseFee := range []uint64{0, testBaseFee, 3 * gwei, 7 * gwei} {
		got := drain(env.pool.Ordered(new(big.Int).SetUint64(baseFee)))
		want := referenceOrder(env.pool, baseFee)
		if len(got) != len(want) {
			t.Fatalf("base fee %d: %d txs, reference %d", baseFee, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("base fee %d: position %d differs", baseFee, i)
			}
		}
	}
}

// referenceOrder is the obviously-right version: each step scans every
// account's next transaction and takes the best.
func referenceOrder(p *Pool, baseFee uint64) []*types.Transaction {
	p.mu.RLock()
	defer p.mu.RUnlock()
	fee := uint256.NewInt(baseFee)
	runs := map[common.Address][]*txEntry{}
	for addr, a := range p.accounts {
		for _, e := range a.pending {
			if e.feeCap.Lt(fee) {
				break
			}
			runs[addr] = append(runs[addr], e)
		}
	}
	var out []*types.Transaction
	for {
		var best *txEntry
		for _, run := range runs {
			if len(run) == 0 {
				continue
			}
			e := run[0]
			if best == nil {
				best = e
				continue
			}
			c := cmpEffectiveTip(e.feeCap, e.tip, best.feeCap, best.tip, fee)
			if c > 0 || (c == 0 && e.seq < best.seq) {
				best = e
			}
		}
		if best == nil {
			return out
		}
		out = append(out, best.tx)
		runs[best.from] = runs[best.from][1:]
	}
}

func TestEffectiveTipCompare(t *testing.T) {
	u := uint256.NewInt
	tests := []struct {
		feeA, tipA, feeB, tipB, base uint64
		want                         int
	}{
		{10, 5, 10, 4, 0, 1},
		{10, 5, 7, 5, 4, 1}, // 5 vs 3
		{10, 5, 9, 5, 5, 1}, // min(5,5)=5 vs min(5,4)=4
		{3, 1, 2, 1, 5, 1},  // -2 vs -3
		{2, 1, 6, 0, 5, -1}, // negative vs 0
		{5, 0, 5, 0, 5, 0},
	}
	for i, tt := range tests {
		if got := cmpEffectiveTip(u(tt.feeA), u(tt.tipA), u(tt.feeB), u(tt.tipB), u(tt.base)); got != tt.want {
			t.Errorf("%d: have %d want %d", i, got, tt.want)
		}
	}
}
