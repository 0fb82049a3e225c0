package rewards

// Emission schedule tests: golden R(n), r(n) and period boundaries for the
// white paper's parameters, a float64 cross-check of R(n), PeriodOf against
// a slow period-by-period walk, and a property over random parameters: the
// epochs, each paying its EpochEmission in turn, never pay more than the
// pool, pay it all when the schedule exhausts it, and agree with
// CumulativeEmission.

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"
)

func wei(t testing.TB, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad integer %q", s)
	}
	return v
}

func defaultSchedule(t testing.TB) *Schedule {
	t.Helper()
	s, err := NewSchedule(DefaultEmissionParams())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Golden values, also in docs/economics.md. R(2) = 3,222,880.06… EMC and
// R(3) = 2,431,697.03… EMC are the white paper's figures.
var goldenPeriodRewards = []struct {
	n           uint64
	periodWei   string
	perEpochWei string
}{
	{1, "4500000000000000000000000", "50000000000000000000000"},
	{2, "3222880061115355233002291", "35809778456837280366692"},
	{3, "2431697034671914463403250", "27018855940799049593369"},
	{4, "1889725088666437060866466", "20996945429627078454071"},
	{5, "1496766212321896061654967", "16630735692465511796166"},
}

func TestPeriodRewardGolden(t *testing.T) {
	s := defaultSchedule(t)
	for _, g := range goldenPeriodRewards {
		if got := s.PeriodReward(g.n); got.Cmp(wei(t, g.periodWei)) != 0 {
			t.Errorf("R(%d) = %v, want %s", g.n, got, g.periodWei)
		}
		if got := s.EpochReward(g.n); got.Cmp(wei(t, g.perEpochWei)) != 0 {
			t.Errorf("r(%d) = %v, want %s", g.n, got, g.perEpochWei)
		}
	}
	// The white paper's rounded figures.
	emc := func(n uint64) float64 {
		f, _ := new(big.Float).Quo(new(big.Float).SetInt(s.PeriodReward(n)), new(big.Float).SetInt(WeiPerEMC())).Float64()
		return f
	}
	if got := math.Floor(emc(2)*100) / 100; got != 3222880.06 {
		t.Errorf("R(2) = %.6f EMC, want 3,222,880.06…", emc(2))
	}
	if got := math.Floor(emc(3)*100) / 100; got != 2431697.03 {
		t.Errorf("R(3) = %.6f EMC, want 2,431,697.03…", emc(3))
	}
	if s.PeriodReward(0).Sign() != 0 || s.PeriodReward(math.MaxUint64).Sign() != 0 {
		t.Error("R(0) and R(MaxUint64) must be 0")
	}
	// The table ends at the first R(n) == 0; everything later is 0 too.
	last := uint64(len(s.periodRewardWei))
	if s.PeriodReward(last).Sign() <= 0 || s.PeriodReward(last+1).Sign() != 0 {
		t.Errorf("R(%d) = %v, R(%d) = %v", last, s.PeriodReward(last), last+1, s.PeriodReward(last+1))
	}
}

// TestPeriodRewardMatchesFloat checks R(n) against float64 arithmetic: the
// integer recurrence loses less than a wei per step, far below 1e-9.
func TestPeriodRewardMatchesFloat(t *testing.T) {
	s := defaultSchedule(t)
	r := 4.5e24
	for n := uint64(1); n <= 120; n++ {
		if n > 1 {
			fn := float64(n)
			r *= math.Pow(1+1/fn, fn) / 3.1416
		}
		got, _ := new(big.Float).SetInt(s.PeriodReward(n)).Float64()
		if rel := math.Abs(got-r) / r; rel > 1e-9 {
			t.Fatalf("R(%d) = %g, float %g: relative difference %g", n, got, r, rel)
		}
	}
}

func TestPeriodOfGolden(t *testing.T) {
	s := defaultSchedule(t)
	for _, c := range []struct {
		epoch uint64
		want  Period
	}{
		{0, Period{1, 0, 90}},
		{89, Period{1, 0, 90}},
		{90, Period{2, 90, 90}},
		{359, Period{4, 270, 90}},
		{360, Period{5, 360, 180}},
		{539, Period{5, 360, 180}},
		{540, Period{6, 540, 180}},
		{1079, Period{8, 900, 180}},
		{1080, Period{9, 1080, 360}},
		{2520, Period{13, 2520, 720}},
		{834576, Period{45, 736920, 184320}},
		// The last period is cut at the end of the uint64 epoch space.
		{math.MaxUint64, Period{222, 16212958658533785240, 2233785415175766376}},
	} {
		if got := s.PeriodOf(c.epoch); got != c.want {
			t.Errorf("PeriodOf(%d) = %+v, want %+v", c.epoch, got, c.want)
		}
	}
}

// slowPeriodOf walks period by period: obviously right, O(periods).
func slowPeriodOf(p EmissionParams, epoch uint64) Period {
	first := new(big.Int)
	e := new(big.Int).SetUint64(epoch)
	for n := uint64(1); ; n++ {
		g := (n - 1) / p.PeriodsPerGroup
		length := new(big.Int).Lsh(new(big.Int).SetUint64(p.PeriodEpochs), uint(g))
		end := new(big.Int).Add(first, length)
		if e.Cmp(end) < 0 {
			if end.Cmp(new(big.Int).Lsh(big.NewInt(1), 64)) > 0 {
				length.Sub(new(big.Int).Lsh(big.NewInt(1), 64), first)
			}
			return Period{N: n, FirstEpoch: first.Uint64(), LengthEpochs: length.Uint64()}
		}
		first = end
	}
}

func TestPeriodOfMatchesSlowWalk(t *testing.T) {
	f := func(epoch uint64, periodEpochs uint32, perGroup uint8, shift uint8) bool {
		p := DefaultEmissionParams()
		p.PeriodEpochs = uint64(periodEpochs)%1000 + 1
		p.PeriodsPerGroup = uint64(perGroup)%maxPeriodsPerGroup + 1
		if shift%2 == 0 {
			epoch >>= shift % 64 // small epochs as often as huge ones
		}
		s, err := NewSchedule(p)
		if err != nil {
			t.Fatal(err)
		}
		got, want := s.PeriodOf(epoch), slowPeriodOf(p, epoch)
		if got != want {
			t.Logf("params %d/%d epoch %d: got %+v, want %+v", p.PeriodEpochs, p.PeriodsPerGroup, epoch, got, want)
		}
		return got == want
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Fatal(err)
	}
	// The extremes of the parameter ranges.
	for _, pe := range []uint64{1, maxPeriodEpochs} {
		for _, pg := range []uint64{1, maxPeriodsPerGroup} {
			p := DefaultEmissionParams()
			p.PeriodEpochs, p.PeriodsPerGroup = pe, pg
			s, err := NewSchedule(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []uint64{0, 1, pe - 1, pe, pe * pg, math.MaxUint64 / 2, math.MaxUint64 - 1, math.MaxUint64} {
				if got, want := s.PeriodOf(e), slowPeriodOf(p, e); got != want {
					t.Errorf("params %d/%d epoch %d: got %+v, want %+v", pe, pg, e, got, want)
				}
			}
		}
	}
}

func TestExhaustionGolden(t *testing.T) {
	s := defaultSchedule(t)
	e, ok := s.ExhaustionEpoch()
	if !ok || e != 834576 {
		t.Fatalf("ExhaustionEpoch = %d, %v; want 834576", e, ok)
	}
	paid := s.CumulativeEmission(e)
	if want := wei(t, "99999998022631118842638312"); paid.Cmp(want) != 0 {
		t.Fatalf("paid before epoch %d = %v, want %v", e, paid, want)
	}
	last, err := s.EpochEmission(e, paid)
	if err != nil {
		t.Fatal(err)
	}
	if want := wei(t, "1977368881157361688"); last.Cmp(want) != 0 {
		t.Fatalf("last epoch pays %v, want %v (the pool's remainder)", last, want)
	}
	if last.Cmp(s.EpochReward(45)) >= 0 {
		t.Fatalf("last epoch pays its full r(45) = %v", s.EpochReward(45))
	}
	if full, _ := s.EpochEmission(e-1, s.CumulativeEmission(e-1)); full.Cmp(s.EpochReward(45)) != 0 {
		t.Fatalf("epoch %d pays %v, want r(45) = %v", e-1, full, s.EpochReward(45))
	}
	pool := DefaultEmissionParams().PoolWei
	if got := s.CumulativeEmission(e + 1); got.Cmp(pool) != 0 {
		t.Fatalf("paid through epoch %d = %v, want the pool", e, got)
	}
	if got := s.CumulativeEmission(math.MaxUint64); got.Cmp(pool) != 0 {
		t.Fatalf("paid through the end of time = %v, want the pool", got)
	}
	for _, ep := range []uint64{e + 1, math.MaxUint64} {
		if got, err := s.EpochEmission(ep, pool); err != nil || got.Sign() != 0 {
			t.Fatalf("EpochEmission(%d, pool) = %v, %v; want 0", ep, got, err)
		}
	}
	// The first year, at one epoch a day: periods 1–4 and 7 days of period 5.
	year := s.CumulativeEmission(365)
	want := new(big.Int)
	for n := uint64(1); n <= 4; n++ {
		want.Add(want, new(big.Int).Mul(s.EpochReward(n), big.NewInt(90)))
	}
	want.Add(want, new(big.Int).Mul(s.EpochReward(5), big.NewInt(5)))
	if year.Cmp(want) != 0 || year.Cmp(wei(t, "12127455862916034316252710")) != 0 {
		t.Fatalf("first 365 epochs pay %v, want %v", year, want)
	}
}

func TestEmissionErrors(t *testing.T) {
	s := defaultSchedule(t)
	if _, err := s.EpochEmission(0, nil); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("nil paid: %v", err)
	}
	if _, err := s.EpochEmission(0, big.NewInt(-1)); !errors.Is(err, ErrNegativeAmount) {
		t.Errorf("negative paid: %v", err)
	}
	over := new(big.Int).Add(DefaultEmissionParams().PoolWei, big.NewInt(1))
	if _, err := s.EpochEmission(0, over); !errors.Is(err, ErrPaidExceedsPool) {
		t.Errorf("paid > pool: %v", err)
	}
	bad := []func(p *EmissionParams){
		func(p *EmissionParams) { p.PoolWei = nil },
		func(p *EmissionParams) { p.PoolWei = big.NewInt(0) },
		func(p *EmissionParams) { p.PoolWei = new(big.Int).Lsh(big.NewInt(1), 128) },
		func(p *EmissionParams) { p.FirstPeriodRewardWei = big.NewInt(-5) },
		func(p *EmissionParams) { p.FirstPeriodRewardWei = new(big.Int).Add(p.PoolWei, big.NewInt(1)) },
		func(p *EmissionParams) { p.PeriodEpochs = 0 },
		func(p *EmissionParams) { p.PeriodEpochs = maxPeriodEpochs + 1 },
		func(p *EmissionParams) { p.PeriodsPerGroup = 0 },
		func(p *EmissionParams) { p.PeriodsPerGroup = maxPeriodsPerGroup + 1 },
		func(p *EmissionParams) { p.PiDenominator = 0 },
		func(p *EmissionParams) { p.PiNumerator = 27182 }, // π < 3: R(n) would not decay
	}
	for i, mutate := range bad {
		p := DefaultEmissionParams()
		mutate(&p)
		if _, err := NewSchedule(p); !errors.Is(err, ErrBadParams) {
			t.Errorf("case %d: NewSchedule = %v, want ErrBadParams", i, err)
		}
	}
}

// TestHugeEpochsAreCheap: the period lookup is O(1) and R(n) a table
// lookup, so a million lookups at random epochs across the whole uint64
// range take well under the (generous, loaded-machine) bound.
func TestHugeEpochsAreCheap(t *testing.T) {
	s := defaultSchedule(t)
	rng := rand.New(rand.NewPCG(7, 7))
	paid := big.NewInt(12345)
	start := time.Now()
	for range 100_000 {
		epoch := rng.Uint64() >> rng.UintN(64)
		if _, err := s.EpochEmission(epoch, paid); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("100,000 EpochEmission calls took %v", d)
	}
}

// TestEmissionProperty: random pools and schedules, each epoch paying its
// EpochEmission in turn. Checked after every epoch: the total paid never
// exceeds the pool and equals CumulativeEmission; emission never grows
// within the schedule; once the pool is exhausted, nothing more is paid.
func TestEmissionProperty(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		p := EmissionParams{
			PoolWei:         randBig(rng, rng.IntN(100)+1),
			PeriodEpochs:    rng.Uint64N(6) + 1,
			PeriodsPerGroup: rng.Uint64N(5) + 1,
			PiNumerator:     31416 + rng.Uint64N(3000),
			PiDenominator:   10000,
		}
		p.PoolWei.Add(p.PoolWei, big.NewInt(1))
		p.FirstPeriodRewardWei = new(big.Int).Quo(p.PoolWei, big.NewInt(rng.Int64N(60)+1))
		p.FirstPeriodRewardWei.Add(p.FirstPeriodRewardWei, big.NewInt(1))
		if p.FirstPeriodRewardWei.Cmp(p.PoolWei) > 0 {
			p.FirstPeriodRewardWei.Set(p.PoolWei)
		}
		s, err := NewSchedule(p)
		if err != nil {
			t.Fatalf("SEED=%d: %v", seed, err)
		}
		exhaustion, exhausts := s.ExhaustionEpoch()
		paid := new(big.Int)
		prev := new(big.Int).Set(p.PoolWei)
		for epoch := uint64(0); epoch < 3000; epoch++ {
			e, err := s.EpochEmission(epoch, paid)
			if err != nil {
				t.Fatalf("SEED=%d epoch %d: %v", seed, epoch, err)
			}
			if e.Sign() < 0 || e.Cmp(prev) > 0 {
				t.Fatalf("SEED=%d epoch %d: emission %v after %v", seed, epoch, e, prev)
			}
			prev = e
			paid.Add(paid, e)
			if paid.Cmp(p.PoolWei) > 0 {
				t.Fatalf("SEED=%d epoch %d: paid %v > pool %v", seed, epoch, paid, p.PoolWei)
			}
			if c := s.CumulativeEmission(epoch + 1); c.Cmp(paid) != 0 {
				t.Fatalf("SEED=%d epoch %d: CumulativeEmission %v, summed %v", seed, epoch, c, paid)
			}
			if exhausts && epoch == exhaustion && paid.Cmp(p.PoolWei) != 0 {
				t.Fatalf("SEED=%d: pool not exhausted at ExhaustionEpoch %d", seed, epoch)
			}
			if exhausts && epoch < exhaustion && paid.Cmp(p.PoolWei) >= 0 {
				t.Fatalf("SEED=%d: pool exhausted at %d, before ExhaustionEpoch %d", seed, epoch, exhaustion)
			}
		}
		// Jumps to random later epochs: never more than the pool.
		for range 200 {
			epoch := rng.Uint64() >> rng.UintN(64)
			c := s.CumulativeEmission(epoch)
			e, err := s.EpochEmission(epoch, c)
			if err != nil {
				t.Fatalf("SEED=%d epoch %d: %v", seed, epoch, err)
			}
			if sum := new(big.Int).Add(c, e); sum.Cmp(p.PoolWei) > 0 {
				t.Fatalf("SEED=%d epoch %d: %v + %v > pool", seed, epoch, c, e)
			} else if epoch < math.MaxUint64 && sum.Cmp(s.CumulativeEmission(epoch+1)) != 0 {
				t.Fatalf("SEED=%d epoch %d: CumulativeEmission disagrees with EpochEmission", seed, epoch)
			}
		}
		if !exhausts && s.CumulativeEmission(math.MaxUint64).Cmp(p.PoolWei) >= 0 {
			t.Fatalf("SEED=%d: ExhaustionEpoch says never, yet the pool is paid out", seed)
		}
	}
}

// randBig returns a random integer below 2^bitLen.
func randBig(rng *rand.Rand, bitLen int) *big.Int {
	v := new(big.Int)
	for v.BitLen() < bitLen+64 {
		v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(rng.Uint64()|1<<63))
	}
	return v.Rsh(v, uint(v.BitLen()-bitLen)).Rsh(v, uint(rng.IntN(bitLen)))
}

func BenchmarkEpochEmission(b *testing.B) {
	s := defaultSchedule(b)
	paid := big.NewInt(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.EpochEmission(uint64(i)*0x9e3779b97f4a7c15, paid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewSchedule(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewSchedule(DefaultEmissionParams()); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSchedule: any parameters either fail validation with ErrBadParams or
// give a schedule whose PeriodOf agrees with the slow walk for small
// epochs, contains the epoch, and whose EpochEmission never exceeds what is
// left of the pool.
func FuzzSchedule(f *testing.F) {
	f.Add([]byte{5, 245, 225, 0}, []byte{1, 0}, uint64(90), uint64(4), uint64(31416), uint64(10000), uint64(834576), []byte{3})
	f.Add([]byte{1}, []byte{1}, uint64(1), uint64(1), uint64(3), uint64(1), uint64(math.MaxUint64), []byte{})
	f.Fuzz(func(t *testing.T, pool, r1 []byte, pe, ppg, piNum, piDen, epoch uint64, paid []byte) {
		if len(pool) > 20 || len(r1) > 20 || len(paid) > 20 {
			return
		}
		p := EmissionParams{
			PoolWei: new(big.Int).SetBytes(pool), FirstPeriodRewardWei: new(big.Int).SetBytes(r1),
			PeriodEpochs: pe, PeriodsPerGroup: ppg, PiNumerator: piNum, PiDenominator: piDen,
		}
		s, err := NewSchedule(p)
		if err != nil {
			if !errors.Is(err, ErrBadParams) {
				t.Fatalf("NewSchedule: %v", err)
			}
			return
		}
		per := s.PeriodOf(epoch)
		if epoch < per.FirstEpoch || epoch-per.FirstEpoch >= per.LengthEpochs || per.N == 0 {
			t.Fatalf("epoch %d not in %+v", epoch, per)
		}
		if epoch < 1<<20 {
			if want := slowPeriodOf(p, epoch); per != want {
				t.Fatalf("PeriodOf(%d) = %+v, slow walk %+v", epoch, per, want)
			}
		}
		paidWei := new(big.Int).SetBytes(paid)
		e, err := s.EpochEmission(epoch, paidWei)
		if paidWei.Cmp(p.PoolWei) > 0 {
			if !errors.Is(err, ErrPaidExceedsPool) {
				t.Fatalf("paid above the pool: %v", err)
			}
			return
		}
		if err != nil || e.Sign() < 0 || new(big.Int).Add(e, paidWei).Cmp(p.PoolWei) > 0 {
			t.Fatalf("EpochEmission(%d, %v) = %v, %v with pool %v", epoch, paidWei, e, err, p.PoolWei)
		}
	})
}
