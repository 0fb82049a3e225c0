package rewards

// Staking-pool tests: the worked example of docs/economics.md with golden
// pending amounts, lock weights, the empty-pool and foreign-position cases,
// RLP round trips, and a property over 10,000 random operations (add,
// remove, distribute, claim) checking after every one that money is
// conserved exactly in scaled units and that nothing is negative.

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"
)

func mustWeight(t testing.TB, stakeWei *big.Int, lock Lock) *big.Int {
	t.Helper()
	w, err := DefaultLockParams().Weight(stakeWei, lock)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustPending(t testing.TB, p *Pool, pos *Position) *big.Int {
	t.Helper()
	v, err := p.Pending(pos)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPoolWorkedExample is docs/economics.md's staking example.
func TestPoolWorkedExample(t *testing.T) {
	p := NewPool()
	alice, bob, carol := NewPosition(), NewPosition(), NewPosition()
	if unpaid, err := p.Distribute(EMC(5)); err != nil || unpaid.Cmp(EMC(5)) != 0 {
		t.Fatalf("empty pool: unpaid %v, %v; want the whole budget back", unpaid, err)
	}
	if err := p.AddWeight(alice, mustWeight(t, EMC(1000), LockNone)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddWeight(bob, mustWeight(t, EMC(1000), Lock90Days)); err != nil {
		t.Fatal(err)
	}
	if p.TotalWeight.Cmp(wei(t, "72000000000000000000000000")) != 0 {
		t.Fatalf("total weight %v", p.TotalWeight)
	}
	if unpaid, err := p.Distribute(EMC(72)); err != nil || unpaid.Sign() != 0 {
		t.Fatalf("unpaid %v, %v", unpaid, err)
	}
	if p.AccPerWeight.Cmp(wei(t, "1000000000000000000000000000000")) != 0 || p.DustScaled.Sign() != 0 {
		t.Fatalf("acc %v dust %v, want 10^30 and 0", p.AccPerWeight, p.DustScaled)
	}
	if a, b := mustPending(t, p, alice), mustPending(t, p, bob); a.Cmp(EMC(10)) != 0 || b.Cmp(EMC(62)) != 0 {
		t.Fatalf("pending alice %v bob %v, want 10 and 62 EMC", a, b)
	}
	if err := p.AddWeight(carol, mustWeight(t, EMC(1000), Lock180Days)); err != nil {
		t.Fatal(err)
	}
	if got := mustPending(t, p, carol); got.Sign() != 0 {
		t.Fatalf("carol joined after the first budget but has %v pending", got)
	}
	if _, err := p.Distribute(EMC(100)); err != nil {
		t.Fatal(err)
	}
	if p.AccPerWeight.Cmp(wei(t, "1581395348837209302325581395348")) != 0 || p.DustScaled.Cmp(wei(t, "144000000000000000000000000")) != 0 {
		t.Fatalf("acc %v dust %v", p.AccPerWeight, p.DustScaled)
	}
	for _, c := range []struct {
		name string
		pos  *Position
		want string
	}{
		{"alice", alice, "15813953488372093023"},
		{"bob", bob, "98046511627906976744"},
		{"carol", carol, "58139534883720930232"},
	} {
		if got := mustPending(t, p, c.pos); got.Cmp(wei(t, c.want)) != 0 {
			t.Errorf("%s pending %v, want %s", c.name, got, c.want)
		}
	}
	paid, err := p.Claim(bob)
	if err != nil || paid.Cmp(wei(t, "98046511627906976744")) != 0 || mustPending(t, p, bob).Sign() != 0 {
		t.Fatalf("bob claims %v, %v", paid, err)
	}
	if err := p.RemoveWeight(alice, alice.Weight); err != nil { // the argument aliases the field
		t.Fatal(err)
	}
	if paid, err := p.Claim(alice); err != nil || paid.Cmp(wei(t, "15813953488372093023")) != 0 || !alice.IsEmpty() {
		t.Fatalf("alice claims %v, %v; empty %v", paid, err, alice.IsEmpty())
	}
	// The three sub-wei credits and the dust add up to the one wei that
	// rounding kept from the 172 EMC: nothing is lost.
	frac := new(big.Int).Set(bob.CreditScaled)
	frac.Add(frac, p.DustScaled) // holds alice's fraction since she closed
	carolOwed, _ := p.OwedScaled(carol)
	frac.Add(frac, carolOwed.Mod(carolOwed, AccScale()))
	if frac.Cmp(AccScale()) != 0 {
		t.Fatalf("fractions + dust = %v, want one wei (10^36 scaled)", frac)
	}
	if bob.CreditScaled.Cmp(wei(t, "186046511576000000000000000000000000")) != 0 {
		t.Fatalf("bob keeps %v scaled", bob.CreditScaled)
	}
	// The dust joins the next budget.
	if _, err := p.Distribute(EMC(28)); err != nil {
		t.Fatal(err)
	}
	checkConservation(t, p, []*Position{alice, bob, carol}, wei(t, "200000000000000000000"), wei(t, "113860465116279069767"))
}

// checkConservation asserts AccScale·distributed == AccScale·paid +
// Σ OwedScaled + DustScaled, that Σ weights == TotalWeight, and that nothing
// is negative.
func checkConservation(t testing.TB, p *Pool, positions []*Position, distributedWei, paidWei *big.Int) {
	t.Helper()
	scale := accScale()
	lhs := new(big.Int).Mul(distributedWei, scale)
	rhs := new(big.Int).Mul(paidWei, scale)
	rhs.Add(rhs, p.DustScaled)
	weights := new(big.Int)
	for i, pos := range positions {
		owed, err := p.OwedScaled(pos)
		if err != nil {
			t.Fatalf("position %d: %v", i, err)
		}
		if owed.Sign() < 0 || pos.Weight.Sign() < 0 || pos.CreditScaled.Sign() < 0 {
			t.Fatalf("position %d: negative owed %v weight %v credit %v", i, owed, pos.Weight, pos.CreditScaled)
		}
		rhs.Add(rhs, owed)
		weights.Add(weights, pos.Weight)
	}
	if lhs.Cmp(rhs) != 0 {
		t.Fatalf("money not conserved: distributed·S = %v, paid·S + owed + dust = %v (diff %v)", lhs, rhs, new(big.Int).Sub(lhs, rhs))
	}
	if weights.Cmp(p.TotalWeight) != 0 {
		t.Fatalf("Σ weights %v, TotalWeight %v", weights, p.TotalWeight)
	}
	if p.DustScaled.Sign() < 0 || p.AccPerWeight.Sign() < 0 {
		t.Fatalf("negative pool field: %+v", p)
	}
	// The module stores these in 256-bit slots.
	for _, v := range []*big.Int{p.TotalWeight, p.AccPerWeight, p.DustScaled, rhs} {
		if v.BitLen() > 256 {
			t.Fatalf("a pool value needs %d bits: %v", v.BitLen(), v)
		}
	}
}

func TestLockWeights(t *testing.T) {
	lp := DefaultLockParams()
	if err := lp.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lock     Lock
		epochs   uint64
		weight   string // of 1 EMC
		longTerm bool
	}{
		{LockNone, 0, "10000000000000000000000", false},
		{Lock7Days, 7, "14000000000000000000000", false},
		{Lock30Days, 30, "27000000000000000000000", false},
		{Lock90Days, 90, "62000000000000000000000", true},
		{Lock180Days, 180, "100000000000000000000000", true},
	} {
		w, err := lp.Weight(EMC(1), c.lock)
		if err != nil || w.Cmp(wei(t, c.weight)) != 0 {
			t.Errorf("lock %d: weight %v, %v; want %s", c.lock, w, err, c.weight)
		}
		if term, _ := lp.Term(c.lock); term.Epochs != c.epochs {
			t.Errorf("lock %d: %d epochs, want %d", c.lock, term.Epochs, c.epochs)
		}
		if lp.LongTermEligible(c.lock) != c.longTerm {
			t.Errorf("lock %d: long-term %v", c.lock, !c.longTerm)
		}
	}
	if _, err := lp.Weight(EMC(1), NumLocks); !errors.Is(err, ErrUnknownLock) {
		t.Errorf("unknown lock: %v", err)
	}
	if _, err := lp.Weight(big.NewInt(-1), LockNone); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("negative stake: %v", err)
	}
	if lp.LongTermEligible(NumLocks) {
		t.Error("an unknown lock is long-term eligible")
	}
	for i, mutate := range []func(*LockParams){
		func(p *LockParams) { p.Terms[LockNone].MultiplierBps = 9000 },
		func(p *LockParams) { p.Terms[LockNone].Epochs = 1 },
		func(p *LockParams) { p.Terms[Lock30Days].MultiplierBps = 13_000 },
		func(p *LockParams) { p.Terms[Lock90Days].Epochs = 29 },
		func(p *LockParams) { p.Terms[Lock180Days].MultiplierBps = maxMultiplierBps + 1 },
		func(p *LockParams) { p.LongTermMinLock = NumLocks },
	} {
		p := DefaultLockParams()
		mutate(&p)
		if err := p.Validate(); !errors.Is(err, ErrBadParams) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestPoolErrors(t *testing.T) {
	p := NewPool()
	a := NewPosition()
	if err := p.AddWeight(a, big.NewInt(10)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddWeight(a, a.Weight); err != nil || a.Weight.Int64() != 20 || p.TotalWeight.Int64() != 20 {
		t.Fatalf("doubling through an aliased argument: %v, weight %v total %v", err, a.Weight, p.TotalWeight)
	}
	if err := p.RemoveWeight(a, big.NewInt(10)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddWeight(a, nil); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("nil weight: %v", err)
	}
	if err := p.RemoveWeight(a, big.NewInt(-1)); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("negative weight: %v", err)
	}
	if err := p.RemoveWeight(a, big.NewInt(11)); !errors.Is(err, ErrInsufficientWeight) {
		t.Errorf("remove too much: %v", err)
	}
	if _, err := p.Distribute(big.NewInt(-1)); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("negative budget: %v", err)
	}
	// A position from another, richer pool.
	other := NewPool()
	b := NewPosition()
	_ = other.AddWeight(b, big.NewInt(100))
	_, _ = other.Distribute(big.NewInt(1000))
	_ = other.AddWeight(b, big.NewInt(1))
	if _, err := p.Claim(b); !errors.Is(err, ErrForeignPosition) {
		t.Errorf("foreign position: %v", err)
	}
	// A corrupt negative field.
	c := &Position{Weight: big.NewInt(-1)}
	if _, err := p.Pending(c); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("negative field: %v", err)
	}
	// A literal zero Pool and Position work (nil reads as 0).
	var z Pool
	var zp Position
	if unpaid, err := z.Distribute(big.NewInt(3)); err != nil || unpaid.Int64() != 3 {
		t.Errorf("zero pool: %v, %v", unpaid, err)
	}
	if err := z.AddWeight(&zp, big.NewInt(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Distribute(big.NewInt(3)); err != nil {
		t.Fatal(err)
	}
	if got := mustPending(t, &z, &zp); got.Int64() != 3 {
		t.Errorf("zero pool pending %v", got)
	}
}

func TestPoolRLPRoundTrip(t *testing.T) {
	p := NewPool()
	a := NewPosition()
	_ = p.AddWeight(a, mustWeight(t, EMC(3), Lock30Days))
	_, _ = p.Distribute(big.NewInt(1_000_000_007))
	_ = p.AddWeight(a, big.NewInt(5))
	for _, v := range []any{p, a} {
		enc, err := rlp.EncodeToBytes(v)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		switch v.(type) {
		case *Pool:
			back = new(Pool)
		default:
			back = new(Position)
		}
		if err := rlp.DecodeBytes(enc, back); err != nil {
			t.Fatal(err)
		}
		again, _ := rlp.EncodeToBytes(back)
		if string(again) != string(enc) {
			t.Fatalf("RLP round trip changed %+v", v)
		}
	}
}

// poolSim drives a pool with random operations, as the property test and
// the fuzz target do, and checks conservation after each.
type poolSim struct {
	t              testing.TB
	pool           *Pool
	positions      []*Position
	distributedWei *big.Int
	paidWei        *big.Int
	unpaidWei      *big.Int
	budgetsWei     *big.Int
	lastWeight     *big.Int // TotalWeight at the last Distribute with weight
}

func newPoolSim(t testing.TB, n int) *poolSim {
	s := &poolSim{t: t, pool: NewPool(), distributedWei: new(big.Int), paidWei: new(big.Int), unpaidWei: new(big.Int), budgetsWei: new(big.Int), lastWeight: new(big.Int)}
	for range n {
		s.positions = append(s.positions, NewPosition())
	}
	return s
}

// step applies op (0 add, 1 remove, 2 distribute, 3 claim) with argument
// arg to position i.
func (s *poolSim) step(op, i int, arg *big.Int, lock Lock) {
	t := s.t
	pos := s.positions[i%len(s.positions)]
	switch op % 4 {
	case 0:
		w, err := DefaultLockParams().Weight(arg, lock%NumLocks)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.pool.AddWeight(pos, w); err != nil {
			t.Fatal(err)
		}
	case 1:
		have := new(big.Int).Set(pos.Weight)
		w := new(big.Int).Set(arg)
		if arg.Bit(0) == 0 && have.Sign() > 0 {
			w.Mod(w, new(big.Int).Add(have, big.NewInt(1))) // 0 … all of it
		}
		err := s.pool.RemoveWeight(pos, w)
		switch {
		case w.Cmp(have) > 0:
			if !errors.Is(err, ErrInsufficientWeight) || pos.Weight.Cmp(have) != 0 {
				t.Fatalf("remove %v of %v: %v, weight now %v", w, have, err, pos.Weight)
			}
		case err != nil || new(big.Int).Add(pos.Weight, w).Cmp(have) != 0:
			t.Fatalf("remove %v of %v: %v, weight now %v", w, have, err, pos.Weight)
		}
	case 2:
		before := new(big.Int).Set(s.pool.TotalWeight)
		unpaid, err := s.pool.Distribute(arg)
		if err != nil {
			t.Fatal(err)
		}
		if before.Sign() == 0 && unpaid.Cmp(arg) != 0 || before.Sign() > 0 && unpaid.Sign() != 0 {
			t.Fatalf("distribute %v with weight %v: unpaid %v", arg, before, unpaid)
		}
		if before.Sign() > 0 {
			s.lastWeight = before
			if s.pool.DustScaled.Cmp(before) >= 0 {
				t.Fatalf("dust %v not below the total weight %v", s.pool.DustScaled, before)
			}
		}
		s.budgetsWei.Add(s.budgetsWei, arg)
		s.unpaidWei.Add(s.unpaidWei, unpaid)
		s.distributedWei.Add(s.distributedWei, new(big.Int).Sub(arg, unpaid))
	case 3:
		pending := mustPending(t, s.pool, pos)
		paid, err := s.pool.Claim(pos)
		if err != nil {
			t.Fatal(err)
		}
		if paid.Cmp(pending) != 0 {
			t.Fatalf("claim paid %v, Pending said %v", paid, pending)
		}
		if p := mustPending(t, s.pool, pos); p.Sign() != 0 {
			t.Fatalf("pending %v right after a claim", p)
		}
		if pos.Weight.Sign() == 0 && !pos.IsEmpty() {
			t.Fatalf("a claimed position without weight is not empty: %+v", pos)
		}
		s.paidWei.Add(s.paidWei, paid)
	}
	checkConservation(t, s.pool, s.positions, s.distributedWei, s.paidWei)
	if total := new(big.Int).Add(s.distributedWei, s.unpaidWei); total.Cmp(s.budgetsWei) != 0 {
		t.Fatalf("distributed + unpaid %v != budgets %v", total, s.budgetsWei)
	}
}

// TestPoolProperty runs 10,000 random operations per seed. Amounts range
// from a few wei to 10^9 EMC stakes with every lock, so both the rounding
// paths (sub-wei credits, dust) and realistic sizes are exercised.
func TestPoolProperty(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 11))
		s := newPoolSim(t, 2+rng.IntN(10))
		for range 10_000 {
			var arg *big.Int
			switch rng.IntN(3) {
			case 0:
				arg = big.NewInt(rng.Int64N(1000))
			case 1:
				arg = new(big.Int).Mul(big.NewInt(rng.Int64N(1_000_000_000)), WeiPerEMC())
			default:
				arg = randBig(rng, 1+rng.IntN(100))
			}
			s.step(rng.IntN(4), rng.IntN(len(s.positions)), arg, Lock(rng.IntN(NumLocks)))
		}
		// Claim everything: only dust and sub-wei credits remain unpaid,
		// each bounded: the dust is below the last TotalWeight (in scaled
		// units), a position's credit below one wei.
		for i := range s.positions {
			s.step(3, i, nil, 0)
		}
		for _, pos := range s.positions {
			if pos.CreditScaled.Cmp(accScale()) >= 0 {
				t.Fatalf("SEED=%d: %v scaled left after a claim", seed, pos.CreditScaled)
			}
		}
		// Dust: the last remainder plus the sub-wei credits of closed
		// positions (each below one wei).
		bound := new(big.Int).Mul(accScale(), big.NewInt(int64(len(s.positions))))
		if bound.Add(bound, s.lastWeight); s.pool.DustScaled.Cmp(bound) >= 0 {
			t.Fatalf("SEED=%d: dust %v above its bound %v", seed, s.pool.DustScaled, bound)
		}
		t.Logf("SEED=%d: budgets %v, paid %v, unpaid %v, dust %v wei·10^-18", seed, s.budgetsWei, s.paidWei, s.unpaidWei, s.pool.DustScaled)
	}
}

// FuzzPool interprets data as an operation script: each 4-byte record is
// (op, position, lock, amount byte), the amount scaled by a power of 1000
// (up to 1000^9, so amounts stay near the supply, where the 256-bit bound
// holds) picked from the high bits of the lock byte.
func FuzzPool(f *testing.F) {
	f.Add([]byte{0, 0, 0, 7, 2, 0, 0, 100, 3, 0, 0, 0})
	f.Add([]byte{0, 0, 0x40, 1, 0, 1, 0x83, 3, 2, 0, 0xc0, 9, 1, 0, 0, 255, 3, 1, 0, 0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4*2000 {
			return
		}
		s := newPoolSim(t, 4)
		for ; len(data) >= 4; data = data[4:] {
			op, i, lock, amount := int(data[0]), int(data[1]), data[2], data[3]
			arg := new(big.Int).Mul(big.NewInt(int64(amount)), new(big.Int).Exp(big.NewInt(1000), big.NewInt(int64(lock>>3)%10), nil))
			s.step(op, i, arg, Lock(lock&7))
		}
	})
}
