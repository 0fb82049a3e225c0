package staking

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "staking"

// MaxPage bounds the length of one stakers() page; larger limits are
// clamped to it.
const MaxPage = 100

// Gas of each method: the worst case under Cancun's EIP-2929/2200 pricing,
// counting every slot touched as cold (2100) and every write as a fresh
// zero-to-non-zero SSTORE (20000) or reset (2900), plus logs (375 + 375 per
// topic + 8 per data byte) and value transfers (9000).
const (
	// StakeGas: a first stake of a new staker: 5 slots read (stake, total,
	// position, length, list element) 10,500 + 5 fresh writes 100,000 +
	// Staked log (2 topics, 64 bytes) 1,637 = 112,137, rounded up.
	StakeGas = 112_200
	// UnstakeGas: a full unstake of a staker that is not last in the list:
	// 7 slots read (stake, total, position, length, own element, last
	// element, last's position) 14,700 + 7 writes 20,300 + transfer 9,000 +
	// Unstaked log 1,637 = 45,637, rounded up.
	UnstakeGas = 45_700
	// ViewGas is stakeOf's and totalStake's cost, and stakers()'s base cost:
	// one cold slot 2,100 + 100 dispatch.
	ViewGas = 2_200
	// StakersGasPerItem is stakers()'s cost per returned entry: the list
	// element and the stake, 2 cold slots.
	StakersGasPerItem = 4_200
)

// Revert reasons of the module's methods.
var (
	// ErrZeroAmount is returned by stake() without value and by unstake(0).
	ErrZeroAmount = errors.New("staking: amount must be positive")
	// ErrBelowMinimum is returned when a stake would end up non-zero but
	// below the minimum stake.
	ErrBelowMinimum = errors.New("staking: stake would be below the minimum stake")
	// ErrInsufficientStake is returned by unstake() for more than the
	// caller's stake.
	ErrInsufficientStake = errors.New("staking: unstake amount exceeds stake")
	// ErrTooManyStakers is returned when a new staker would exceed
	// MaxStakers.
	ErrTooManyStakers = errors.New("staking: staker limit reached")
	// ErrOverflow is returned when a stake would exceed 2^256-1 wei (it
	// cannot with a real supply; checked so no arithmetic ever wraps).
	ErrOverflow = errors.New("staking: stake overflows uint256")
)

// Module is the staking module.
type Module struct {
	params Params
}

var _ native.Module = (*Module)(nil)

// New is the module's native.Factory: it parses params (see [Params]).
func New(params json.RawMessage) (native.Module, error) {
	p, err := ParseParams(params)
	if err != nil {
		return nil, err
	}
	return NewModule(p)
}

// NewModule returns the module with validated params.
func NewModule(p Params) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.MinStakeWei = p.MinStakeWei.Clone()
	return &Module{params: p}, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.StakingAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params {
	p := m.params
	p.MinStakeWei = p.MinStakeWei.Clone()
	return p
}

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "stake", Gas: StakeGas, Mutates: true, Handler: m.stake},
		{Name: "unstake", Gas: UnstakeGas, Mutates: true, Handler: m.unstake},
		{Name: "stakeOf", Gas: ViewGas, Handler: m.stakeOf},
		{Name: "totalStake", Gas: ViewGas, Handler: m.totalStake},
		{Name: "stakers", Gas: ViewGas, InputGas: stakersGas, Handler: m.stakers},
	}
}

// stake adds the call's value (already credited to the module's balance by
// the EVM) to the caller's stake.
func (m *Module) stake(c *native.Call, _ []any) ([]any, error) {
	amountWei := c.Value
	if amountWei.IsZero() {
		return nil, ErrZeroAmount
	}
	oldWei := c.LoadUint(stakeKey(c.Caller))
	newWei, overflow := new(uint256.Int).AddOverflow(oldWei, amountWei)
	if overflow {
		return nil, ErrOverflow
	}
	if newWei.Lt(m.params.MinStakeWei) {
		return nil, fmt.Errorf("%w: %s wei < %s wei", ErrBelowMinimum, newWei, m.params.MinStakeWei)
	}
	totalWei, overflow := new(uint256.Int).AddOverflow(c.LoadUint(native.Slot(slotTotal)), amountWei)
	if overflow {
		return nil, ErrOverflow
	}
	if oldWei.IsZero() {
		if err := m.addStaker(c, c.Caller); err != nil {
			return nil, err
		}
	}
	c.StoreUint(stakeKey(c.Caller), newWei)
	c.StoreUint(native.Slot(slotTotal), totalWei)
	return nil, c.Emit("Staked", c.Caller, amountWei.ToBig(), newWei.ToBig())
}

// unstake removes amount from the caller's stake and pays it out.
func (m *Module) unstake(c *native.Call, args []any) ([]any, error) {
	amountWei, err := toUint(args[0])
	if err != nil {
		return nil, err
	}
	if amountWei.IsZero() {
		return nil, ErrZeroAmount
	}
	oldWei := c.LoadUint(stakeKey(c.Caller))
	if amountWei.Gt(oldWei) {
		return nil, fmt.Errorf("%w: %s wei > %s wei", ErrInsufficientStake, amountWei, oldWei)
	}
	newWei := new(uint256.Int).Sub(oldWei, amountWei) // amount <= old: no underflow
	if !newWei.IsZero() && newWei.Lt(m.params.MinStakeWei) {
		return nil, fmt.Errorf("%w: %s wei left < %s wei", ErrBelowMinimum, newWei, m.params.MinStakeWei)
	}
	totalWei := c.LoadUint(native.Slot(slotTotal))
	if totalWei.Lt(amountWei) {
		panic(fmt.Sprintf("staking: total stake %s below a single stake %s", totalWei, oldWei)) // broken invariant
	}
	totalWei.Sub(totalWei, amountWei)
	c.StoreUint(stakeKey(c.Caller), newWei)
	c.StoreUint(native.Slot(slotTotal), totalWei)
	if newWei.IsZero() {
		m.removeStaker(c, c.Caller)
	}
	if err := c.Pay(c.Caller, amountWei); err != nil {
		return nil, err
	}
	return nil, c.Emit("Unstaked", c.Caller, amountWei.ToBig(), newWei.ToBig())
}

func (m *Module) stakeOf(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: staker is %T", native.ErrBadInput, args[0])
	}
	return []any{StakeOf(c.State, a).ToBig()}, nil
}

func (m *Module) totalStake(c *native.Call, _ []any) ([]any, error) {
	return []any{TotalStake(c.State).ToBig()}, nil
}

func (m *Module) stakers(c *native.Call, args []any) ([]any, error) {
	offset, limit := pageArgs(args)
	page := Stakers(c.State, offset, limit)
	addrs := make([]common.Address, len(page))
	amounts := make([]*big.Int, len(page))
	for i, s := range page {
		addrs[i], amounts[i] = s.Address, s.StakeWei.ToBig()
	}
	return []any{addrs, amounts}, nil
}

// stakersGas is stakers()'s input-dependent gas: StakersGasPerItem per entry
// of the (clamped) limit, the worst case of what the page returns.
func stakersGas(args []any) uint64 {
	_, limit := pageArgs(args)
	return limit * StakersGasPerItem
}

// pageArgs decodes stakers()'s offset and limit, clamping limit to MaxPage
// and offset to 2^64-1 (past any list end).
func pageArgs(args []any) (offset, limit uint64) {
	offset, limit = ^uint64(0), 0
	if len(args) != 2 {
		return offset, limit
	}
	if o, ok := args[0].(*big.Int); ok && o.IsUint64() {
		offset = o.Uint64()
	}
	limit = MaxPage
	if l, ok := args[1].(*big.Int); ok && l.IsUint64() && l.Uint64() < MaxPage {
		limit = l.Uint64()
	}
	return offset, limit
}

// addStaker appends a to the stakers list.
func (m *Module) addStaker(c *native.Call, a common.Address) error {
	n := c.LoadUint(native.Slot(slotStakers)).Uint64()
	if n >= m.params.MaxStakers {
		return fmt.Errorf("%w: %d stakers", ErrTooManyStakers, n)
	}
	c.Store(stakerKey(n), native.AddressKey(a))
	c.StoreUint(positionKey(a), uint256.NewInt(n+1))
	c.StoreUint(native.Slot(slotStakers), uint256.NewInt(n+1))
	return nil
}

// removeStaker deletes a from the stakers list by moving the last element
// into its place.
func (m *Module) removeStaker(c *native.Call, a common.Address) {
	pos := c.LoadUint(positionKey(a)).Uint64()
	n := c.LoadUint(native.Slot(slotStakers)).Uint64()
	if pos == 0 || pos > n {
		panic(fmt.Sprintf("staking: staker %s at position %d of %d", a, pos, n)) // broken invariant
	}
	i, last := pos-1, n-1
	if i != last {
		moved := c.Load(stakerKey(last))
		c.Store(stakerKey(i), moved)
		c.StoreUint(positionKey(common.BytesToAddress(moved[:])), uint256.NewInt(i+1))
	}
	c.Store(stakerKey(last), common.Hash{})
	c.Store(positionKey(a), common.Hash{})
	c.StoreUint(native.Slot(slotStakers), uint256.NewInt(last))
}

// toUint converts a decoded uint256 argument.
func toUint(v any) (*uint256.Int, error) {
	b, ok := v.(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: want uint256, got %T", native.ErrBadInput, v)
	}
	u, overflow := uint256.FromBig(b)
	if overflow || b.Sign() < 0 {
		return nil, fmt.Errorf("%w: %s out of uint256 range", native.ErrBadInput, b)
	}
	return u, nil
}
