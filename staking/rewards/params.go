package rewards

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common/math"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// ModuleParams are the rewards module's genesis parameters, the "rewards"
// entry of the genesis params section (absent fields take defaults;
// amounts are decimal or 0x-hex strings):
//
//	"rewards": {
//	  "nodeRewardsWei":         "100000000000000000000000000",
//	  "tradeRewardsWei":        "200000000000000000000000000",
//	  "stakingWei":             "20000000000000000000000000",
//	  "longTermStakingWei":     "50000000000000000000000000",
//	  "stakingEpochWei":        "13689253935660506502395",
//	  "longTermEpochWei":       "34223134839151266255989",
//	  "emission": {"firstPeriodRewardWei": "4500000000000000000000000", "periodEpochs": 90,
//	               "periodsPerGroup": 4, "piNumerator": 31416, "piDenominator": 10000},
//	  "credits":  {"validatorCredits": 200, "routerCredits": 20,
//	               "computeCreditsPerTask": 10, "maxComputeCreditsPerEpoch": 2000},
//	  "trade":    {"vestingEpochs": 7, "accountEpochCapWei": "2000000000000000000000",
//	               "pairEpochCapWei": "500000000000000000000", "epochCapWei": "100000000000000000000000"}
//	}
//
// The emission schedule's pool is nodeRewardsWei. The module's genesis
// balance is the sum of the four pools. The epoch length is not a param:
// it is the genesis epochLength (see [Factory]).
type ModuleParams struct {
	NodeRewardsWei     *uint256.Int
	TradeRewardsWei    *uint256.Int
	StakingWei         *uint256.Int
	LongTermStakingWei *uint256.Int
	// StakingEpochWei and LongTermEpochWei are the budgets each staking
	// epoch distributes from the two staking pools (the last epoch takes
	// what is left when less).
	StakingEpochWei  *uint256.Int
	LongTermEpochWei *uint256.Int
	Emission         EmissionParams // PoolWei is NodeRewardsWei
	Credits          CreditParams
	// Trade are the trade-reward params (trade.go).
	Trade TradeParams
	// EpochLength is the genesis epoch length in blocks.
	EpochLength uint64
}

// DefaultBudgetEpochs is what the default staking budgets spread their
// pools over: four years of daily epochs (4 × 365 + 1 days).
const DefaultBudgetEpochs = 1461

// DefaultEpochLength is the epoch length of [New] (genesis' default);
// nodes use [Factory] with the genesis value.
const DefaultEpochLength = 43_200

// DefaultModuleParams returns the defaults: the white paper's pools
// (node 100M, trade 200M, staking 20M, long-term staking 50M EMC), each
// staking pool spread evenly over DefaultBudgetEpochs epochs (rounded
// down), the white paper's emission schedule and credits.
func DefaultModuleParams() ModuleParams {
	em := DefaultEmissionParams()
	stakingWei := uint256.MustFromBig(EMC(20_000_000))
	longWei := uint256.MustFromBig(EMC(50_000_000))
	n := uint256.NewInt(DefaultBudgetEpochs)
	return ModuleParams{
		NodeRewardsWei:     uint256.MustFromBig(em.PoolWei),
		TradeRewardsWei:    uint256.MustFromBig(EMC(200_000_000)),
		StakingWei:         stakingWei,
		LongTermStakingWei: longWei,
		StakingEpochWei:    new(uint256.Int).Div(stakingWei, n), // round down
		LongTermEpochWei:   new(uint256.Int).Div(longWei, n),    // round down
		Emission:           em,
		Credits:            DefaultCreditParams(),
		Trade:              DefaultTradeParams(),
		EpochLength:        DefaultEpochLength,
	}
}

// maxPoolBits bounds each pool (and so their sum) far below 2^256.
const maxPoolBits = 128

type emissionJSON struct {
	FirstPeriodRewardWei *math.HexOrDecimal256 `json:"firstPeriodRewardWei"`
	PeriodEpochs         *uint64               `json:"periodEpochs"`
	PeriodsPerGroup      *uint64               `json:"periodsPerGroup"`
	PiNumerator          *uint64               `json:"piNumerator"`
	PiDenominator        *uint64               `json:"piDenominator"`
}

type creditsJSON struct {
	ValidatorCredits          *uint64 `json:"validatorCredits"`
	RouterCredits             *uint64 `json:"routerCredits"`
	ComputeCreditsPerTask     *uint64 `json:"computeCreditsPerTask"`
	MaxComputeCreditsPerEpoch *uint64 `json:"maxComputeCreditsPerEpoch"`
}

type tradeJSON struct {
	VestingEpochs      *uint64               `json:"vestingEpochs"`
	AccountEpochCapWei *math.HexOrDecimal256 `json:"accountEpochCapWei"`
	PairEpochCapWei    *math.HexOrDecimal256 `json:"pairEpochCapWei"`
	EpochCapWei        *math.HexOrDecimal256 `json:"epochCapWei"`
}

type paramsJSON struct {
	NodeRewardsWei     *math.HexOrDecimal256 `json:"nodeRewardsWei"`
	TradeRewardsWei    *math.HexOrDecimal256 `json:"tradeRewardsWei"`
	StakingWei         *math.HexOrDecimal256 `json:"stakingWei"`
	LongTermStakingWei *math.HexOrDecimal256 `json:"longTermStakingWei"`
	StakingEpochWei    *math.HexOrDecimal256 `json:"stakingEpochWei"`
	LongTermEpochWei   *math.HexOrDecimal256 `json:"longTermEpochWei"`
	Emission           *emissionJSON         `json:"emission"`
	Credits            *creditsJSON          `json:"credits"`
	Trade              *tradeJSON            `json:"trade"`
}

// ParseModuleParams decodes and validates raw (nil or JSON null means all
// defaults) with the given genesis epoch length. Unknown fields are an
// error. Errors wrap native.ErrBadParams.
func ParseModuleParams(raw json.RawMessage, epochLength uint64) (ModuleParams, error) {
	p := DefaultModuleParams()
	p.EpochLength = epochLength
	var j paramsJSON
	present, err := native.DecodeParams(raw, "rewards", &j)
	if err != nil {
		return ModuleParams{}, err
	}
	if !present {
		return p, p.Validate()
	}
	for _, f := range []struct {
		name string
		v    *math.HexOrDecimal256
		dst  **uint256.Int
	}{
		{"nodeRewardsWei", j.NodeRewardsWei, &p.NodeRewardsWei},
		{"tradeRewardsWei", j.TradeRewardsWei, &p.TradeRewardsWei},
		{"stakingWei", j.StakingWei, &p.StakingWei},
		{"longTermStakingWei", j.LongTermStakingWei, &p.LongTermStakingWei},
		{"stakingEpochWei", j.StakingEpochWei, &p.StakingEpochWei},
		{"longTermEpochWei", j.LongTermEpochWei, &p.LongTermEpochWei},
	} {
		if f.v == nil {
			continue
		}
		b := (*big.Int)(f.v)
		if b.Sign() < 0 || b.BitLen() > maxPoolBits {
			return ModuleParams{}, fmt.Errorf("%w: rewards: %s must be in [0, 2^%d)", native.ErrBadParams, f.name, maxPoolBits)
		}
		*f.dst = uint256.MustFromBig(b)
	}
	if e := j.Emission; e != nil {
		if e.FirstPeriodRewardWei != nil {
			p.Emission.FirstPeriodRewardWei = new(big.Int).Set((*big.Int)(e.FirstPeriodRewardWei))
		}
		setU64(&p.Emission.PeriodEpochs, e.PeriodEpochs)
		setU64(&p.Emission.PeriodsPerGroup, e.PeriodsPerGroup)
		setU64(&p.Emission.PiNumerator, e.PiNumerator)
		setU64(&p.Emission.PiDenominator, e.PiDenominator)
	}
	if c := j.Credits; c != nil {
		setU64(&p.Credits.ValidatorCredits, c.ValidatorCredits)
		setU64(&p.Credits.RouterCredits, c.RouterCredits)
		setU64(&p.Credits.ComputeCreditsPerTask, c.ComputeCreditsPerTask)
		setU64(&p.Credits.MaxComputeCreditsPerEpoch, c.MaxComputeCreditsPerEpoch)
	}
	if t := j.Trade; t != nil {
		setU64(&p.Trade.VestingEpochs, t.VestingEpochs)
		for _, f := range []struct {
			name string
			v    *math.HexOrDecimal256
			dst  **uint256.Int
		}{
			{"accountEpochCapWei", t.AccountEpochCapWei, &p.Trade.AccountEpochCapWei},
			{"pairEpochCapWei", t.PairEpochCapWei, &p.Trade.PairEpochCapWei},
			{"epochCapWei", t.EpochCapWei, &p.Trade.EpochCapWei},
		} {
			if f.v == nil {
				continue
			}
			b := (*big.Int)(f.v)
			if b.Sign() < 0 || b.BitLen() > maxPoolBits {
				return ModuleParams{}, fmt.Errorf("%w: rewards: trade.%s must be in [0, 2^%d)", native.ErrBadParams, f.name, maxPoolBits)
			}
			*f.dst = uint256.MustFromBig(b)
		}
	}
	p.Emission.PoolWei = p.NodeRewardsWei.ToBig()
	return p, p.Validate()
}

func setU64(dst *uint64, v *uint64) {
	if v != nil {
		*dst = *v
	}
}

// Validate checks p's ranges; errors wrap native.ErrBadParams.
func (p ModuleParams) Validate() error {
	for _, f := range []struct {
		name string
		v    *uint256.Int
	}{
		{"nodeRewardsWei", p.NodeRewardsWei}, {"tradeRewardsWei", p.TradeRewardsWei},
		{"stakingWei", p.StakingWei}, {"longTermStakingWei", p.LongTermStakingWei},
		{"stakingEpochWei", p.StakingEpochWei}, {"longTermEpochWei", p.LongTermEpochWei},
	} {
		if f.v == nil || f.v.BitLen() > maxPoolBits {
			return fmt.Errorf("%w: rewards: %s missing or not below 2^%d", native.ErrBadParams, f.name, maxPoolBits)
		}
	}
	if p.EpochLength == 0 {
		return fmt.Errorf("%w: rewards: epochLength must be positive", native.ErrBadParams)
	}
	if p.Emission.PoolWei == nil || p.Emission.PoolWei.Cmp(p.NodeRewardsWei.ToBig()) != 0 {
		return fmt.Errorf("%w: rewards: the emission pool must be nodeRewardsWei", native.ErrBadParams)
	}
	if err := p.Emission.Validate(); err != nil {
		return fmt.Errorf("%w: rewards: %w", native.ErrBadParams, err)
	}
	if err := p.Credits.Validate(); err != nil {
		return fmt.Errorf("%w: rewards: %w", native.ErrBadParams, err)
	}
	if err := p.Trade.Validate(); err != nil {
		return fmt.Errorf("%w: rewards: %w", native.ErrBadParams, err)
	}
	return nil
}

// GenesisBalanceWei is the module's genesis balance: the sum of the pools
// (each below 2^128, so the sum cannot overflow).
func (p ModuleParams) GenesisBalanceWei() *uint256.Int {
	s := new(uint256.Int).Add(p.NodeRewardsWei, p.TradeRewardsWei)
	s.Add(s, p.StakingWei)
	return s.Add(s, p.LongTermStakingWei)
}

func (p ModuleParams) clone() ModuleParams {
	q := p
	for _, v := range []**uint256.Int{&q.NodeRewardsWei, &q.TradeRewardsWei, &q.StakingWei, &q.LongTermStakingWei, &q.StakingEpochWei, &q.LongTermEpochWei} {
		*v = (*v).Clone()
	}
	q.Trade = p.Trade.clone()
	q.Emission.PoolWei = new(big.Int).Set(p.Emission.PoolWei)
	q.Emission.FirstPeriodRewardWei = new(big.Int).Set(p.Emission.FirstPeriodRewardWei)
	return q
}
