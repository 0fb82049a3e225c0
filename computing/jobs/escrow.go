package jobs

import (
	"fmt"

	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
)

// Escrow kinds, getJob's escrowKind.
const (
	// EscrowKindEMC: the job's escrow is the EMC sent with submitJob.
	EscrowKindEMC uint8 = 0
	// EscrowKindCredits: the job's escrow is Credits locked by
	// submitJobCredits, held by the credits module as this module's
	// balance.
	EscrowKindCredits uint8 = 1
)

// CreditsCost returns what a result of usageMillis at priceWei per second
// costs a job escrowed in Credits, and that cost in wei: the EMC cost
// (usageMillis × priceWei / 1000, rounded down, capped by the escrow's
// worth escrowCredits × creditPriceWei) converted to whole Credits rounded
// up, so the provider is never paid below its price; the result never
// exceeds escrowCredits.
func CreditsCost(usageMillis uint64, priceWei, escrowCredits, creditPriceWei *uint256.Int) (costCredits *uint256.Int) {
	worth, overflow := new(uint256.Int).MulOverflow(escrowCredits, creditPriceWei)
	if overflow {
		worth.SetAllOne() // beyond any supply: the escrow bounds nothing
	}
	costWei := Cost(usageMillis, priceWei, worth)
	costCredits, rem := new(uint256.Int).DivMod(costWei, creditPriceWei, new(uint256.Int))
	if !rem.IsZero() {
		costCredits.AddUint64(costCredits, 1) // rounded up
	}
	if costCredits.Gt(escrowCredits) { // only when worth overflowed
		return escrowCredits.Clone()
	}
	return costCredits
}

// lockCredits takes credits from the caller into the job's escrow (held by
// the credits module as this module's balance) and adds them to the
// Credits escrow total.
func (m *Module) lockCredits(c *native.Call, n *uint256.Int) error {
	if m.credits == nil {
		return ErrNoCredits
	}
	total, overflow := new(uint256.Int).AddOverflow(CreditsEscrowTotal(c.State), n)
	if overflow {
		return fmt.Errorf("%w: credits escrow total overflows", native.ErrInternal)
	}
	if err := m.credits.Lock(c, c.Caller, n); err != nil {
		return err
	}
	c.StoreUint(native.Slot(slotCreditsEsc), total)
	return nil
}

// payCost pays out the cost of j's result, by the kind of its escrow, and
// sets j's cost, burn and refund fields (the refund is paid by release).
// EMC: cost = Cost(usage, price, escrow); ProviderShareBps of it to the
// node's owner (down), the rest burned (BurnRent); escrow − cost refunded.
// Credits: cost = CreditsCost(...) Credits, spent through the credits
// module's Spend from the escrow (its provider share to the node's owner,
// the rest burned, as Spend does for every module); the rest of the
// Credits returned.
func (m *Module) payCost(c *native.Call, j *Job) error {
	if !j.InCredits() {
		cost := Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
		provider, burn := Split(cost)
		if !provider.IsZero() {
			if err := c.Pay(j.Node, provider); err != nil {
				return err
			}
		}
		if !burn.IsZero() {
			if err := c.Burn(native.BurnRent, burn); err != nil {
				return err
			}
		}
		j.CostWei, j.BurnedWei = cost, burn
		j.RefundWei = new(uint256.Int).Sub(j.EscrowWei, cost)
		return nil
	}
	if m.credits == nil {
		return fmt.Errorf("%w: job %d escrowed in Credits on a chain without them", native.ErrInternal, j.ID)
	}
	cost := CreditsCost(j.GPUMillis, j.PriceWei, j.EscrowCredits, m.credits.CreditPriceWei())
	j.CostWei, j.BurnedWei = new(uint256.Int), new(uint256.Int)
	if !cost.IsZero() {
		spent, err := m.credits.Spend(c, native.JobsAddress, j.Node, cost)
		if err != nil {
			return fmt.Errorf("%w: job %d: %w", native.ErrInternal, j.ID, err)
		}
		j.CostWei, j.BurnedWei = spent.AmountWei, spent.BurnedWei
	}
	j.CostCredits = cost
	j.RefundCredits = new(uint256.Int).Sub(j.EscrowCredits, cost)
	j.RefundWei = new(uint256.Int)
	return nil
}

// refundAll sets j's refund to its whole escrow (cancel, expiry).
func refundAll(j *Job) {
	j.fill()
	j.RefundWei, j.RefundCredits = j.EscrowWei.Clone(), j.EscrowCredits.Clone()
}

// release returns j's refund (RefundWei in EMC, RefundCredits in Credits)
// to the submitter and takes j's escrow out of the totals.
func (m *Module) release(c *native.Call, j *Job) error {
	j.fill()
	if !j.RefundWei.IsZero() {
		if err := c.Pay(j.Submitter, j.RefundWei); err != nil {
			return err
		}
	}
	total := EscrowTotal(c.State)
	if total.Lt(j.EscrowWei) {
		return fmt.Errorf("%w: escrow total %s below job %d's escrow %s", native.ErrInternal, total, j.ID, j.EscrowWei)
	}
	c.StoreUint(native.Slot(slotEscrowTotal), total.Sub(total, j.EscrowWei))
	if !j.InCredits() {
		return nil
	}
	if m.credits == nil {
		return fmt.Errorf("%w: job %d escrowed in Credits on a chain without them", native.ErrInternal, j.ID)
	}
	if !j.RefundCredits.IsZero() {
		if err := m.credits.Release(c, j.Submitter, j.RefundCredits); err != nil {
			return fmt.Errorf("%w: job %d: %w", native.ErrInternal, j.ID, err)
		}
	}
	ctotal := CreditsEscrowTotal(c.State)
	if ctotal.Lt(j.EscrowCredits) {
		return fmt.Errorf("%w: credits escrow total %s below job %d's %s", native.ErrInternal, ctotal, j.ID, j.EscrowCredits)
	}
	c.StoreUint(native.Slot(slotCreditsEsc), ctotal.Sub(ctotal, j.EscrowCredits))
	return nil
}

// creditsGas is what a Credits job adds to a method that may settle or
// refund it: the Spend, the Release and the Credits escrow total.
const creditsGas = credits.SpendGas + credits.ReleaseGas + 22_100
