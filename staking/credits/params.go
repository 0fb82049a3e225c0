package credits

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common/math"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "credits" entry of the
// genesis params section:
//
//	"credits": {"creditPriceWei": "10000000000000000", "providerSharePercent": 80}
//
// creditPriceWei is a decimal or 0x-hex string; absent fields take defaults.
type Params struct {
	// CreditPriceWei is the price of one Credit. Credits are whole units;
	// buyCredits takes only whole multiples of it.
	CreditPriceWei *uint256.Int
	// ProviderSharePercent is the part of spent Credits' wei paid to the
	// provider; the rest is burned.
	ProviderSharePercent uint64
}

// Defaults: 1 Credit = 0.01 EMC, providers get 80 %, 20 % is burned.
const (
	DefaultCreditPriceWei       = 10_000_000_000_000_000 // 0.01 EMC
	DefaultProviderSharePercent = 80
)

// DefaultParams returns the defaults.
func DefaultParams() Params {
	return Params{
		CreditPriceWei:       uint256.NewInt(DefaultCreditPriceWei),
		ProviderSharePercent: DefaultProviderSharePercent,
	}
}

type paramsJSON struct {
	CreditPriceWei       *math.HexOrDecimal256 `json:"creditPriceWei"`
	ProviderSharePercent *uint64               `json:"providerSharePercent"`
}

// ParseParams decodes and validates raw (nil or JSON null means all
// defaults). Unknown fields are an error. Errors wrap native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	p := DefaultParams()
	var j paramsJSON
	present, err := native.DecodeParams(raw, "credits", &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, nil
	}
	if j.CreditPriceWei != nil {
		b := (*big.Int)(j.CreditPriceWei)
		v, overflow := uint256.FromBig(b)
		if overflow || b.Sign() < 0 {
			return Params{}, fmt.Errorf("%w: credits: creditPriceWei out of uint256 range", native.ErrBadParams)
		}
		p.CreditPriceWei = v
	}
	if j.ProviderSharePercent != nil {
		p.ProviderSharePercent = *j.ProviderSharePercent
	}
	return p, p.Validate()
}

// Validate checks p's ranges.
func (p Params) Validate() error {
	if p.CreditPriceWei == nil || p.CreditPriceWei.IsZero() {
		return fmt.Errorf("%w: credits: creditPriceWei must be positive", native.ErrBadParams)
	}
	if p.ProviderSharePercent > 100 {
		return fmt.Errorf("%w: credits: providerSharePercent must be in [0, 100], got %d", native.ErrBadParams, p.ProviderSharePercent)
	}
	return nil
}
