package rewards

import (
	"fmt"
	"math/big"
)

// AccScaleDecimals sets the fixed-point scale of Pool.AccPerWeight and of
// the "scaled" amounts (wei × AccScale): AccScale = 10^36. Weights are in
// wei·bps (LockParams.Weight), so the whole supply (10^27 wei) at the
// largest multiplier (1000×, 10^7 bps) weighs 10^34 < AccScale: the dust a
// Distribute leaves is always less than one wei, and with every budget
// summed below the supply all fields stay far inside 256 bits.
const AccScaleDecimals = 36

// AccScale returns 10^AccScaleDecimals.
func AccScale() *big.Int { return accScale() }

func accScale() *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(AccScaleDecimals), nil)
}

// Pool is a staking-reward pool with O(1) "reward per unit of weight"
// accounting (the accumulator of MasterChef and Cosmos F1): Distribute
// raises AccPerWeight by budget/TotalWeight, and a position's reward is its
// weight times the rise of AccPerWeight since it last settled. No operation
// walks the positions.
//
// Rounding. Distribute rounds the rise down and keeps the remainder, in
// scaled units, in DustScaled, which joins the next Distribute; a position
// keeps the sub-wei part of its reward in CreditScaled when it claims. So,
// in scaled units and exactly, after any sequence of operations:
//
//	AccScale·Σ budgets distributed == AccScale·Σ claimed
//	                                  + Σ_positions OwedScaled(position)
//	                                  + DustScaled
//
// Nothing is created and nothing is lost: what is not yet paid is either
// owed to a position or is dust in the pool.
//
// The fields are plain big integers (nil reads as 0) so that the module can
// store a Pool with RLP. Pool and Position never share a *big.Int.
type Pool struct {
	// TotalWeight is the sum of the weights of all positions.
	TotalWeight *big.Int
	// AccPerWeight is the cumulative reward per unit of weight, in wei ×
	// AccScale, each rise rounded down.
	AccPerWeight *big.Int
	// DustScaled is distributed budget (wei × AccScale) not yet credited to
	// any position: the division remainders of Distribute, less than
	// TotalWeight at that time, and the sub-wei credits of positions closed
	// by Claim. It joins the next Distribute.
	DustScaled *big.Int
}

// Position is one account's share of a Pool.
type Position struct {
	// Weight is the position's weight (see LockParams.Weight).
	Weight *big.Int
	// AccSnapshot is the pool's AccPerWeight when the position last settled.
	AccSnapshot *big.Int
	// CreditScaled is reward settled but not yet claimed, in wei × AccScale.
	CreditScaled *big.Int
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{TotalWeight: new(big.Int), AccPerWeight: new(big.Int), DustScaled: new(big.Int)}
}

// NewPosition returns an empty position.
func NewPosition() *Position {
	return &Position{Weight: new(big.Int), AccSnapshot: new(big.Int), CreditScaled: new(big.Int)}
}

// Distribute credits budgetWei to the pool's positions in proportion to
// their weights and returns unpaidWei: the whole budget when the pool has no
// weight (it stays where it came from), else 0. The accumulator rises by
//
//	⌊ (budgetWei·AccScale + DustScaled) / TotalWeight ⌋   (round down)
//
// and the remainder becomes the new DustScaled.
func (p *Pool) Distribute(budgetWei *big.Int) (unpaidWei *big.Int, err error) {
	if budgetWei == nil || budgetWei.Sign() < 0 {
		return nil, fmt.Errorf("%w: budget %v", ErrNegativeAmount, budgetWei)
	}
	p.normalize()
	if p.TotalWeight.Sign() == 0 {
		return new(big.Int).Set(budgetWei), nil
	}
	scaled := new(big.Int).Mul(budgetWei, accScale())
	scaled.Add(scaled, p.DustScaled)
	rise, rem := new(big.Int).QuoRem(scaled, p.TotalWeight, new(big.Int)) // round down
	p.AccPerWeight.Add(p.AccPerWeight, rise)
	p.DustScaled = rem
	return new(big.Int), nil
}

// AddWeight settles pos and adds weight to it.
func (p *Pool) AddWeight(pos *Position, weight *big.Int) error {
	if weight == nil || weight.Sign() < 0 {
		return fmt.Errorf("%w: weight %v", ErrNegativeAmount, weight)
	}
	weight = new(big.Int).Set(weight) // the caller's value may be pos.Weight itself
	if err := p.settle(pos); err != nil {
		return err
	}
	pos.Weight.Add(pos.Weight, weight)
	p.TotalWeight.Add(p.TotalWeight, weight)
	return nil
}

// RemoveWeight settles pos and removes weight from it; the reward earned so
// far stays owed to pos. Removing more than pos holds is
// ErrInsufficientWeight.
func (p *Pool) RemoveWeight(pos *Position, weight *big.Int) error {
	if weight == nil || weight.Sign() < 0 {
		return fmt.Errorf("%w: weight %v", ErrNegativeAmount, weight)
	}
	weight = new(big.Int).Set(weight) // the caller's value may be pos.Weight itself
	pos.normalize()
	if weight.Cmp(pos.Weight) > 0 { // before settle: a failed call changes nothing
		return fmt.Errorf("%w: %v > %v", ErrInsufficientWeight, weight, pos.Weight)
	}
	if err := p.settle(pos); err != nil {
		return err
	}
	pos.Weight.Sub(pos.Weight, weight)
	p.TotalWeight.Sub(p.TotalWeight, weight)
	return nil
}

// Pending returns what Claim would pay pos now, in wei (round down). It
// changes nothing.
func (p *Pool) Pending(pos *Position) (*big.Int, error) {
	owed, err := p.OwedScaled(pos)
	if err != nil {
		return nil, err
	}
	return owed.Quo(owed, accScale()), nil // round down
}

// OwedScaled returns everything the pool owes pos, in wei × AccScale:
// CreditScaled + Weight·(AccPerWeight − AccSnapshot). It changes nothing.
func (p *Pool) OwedScaled(pos *Position) (*big.Int, error) {
	p.normalize()
	pos.normalize()
	if err := p.check(pos); err != nil {
		return nil, err
	}
	owed := new(big.Int).Sub(p.AccPerWeight, pos.AccSnapshot)
	owed.Mul(owed, pos.Weight)
	return owed.Add(owed, pos.CreditScaled), nil
}

// Claim settles pos and returns the whole wei it is owed (round down); the
// sub-wei rest stays in pos.CreditScaled, or, when pos has no weight left,
// moves to the pool's DustScaled so that pos is empty and can be deleted.
func (p *Pool) Claim(pos *Position) (paidWei *big.Int, err error) {
	if err := p.settle(pos); err != nil {
		return nil, err
	}
	paid, rest := new(big.Int).QuoRem(pos.CreditScaled, accScale(), new(big.Int)) // round down
	pos.CreditScaled = rest
	if pos.Weight.Sign() == 0 {
		p.DustScaled.Add(p.DustScaled, rest)
		pos.CreditScaled = new(big.Int)
	}
	return paid, nil
}

// IsEmpty reports whether pos holds no weight and no credit, so the module
// can delete it.
func (pos *Position) IsEmpty() bool {
	return sign(pos.Weight) == 0 && sign(pos.CreditScaled) == 0
}

// settle moves pos's reward since its snapshot into CreditScaled.
func (p *Pool) settle(pos *Position) error {
	owed, err := p.OwedScaled(pos)
	if err != nil {
		return err
	}
	pos.CreditScaled = owed
	pos.AccSnapshot = new(big.Int).Set(p.AccPerWeight)
	return nil
}

// check refuses a position that cannot belong to p (ErrForeignPosition)
// and negative fields (ErrNegativeAmount), which RLP cannot produce but a
// caller can.
func (p *Pool) check(pos *Position) error {
	for _, v := range []*big.Int{p.TotalWeight, p.AccPerWeight, p.DustScaled, pos.Weight, pos.AccSnapshot, pos.CreditScaled} {
		if v.Sign() < 0 {
			return fmt.Errorf("%w: negative field in pool or position", ErrNegativeAmount)
		}
	}
	if pos.AccSnapshot.Cmp(p.AccPerWeight) > 0 || pos.Weight.Cmp(p.TotalWeight) > 0 {
		return ErrForeignPosition
	}
	return nil
}

// normalize replaces nil fields (a zero after RLP decoding or a literal
// Pool{}) by zeros.
func (p *Pool) normalize() {
	zero(&p.TotalWeight)
	zero(&p.AccPerWeight)
	zero(&p.DustScaled)
}

func (pos *Position) normalize() {
	zero(&pos.Weight)
	zero(&pos.AccSnapshot)
	zero(&pos.CreditScaled)
}

func zero(v **big.Int) {
	if *v == nil {
		*v = new(big.Int)
	}
}

func sign(v *big.Int) int {
	if v == nil {
		return 0
	}
	return v.Sign()
}
