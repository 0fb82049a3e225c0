package rewards

import (
	"fmt"
	"math/bits"
)

// CreditParams are the proof-of-work credit constants (white paper, "Node
// rewards"): E_i in a node's share r·E_i·s_i / Σ E_j·s_j is the sum of the
// credits it earned in the epoch.
type CreditParams struct {
	// ValidatorCredits is what a validator earns in an epoch when its seals
	// are in at least two thirds of the epoch's certificates
	// (ValidatorEarnsCredits).
	ValidatorCredits uint64
	// RouterCredits is what a smart router earns in an epoch of verified
	// routing work.
	RouterCredits uint64
	// ComputeCreditsPerTask is what a compute node earns per verified task.
	ComputeCreditsPerTask uint64
	// MaxComputeCreditsPerEpoch caps a compute node's credits in one epoch,
	// so a node cannot outweigh everybody by flooding cheap tasks.
	MaxComputeCreditsPerEpoch uint64
}

// Defaults of CreditParams. The first three are the white paper's; the
// compute cap is ours (the white paper has none): ten validators' worth.
const (
	DefaultValidatorCredits          = 200
	DefaultRouterCredits             = 20
	DefaultComputeCreditsPerTask     = 10
	DefaultMaxComputeCreditsPerEpoch = 2000
)

// maxCredits bounds each credit parameter, so that a node's credits summed
// over every role stay far from overflowing uint64.
const maxCredits = 1 << 40

// DefaultCreditParams returns the defaults.
func DefaultCreditParams() CreditParams {
	return CreditParams{
		ValidatorCredits:          DefaultValidatorCredits,
		RouterCredits:             DefaultRouterCredits,
		ComputeCreditsPerTask:     DefaultComputeCreditsPerTask,
		MaxComputeCreditsPerEpoch: DefaultMaxComputeCreditsPerEpoch,
	}
}

// Validate checks p's ranges; errors wrap ErrBadParams.
func (p CreditParams) Validate() error {
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"validatorCredits", p.ValidatorCredits},
		{"routerCredits", p.RouterCredits},
		{"computeCreditsPerTask", p.ComputeCreditsPerTask},
		{"maxComputeCreditsPerEpoch", p.MaxComputeCreditsPerEpoch},
	} {
		if f.v > maxCredits {
			return fmt.Errorf("%w: credits: %s must be at most 2^40, got %d", ErrBadParams, f.name, f.v)
		}
	}
	return nil
}

// ComputeCredits returns a compute node's credits for verifiedTasks tasks
// in one epoch: ComputeCreditsPerTask per task, capped at
// MaxComputeCreditsPerEpoch (the product cannot overflow: it saturates).
func (p CreditParams) ComputeCredits(verifiedTasks uint64) uint64 {
	hi, lo := bits.Mul64(verifiedTasks, p.ComputeCreditsPerTask)
	if hi != 0 || lo > p.MaxComputeCreditsPerEpoch {
		return p.MaxComputeCreditsPerEpoch
	}
	return lo
}

// ValidatorEarnsCredits reports whether a validator whose seals are in
// sealedCerts of the epoch's totalCerts commit certificates earns its
// credits: sealedCerts/totalCerts ≥ 2/3, compared exactly as
// 3·sealedCerts ≥ 2·totalCerts in 128-bit arithmetic. An epoch without
// certificates earns nothing; sealedCerts > totalCerts is
// ErrSealsExceedCerts.
func ValidatorEarnsCredits(sealedCerts, totalCerts uint64) (bool, error) {
	if sealedCerts > totalCerts {
		return false, fmt.Errorf("%w: %d sealed of %d", ErrSealsExceedCerts, sealedCerts, totalCerts)
	}
	if totalCerts == 0 {
		return false, nil
	}
	sHi, sLo := bits.Mul64(sealedCerts, 3)
	tHi, tLo := bits.Mul64(totalCerts, 2)
	return sHi > tHi || (sHi == tHi && sLo >= tLo), nil
}
