package verify

import (
	"encoding/json"
	"fmt"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "verify" entry of the
// genesis params section:
//
//	"verify": {"pow": {<pow.Params, see computing/pow>}, "attestBlocks": 20,
//	           "verifiers": 3, "passesNeeded": 2, "keepEpochs": 32}
//
// Absent fields take defaults. Unknown fields are an error. Besides the
// rules on each field, [NewModule] checks that every class's window closes
// inside one staking epoch (see [Params.CheckTimeline]).
type Params struct {
	// PoW is the class table and the chunks each verifier is due.
	PoW pow.Params
	// AttestBlocks: verifiers attest, and the node rebuts, in the blocks
	// D+1 … D+AttestBlocks after its class's commit deadline block D; the
	// challenge is decided at the end of block D+AttestBlocks.
	AttestBlocks uint64
	// Verifiers is how many validators each challenge draws (fewer when
	// the epoch has fewer validators besides the node's owner): 1 to
	// MaxVerifiers.
	Verifiers int
	// PassesNeeded is how many verifier slots must pass for a verified
	// task: 1 to Verifiers.
	PassesNeeded int
	// KeepEpochs is how many epochs the module keeps its per-epoch records
	// (seed, validator set, challenges, probes, sample seeds) once the
	// chain runs the verifyPrune fork (params.ForkVerifyPrune): at the
	// start of epoch e it deletes epoch e−KeepEpochs. At least 2, so the
	// epoch just ended stays readable (recordMiss may still come for it).
	// Without the fork nothing is deleted and the value is unused.
	KeepEpochs uint64
}

// Bounds and defaults.
const (
	// MaxVerifiers bounds Verifiers (the challenge record keeps one state
	// byte and one address word per slot).
	MaxVerifiers        = 5
	DefaultVerifiers    = 3
	DefaultPassesNeeded = 2
	DefaultAttestBlocks = 20
	// DefaultKeepEpochs keeps a month of records at the default daily
	// epoch; MinKeepEpochs keeps the epoch just ended.
	DefaultKeepEpochs = 32
	MinKeepEpochs     = 2
	// maxParamBlocks bounds AttestBlocks, so block sums never overflow.
	maxParamBlocks = 1_000_000
)

// DefaultParams returns the defaults: pow.DefaultParams, 20 blocks to
// attest, 2 passes of 3 verifiers, 32 epochs kept.
func DefaultParams() Params {
	return Params{PoW: pow.DefaultParams(), AttestBlocks: DefaultAttestBlocks, Verifiers: DefaultVerifiers, PassesNeeded: DefaultPassesNeeded,
		KeepEpochs: DefaultKeepEpochs}
}

type paramsJSON struct {
	PoW          json.RawMessage `json:"pow"`
	AttestBlocks *uint64         `json:"attestBlocks"`
	Verifiers    *int            `json:"verifiers"`
	PassesNeeded *int            `json:"passesNeeded"`
	KeepEpochs   *uint64         `json:"keepEpochs"`
}

// ParseParams decodes and validates raw (nil or JSON null means all
// defaults). Errors wrap native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	p := DefaultParams()
	var j paramsJSON
	present, err := native.DecodeParams(raw, "verify", &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, nil
	}
	pp, err := pow.ParseParams(j.PoW)
	if err != nil {
		return Params{}, fmt.Errorf("verify: %w", err)
	}
	p.PoW = pp
	if j.AttestBlocks != nil {
		p.AttestBlocks = *j.AttestBlocks
	}
	if j.Verifiers != nil {
		p.Verifiers = *j.Verifiers
	}
	if j.PassesNeeded != nil {
		p.PassesNeeded = *j.PassesNeeded
	}
	if j.KeepEpochs != nil {
		p.KeepEpochs = *j.KeepEpochs
	}
	return p, p.Validate()
}

// Validate checks p's fields (not the timeline, which needs the epoch
// length and the block period).
func (p Params) Validate() error {
	if err := p.PoW.Validate(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if p.AttestBlocks == 0 || p.AttestBlocks > maxParamBlocks {
		return fmt.Errorf("%w: verify: attestBlocks %d (1 to %d)", native.ErrBadParams, p.AttestBlocks, maxParamBlocks)
	}
	if p.Verifiers < 1 || p.Verifiers > MaxVerifiers {
		return fmt.Errorf("%w: verify: verifiers %d (1 to %d)", native.ErrBadParams, p.Verifiers, MaxVerifiers)
	}
	if p.PassesNeeded < 1 || p.PassesNeeded > p.Verifiers {
		return fmt.Errorf("%w: verify: passesNeeded %d (1 to verifiers %d)", native.ErrBadParams, p.PassesNeeded, p.Verifiers)
	}
	if p.KeepEpochs < MinKeepEpochs || p.KeepEpochs > maxParamBlocks {
		return fmt.Errorf("%w: verify: keepEpochs %d (%d to %d)", native.ErrBadParams, p.KeepEpochs, MinKeepEpochs, maxParamBlocks)
	}
	return nil
}

// CheckTimeline checks that every class's challenge closes inside its
// staking epoch of epochLength blocks at a target period of blockPeriodMs:
// with the epoch starting at block b, the seed is stored in b+1, the
// class's deadline is D = b+1+blocksFor(deadlineSeconds), and the
// decision is at the end of D+AttestBlocks, which must be at most b+L−1.
func (p Params) CheckTimeline(epochLength, blockPeriodMs uint64) error {
	if blockPeriodMs == 0 {
		return fmt.Errorf("%w: verify: block period must be positive", native.ErrBadParams)
	}
	for _, c := range p.PoW.Classes {
		end := 1 + blocksFor(c.DeadlineSeconds, blockPeriodMs) + p.AttestBlocks
		if end >= epochLength {
			return fmt.Errorf("%w: verify: class %q: deadline %d s and attestBlocks %d end at block %d of an epoch of %d blocks",
				native.ErrBadParams, c.Name, c.DeadlineSeconds, p.AttestBlocks, end, epochLength)
		}
	}
	return nil
}

// blocksFor is how many blocks seconds take at the target block period,
// rounded up, at least 1 (as the jobs module converts result deadlines).
func blocksFor(seconds, blockPeriodMs uint64) uint64 {
	return max(1, (seconds*1000+blockPeriodMs-1)/blockPeriodMs)
}
