package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// Limits on the inputs. They bound the work and memory of one call.
const (
	MaxNodes         = 1 << 17 // nodes in one table
	MaxJobs          = 4096    // jobs in one Schedule call
	MaxIDBytes       = 128     // Job.ID and Node.ID
	MaxModelBytes    = 64      // Node.GPUModel and Job.GPUModel
	MaxImageBytes    = 256     // one image digest
	MaxImagesPerNode = 256     // Node.Images
	MaxGPUsPerNode   = 1024    // Node.TotalGPUs
	MaxGPUsPerJob    = 64      // Job.GPUs (as computing/job.MaxGPUs)
	MaxWeight        = 1 << 20 // each score weight in Params
	MaxRTTRef        = time.Minute
	ppm              = 1_000_000 // every score term is in [0, ppm]
)

// Errors returned for a table or a batch that cannot be scheduled at all.
// A single job that cannot be placed is not an error: its Assignment says why.
var (
	// ErrInvalidParams is returned (wrapped, with the reason) by
	// Params.Validate, NewTable and Schedule for weights or limits out of range.
	ErrInvalidParams = errors.New("scheduler: invalid params")
	// ErrInvalidNode is returned (wrapped, with the node ID and the reason)
	// by NewTable for a node that breaks a rule or a limit, or whose ID
	// appears twice.
	ErrInvalidNode = errors.New("scheduler: invalid node")
	// ErrTooManyNodes is returned by NewTable for more than MaxNodes nodes.
	ErrTooManyNodes = errors.New("scheduler: too many nodes")
	// ErrTooManyJobs is returned by Schedule for more than MaxJobs jobs.
	ErrTooManyJobs = errors.New("scheduler: too many jobs")
)

// Job is one open job as the scheduler needs to see it. The jobs module's
// canonical spec is richer; an adapter copies these fields out of it.
type Job struct {
	// ID names the job (opaque; the jobs module's id, e.g. in hex). It must
	// be unique in a batch and feeds the tie-break hash.
	ID string
	// Submitter is the account that pays. A node owned by it is never
	// chosen unless Params.AllowSelfDealing.
	Submitter common.Address
	// GPUs is the number of GPUs wanted, all on one node; 0 exactly when CPUOnly.
	GPUs uint32
	// CPUOnly asks for a node's CPU-only offer (Node.CPUPriceWei).
	CPUOnly bool
	// GPUModel, when set, must equal Node.GPUModel.
	GPUModel string
	// MinMemMiB is the least memory per GPU, in MiB (0: any).
	MinMemMiB uint64
	// ImageDigest is the container image, by digest ("" for none, e.g.
	// the process executor). A node must hold it unless ImagePullable.
	ImageDigest string
	// ImagePullable says a node that lacks the image can still get it (it
	// ships with the job as a tarball input); holding it then only scores.
	ImagePullable bool
	// MaxPriceWei is the price cap: wei per GPU-second, or wei per second
	// for a CPU-only job. Required.
	MaxPriceWei *uint256.Int
}

// Node is one row of the router's live table: a registered compute node
// with the state of its last heartbeat and the router's own measurements.
type Node struct {
	// ID names the node (its libp2p peer ID as a string); unique in a table.
	ID string
	// Owner is the account that registered the node.
	Owner common.Address
	// GPUModel is the model of all the node's GPUs (registry summary).
	GPUModel string
	// MemPerGPUMiB is each GPU's memory in MiB.
	MemPerGPUMiB uint64
	// TotalGPUs and FreeGPUs: inventory and free now (last heartbeat).
	TotalGPUs, FreeGPUs uint32
	// PriceWei is the price in wei per GPU-second; nil: no GPU jobs.
	PriceWei *uint256.Int
	// CPUPriceWei is the CPU-only price in wei per second; nil: no
	// CPU-only jobs.
	CPUPriceWei *uint256.Int
	// Images are the image digests the node holds.
	Images []string
	// QueueLen is the number of jobs waiting at the node.
	QueueLen uint32
	// UtilPct is the GPU utilisation from telemetry, 0…100.
	UtilPct uint32
	// RTT is the router's round-trip time to the node; 0: not measured.
	RTT time.Duration
	// Succeeded, Failed, TimedOut are the on-chain per-provider counters.
	Succeeded, Failed, TimedOut uint64
	// Scored says Score is set: the node's reliability score from the
	// chain (computing/score), 0…1e6. A scored node's reliability term is
	// its score (the counters above are then ignored: the score already
	// weighs them), and below Params.MinScore it takes no job. An unscored
	// node keeps the counter formula and no minimum.
	Scored bool
	Score  uint64
	// StakeWei is the owner's stake behind the node; nil: none.
	StakeWei *uint256.Int
	// LastSeen is the age of the node's last heartbeat, measured by the
	// caller (the scheduler reads no clock).
	LastSeen time.Duration
}

// Params are the weights of the score terms and the limits. The zero value
// is not valid; start from DefaultParams.
type Params struct {
	// Weights of the terms (each term is in [0, 1e6]); see the package doc.
	WCapacity, WRTT, WReliability, WStake, WPrice, WImage uint64
	// MinScore: a scored node (Node.Scored) whose score is below it takes
	// no job (reason LowScore); 0 turns the minimum off. At most 1e6. The
	// score's weight is WReliability: a scored node's reliability term is
	// its score.
	MinScore uint64
	// PriorSucceeded and PriorFailed are the pseudo-counts of the
	// reliability prior: a node with no history scores
	// PriorSucceeded/(PriorSucceeded+PriorFailed). Their sum must be ≥ 1.
	PriorSucceeded, PriorFailed uint64
	// RTTRef is the round-trip time that scores half; unmeasured nodes
	// score half too.
	RTTRef time.Duration
	// StakeRefWei is the stake that scores half. Must be > 0.
	StakeRefWei *uint256.Int
	// MaxQueue: a node with this many queued jobs (its heartbeat's queue plus
	// the assignments of this batch) takes no more (0: no limit).
	MaxQueue uint32
	// MaxLastSeen: a node whose last heartbeat is older is not live.
	MaxLastSeen time.Duration
	// AllowSelfDealing lets a job go to a node its submitter owns. Off by
	// default: that is how wash trades are made.
	AllowSelfDealing bool
}

// DefaultMinScore is the default Params.MinScore: a quarter of the best
// score, half a new node's (computing/score's neutral prior is 500,000; a
// new node whose first challenge fails drops to 144,230).
const DefaultMinScore = 250_000

// DefaultParams are the weights a router starts from: capacity and
// reliability first, then the call path, then price and stake.
func DefaultParams() Params {
	return Params{
		WCapacity:      30,
		WRTT:           20,
		WReliability:   25,
		WStake:         10,
		WPrice:         15,
		WImage:         5,
		MinScore:       DefaultMinScore,
		PriorSucceeded: 4,
		PriorFailed:    1,
		RTTRef:         50 * time.Millisecond,
		StakeRefWei:    new(uint256.Int).Mul(uint256.NewInt(10_000), uint256.NewInt(1e18)), // 10,000 EMC
		MaxQueue:       8,
		MaxLastSeen:    30 * time.Second,
	}
}

// Validate checks the weights and limits.
func (p *Params) Validate() error {
	for _, w := range []uint64{p.WCapacity, p.WRTT, p.WReliability, p.WStake, p.WPrice, p.WImage} {
		if w > MaxWeight {
			return fmt.Errorf("%w: weight %d above %d", ErrInvalidParams, w, MaxWeight)
		}
	}
	if p.PriorSucceeded > 1<<32 || p.PriorFailed > 1<<32 || p.PriorSucceeded+p.PriorFailed == 0 {
		return fmt.Errorf("%w: reliability prior %d/%d (sum ≥ 1, each ≤ 2^32)", ErrInvalidParams, p.PriorSucceeded, p.PriorFailed)
	}
	if p.MinScore > ppm {
		return fmt.Errorf("%w: MinScore %d above %d", ErrInvalidParams, p.MinScore, ppm)
	}
	if p.RTTRef <= 0 || p.RTTRef > MaxRTTRef {
		return fmt.Errorf("%w: RTTRef %v outside (0, %v]", ErrInvalidParams, p.RTTRef, MaxRTTRef)
	}
	if p.StakeRefWei == nil || p.StakeRefWei.IsZero() {
		return fmt.Errorf("%w: StakeRefWei must be > 0", ErrInvalidParams)
	}
	if p.MaxLastSeen <= 0 {
		return fmt.Errorf("%w: MaxLastSeen %v must be > 0", ErrInvalidParams, p.MaxLastSeen)
	}
	return nil
}

// Reason says why a job was not placed. The zero value means it was.
type Reason uint8

// Reasons, in the order the hard constraints are checked. When no node
// fits, a job gets the reason of the node that got furthest through the
// checks, so the message names the last obstacle (e.g. "no free
// capacity" when nodes of the model exist, are live, hold the image and
// are cheap enough, but are busy).
const (
	Placed       Reason = iota
	InvalidJob          // the job breaks a rule (GPUs, cap, sizes) or repeats an ID
	NoModel             // no node offers this model/memory (or CPU-only work)
	NotLive             // fitting nodes exist but none is live (heartbeat too old)
	NoImage             // live fitting nodes lack the image and it is not pullable
	OverPriceCap        // every otherwise fitting node asks more than the cap
	SelfDealing         // only nodes the submitter owns would fit
	NoCapacity          // fitting nodes are busy: not enough free GPUs, or queue full
	// LowScore: fitting live nodes exist but every one scores below
	// Params.MinScore. Its check comes right after liveness (see order);
	// its value comes last so that the other values never change.
	LowScore
	numReasons
)

// order is r's place in the order of the checks: a job that no node fits
// gets the reason of the highest order reached.
func (r Reason) order() int {
	switch {
	case r == LowScore:
		return int(NotLive) + 1
	case r > NotLive && r < LowScore:
		return int(r) + 1
	}
	return int(r)
}

var reasonNames = [numReasons]string{
	Placed:       "placed",
	InvalidJob:   "invalid job",
	NoModel:      "no node of this GPU model or memory",
	NotLive:      "no live node fits",
	NoImage:      "no node holds the image",
	OverPriceCap: "over price cap",
	SelfDealing:  "only the submitter's own nodes fit",
	NoCapacity:   "no free capacity",
	LowScore:     "every fitting node scores below the minimum",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Assignment is the scheduler's answer for one job.
type Assignment struct {
	JobID string
	// NodeID is the chosen node; "" when Reason != Placed.
	NodeID string
	Reason Reason
	// Detail explains an InvalidJob reason ("" otherwise).
	Detail string
	// Score is the chosen node's score (see the package doc).
	Score uint64
}
