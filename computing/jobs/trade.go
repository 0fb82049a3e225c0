package jobs

import (
	"fmt"

	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// The market's rewards: what the jobs module tells the rewards module
// (staking/rewards, trade.go) when a job moves on.
//
//   - accept: the job's router earns its router credits, once per reward
//     epoch in which at least one of its assignments was accepted
//     (rewards.Module.RouterAccepted).
//   - settlement of a job that completed (exit 0), whose result stood
//     (a job re-executed or disputed settles from completed when its
//     result passed or the re-execution was inconclusive; an overturned
//     one is refunded and never settles), between a submitter and a node owned by another
//     account: the node's owner earns its compute credits (capped per
//     epoch) and both sides the trade reward of the fee burned for the job
//     (rewards.Module.RewardTrade: ≤ the fee, capped, vesting).
//   - A failed job (exit ≠ 0) and a self-dealt one (submitter == the
//     node's owner) earn neither credits nor trade rewards: their fee
//     stays burned. Self-dealing through a second account is not visible
//     on chain; the caps, the vesting, P(n) ≤ 100 % and gas make it lose
//     money (TestWashTrading).
//
// Gas: accept pays RouterHookGas; submitResult (which schedules the
// settlement the EndBlock hook may make) and settle pay SettleHookGas.

// Gas the market's reward hooks add to the methods that run or schedule
// them (charged whether or not the chain has the rewards module).
const (
	RouterHookGas = rewards.RouterCreditGas
	SettleHookGas = rewards.RewardTradeGas + rewards.ComputeCreditGas
)

// WithRewards makes the module report router work, compute work and
// trades to r, the chain's rewards module (a Module built from the same
// genesis params as the one the chain runs). Without it (tests of the
// jobs module alone) nothing is reported.
func WithRewards(r *rewards.Module) Option {
	return func(m *Module) { m.rewards = r }
}

// onAccept is called by accept once the job is running.
func (m *Module) onAccept(c *native.Call, j *Job) error {
	if m.rewards == nil {
		return nil
	}
	if err := m.rewards.RouterAccepted(c, j.Router); err != nil {
		return fmt.Errorf("jobs: router credits of %s: %w", j.Router, err)
	}
	return nil
}

// onSettled is called by settleJob for a job that was in state prior
// (completed or failed) and burned burnWei.
func (m *Module) onSettled(c *native.Call, j *Job, prior State, burnWei *uint256.Int) error {
	if m.rewards == nil || !EarnsRewards(j, prior) {
		return nil
	}
	if _, err := m.rewards.ComputeJobDone(c, j.Node); err != nil {
		return fmt.Errorf("jobs: compute credits of %s: %w", j.Node, err)
	}
	if _, err := m.rewards.RewardTrade(c, j.Submitter, j.Node, burnWei); err != nil {
		return fmt.Errorf("jobs: trade reward of job %d: %w", j.ID, err)
	}
	return nil
}

// EarnsRewards reports whether a job settling from state prior earns
// compute credits and trade rewards: it completed (exit 0; a failed job
// never does, nor one still in re-execution or dispute) and its submitter
// is not the node's owner.
func EarnsRewards(j *Job, prior State) bool {
	return prior == StateCompleted && j.Submitter != j.Node
}

// Rewards returns the rewards module the jobs module reports to, nil when
// none (see [WithRewards]).
func (m *Module) Rewards() *rewards.Module { return m.rewards }
