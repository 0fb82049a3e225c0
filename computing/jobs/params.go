package jobs

import (
	"encoding/json"
	"fmt"

	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "jobs" entry of the
// genesis params section:
//
//	"jobs": {"offerDelayBlocks": 2, "offerWindowBlocks": 5, "assignBlocks": 150,
//	         "acceptBlocks": 10, "resultGraceSeconds": 60, "disputeBlocks": 10,
//	         "livenessBlocks": 900}
//
// Absent fields take defaults. Unknown fields are an error.
type Params struct {
	// OfferDelayBlocks: a job submitted in block s is offered with the
	// hash of block s+OfferDelayBlocks as its seed (drawn in block
	// s+OfferDelayBlocks+1, whose parent that is). At least 1, so the
	// submitter cannot see the seed when submitting.
	OfferDelayBlocks uint64
	// OfferWindowBlocks: the drawn router alone may assign from the draw
	// block d through d+OfferWindowBlocks; any active router after.
	OfferWindowBlocks uint64
	// AssignBlocks: a drawn (or reopened) job that no router assigns
	// through block draw + AssignBlocks expires, refunded: nothing on the
	// chain fits it.
	AssignBlocks uint64
	// AcceptBlocks: the assigned node accepts in the blocks through
	// assignment block + AcceptBlocks.
	AcceptBlocks uint64
	// ResultGraceSeconds is added to the spec's timeout for the result
	// deadline (block time): pulling the image, starting, submitting.
	ResultGraceSeconds uint64
	// DisputeBlocks: a job with a result settles in the block
	// DisputeBlocks after the result's block (by a settle call, or by the
	// module at that block's end).
	DisputeBlocks uint64
	// LivenessBlocks: assign refuses a node whose last on-chain update
	// (registerNode, updateNode or ping in the registry) is more than
	// LivenessBlocks before the assignment's block. Nodes ping well
	// inside it (the node's registrar, every LivenessBlocks/3 blocks).
	LivenessBlocks uint64
}

// Defaults.
const (
	DefaultOfferDelayBlocks   = 2
	DefaultOfferWindowBlocks  = 5
	DefaultAssignBlocks       = 150
	DefaultAcceptBlocks       = 10
	DefaultResultGraceSeconds = 60
	DefaultDisputeBlocks      = 10
	DefaultLivenessBlocks     = 900 // 30 minutes at 2 s blocks
	// maxParamBlocks bounds every block-count param (about 12 days at 1
	// block a second), so deadline sums never overflow.
	maxParamBlocks = 1_000_000
)

// DefaultParams returns the defaults.
func DefaultParams() Params {
	return Params{
		OfferDelayBlocks:   DefaultOfferDelayBlocks,
		OfferWindowBlocks:  DefaultOfferWindowBlocks,
		AssignBlocks:       DefaultAssignBlocks,
		AcceptBlocks:       DefaultAcceptBlocks,
		ResultGraceSeconds: DefaultResultGraceSeconds,
		DisputeBlocks:      DefaultDisputeBlocks,
		LivenessBlocks:     DefaultLivenessBlocks,
	}
}

type paramsJSON struct {
	OfferDelayBlocks   *uint64 `json:"offerDelayBlocks"`
	OfferWindowBlocks  *uint64 `json:"offerWindowBlocks"`
	AssignBlocks       *uint64 `json:"assignBlocks"`
	AcceptBlocks       *uint64 `json:"acceptBlocks"`
	ResultGraceSeconds *uint64 `json:"resultGraceSeconds"`
	DisputeBlocks      *uint64 `json:"disputeBlocks"`
	LivenessBlocks     *uint64 `json:"livenessBlocks"`
}

// ParseParams decodes and validates raw (nil or JSON null means all
// defaults). Errors wrap native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	p := DefaultParams()
	var j paramsJSON
	present, err := native.DecodeParams(raw, "jobs", &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, nil
	}
	for _, x := range []struct {
		src *uint64
		dst *uint64
	}{
		{j.OfferDelayBlocks, &p.OfferDelayBlocks}, {j.OfferWindowBlocks, &p.OfferWindowBlocks}, {j.AssignBlocks, &p.AssignBlocks},
		{j.AcceptBlocks, &p.AcceptBlocks}, {j.ResultGraceSeconds, &p.ResultGraceSeconds},
		{j.DisputeBlocks, &p.DisputeBlocks}, {j.LivenessBlocks, &p.LivenessBlocks},
	} {
		if x.src != nil {
			*x.dst = *x.src
		}
	}
	return p, p.Validate()
}

// Validate checks p.
func (p Params) Validate() error {
	for _, x := range []struct {
		name string
		v    uint64
	}{
		{"offerDelayBlocks", p.OfferDelayBlocks}, {"offerWindowBlocks", p.OfferWindowBlocks}, {"assignBlocks", p.AssignBlocks},
		{"acceptBlocks", p.AcceptBlocks}, {"resultGraceSeconds", p.ResultGraceSeconds},
		{"disputeBlocks", p.DisputeBlocks}, {"livenessBlocks", p.LivenessBlocks},
	} {
		if x.v == 0 || x.v > maxParamBlocks {
			return fmt.Errorf("%w: jobs: %s %d (1 to %d)", native.ErrBadParams, x.name, x.v, maxParamBlocks)
		}
	}
	return nil
}
