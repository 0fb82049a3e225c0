package staking

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// Role is what a position stakes for.
type Role uint8

// The roles. A position's role is fixed while it holds stake.
const (
	RoleValidator Role = iota
	RoleRouter
	RoleCompute
	// NumRoles is the number of roles.
	NumRoles = 3
)

var roleNames = [NumRoles]string{"validator", "router", "compute"}

// String returns the role's name ("validator", "router", "compute").
func (r Role) String() string {
	if r < NumRoles {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if n == s {
			return Role(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want validator, router or compute)", ErrBadRole, s)
}

// Params are the module's genesis parameters, the "staking" entry of the
// genesis params section (absent fields take defaults):
//
//	"staking": {
//	  "minValidatorStakeWei": "1000000000000000000000000",
//	  "minRouterStakeWei":    "100000000000000000000000",
//	  "minComputeStakeWei":   "0",
//	  "unbondingEpochs": 7,
//	  "lockEpochs": [0, 7, 30, 90, 180],
//	  "maxPositions": 10000,
//	  "maxUnbonding": 16,
//	  "maxValidators": 100,
//	  "minValidators": 4,
//	  "slashFractionBps": 10000,
//	  "reporterShareBps": 500,
//	  "genesisStakes": [
//	    {"owner": "0x…", "signer": "0x…", "amountWei": "1000000000000000000000000", "lock": 0}
//	  ]
//	}
//
// Amounts are decimal or 0x-hex strings. The epoch length is not a module
// param: it is the genesis epochLength (see [Factory]).
type Params struct {
	// MinStakeWei is the least stake a position of each role may hold
	// (0: any positive amount).
	MinStakeWei [NumRoles]*uint256.Int
	// UnbondingEpochs is how many whole epochs unstaked EMC waits before
	// withdraw() pays it.
	UnbondingEpochs uint64
	// LockEpochs is each lock term's length in epochs, indexed by
	// rewards.Lock (multipliers are rewards.DefaultLockParams').
	LockEpochs [rewards.NumLocks]uint64
	// MaxPositions bounds the number of owners with a position (stake,
	// a pending change or unbonding entries).
	MaxPositions uint64
	// MaxUnbonding bounds each owner's unbonding entries.
	MaxUnbonding uint64
	// EpochLength is the genesis epoch length in blocks.
	EpochLength uint64
	// MaxValidators caps the validator set; the set's size is the largest
	// 3F+1 at most min(eligible, MaxValidators).
	MaxValidators uint64
	// MinValidators is the fewest eligible validators for the set to
	// change at an epoch boundary; with fewer the current set stays.
	MinValidators uint64
	// SlashFractionBps is the share of a double signer's stake and
	// unbonding entries that is slashed, in basis points (10000 = all).
	SlashFractionBps uint64
	// ReporterShareBps is the share of a slashed amount paid to the
	// reporter of the evidence, in basis points; the rest is burned.
	ReporterShareBps uint64
	// GenesisStakes are positions that exist from genesis (effective from
	// epoch 0), in the order given: validators, and routers (a dev chain's
	// router routes from its first block).
	GenesisStakes []GenesisStake
}

// GenesisStake is one position seeded at genesis.
type GenesisStake struct {
	Owner common.Address
	// Role is the position's role (the zero value: RoleValidator).
	Role Role
	// Signer is a validator's consensus key; the zero address means the
	// owner. Other roles have none.
	Signer    common.Address
	AmountWei *uint256.Int
	Lock      rewards.Lock
}

// GenesisUnlockEpoch is the epoch g's lock ends: its lock's length in
// epochs, counted from epoch 0 (what stake() in epoch 0 would set).
func (p Params) GenesisUnlockEpoch(g GenesisStake) uint64 {
	if g.Lock >= rewards.NumLocks {
		return 0 // refused by Validate
	}
	return p.LockEpochs[g.Lock]
}

// signerOrOwner is the stake's consensus signer.
func (g GenesisStake) signerOrOwner() common.Address {
	if g.Signer == (common.Address{}) {
		return g.Owner
	}
	return g.Signer
}

// Defaults and caps.
const (
	DefaultUnbondingEpochs = 7
	DefaultMaxPositions    = 10_000
	DefaultMaxUnbonding    = 16
	// DefaultEpochLength is the epoch length of [New] (genesis'
	// default); nodes use [Factory] with the genesis value.
	DefaultEpochLength = 43_200
	// DefaultMaxValidators and DefaultMinValidators bound the validator
	// set.
	DefaultMaxValidators = 100
	DefaultMinValidators = 4
	// DefaultSlashFractionBps slashes all of a double signer's stake.
	DefaultSlashFractionBps = 10_000
	// DefaultReporterShareBps pays the reporter 5 % of a slash.
	DefaultReporterShareBps = 500
	// bpsDenominator is 100 % in basis points.
	bpsDenominator   = 10_000
	maxMaxPositions  = 100_000
	maxMaxUnbonding  = 64
	maxEpochs        = 1 << 32
	maxMaxValidators = 1_000
)

// DefaultParams returns the defaults: validator 1,000,000 EMC, router
// 100,000 EMC, compute 0 (optional), 7 unbonding epochs, the white paper's
// lock terms counted as one epoch a day.
func DefaultParams() Params {
	e18 := new(uint256.Int).Exp(uint256.NewInt(10), uint256.NewInt(18))
	p := Params{
		MinStakeWei: [NumRoles]*uint256.Int{
			RoleValidator: new(uint256.Int).Mul(uint256.NewInt(1_000_000), e18),
			RoleRouter:    new(uint256.Int).Mul(uint256.NewInt(100_000), e18),
			RoleCompute:   new(uint256.Int),
		},
		UnbondingEpochs: DefaultUnbondingEpochs,
		MaxPositions:    DefaultMaxPositions,
		MaxUnbonding:    DefaultMaxUnbonding,
		EpochLength:     DefaultEpochLength,

		MaxValidators:    DefaultMaxValidators,
		MinValidators:    DefaultMinValidators,
		SlashFractionBps: DefaultSlashFractionBps,
		ReporterShareBps: DefaultReporterShareBps,
	}
	for l, t := range rewards.DefaultLockParams().Terms {
		p.LockEpochs[l] = t.Epochs
	}
	return p
}

func (p Params) clone() Params {
	for i := range p.MinStakeWei {
		p.MinStakeWei[i] = p.MinStakeWei[i].Clone()
	}
	gs := make([]GenesisStake, len(p.GenesisStakes))
	for i, g := range p.GenesisStakes {
		g.AmountWei = g.AmountWei.Clone()
		gs[i] = g
	}
	p.GenesisStakes = gs
	return p
}

type paramsJSON struct {
	MinValidator    *math.HexOrDecimal256     `json:"minValidatorStakeWei"`
	MinRouter       *math.HexOrDecimal256     `json:"minRouterStakeWei"`
	MinCompute      *math.HexOrDecimal256     `json:"minComputeStakeWei"`
	UnbondingEpochs *uint64                   `json:"unbondingEpochs"`
	LockEpochs      *[rewards.NumLocks]uint64 `json:"lockEpochs"`
	MaxPositions    *uint64                   `json:"maxPositions"`
	MaxUnbonding    *uint64                   `json:"maxUnbonding"`
	MaxValidators   *uint64                   `json:"maxValidators"`
	MinValidators   *uint64                   `json:"minValidators"`
	SlashFraction   *uint64                   `json:"slashFractionBps"`
	ReporterShare   *uint64                   `json:"reporterShareBps"`
	GenesisStakes   []genesisStakeJSON        `json:"genesisStakes"`
}

type genesisStakeJSON struct {
	Owner     *common.Address       `json:"owner"`
	Role      *uint8                `json:"role"`
	Signer    *common.Address       `json:"signer"`
	AmountWei *math.HexOrDecimal256 `json:"amountWei"`
	Lock      *uint8                `json:"lock"`
}

// ParseParams decodes and validates raw (nil or JSON null means all
// defaults) with the given genesis epoch length. Unknown fields are an
// error so typos do not fall back to defaults silently. Errors wrap
// native.ErrBadParams.
func ParseParams(raw json.RawMessage, epochLength uint64) (Params, error) {
	p := DefaultParams()
	p.EpochLength = epochLength
	var j paramsJSON
	present, err := native.DecodeParams(raw, "staking", &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, p.Validate()
	}
	for role, v := range []*math.HexOrDecimal256{j.MinValidator, j.MinRouter, j.MinCompute} {
		if v == nil {
			continue
		}
		b := (*big.Int)(v)
		u, overflow := uint256.FromBig(b)
		if overflow || b.Sign() < 0 {
			return Params{}, fmt.Errorf("%w: staking: minimum stake of %s out of uint256 range", native.ErrBadParams, Role(role))
		}
		p.MinStakeWei[role] = u
	}
	if j.UnbondingEpochs != nil {
		p.UnbondingEpochs = *j.UnbondingEpochs
	}
	if j.LockEpochs != nil {
		p.LockEpochs = *j.LockEpochs
	}
	if j.MaxPositions != nil {
		p.MaxPositions = *j.MaxPositions
	}
	if j.MaxUnbonding != nil {
		p.MaxUnbonding = *j.MaxUnbonding
	}
	for _, f := range []struct {
		dst *uint64
		src *uint64
	}{{&p.MaxValidators, j.MaxValidators}, {&p.MinValidators, j.MinValidators},
		{&p.SlashFractionBps, j.SlashFraction}, {&p.ReporterShareBps, j.ReporterShare}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	for i, g := range j.GenesisStakes {
		if g.Owner == nil || g.AmountWei == nil {
			return Params{}, fmt.Errorf("%w: staking: genesisStakes[%d]: owner and amountWei are required", native.ErrBadParams, i)
		}
		b := (*big.Int)(g.AmountWei)
		u, overflow := uint256.FromBig(b)
		if overflow || b.Sign() < 0 {
			return Params{}, fmt.Errorf("%w: staking: genesisStakes[%d]: amountWei out of uint256 range", native.ErrBadParams, i)
		}
		gs := GenesisStake{Owner: *g.Owner, AmountWei: u}
		if g.Role != nil {
			gs.Role = Role(*g.Role)
		}
		if g.Signer != nil {
			gs.Signer = *g.Signer
		}
		if g.Lock != nil {
			gs.Lock = rewards.Lock(*g.Lock)
		}
		p.GenesisStakes = append(p.GenesisStakes, gs)
	}
	return p, p.Validate()
}

// Validate checks p's ranges.
func (p Params) Validate() error {
	for r, m := range p.MinStakeWei {
		if m == nil {
			return fmt.Errorf("%w: staking: minimum stake of %s missing", native.ErrBadParams, Role(r))
		}
	}
	if p.EpochLength == 0 {
		return fmt.Errorf("%w: staking: epochLength must be positive", native.ErrBadParams)
	}
	if p.UnbondingEpochs > maxEpochs {
		return fmt.Errorf("%w: staking: unbondingEpochs %d above %d", native.ErrBadParams, p.UnbondingEpochs, uint64(maxEpochs))
	}
	if p.LockEpochs[rewards.LockNone] != 0 {
		return fmt.Errorf("%w: staking: lockEpochs[0] (no lock) must be 0", native.ErrBadParams)
	}
	for l := 1; l < rewards.NumLocks; l++ {
		if p.LockEpochs[l] < p.LockEpochs[l-1] || p.LockEpochs[l] > maxEpochs {
			return fmt.Errorf("%w: staking: lockEpochs must be non-decreasing and at most %d: %v", native.ErrBadParams, uint64(maxEpochs), p.LockEpochs)
		}
	}
	if p.MaxPositions == 0 || p.MaxPositions > maxMaxPositions {
		return fmt.Errorf("%w: staking: maxPositions must be in [1, %d], got %d", native.ErrBadParams, maxMaxPositions, p.MaxPositions)
	}
	if p.MaxUnbonding == 0 || p.MaxUnbonding > maxMaxUnbonding {
		return fmt.Errorf("%w: staking: maxUnbonding must be in [1, %d], got %d", native.ErrBadParams, maxMaxUnbonding, p.MaxUnbonding)
	}
	if p.MinValidators == 0 || p.MaxValidators < p.MinValidators || p.MaxValidators > maxMaxValidators {
		return fmt.Errorf("%w: staking: want 1 <= minValidators (%d) <= maxValidators (%d) <= %d",
			native.ErrBadParams, p.MinValidators, p.MaxValidators, maxMaxValidators)
	}
	if p.SlashFractionBps == 0 || p.SlashFractionBps > bpsDenominator {
		return fmt.Errorf("%w: staking: slashFractionBps must be in [1, %d], got %d", native.ErrBadParams, bpsDenominator, p.SlashFractionBps)
	}
	if p.ReporterShareBps > bpsDenominator {
		return fmt.Errorf("%w: staking: reporterShareBps must be at most %d, got %d", native.ErrBadParams, bpsDenominator, p.ReporterShareBps)
	}
	return p.validateGenesisStakes()
}

// validateGenesisStakes checks the genesis positions as stake() and
// setSigner() would: a validator or router role, a stake at least the
// role's minimum, a known lock, one position per owner, signers (of
// validators only) unique and not owners, a sum that fits.
func (p Params) validateGenesisStakes() error {
	if uint64(len(p.GenesisStakes)) > p.MaxPositions {
		return fmt.Errorf("%w: staking: %d genesis stakes above maxPositions %d", native.ErrBadParams, len(p.GenesisStakes), p.MaxPositions)
	}
	owners := make(map[common.Address]bool, len(p.GenesisStakes))
	for _, g := range p.GenesisStakes {
		owners[g.Owner] = true
	}
	signers := make(map[common.Address]bool, len(p.GenesisStakes))
	sum := new(uint256.Int)
	for i, g := range p.GenesisStakes {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: staking: genesisStakes[%d] (%s): %s", native.ErrBadParams, i, g.Owner, fmt.Sprintf(format, args...))
		}
		switch {
		case g.Owner == (common.Address{}):
			return bad("owner must not be the zero address")
		case g.AmountWei == nil || g.AmountWei.IsZero():
			return bad("amountWei must be positive")
		case g.Role != RoleValidator && g.Role != RoleRouter:
			return bad("role %d: want validator (0) or router (1)", g.Role)
		case g.Role != RoleValidator && g.Signer != (common.Address{}):
			return bad("a %s position has no signer", g.Role)
		case g.AmountWei.Lt(p.MinStakeWei[g.Role]):
			return bad("%s wei below the %s minimum %s wei", g.AmountWei, g.Role, p.MinStakeWei[g.Role])
		case g.Lock >= rewards.NumLocks:
			return bad("unknown lock %d", g.Lock)
		}
		if signers[g.Owner] {
			return bad("owner listed twice")
		}
		signers[g.Owner] = true
		if s := g.Signer; s != (common.Address{}) && s != g.Owner {
			if owners[s] || signers[s] {
				return bad("signer %s is an owner or another stake's signer", s)
			}
			signers[s] = true
		}
		if _, overflow := sum.AddOverflow(sum, g.AmountWei); overflow {
			return bad("sum of genesis stakes overflows uint256")
		}
	}
	return nil
}
