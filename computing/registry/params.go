package registry

import (
	"encoding/json"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "registry" entry of the
// genesis params section:
//
//	"registry": {"allowSimulatedGPUs": true}
//
// Absent fields take defaults. Unknown fields are an error.
type Params struct {
	// AllowSimulatedGPUs lets nodes register simulated GPU inventories
	// (dev and `emcd testnet` chains). Default false: a production chain
	// only lists real hardware.
	AllowSimulatedGPUs bool
}

type paramsJSON struct {
	AllowSimulatedGPUs *bool `json:"allowSimulatedGPUs"`
}

// ParseParams decodes raw (nil or JSON null means all defaults). Errors wrap
// native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	var p Params
	var j paramsJSON
	present, err := native.DecodeParams(raw, "registry", &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, nil
	}
	if j.AllowSimulatedGPUs != nil {
		p.AllowSimulatedGPUs = *j.AllowSimulatedGPUs
	}
	return p, nil
}

// Staking is what the module needs to know of the staking module's params to
// tell whether a router is staked: the genesis epoch length (stake changes
// take effect at the next epoch) and the router role's minimum stake. The
// node fills it from the staking params of the same genesis.
type Staking struct {
	EpochLength       uint64
	MinRouterStakeWei *uint256.Int
}

// Validate checks s.
func (s Staking) Validate() error {
	if s.EpochLength == 0 {
		return fmt.Errorf("%w: registry: epoch length must be positive", native.ErrBadParams)
	}
	if s.MinRouterStakeWei == nil {
		return fmt.Errorf("%w: registry: router minimum stake missing", native.ErrBadParams)
	}
	return nil
}
