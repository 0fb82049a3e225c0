package apps

import (
	"encoding/json"
	"fmt"

	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "apps" entry of the
// genesis params section:
//
//	"apps": {"placeBlocks": 150, "readyBlocks": 300, "settleBlocks": 30, "livenessBlocks": 900, "maxRestarts": 3}
//
// Absent fields take defaults. Unknown fields are an error.
type Params struct {
	// PlaceBlocks: an instance not placed by a router through block
	// deploy (or reopen) + PlaceBlocks is closed and refunded.
	PlaceBlocks uint64
	// ReadyBlocks: the placed node reports ready through block placement
	// + ReadyBlocks (pulling the image, starting it, its health check),
	// or the instance goes back to the routers.
	ReadyBlocks uint64
	// SettleBlocks is the final settlement window: after a lease ends
	// (its time is up, stop, or reap) the node may still settle receipts
	// for SettleBlocks blocks; then the rest of the escrow is refunded.
	SettleBlocks uint64
	// LivenessBlocks: place refuses, and reap ends, a node whose last
	// on-chain update (registry.LastSeen) is more than LivenessBlocks old.
	LivenessBlocks uint64
	// MaxRestarts bounds how many times a reap sends a restart-enabled
	// instance (setRestart) back to the routers instead of ending it;
	// 0 turns restarts off. At most MaxRestartsLimit.
	MaxRestarts uint8
}

// Defaults.
const (
	DefaultPlaceBlocks    = 150
	DefaultReadyBlocks    = 300
	DefaultSettleBlocks   = 30
	DefaultLivenessBlocks = 900
	DefaultMaxRestarts    = 3
	// MaxRestartsLimit bounds the MaxRestarts param.
	MaxRestartsLimit = 16
	maxParamBlocks   = 1_000_000
)

// DefaultParams returns the defaults.
func DefaultParams() Params {
	return Params{PlaceBlocks: DefaultPlaceBlocks, ReadyBlocks: DefaultReadyBlocks, SettleBlocks: DefaultSettleBlocks, LivenessBlocks: DefaultLivenessBlocks,
		MaxRestarts: DefaultMaxRestarts}
}

type paramsJSON struct {
	PlaceBlocks    *uint64 `json:"placeBlocks"`
	ReadyBlocks    *uint64 `json:"readyBlocks"`
	SettleBlocks   *uint64 `json:"settleBlocks"`
	LivenessBlocks *uint64 `json:"livenessBlocks"`
	MaxRestarts    *uint8  `json:"maxRestarts"`
}

// ParseParams decodes and validates raw (nil or JSON null: all defaults).
// Errors wrap native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	p := DefaultParams()
	var j paramsJSON
	present, err := native.DecodeParams(raw, Name, &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, nil
	}
	for _, x := range []struct{ src, dst *uint64 }{
		{j.PlaceBlocks, &p.PlaceBlocks}, {j.ReadyBlocks, &p.ReadyBlocks}, {j.SettleBlocks, &p.SettleBlocks}, {j.LivenessBlocks, &p.LivenessBlocks},
	} {
		if x.src != nil {
			*x.dst = *x.src
		}
	}
	if j.MaxRestarts != nil {
		p.MaxRestarts = *j.MaxRestarts
	}
	return p, p.Validate()
}

// Validate checks p.
func (p Params) Validate() error {
	for _, x := range []struct {
		name string
		v    uint64
	}{{"placeBlocks", p.PlaceBlocks}, {"readyBlocks", p.ReadyBlocks}, {"settleBlocks", p.SettleBlocks}, {"livenessBlocks", p.LivenessBlocks}} {
		if x.v == 0 || x.v > maxParamBlocks {
			return fmt.Errorf("%w: apps: %s %d (1 to %d)", native.ErrBadParams, x.name, x.v, maxParamBlocks)
		}
	}
	if p.MaxRestarts > MaxRestartsLimit {
		return fmt.Errorf("%w: apps: maxRestarts %d (0 to %d)", native.ErrBadParams, p.MaxRestarts, MaxRestartsLimit)
	}
	return nil
}
