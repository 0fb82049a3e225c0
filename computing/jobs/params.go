package jobs

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common/math"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Params are the module's genesis parameters, the "jobs" entry of the
// genesis params section:
//
//	"jobs": {"offerDelayBlocks": 2, "offerWindowBlocks": 5, "assignBlocks": 150,
//	         "acceptBlocks": 10, "resultGraceSeconds": 60, "disputeBlocks": 10,
//	         "livenessBlocks": 900, "sampleBps": 500, "newNodeSampleBps": 5000,
//	         "newNodeJobs": 20, "disputeBondWei": "1000000000000000000",
//	         "computeSlashBps": 1000, "jailBlocks": 43200, "disputeTieBreak": false}
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
	// SampleBps is the chance, in basis points (0 to 10,000), that the
	// result of a deterministic job is re-executed (reexec.go);
	// NewNodeSampleBps the chance for a node with fewer than NewNodeJobs
	// settled jobs (succeeded + failed).
	SampleBps        uint64
	NewNodeSampleBps uint64
	NewNodeJobs      uint64
	// DisputeBondWei is the least bond a dispute carries (positive).
	DisputeBondWei *uint256.Int
	// ComputeSlashBps is the part of a node's compute stake (and of its
	// unbonding entries), in basis points (1 to 10,000), that a node in
	// the minority of a re-execution loses; it is then jailed (no
	// assignment, no re-execution draw) for JailBlocks blocks.
	ComputeSlashBps uint64
	JailBlocks      uint64
	// DisputeTieBreak (off by default) settles a tie in a tiny network
	// against the provider: a dispute whose one re-execution answer
	// contradicts the provider, when the draw looked at every registered
	// node (a registry of at most MaxReexecProbes nodes) and found no
	// other, fails the provider (slashed and jailed). A trust trade-off:
	// on, a dispute in a two-node network is decided by the one other
	// node, so a submitter and one lying node can get an honest provider
	// slashed. Off, that dispute is unresolved (VerifyUnresolved: nobody
	// slashed, the job refunded), as any disagreement without a quorum.
	// Larger registries never apply it.
	DisputeTieBreak bool
}

// Defaults.
const (
	DefaultOfferDelayBlocks   = 2
	DefaultOfferWindowBlocks  = 5
	DefaultAssignBlocks       = 150
	DefaultAcceptBlocks       = 10
	DefaultResultGraceSeconds = 60
	DefaultDisputeBlocks      = 10
	DefaultLivenessBlocks     = 900   // 30 minutes at 2 s blocks
	DefaultSampleBps          = 500   // 5 %
	DefaultNewNodeSampleBps   = 5_000 // 50 %
	DefaultNewNodeJobs        = 20
	DefaultComputeSlashBps    = 1_000  // 10 %
	DefaultJailBlocks         = 43_200 // a day at 2 s blocks
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
		SampleBps:          DefaultSampleBps,
		NewNodeSampleBps:   DefaultNewNodeSampleBps,
		NewNodeJobs:        DefaultNewNodeJobs,
		DisputeBondWei:     DefaultDisputeBondWei(),
		ComputeSlashBps:    DefaultComputeSlashBps,
		JailBlocks:         DefaultJailBlocks,
	}
}

// DefaultDisputeBondWei is the default dispute bond: 1 EMC.
func DefaultDisputeBondWei() *uint256.Int { return uint256.NewInt(1_000_000_000_000_000_000) }

type paramsJSON struct {
	OfferDelayBlocks   *uint64               `json:"offerDelayBlocks"`
	OfferWindowBlocks  *uint64               `json:"offerWindowBlocks"`
	AssignBlocks       *uint64               `json:"assignBlocks"`
	AcceptBlocks       *uint64               `json:"acceptBlocks"`
	ResultGraceSeconds *uint64               `json:"resultGraceSeconds"`
	DisputeBlocks      *uint64               `json:"disputeBlocks"`
	LivenessBlocks     *uint64               `json:"livenessBlocks"`
	SampleBps          *uint64               `json:"sampleBps"`
	NewNodeSampleBps   *uint64               `json:"newNodeSampleBps"`
	NewNodeJobs        *uint64               `json:"newNodeJobs"`
	DisputeBondWei     *math.HexOrDecimal256 `json:"disputeBondWei"`
	ComputeSlashBps    *uint64               `json:"computeSlashBps"`
	JailBlocks         *uint64               `json:"jailBlocks"`
	DisputeTieBreak    *bool                 `json:"disputeTieBreak"`
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
		{j.SampleBps, &p.SampleBps}, {j.NewNodeSampleBps, &p.NewNodeSampleBps}, {j.NewNodeJobs, &p.NewNodeJobs},
		{j.ComputeSlashBps, &p.ComputeSlashBps}, {j.JailBlocks, &p.JailBlocks},
	} {
		if x.src != nil {
			*x.dst = *x.src
		}
	}
	if j.DisputeBondWei != nil {
		b := (*big.Int)(j.DisputeBondWei)
		v, overflow := uint256.FromBig(b)
		if overflow || b.Sign() < 0 {
			return Params{}, fmt.Errorf("%w: jobs: disputeBondWei %s out of range", native.ErrBadParams, b)
		}
		p.DisputeBondWei = v
	}
	if j.DisputeTieBreak != nil {
		p.DisputeTieBreak = *j.DisputeTieBreak
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
	for _, x := range []struct {
		name   string
		v, min uint64
	}{{"sampleBps", p.SampleBps, 0}, {"newNodeSampleBps", p.NewNodeSampleBps, 0}, {"computeSlashBps", p.ComputeSlashBps, 1}} {
		if x.v < x.min || x.v > bpsDenominator {
			return fmt.Errorf("%w: jobs: %s %d (%d to %d)", native.ErrBadParams, x.name, x.v, x.min, bpsDenominator)
		}
	}
	switch {
	case p.JailBlocks == 0 || p.JailBlocks > maxParamBlocks:
		return fmt.Errorf("%w: jobs: jailBlocks %d (1 to %d)", native.ErrBadParams, p.JailBlocks, maxParamBlocks)
	case p.NewNodeJobs > maxParamBlocks:
		return fmt.Errorf("%w: jobs: newNodeJobs %d (at most %d)", native.ErrBadParams, p.NewNodeJobs, maxParamBlocks)
	case p.DisputeBondWei == nil || p.DisputeBondWei.IsZero():
		return fmt.Errorf("%w: jobs: disputeBondWei must be positive", native.ErrBadParams)
	}
	return nil
}
