package staking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common/math"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "staking" entry of the
// genesis params section:
//
//	"staking": {"minStakeWei": "1000000000000000000", "maxStakers": 10000}
//
// minStakeWei is a decimal or 0x-hex string (a JSON number also works, but
// loses precision in many JSON tools); absent fields take defaults.
type Params struct {
	// MinStakeWei is the least non-zero stake an account may hold.
	MinStakeWei *uint256.Int
	// MaxStakers bounds the number of accounts with non-zero stake, so
	// TopStakers and a full stakers() scan stay bounded.
	MaxStakers uint64
}

const (
	// DefaultMaxStakers is MaxStakers when params leave it out.
	DefaultMaxStakers = 10_000
	// maxMaxStakers caps MaxStakers: TopStakers reads two slots per staker.
	maxMaxStakers = 100_000
)

// DefaultParams returns the defaults: a minimum stake of 1 EMC (10^18 wei)
// and DefaultMaxStakers stakers.
func DefaultParams() Params {
	return Params{
		MinStakeWei: new(uint256.Int).Exp(uint256.NewInt(10), uint256.NewInt(18)),
		MaxStakers:  DefaultMaxStakers,
	}
}

type paramsJSON struct {
	MinStakeWei *math.HexOrDecimal256 `json:"minStakeWei"`
	MaxStakers  *uint64               `json:"maxStakers"`
}

// ParseParams decodes and validates raw (nil or JSON null means all
// defaults). Unknown fields are an error so typos do not fall back to
// defaults silently. Errors wrap native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	p := DefaultParams()
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var j paramsJSON
	if err := dec.Decode(&j); err != nil {
		return Params{}, fmt.Errorf("%w: staking: %w", native.ErrBadParams, err)
	}
	if j.MinStakeWei != nil {
		b := (*big.Int)(j.MinStakeWei)
		v, overflow := uint256.FromBig(b)
		if overflow || b.Sign() < 0 {
			return Params{}, fmt.Errorf("%w: staking: minStakeWei out of uint256 range", native.ErrBadParams)
		}
		p.MinStakeWei = v
	}
	if j.MaxStakers != nil {
		p.MaxStakers = *j.MaxStakers
	}
	return p, p.Validate()
}

// Validate checks p's ranges.
func (p Params) Validate() error {
	if p.MinStakeWei == nil || p.MinStakeWei.IsZero() {
		return fmt.Errorf("%w: staking: minStakeWei must be positive", native.ErrBadParams)
	}
	if p.MaxStakers == 0 || p.MaxStakers > maxMaxStakers {
		return fmt.Errorf("%w: staking: maxStakers must be in [1, %d], got %d", native.ErrBadParams, maxMaxStakers, p.MaxStakers)
	}
	return nil
}
