package apps

import (
	"fmt"
	"math/big"

	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// SplitCharge divides a charge in wei: royalty = charge × royaltyBps /
// 10,000 rounded down, to the app's publisher; of the rest, node = rest ×
// ProviderShareBps / 10,000 rounded down, to the node's owner; burn = the
// rest − node (so the three add up to charge exactly, the rounding
// remainders burned).
func SplitCharge(charge *uint256.Int, royaltyBps uint16) (royalty, node, burn *uint256.Int) {
	royalty, _ = new(uint256.Int).MulDivOverflow(charge, uint256.NewInt(uint64(royaltyBps)), uint256.NewInt(10_000))
	rest := new(uint256.Int).Sub(charge, royalty)
	node, _ = new(uint256.Int).MulDivOverflow(rest, uint256.NewInt(ProviderShareBps), uint256.NewInt(10_000))
	return royalty, node, new(uint256.Int).Sub(rest, node)
}

// CreditsDue is the Credits a cumulative charge of chargeWei costs an
// instance escrowed with escrowCredits at creditPriceWei: chargeWei ÷
// price rounded UP (the node is never paid below the prices), at most
// escrowCredits.
func CreditsDue(chargeWei, escrowCredits, creditPriceWei *uint256.Int) *uint256.Int {
	q, r := new(uint256.Int).DivMod(chargeWei, creditPriceWei, new(uint256.Int))
	if !r.IsZero() {
		q.AddUint64(q, 1)
	}
	if q.Gt(escrowCredits) {
		return escrowCredits.Clone()
	}
	return q
}

// settle applies a signed cumulative receipt: it checks it (see
// SignedReceipt.Verify, plus sequence, monotone counters and the GPU-time
// cap) and pays the charge since the last settled receipt, capped by the
// escrow.
func (m *Module) settle(c *native.Call, args []any) ([]any, error) {
	in, err := m.instArg(c, args)
	if err != nil {
		return nil, err
	}
	raw, ok := args[1].([]byte)
	if !ok {
		return nil, fmt.Errorf("%w: receipt is %T", native.ErrBadInput, args[1])
	}
	if in.State != StateRunning && in.State != StateEnding {
		return nil, fmt.Errorf("%w: instance %d is %s, settle needs running or ending", ErrWrongState, in.ID, in.State)
	}
	if c.ChainID == nil || c.ChainID.IsZero() || !c.ChainID.IsUint64() {
		return nil, ErrNoChainID
	}
	rc, err := DecodeSignedReceipt(raw)
	if err != nil {
		return nil, err
	}
	app, found, err := AppOf(c.State, in.App)
	if err != nil || !found {
		return nil, fmt.Errorf("%w: app %d of instance %d: %v", native.ErrInternal, in.App, in.ID, err)
	}
	if err := rc.Verify(c.ChainID.Uint64(), in.ID, in.Node, in.Router, app.PricePerCallWei, app.PricePerGPUSecondWei); err != nil {
		return nil, err
	}
	if epoch := rc.Seq >> EpochShift; epoch != uint64(in.Restarts) {
		return nil, fmt.Errorf("%w: receipt of placement epoch %d, the instance is in epoch %d", ErrStaleReceipt, epoch, in.Restarts)
	}
	if rc.Seq <= in.Seq || rc.Calls < in.Calls || rc.GPUMillis < in.GPUMillis {
		return nil, fmt.Errorf("%w: sequence %d (settled %d), calls %d (%d), GPU-ms %d (%d)",
			ErrStaleReceipt, rc.Seq, in.Seq, rc.Calls, in.Calls, rc.GPUMillis, in.GPUMillis)
	}
	if limit := m.usageCap(&in, c.Time); rc.GPUMillis > limit {
		return nil, fmt.Errorf("%w: %d GPU-ms, at most %d so far", ErrUsage, rc.GPUMillis, limit)
	}
	royalty, node, burn, spent, err := m.pay(c, &in, &app, &rc.ChargeWei)
	if err != nil {
		return nil, err
	}
	in.Seq, in.Calls, in.GPUMillis, in.CallsHash = rc.Seq, rc.Calls, rc.GPUMillis, rc.CallsHash
	if err := saveInstance(c, &in); err != nil {
		return nil, err
	}
	return nil, c.Emit("InstanceSettled", new(big.Int).SetUint64(in.ID), in.Node, rc.Seq, rc.Calls, rc.GPUMillis,
		node.ToBig(), royalty.ToBig(), burn.ToBig(), spent.ToBig())
}

// usageCap is the most GPU-milliseconds the instance can have used by a
// block of time now: max(GPUs, 1) × (min(now + 1, EndTime) − ReadyTime) ×
// 1000. Block times are whole seconds, rounded down: a settlement signed
// at 12.9 s lands in a block of time 12 at the earliest, and the calls it
// meters ran from the ready block on (no earlier: the router routes none
// before it), so an honest node's usage is below now + 1 − ReadyTime. The
// lease's end is exact (the node stops the app at it), so it is not
// widened. The cumulative cap at the lease's end is unchanged: the extra
// second only lets a settlement come before the block clock catches up.
func (m *Module) usageCap(in *Instance, now uint64) uint64 {
	end := min(now+1, in.EndTime)
	if end <= in.ReadyTime {
		return 0
	}
	return (end - in.ReadyTime) * 1000 * max(uint64(in.GPUs), 1) // ≤ 366 days × 1024 GPUs: no overflow
}

// pay pays the part of the cumulative charge not yet paid, capped by the
// escrow, and records it on in. EMC: delta = min(charge, escrow) −
// charged so far, split by SplitCharge (royalty to the publisher, node's
// share to the node's owner, the rest burned as native.BurnRent). Credits:
// delta = CreditsDue(charge) − Credits spent so far; royalty Credits =
// delta × royaltyBps / 10,000 rounded down, spent through the credits
// module with the publisher as provider, the rest spent with the node's
// owner as provider; the credits module's Spend pays its provider share
// of each and burns the rest (so in Credits the royalty is burned at the
// credits module's rate too).
func (m *Module) pay(c *native.Call, in *Instance, app *App, charge *uint256.Int) (royalty, node, burn, spentCredits *uint256.Int, err error) {
	royalty, node, burn, spentCredits = new(uint256.Int), new(uint256.Int), new(uint256.Int), new(uint256.Int)
	if !in.InCredits() {
		capped := charge
		if capped.Gt(in.EscrowWei) {
			capped = in.EscrowWei
		}
		if !capped.Gt(in.ChargedWei) {
			return royalty, node, burn, spentCredits, nil
		}
		delta := new(uint256.Int).Sub(capped, in.ChargedWei)
		royalty, node, burn = SplitCharge(delta, app.RoyaltyBps)
		if !royalty.IsZero() {
			if err := c.Pay(app.Publisher, royalty); err != nil {
				return nil, nil, nil, nil, err
			}
		}
		if !node.IsZero() {
			if err := c.Pay(in.Node, node); err != nil {
				return nil, nil, nil, nil, err
			}
		}
		if !burn.IsZero() {
			if err := c.Burn(native.BurnRent, burn); err != nil {
				return nil, nil, nil, nil, err
			}
		}
		if err := subTotal(c, slotEscrow, delta); err != nil {
			return nil, nil, nil, nil, err
		}
		in.ChargedWei = capped.Clone()
		in.RoyaltyWei.Add(in.RoyaltyWei, royalty)
		in.NodeWei.Add(in.NodeWei, node)
		in.BurnedWei.Add(in.BurnedWei, burn)
		return royalty, node, burn, spentCredits, nil
	}
	if m.credits == nil {
		return nil, nil, nil, nil, fmt.Errorf("%w: instance %d escrowed in Credits on a chain without them", native.ErrInternal, in.ID)
	}
	due := CreditsDue(charge, in.EscrowCredits, m.credits.CreditPriceWei())
	if !due.Gt(in.ChargedCredits) {
		return royalty, node, burn, spentCredits, nil
	}
	delta := new(uint256.Int).Sub(due, in.ChargedCredits)
	royaltyCredits, _ := new(uint256.Int).MulDivOverflow(delta, uint256.NewInt(uint64(app.RoyaltyBps)), uint256.NewInt(10_000))
	nodeCredits := new(uint256.Int).Sub(delta, royaltyCredits)
	for _, part := range []struct {
		n       *uint256.Int
		royalty bool
	}{{royaltyCredits, true}, {nodeCredits, false}} {
		if part.n.IsZero() {
			continue
		}
		to := in.Node
		if part.royalty {
			to = app.Publisher
		}
		s, err := m.credits.Spend(c, native.AppsAddress, to, part.n)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%w: instance %d: %w", native.ErrInternal, in.ID, err)
		}
		if part.royalty {
			royalty.Add(royalty, s.ProviderWei)
		} else {
			node.Add(node, s.ProviderWei)
		}
		burn.Add(burn, s.BurnedWei)
		in.ChargedWei.Add(in.ChargedWei, s.AmountWei)
	}
	if err := subTotal(c, slotCreditsEsc, delta); err != nil {
		return nil, nil, nil, nil, err
	}
	in.ChargedCredits = due
	in.RoyaltyWei.Add(in.RoyaltyWei, royalty)
	in.NodeWei.Add(in.NodeWei, node)
	in.BurnedWei.Add(in.BurnedWei, burn)
	return royalty, node, burn, delta, nil
}
