package rewards

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
)

// EmissionParams are the node-reward emission schedule's parameters
// (white paper, "Node rewards"). Epochs are numbered from 0: epoch 0 is the
// first epoch of period 1.
type EmissionParams struct {
	// PoolWei is the node-reward pool: the most the schedule ever pays.
	PoolWei *big.Int
	// FirstPeriodRewardWei is R(1), the reward of period 1.
	FirstPeriodRewardWei *big.Int
	// PeriodEpochs is the length of the first PeriodsPerGroup periods, and
	// the divisor of r(n) = R(n)/PeriodEpochs in every period.
	PeriodEpochs uint64
	// PeriodsPerGroup is how many periods share one length; each group of
	// periods lasts twice as long per period as the one before.
	PeriodsPerGroup uint64
	// PiNumerator/PiDenominator is the π in df(n) = (1+1/n)^n / π.
	PiNumerator, PiDenominator uint64
}

// Defaults of the emission schedule (white paper).
const (
	DefaultPeriodEpochs    = 90
	DefaultPeriodsPerGroup = 4
	DefaultPiNumerator     = 31416 // π = 3.1416, as the white paper's own figures use
	DefaultPiDenominator   = 10000
)

// Bounds on EmissionParams that keep every computation small and every
// epoch number inside uint64.
const (
	maxPeriodEpochs    = 1 << 32
	maxPeriodsPerGroup = 64
	// maxAmountBits bounds PoolWei (and so R(1)): 2^128 wei is about 3.4e20
	// EMC, far above any supply, and keeps the R(n) table at most ~900 long.
	maxAmountBits = 128
)

// WeiPerEMC is 10^18.
func WeiPerEMC() *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil) }

// EMC returns n EMC in wei.
func EMC(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), WeiPerEMC()) }

// DefaultEmissionParams returns the white paper's schedule: a 100,000,000
// EMC pool, R(1) = 4,500,000 EMC, 90-epoch periods in groups of 4, π = 3.1416.
func DefaultEmissionParams() EmissionParams {
	return EmissionParams{
		PoolWei:              EMC(100_000_000),
		FirstPeriodRewardWei: EMC(4_500_000),
		PeriodEpochs:         DefaultPeriodEpochs,
		PeriodsPerGroup:      DefaultPeriodsPerGroup,
		PiNumerator:          DefaultPiNumerator,
		PiDenominator:        DefaultPiDenominator,
	}
}

// Validate checks p's ranges; errors wrap ErrBadParams.
func (p EmissionParams) Validate() error {
	switch {
	case p.PoolWei == nil || p.PoolWei.Sign() <= 0 || p.PoolWei.BitLen() > maxAmountBits:
		return fmt.Errorf("%w: emission: poolWei must be in [1, 2^%d)", ErrBadParams, maxAmountBits)
	case p.FirstPeriodRewardWei == nil || p.FirstPeriodRewardWei.Sign() <= 0:
		return fmt.Errorf("%w: emission: firstPeriodRewardWei must be positive", ErrBadParams)
	case p.FirstPeriodRewardWei.Cmp(p.PoolWei) > 0:
		return fmt.Errorf("%w: emission: firstPeriodRewardWei exceeds poolWei", ErrBadParams)
	case p.PeriodEpochs == 0 || p.PeriodEpochs > maxPeriodEpochs:
		return fmt.Errorf("%w: emission: periodEpochs must be in [1, 2^32], got %d", ErrBadParams, p.PeriodEpochs)
	case p.PeriodsPerGroup == 0 || p.PeriodsPerGroup > maxPeriodsPerGroup:
		return fmt.Errorf("%w: emission: periodsPerGroup must be in [1, %d], got %d", ErrBadParams, maxPeriodsPerGroup, p.PeriodsPerGroup)
	case p.PiDenominator == 0 || p.PiNumerator/3 < p.PiDenominator:
		// π ≥ 3 > e makes df(n) < e/3 < 0.91 for every n, so R(n) decays
		// to 0 within a bounded number of periods.
		return fmt.Errorf("%w: emission: pi = %d/%d must be at least 3", ErrBadParams, p.PiNumerator, p.PiDenominator)
	}
	return nil
}

// Period is one decay period of the emission schedule.
type Period struct {
	// N is the period number, from 1.
	N uint64
	// FirstEpoch is the period's first epoch.
	FirstEpoch uint64
	// LengthEpochs is the period's length; for the last period that fits in
	// uint64 epoch numbers it is cut at math.MaxUint64.
	LengthEpochs uint64
}

// Schedule is the node-reward emission schedule: R(n) for every period,
// computed once by NewSchedule. It is immutable and safe for concurrent use.
type Schedule struct {
	params EmissionParams
	// periodRewardWei[n-1] = R(n). The table ends at the first R(n) that
	// rounds down to 0: every later R is 0 too.
	periodRewardWei []*big.Int
}

// NewSchedule validates p and computes R(n) for every period until it
// reaches 0:
//
//	R(1) = FirstPeriodRewardWei
//	R(n) = ⌊ R(n−1) · (n+1)^n · PiDenominator / (n^n · PiNumerator) ⌋   (n ≥ 2)
//
// (1+1/n)^n = (n+1)^n / n^n and 1/π = PiDenominator/PiNumerator are kept as
// exact integer fractions; the one division, rounding down, happens once per
// step, so R(n) is a function of R(n−1) alone and each step loses less than
// one wei.
func NewSchedule(p EmissionParams) (*Schedule, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s := &Schedule{params: EmissionParams{
		PoolWei:              new(big.Int).Set(p.PoolWei),
		FirstPeriodRewardWei: new(big.Int).Set(p.FirstPeriodRewardWei),
		PeriodEpochs:         p.PeriodEpochs,
		PeriodsPerGroup:      p.PeriodsPerGroup,
		PiNumerator:          p.PiNumerator,
		PiDenominator:        p.PiDenominator,
	}}
	r := new(big.Int).Set(p.FirstPeriodRewardWei)
	piNum, piDen := new(big.Int).SetUint64(p.PiNumerator), new(big.Int).SetUint64(p.PiDenominator)
	for n := int64(2); r.Sign() > 0; n++ {
		s.periodRewardWei = append(s.periodRewardWei, r)
		bn := big.NewInt(n)
		num := new(big.Int).Exp(big.NewInt(n+1), bn, nil) // (n+1)^n
		num.Mul(num, r).Mul(num, piDen)
		den := new(big.Int).Exp(bn, bn, nil) // n^n
		den.Mul(den, piNum)
		r = num.Quo(num, den) // round down
	}
	return s, nil
}

// Params returns a copy of the schedule's parameters.
func (s *Schedule) Params() EmissionParams {
	p := s.params
	p.PoolWei = new(big.Int).Set(s.params.PoolWei)
	p.FirstPeriodRewardWei = new(big.Int).Set(s.params.FirstPeriodRewardWei)
	return p
}

// PeriodOf returns the period that epoch falls in, in O(1): period group g
// (from 0) holds PeriodsPerGroup periods of PeriodEpochs·2^g epochs and
// starts at epoch PeriodsPerGroup·PeriodEpochs·(2^g − 1), so g is the bit
// length of ⌊epoch / (PeriodsPerGroup·PeriodEpochs)⌋ + 1, minus one.
func (s *Schedule) PeriodOf(epoch uint64) Period {
	groupEpochs := s.params.PeriodsPerGroup * s.params.PeriodEpochs // ≤ 2^38: no overflow
	q := epoch / groupEpochs                                        // round down
	if q == math.MaxUint64 {
		// Only with groupEpochs == 1: epoch 2^64−1 is the first (and, in
		// uint64, only) epoch of group 64.
		return Period{N: 64*s.params.PeriodsPerGroup + 1, FirstEpoch: epoch, LengthEpochs: 1}
	}
	g := uint(bits.Len64(q+1) - 1)
	// groupEpochs·(2^g − 1) ≤ groupEpochs·⌊epoch/groupEpochs⌋ ≤ epoch: no overflow.
	first := groupEpochs * (uint64(1)<<g - 1)
	offset := epoch - first
	hi, periodLen := bits.Mul64(s.params.PeriodEpochs, uint64(1)<<g)
	if hi != 0 {
		// The period is longer than the uint64 epoch space: offset < 2^64
		// lies in the group's first period.
		return Period{N: uint64(g)*s.params.PeriodsPerGroup + 1, FirstEpoch: first, LengthEpochs: math.MaxUint64 - first + 1}
	}
	idx := offset / periodLen // round down: whole periods before epoch
	periodFirst := first + idx*periodLen
	length := periodLen
	if periodFirst+periodLen-1 < periodFirst { // runs past math.MaxUint64
		length = math.MaxUint64 - periodFirst + 1
	}
	return Period{N: uint64(g)*s.params.PeriodsPerGroup + idx + 1, FirstEpoch: periodFirst, LengthEpochs: length}
}

// PeriodReward returns R(n) in wei: 0 for n = 0 and for every n past the
// point where R rounds down to 0.
func (s *Schedule) PeriodReward(n uint64) *big.Int {
	if n == 0 || n > uint64(len(s.periodRewardWei)) {
		return new(big.Int)
	}
	return new(big.Int).Set(s.periodRewardWei[n-1])
}

// EpochReward returns r(n) = ⌊R(n) / PeriodEpochs⌋ (round down) in wei: what
// each epoch of period n pays while the pool lasts. Periods longer than
// PeriodEpochs pay r(n) in each of their epochs too, so period n pays
// LengthEpochs·r(n) in all.
func (s *Schedule) EpochReward(n uint64) *big.Int {
	r := s.PeriodReward(n)
	return r.Quo(r, new(big.Int).SetUint64(s.params.PeriodEpochs))
}

// EpochEmission returns what epoch pays from the node-reward pool when
// paidSoFarWei has already been paid from it: r(n) of epoch's period, cut to
// what is left of the pool (so the epoch that exhausts the pool pays the
// remainder only, and every later one pays 0). It fails with
// ErrNegativeAmount for a nil or negative paidSoFarWei and ErrPaidExceedsPool
// when paidSoFarWei is more than the pool.
func (s *Schedule) EpochEmission(epoch uint64, paidSoFarWei *big.Int) (*big.Int, error) {
	if paidSoFarWei == nil || paidSoFarWei.Sign() < 0 {
		return nil, fmt.Errorf("%w: paidSoFarWei %v", ErrNegativeAmount, paidSoFarWei)
	}
	left := new(big.Int).Sub(s.params.PoolWei, paidSoFarWei)
	if left.Sign() < 0 {
		return nil, fmt.Errorf("%w: paid %v of %v", ErrPaidExceedsPool, paidSoFarWei, s.params.PoolWei)
	}
	if left.Sign() == 0 {
		return left, nil
	}
	r := s.EpochReward(s.PeriodOf(epoch).N)
	if r.Cmp(left) > 0 {
		return left, nil
	}
	return r, nil
}

// CumulativeEmission returns what epochs 0 … epochs−1 pay in all when each
// pays its EpochEmission in turn (the paidSoFarWei of epoch `epochs`). It
// walks periods, not epochs: O(number of periods), at most a few hundred.
func (s *Schedule) CumulativeEmission(epochs uint64) *big.Int {
	total := new(big.Int)
	for epoch := uint64(0); epoch < epochs; {
		p := s.PeriodOf(epoch)
		r := s.EpochReward(p.N)
		if r.Sign() == 0 {
			break // R only decreases: nothing is paid any more
		}
		n := min(p.LengthEpochs, epochs-epoch) // epochs of this period before `epochs`
		total.Add(total, r.Mul(r, new(big.Int).SetUint64(n)))
		if total.Cmp(s.params.PoolWei) >= 0 {
			return total.Set(s.params.PoolWei)
		}
		if p.FirstEpoch+p.LengthEpochs-1 == math.MaxUint64 {
			break
		}
		epoch = p.FirstEpoch + p.LengthEpochs
	}
	return total
}

// ExhaustionEpoch returns the epoch whose emission takes the last wei of the
// pool when every epoch pays its EpochEmission, and false if the schedule
// never pays out the whole pool.
func (s *Schedule) ExhaustionEpoch() (uint64, bool) {
	total := new(big.Int)
	for epoch := uint64(0); ; {
		p := s.PeriodOf(epoch)
		r := s.EpochReward(p.N)
		if r.Sign() == 0 {
			return 0, false
		}
		periodWei := new(big.Int).Mul(r, new(big.Int).SetUint64(p.LengthEpochs))
		if left := new(big.Int).Sub(s.params.PoolWei, total); periodWei.Cmp(left) >= 0 {
			// ⌈left / r⌉ epochs of this period finish the pool (round up:
			// the last of them pays the remainder only).
			k := new(big.Int).Add(left, new(big.Int).Sub(r, big.NewInt(1)))
			k.Quo(k, r)
			return p.FirstEpoch + k.Uint64() - 1, true
		}
		total.Add(total, periodWei)
		if p.FirstEpoch+p.LengthEpochs-1 == math.MaxUint64 {
			return 0, false
		}
		epoch = p.FirstEpoch + p.LengthEpochs
	}
}
