package wallet

// Method: the Tracker's decisions are checked two ways. Fee arithmetic is a
// table against the pool's replacement rule restated here (both fees
// strictly higher and at least old*(100+bump)/100, floor division). The
// head-by-head decisions run against simChain, a simulated chain and pool
// with a miner that includes, in nonce order, pooled transactions whose tip
// reaches its minimum: each scenario drops, underprices or front-runs
// transactions and checks the actions and the final outcome.

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func testPolicy() Policy {
	return Policy{TipWei: big.NewInt(100), MaxFeeCapWei: big.NewInt(100_000), StuckBlocks: 2, PriceBumpPercent: 10, MaxBumps: 5}
}

// poolAccepts is txpool's replacement rule, restated.
func poolAccepts(old, repl Fees, bump uint64) bool {
	if repl.FeeCap.Cmp(old.FeeCap) <= 0 || repl.Tip.Cmp(old.Tip) <= 0 {
		return false
	}
	th := func(v *big.Int) *big.Int {
		t := new(big.Int).Mul(v, new(big.Int).SetUint64(100+bump))
		return t.Div(t, big.NewInt(100))
	}
	return repl.FeeCap.Cmp(th(old.FeeCap)) >= 0 && repl.Tip.Cmp(th(old.Tip)) >= 0
}

func fees(feeCap, tip int64) Fees { return Fees{FeeCap: big.NewInt(feeCap), Tip: big.NewInt(tip)} }

func TestInitialFees(t *testing.T) {
	p := testPolicy()
	for _, tc := range []struct {
		name    string
		baseFee int64
		want    Fees
		wantErr bool
	}{
		{"headroom 2x base fee plus tip", 1000, fees(2100, 100), false},
		{"zero base fee", 0, fees(100, 100), false},
		{"cut to the max fee cap", 60_000, fees(100_000, 100), false},
		{"cap exactly base fee plus tip", 99_900, fees(100_000, 100), false},
		{"base fee above the cap", 99_901, Fees{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InitialFees(p, big.NewInt(tc.baseFee))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v, want ErrFeeCapExceeded", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.FeeCap.Cmp(tc.want.FeeCap) != 0 || got.Tip.Cmp(tc.want.Tip) != 0 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBumpFees(t *testing.T) {
	p := testPolicy()
	for _, tc := range []struct {
		name    string
		old     Fees
		baseFee int64
		want    Fees
		wantOK  bool
	}{
		{"10% up, exact", fees(1000, 100), 100, fees(1100, 110), true},
		{"10% up, rounded up", fees(1001, 101), 100, fees(1102, 112), true},
		{"zero tip goes to 1", fees(1000, 0), 100, fees(1100, 1), true},
		{"tiny values rise by 1 at least", fees(3, 1), 0, fees(4, 2), true},
		{"headroom follows a risen base fee", fees(1000, 100), 5000, fees(10_110, 110), true},
		{"headroom cut to the cap", fees(50_000, 100), 60_000, fees(100_000, 110), true},
		{"bump just fits under the cap", fees(90_909, 100), 0, fees(100_000, 110), true},
		{"bump over the cap", fees(95_000, 100), 0, Fees{}, false},
		{"tip would pass the cap", fees(100_000, 99_999), 0, Fees{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := BumpFees(p, tc.old, big.NewInt(tc.baseFee))
			if ok != tc.wantOK {
				t.Fatalf("ok = %v (%v), want %v", ok, got, tc.wantOK)
			}
			if !ok {
				return
			}
			if got.FeeCap.Cmp(tc.want.FeeCap) != 0 || got.Tip.Cmp(tc.want.Tip) != 0 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if !poolAccepts(tc.old, got, p.PriceBumpPercent) {
				t.Fatalf("the pool would refuse %v replacing %v", got, tc.old)
			}
			if got.FeeCap.Cmp(p.MaxFeeCapWei) > 0 || got.Tip.Cmp(got.FeeCap) > 0 {
				t.Fatalf("%v breaks the cap or tip <= fee cap", got)
			}
		})
	}
}

// Bumping from any starting fees always yields something the pool accepts,
// until the cap says no.
func TestBumpFeesChainAlwaysAccepted(t *testing.T) {
	p := testPolicy()
	for start := int64(0); start < 300; start += 7 {
		f := fees(2*start+start/3, start/3)
		for i := 0; ; i++ {
			next, ok := BumpFees(p, f, big.NewInt(start))
			if !ok {
				if bumped(f.FeeCap, p.PriceBumpPercent).Cmp(p.MaxFeeCapWei) <= 0 && bumped(f.Tip, p.PriceBumpPercent).Cmp(f.FeeCap) < 0 {
					t.Fatalf("start %d step %d: refused a bump of %v that fits", start, i, f)
				}
				break
			}
			if !poolAccepts(f, next, p.PriceBumpPercent) {
				t.Fatalf("start %d step %d: pool refuses %v over %v", start, i, next, f)
			}
			f = next
			if i > 1000 {
				t.Fatal("bumping never reaches the cap")
			}
		}
	}
}

func TestResyncNonce(t *testing.T) {
	for _, tc := range []struct{ local, st, pool, want uint64 }{
		{5, 3, 5, 5}, // ours pending
		{5, 3, 3, 5}, // ours queued behind a dropped one: never down
		{5, 7, 7, 7}, // external txs mined
		{5, 5, 8, 8}, // external txs pending
	} {
		if got := ResyncNonce(tc.local, tc.st, tc.pool); got != tc.want {
			t.Errorf("ResyncNonce(%d, %d, %d) = %d, want %d", tc.local, tc.st, tc.pool, got, tc.want)
		}
	}
}

// simTx is a pooled or mined version in simChain.
type simTx struct {
	nonce uint64
	fees  Fees
	ours  bool
}

// simChain is a chain plus pool for one account. Each head, the miner takes
// pooled transactions from the state nonce up while their tip reaches
// minTip, as a validator with a minimum tip would.
type simChain struct {
	number     uint64
	stateNonce uint64
	baseFee    *big.Int
	minTip     *big.Int
	pool       map[common.Hash]simTx
	mined      map[common.Hash]bool
	seq        int
}

func newSimChain() *simChain {
	return &simChain{baseFee: big.NewInt(1000), minTip: new(big.Int), pool: map[common.Hash]simTx{}, mined: map[common.Hash]bool{}}
}

func (c *simChain) newHash() common.Hash {
	c.seq++
	return common.BytesToHash([]byte(fmt.Sprintf("tx-%d", c.seq)))
}

// send pools a version, replacing one of the same nonce.
func (c *simChain) send(nonce uint64, f Fees, ours bool) common.Hash {
	for h, tx := range c.pool {
		if tx.nonce == nonce {
			delete(c.pool, h)
		}
	}
	h := c.newHash()
	c.pool[h] = simTx{nonce: nonce, fees: f, ours: ours}
	return h
}

func (c *simChain) mine() {
	c.number++
	for {
		var next common.Hash
		found := false
		for h, tx := range c.pool {
			if tx.nonce == c.stateNonce && tx.fees.Tip.Cmp(c.minTip) >= 0 && tx.fees.FeeCap.Cmp(c.baseFee) >= 0 {
				next, found = h, true
			}
		}
		if !found {
			return
		}
		delete(c.pool, next)
		c.mined[next] = true
		c.stateNonce++
	}
}

func (c *simChain) view(tr *Tracker) HeadView {
	v := HeadView{Number: c.number, StateNonce: c.stateNonce, NextBaseFee: c.baseFee, Txs: map[uint64]TxView{}}
	for _, e := range tr.Entries() {
		_, in := c.pool[e.Current()]
		tv := TxView{InPool: in}
		for _, h := range e.Hashes {
			if c.mined[h] {
				tv.Mined = &h
			}
		}
		v.Txs[e.Nonce] = tv
	}
	return v
}

// simWallet drives a Tracker against a simChain the way Wallet does.
type simWallet struct {
	t    *testing.T
	c    *simChain
	tr   *Tracker
	next uint64
	log  []string // "head N: kind nonce" per action
	done map[uint64]ActionKind
}

func (w *simWallet) submit(id uint64) {
	f, err := InitialFees(w.tr.p, w.c.baseFee)
	if err != nil {
		w.t.Fatal(err)
	}
	h := w.c.send(w.next, f, true)
	w.tr.Add(id, w.next, f, h, w.c.number)
	w.next++
}

func (w *simWallet) head() {
	w.c.mine()
	v := w.c.view(w.tr)
	for _, a := range w.tr.OnHead(v) {
		w.log = append(w.log, fmt.Sprintf("head %d: %v %d", v.Number, a.Kind, a.Nonce))
		switch a.Kind {
		case ActMined:
			w.done[a.ID] = ActMined
		case ActResubmit:
			e := w.entry(a.Nonce)
			w.c.pool[e.Current()] = simTx{nonce: a.Nonce, fees: e.Fees, ours: true}
			w.tr.Resent(a.Nonce, v.Number)
		case ActBump:
			if !poolAccepts(w.entry(a.Nonce).Fees, a.Fees, w.tr.p.PriceBumpPercent) {
				w.t.Fatalf("bump %v over %v: pool would refuse", a.Fees, w.entry(a.Nonce).Fees)
			}
			h := w.c.send(a.Nonce, a.Fees, true)
			w.tr.Replaced(a.Nonce, a.Fees, h, v.Number)
		case ActReassign:
			w.next = ResyncNonce(w.next, v.StateNonce, 0)
			w.submit(a.ID)
		}
	}
}

func (w *simWallet) entry(nonce uint64) Entry {
	for _, e := range w.tr.Entries() {
		if e.Nonce == nonce {
			return e
		}
	}
	w.t.Fatalf("no entry at nonce %d", nonce)
	return Entry{}
}

func TestTrackerScenarios(t *testing.T) {
	for _, tc := range []struct {
		name string
		txs  int
		// before runs once after the sends, before the first head.
		before func(c *simChain)
		// at runs before the numbered head.
		at    map[uint64]func(c *simChain)
		heads int
		want  []string // the action log
		// mined is the number of requests resolved mined at the end.
		mined int
	}{
		{
			name: "all mined in the next block", txs: 3, heads: 1,
			want:  []string{"head 1: mined 0", "head 1: mined 1", "head 1: mined 2"},
			mined: 3,
		},
		{
			name: "dropped tx resubmitted, the ones behind wait for it", txs: 3, heads: 3,
			before: func(c *simChain) { dropNonce(c, 1) },
			want:   []string{"head 1: mined 0", "head 1: resubmit 1", "head 2: mined 1", "head 2: mined 2"},
			mined:  3,
		},
		{
			name: "underpriced front tx bumped every StuckBlocks until mined; only the front", txs: 2, heads: 10,
			before: func(c *simChain) { c.minTip = big.NewInt(125) }, // 100 -> 110 -> 121 -> 134
			want: []string{
				"head 3: bump 0", // front since head 1, stuck blocks 2
				"head 5: bump 0",
				"head 7: bump 0",
				"head 8: mined 0",
				"head 10: bump 1", // at the front since head 8: its own wait starts there
			},
			mined: 1,
		},
		{
			name: "bumps bounded, then reported stuck once", txs: 1, heads: 20,
			before: func(c *simChain) { c.minTip = big.NewInt(1_000_000) },
			want: []string{"head 3: bump 0", "head 5: bump 0", "head 7: bump 0", "head 9: bump 0", "head 11: bump 0",
				"head 13: stuck 0"},
		},
		{
			name: "nonce taken by an external tx: reassigned, later ones unaffected", txs: 3, heads: 2,
			before: func(c *simChain) {
				dropNonce(c, 0)
				c.send(0, fees(5000, 500), false)
			},
			want:  []string{"head 1: reassign 0", "head 1: mined 1", "head 1: mined 2", "head 2: mined 3"},
			mined: 3,
		},
		{
			name: "base fee rises above the fee cap: bumped with new headroom", txs: 1, heads: 4,
			before: func(c *simChain) { c.baseFee = big.NewInt(2150) }, // fee cap was 2100
			want:   []string{"head 3: bump 0", "head 4: mined 0"},
			mined:  1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSimChain()
			w := &simWallet{t: t, c: c, tr: NewTracker(testPolicy()), done: map[uint64]ActionKind{}}
			for i := 0; i < tc.txs; i++ {
				w.submit(uint64(i))
			}
			if tc.before != nil {
				tc.before(c)
			}
			for i := 0; i < tc.heads; i++ {
				w.head()
			}
			if !slices.Equal(w.log, tc.want) {
				t.Fatalf("actions:\n  %s\nwant:\n  %s", strings.Join(w.log, "\n  "), strings.Join(tc.want, "\n  "))
			}
			mined := 0
			for _, k := range w.done {
				if k == ActMined {
					mined++
				}
			}
			if mined != tc.mined {
				t.Fatalf("mined %d, want %d", mined, tc.mined)
			}
			if tc.mined == tc.txs && w.tr.Len() != 0 {
				t.Fatalf("%d entries left after all mined", w.tr.Len())
			}
		})
	}
}

func dropNonce(c *simChain, nonce uint64) {
	for h, tx := range c.pool {
		if tx.nonce == nonce {
			delete(c.pool, h)
		}
	}
}
