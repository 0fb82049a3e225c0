package rewards

import "errors"

var (
	// ErrBadParams is returned (wrapped) by the Validate methods and the
	// constructors when a parameter is out of range.
	ErrBadParams = errors.New("rewards: bad params")
	// ErrNegativeAmount is returned when an amount, stake or weight argument
	// is nil or negative.
	ErrNegativeAmount = errors.New("rewards: negative or missing amount")
	// ErrPaidExceedsPool is returned by Schedule.EpochEmission when the
	// amount already paid is larger than the pool.
	ErrPaidExceedsPool = errors.New("rewards: paid more than the pool holds")
	// ErrSealsExceedCerts is returned by ValidatorEarnsCredits when a
	// validator is said to have sealed more certificates than the epoch has.
	ErrSealsExceedCerts = errors.New("rewards: more seals than certificates")
	// ErrDuplicateNode is returned by DistributeNodeRewards when one address
	// appears twice in its input.
	ErrDuplicateNode = errors.New("rewards: duplicate node")
	// ErrTooManyNodes is returned by DistributeNodeRewards for more than
	// MaxNodes nodes.
	ErrTooManyNodes = errors.New("rewards: too many nodes")
	// ErrUnknownLock is returned for a lock outside LockNone … Lock180Days.
	ErrUnknownLock = errors.New("rewards: unknown lock")
	// ErrInsufficientWeight is returned by Pool.RemoveWeight when more weight
	// is removed than the position holds.
	ErrInsufficientWeight = errors.New("rewards: removing more weight than the position holds")
	// ErrForeignPosition is returned when a position cannot belong to the
	// pool it is used with: its snapshot is ahead of the pool's accumulator,
	// or its weight is more than the pool's total weight.
	ErrForeignPosition = errors.New("rewards: position does not belong to this pool")
)
