package operator

import (
	"context"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

var (
	// ErrNotFound is what a ChainBackend wraps for an unknown job. Clients
	// see NOT_FOUND.
	ErrNotFound = errors.New("operator: not found")
	// ErrInvalidArgument is what a ChainBackend wraps for a request it
	// cannot answer as asked (an unknown job state). Clients see
	// INVALID_ARGUMENT.
	ErrInvalidArgument = errors.New("operator: invalid argument")
)

// ChainBackend is what the TxPoolService, ConsensusService, StakingService
// and JobsService need from a node: reads of its pool and of the chain's
// head state. Its methods follow Backend's rules (safe for concurrent use,
// bounded by ctx). Each state read must open the head state for itself:
// go-ethereum's StateDB is not safe for concurrent use.
type ChainBackend interface {
	// TxPool returns the pool's counts and its transactions, pending
	// first; only from's when from is not nil.
	TxPool(ctx context.Context, from *common.Address) (TxPool, error)
	// Validators returns the current set and the validator-role
	// candidates, read at the head.
	Validators(ctx context.Context) (ValidatorSet, error)
	// Position returns owner's staking position at the head.
	Position(ctx context.Context, owner common.Address) (Position, error)
	// Job returns job id at the head, or an error wrapping ErrNotFound.
	Job(ctx context.Context, id uint64) (Job, error)
	// Jobs returns one page of jobs at the head.
	Jobs(ctx context.Context, q JobsQuery) (JobsPage, error)
}

// TxPool is the transaction pool's content.
type TxPool struct {
	Pending, Queued int
	// Txs holds pending transactions first, then queued, each group by
	// sender then nonce.
	Txs []PoolTx
}

// PoolTx is one pooled transaction.
type PoolTx struct {
	Hash common.Hash
	From common.Address
	// To is nil for a contract creation.
	To                    *common.Address
	Nonce, Gas            uint64
	Value, FeeCap, TipCap *big.Int
	Pending               bool
}

// ValidatorSet is the consensus view with stakes.
type ValidatorSet struct {
	// Number is the head block read.
	Number, Epoch, EpochLength uint64
	// Height and Round are the consensus position (Height = Number+1 on a
	// node that does not run consensus).
	Height, Round uint64
	Proposer      common.Address
	Validators    []ValidatorInfo
	Candidates    []Candidate
}

// ValidatorInfo is one member of the set.
type ValidatorInfo struct {
	Address common.Address
	// Owner is the staking position's owner; nil when the validator has
	// none.
	Owner    *common.Address
	StakeWei *big.Int
	Jailed   bool
}

// Candidate is a validator-role staking position.
type Candidate struct {
	Owner, Signer common.Address
	// StakeWei is the stake effective from the next epoch.
	StakeWei *big.Int
	InSet    bool
}

// Position is a staking position.
type Position struct {
	Number uint64
	Owner  common.Address
	// Role is "validator", "router", "compute" or "" (no position).
	Role                     string
	AmountWei, PrevAmountWei *big.Int
	EffectiveFrom            uint64
	Lock                     string
	UnlockEpoch              uint64
	Signer                   common.Address
	Jailed                   bool
	Unbonding                []UnbondingEntry
	ClaimableWei             *big.Int
}

// UnbondingEntry is stake paid out by withdraw() from ReleaseEpoch on.
type UnbondingEntry struct {
	AmountWei    *big.Int
	ReleaseEpoch uint64
}

// Job is a compute job as the operator API shows it.
type Job struct {
	ID                    uint64
	State                 string
	Submitter             common.Address
	Image                 common.Hash
	GPUs                  uint32
	GPUModel              string
	Router, Node          common.Address
	EscrowKind            string
	EscrowWei, PriceWei   *big.Int
	SubmitBlock, EndBlock uint64
	GPUMillis             uint64
	Exit                  int32
	CostWei, RefundWei    *big.Int
	ResultHash            common.Hash
	Attempts              uint32
}

// JobsQuery selects a page of jobs: one submitter's when Owner is set,
// else all by id; State ("" for any) filters the page.
type JobsQuery struct {
	Owner         *common.Address
	State         string
	Offset, Limit uint64
}

// JobsPage is one page of jobs read at block Number.
type JobsPage struct {
	Number, Total, NextOffset uint64
	Jobs                      []Job
}
