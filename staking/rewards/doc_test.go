package rewards

// TestEconomicsDoc checks docs/economics.md against the package: every
// number the page shows in code font for a worked example is computed here
// and must appear on the page, so the page cannot drift from the code. The
// golden tests of the other files pin the same values as constants.

import (
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEconomicsDoc(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "economics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	var want []string
	add := func(vs ...any) {
		for _, v := range vs {
			switch v := v.(type) {
			case *big.Int:
				want = append(want, v.String())
			case uint64:
				want = append(want, strconv.FormatUint(v, 10))
			case int:
				want = append(want, strconv.Itoa(v))
			default:
				t.Fatalf("unexpected %T", v)
			}
		}
	}

	// Emission.
	s := defaultSchedule(t)
	add(uint64(89), uint64(90), uint64(360))
	if s.PeriodOf(89).N != 1 || s.PeriodOf(90).N != 2 || s.PeriodOf(360).N != 5 {
		t.Fatal("the page's period boundaries are wrong")
	}
	add(uint64(math.MaxUint64), s.PeriodOf(math.MaxUint64).N)
	for n := uint64(1); n <= 5; n++ {
		add(s.PeriodReward(n), s.EpochReward(n))
	}
	add(s.CumulativeEmission(365))
	e, ok := s.ExhaustionEpoch()
	if !ok {
		t.Fatal("the default schedule never exhausts the pool")
	}
	paid := s.CumulativeEmission(e)
	last, err := s.EpochEmission(e, paid)
	if err != nil {
		t.Fatal(err)
	}
	add(e, s.PeriodOf(e).N, s.EpochReward(s.PeriodOf(e).N), paid, last)

	// Node rewards and credits.
	cp := DefaultCreditParams()
	add(cp.ValidatorCredits, cp.RouterCredits, cp.ComputeCreditsPerTask, cp.MaxComputeCreditsPerEpoch)
	if cp.ComputeCredits(200) != cp.MaxComputeCreditsPerEpoch || cp.ComputeCredits(199) == cp.MaxComputeCreditsPerEpoch {
		t.Fatal("the page says 200 tasks reach the compute cap")
	}
	earns, _ := ValidatorEarnsCredits(28800, 43200)
	misses, _ := ValidatorEarnsCredits(28799, 43200)
	if !earns || misses {
		t.Fatal("the page's two-thirds example is wrong")
	}
	add(28800, 28799)
	reward, nodes := nodeExample()
	dist, err := DistributeNodeRewards(reward, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range dist.Shares {
		add(sh.AmountWei)
	}
	add(dist.DustWei)

	// Staking rewards: the lock table and the worked example.
	lp := DefaultLockParams()
	for l := LockNone; l < NumLocks; l++ {
		w, err := lp.Weight(EMC(1), l)
		if err != nil {
			t.Fatal(err)
		}
		add(w)
	}
	p := NewPool()
	alice, bob, carol := NewPosition(), NewPosition(), NewPosition()
	if unpaid, _ := p.Distribute(EMC(5)); unpaid.Cmp(EMC(5)) != 0 {
		t.Fatal("the first budget should come back unpaid")
	}
	_ = p.AddWeight(alice, mustWeight(t, EMC(1000), LockNone))
	_ = p.AddWeight(bob, mustWeight(t, EMC(1000), Lock90Days))
	_, _ = p.Distribute(EMC(72))
	add(p.AccPerWeight)
	_ = p.AddWeight(carol, mustWeight(t, EMC(1000), Lock180Days))
	_, _ = p.Distribute(EMC(100))
	add(p.AccPerWeight, p.DustScaled, mustPending(t, p, alice), mustPending(t, p, bob), mustPending(t, p, carol))
	paidBob, _ := p.Claim(bob)
	add(paidBob, bob.CreditScaled)
	_ = p.RemoveWeight(alice, alice.Weight)
	paidAlice, _ := p.Claim(alice)
	_, _ = p.Distribute(EMC(28))
	add(new(big.Int).Add(paidBob, paidAlice))

	for _, w := range want {
		if !strings.Contains(doc, "`"+w+"`") {
			t.Errorf("docs/economics.md does not show `%s`", w)
		}
	}
}
