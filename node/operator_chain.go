package node

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/operator"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
)

// opBackend serves the operator API's chain services too.
var _ operator.ChainBackend = opBackend{}

func big256(v *uint256.Int) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return v.ToBig()
}

// headState opens the head's state for one call (a StateDB is not safe
// for concurrent use, so every call gets its own).
func (o opBackend) headState() (*types.Header, *ethstate.StateDB, error) {
	head := o.n.chain.Head()
	st, err := o.n.chain.StateAt(head.Root)
	if err != nil {
		return nil, nil, fmt.Errorf("node: state at head %d: %w", head.Number.Uint64(), err)
	}
	return head, st, nil
}

func (o opBackend) TxPool(_ context.Context, from *common.Address) (operator.TxPool, error) {
	n := o.n
	out := operator.TxPool{}
	out.Pending, out.Queued = n.pool.Stats()
	signer := types.LatestSigner(n.chain.Config())
	add := func(txs []*types.Transaction, pending bool) {
		for _, tx := range txs {
			sender, err := types.Sender(signer, tx)
			if err != nil {
				continue // the pool admitted only signed transactions
			}
			out.Txs = append(out.Txs, operator.PoolTx{Hash: tx.Hash(), From: sender, To: tx.To(), Nonce: tx.Nonce(),
				Gas: tx.Gas(), Value: tx.Value(), FeeCap: tx.GasFeeCap(), TipCap: tx.GasTipCap(), Pending: pending})
		}
	}
	if from != nil {
		p, q := n.pool.ContentFrom(*from)
		add(p, true)
		add(q, false)
		return out, nil
	}
	p, q := n.pool.Content()
	for _, group := range []struct {
		m       map[common.Address][]*types.Transaction
		pending bool
	}{{p, true}, {q, false}} {
		senders := make([]common.Address, 0, len(group.m))
		for a := range group.m {
			senders = append(senders, a)
		}
		slices.SortFunc(senders, func(a, b common.Address) int { return a.Cmp(b) })
		for _, a := range senders {
			add(group.m[a], group.pending)
		}
	}
	return out, nil
}

func (o opBackend) Validators(ctx context.Context) (operator.ValidatorSet, error) {
	n := o.n
	head, st, err := o.headState()
	if err != nil {
		return operator.ValidatorSet{}, err
	}
	number := head.Number.Uint64()
	el := n.mods.epochLength()
	out := operator.ValidatorSet{Number: number, EpochLength: el, Epoch: staking.Epoch(number, el), Height: number + 1}
	status, err := o.Status(ctx)
	if err != nil {
		return operator.ValidatorSet{}, err
	}
	out.Height, out.Round, out.Proposer = max(status.Consensus.Height, number+1), status.Consensus.Round, status.Consensus.Proposer
	set, err := n.chain.ValidatorsFor(number + 1)
	if err != nil {
		return operator.ValidatorSet{}, fmt.Errorf("node: validator set after %d: %w", number, err)
	}
	inSet := make(map[common.Address]bool, len(set))
	for _, v := range set {
		inSet[v] = true
		e := operator.ValidatorInfo{Address: v, StakeWei: new(big.Int)}
		if owner, ok := staking.OwnerOfSigner(st, v); ok {
			p := staking.PositionOf(st, owner)
			e.Owner, e.StakeWei, e.Jailed = &owner, big256(p.AmountWei), p.Jailed
		}
		out.Validators = append(out.Validators, e)
	}
	cands, err := staking.EffectiveValidators(st, out.Epoch+1)
	if err != nil {
		return operator.ValidatorSet{}, fmt.Errorf("node: staking candidates: %w", err)
	}
	for _, c := range cands {
		out.Candidates = append(out.Candidates, operator.Candidate{Owner: c.Owner, Signer: c.Signer, StakeWei: big256(c.StakeWei), InSet: inSet[c.Signer]})
	}
	return out, st.Error()
}

func (o opBackend) Position(_ context.Context, owner common.Address) (operator.Position, error) {
	head, st, err := o.headState()
	if err != nil {
		return operator.Position{}, err
	}
	p := staking.PositionOf(st, owner)
	out := operator.Position{Number: head.Number.Uint64(), Owner: owner, AmountWei: big256(p.AmountWei),
		PrevAmountWei: big256(p.PrevAmountWei), EffectiveFrom: p.ChangeEpoch, UnlockEpoch: p.UnlockEpoch,
		Signer: p.Signer, Jailed: p.Jailed}
	if p.HasRole {
		out.Role = p.Role.String()
	}
	if p.Lock < rewards.NumLocks {
		out.Lock = jsonrpc.LockNames()[p.Lock]
	}
	for _, u := range p.Unbonding {
		out.Unbonding = append(out.Unbonding, operator.UnbondingEntry{AmountWei: big256(u.AmountWei), ReleaseEpoch: u.ReleaseEpoch})
	}
	r := rewards.RewardsOf(st, owner)
	tr := rewards.TradeRewardsAt(st, owner, head.Number.Uint64())
	out.ClaimableWei = new(big.Int).Add(big256(r.TotalWei), big256(tr.VestedWei))
	return out, st.Error()
}

func opJob(j *jobs.Job) operator.Job {
	kind := "emc"
	if j.InCredits() {
		kind = "credits"
	}
	return operator.Job{ID: j.ID, State: j.State.String(), Submitter: j.Submitter, Image: j.Image, GPUs: j.GPUs,
		GPUModel: j.GPUModel, Router: j.Router, Node: j.Node, EscrowKind: kind, EscrowWei: big256(j.EscrowWei),
		PriceWei: big256(j.PriceWei), SubmitBlock: j.SubmitBlock, EndBlock: j.EndBlock, GPUMillis: j.GPUMillis,
		Exit: j.ExitCode(), CostWei: big256(j.CostWei), RefundWei: big256(j.RefundWei), ResultHash: j.ResultHash,
		Attempts: uint32(j.Attempts)}
}

func (o opBackend) Job(_ context.Context, id uint64) (operator.Job, error) {
	_, st, err := o.headState()
	if err != nil {
		return operator.Job{}, err
	}
	j, ok, err := jobs.JobOf(st, id)
	if err != nil {
		return operator.Job{}, fmt.Errorf("node: job %d: %w", id, err)
	}
	if !ok {
		return operator.Job{}, fmt.Errorf("job %d: %w", id, operator.ErrNotFound)
	}
	return opJob(&j), st.Error()
}

func (o opBackend) Jobs(_ context.Context, q operator.JobsQuery) (operator.JobsPage, error) {
	jq := jobs.Query{Owner: q.Owner, Offset: q.Offset, Limit: q.Limit}
	if q.State != "" {
		s, err := jobs.ParseState(q.State)
		if err != nil {
			return operator.JobsPage{}, fmt.Errorf("%w: %w", operator.ErrInvalidArgument, err)
		}
		jq.State = s
	}
	head, st, err := o.headState()
	if err != nil {
		return operator.JobsPage{}, err
	}
	page, err := jobs.List(st, jq)
	if err != nil {
		return operator.JobsPage{}, fmt.Errorf("node: jobs: %w", err)
	}
	out := operator.JobsPage{Number: head.Number.Uint64(), Total: page.Total, NextOffset: page.NextOffset}
	for i := range page.Jobs {
		out.Jobs = append(out.Jobs, opJob(&page.Jobs[i]))
	}
	return out, st.Error()
}
