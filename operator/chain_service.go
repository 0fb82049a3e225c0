package operator

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

// chainService implements the TxPoolService, ConsensusService,
// StakingService and JobsService over a ChainBackend.
type chainService struct {
	pb.UnimplementedTxPoolServiceServer
	pb.UnimplementedConsensusServiceServer
	pb.UnimplementedStakingServiceServer
	pb.UnimplementedJobsServiceServer
	s *Server
	b ChainBackend
}

// parseAddr reads an 0x address argument; empty is "none".
func parseAddr(field, s string) (*common.Address, error) {
	if s == "" {
		return nil, nil
	}
	if !common.IsHexAddress(s) {
		return nil, fmt.Errorf("%w: %s %q is not an address", ErrInvalidArgument, field, s)
	}
	a := common.HexToAddress(s)
	return &a, nil
}

// wei is v as a decimal string, "0" for nil.
func wei(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

func (c *chainService) ListTransactions(ctx context.Context, req *pb.ListTransactionsRequest) (*pb.ListTransactionsResponse, error) {
	from, err := parseAddr("from", req.GetFrom())
	if err != nil {
		return nil, err
	}
	pool, err := c.b.TxPool(ctx, from)
	if err != nil {
		return nil, err
	}
	txs, truncated := capList(pool.Txs, c.s.cfg.MaxListItems)
	resp := &pb.ListTransactionsResponse{Pending: clampU32(pool.Pending), Queued: clampU32(pool.Queued),
		Transactions: make([]*pb.PoolTransaction, len(txs)), Truncated: truncated}
	for i, t := range txs {
		p := &pb.PoolTransaction{Hash: hashHex(t.Hash), From: addrHex(t.From), Nonce: t.Nonce, Gas: t.Gas,
			ValueWei: wei(t.Value), GasFeeCapWei: wei(t.FeeCap), GasTipCapWei: wei(t.TipCap), Pending: t.Pending}
		if t.To != nil {
			p.To = t.To.Hex()
		}
		resp.Transactions[i] = p
	}
	return resp, nil
}

func (c *chainService) GetValidators(ctx context.Context, _ *pb.GetValidatorsRequest) (*pb.GetValidatorsResponse, error) {
	vs, err := c.b.Validators(ctx)
	if err != nil {
		return nil, err
	}
	vals, _ := capList(vs.Validators, c.s.cfg.MaxListItems)
	cands, truncated := capList(vs.Candidates, c.s.cfg.MaxListItems)
	resp := &pb.GetValidatorsResponse{Number: vs.Number, Epoch: vs.Epoch, EpochLength: vs.EpochLength,
		Height: vs.Height, Round: vs.Round, Proposer: addrHex(vs.Proposer),
		Validators: make([]*pb.Validator, len(vals)), Candidates: make([]*pb.Candidate, len(cands)),
		CandidatesTruncated: truncated}
	for i, v := range vals {
		e := &pb.Validator{Address: addrHex(v.Address), StakeWei: wei(v.StakeWei), Jailed: v.Jailed}
		if v.Owner != nil {
			e.Owner = v.Owner.Hex()
		}
		resp.Validators[i] = e
	}
	for i, v := range cands {
		resp.Candidates[i] = &pb.Candidate{Owner: addrHex(v.Owner), Signer: addrHex(v.Signer), StakeWei: wei(v.StakeWei), InSet: v.InSet}
	}
	return resp, nil
}

func (c *chainService) GetPosition(ctx context.Context, req *pb.GetPositionRequest) (*pb.GetPositionResponse, error) {
	owner, err := parseAddr("owner", req.GetOwner())
	if err != nil {
		return nil, err
	}
	if owner == nil {
		return nil, fmt.Errorf("%w: owner is required", ErrInvalidArgument)
	}
	p, err := c.b.Position(ctx, *owner)
	if err != nil {
		return nil, err
	}
	resp := &pb.GetPositionResponse{Number: p.Number, Owner: p.Owner.Hex(), Role: p.Role, AmountWei: wei(p.AmountWei),
		PreviousAmountWei: wei(p.PrevAmountWei), EffectiveFrom: p.EffectiveFrom, Lock: p.Lock, UnlockEpoch: p.UnlockEpoch,
		Signer: addrHex(p.Signer), Jailed: p.Jailed, ClaimableWei: wei(p.ClaimableWei)}
	for _, u := range p.Unbonding {
		resp.Unbonding = append(resp.Unbonding, &pb.Unbonding{AmountWei: wei(u.AmountWei), ReleaseEpoch: u.ReleaseEpoch})
	}
	return resp, nil
}

func jobPB(j *Job) *pb.Job {
	return &pb.Job{Id: j.ID, State: j.State, Submitter: addrHex(j.Submitter), Image: hashHex(j.Image), Gpus: j.GPUs,
		GpuModel: j.GPUModel, Router: addrHex(j.Router), Node: addrHex(j.Node), EscrowKind: j.EscrowKind,
		EscrowWei: wei(j.EscrowWei), PriceWeiPerGpuSecond: wei(j.PriceWei), SubmitBlock: j.SubmitBlock,
		EndBlock: j.EndBlock, GpuMillis: j.GPUMillis, Exit: j.Exit, CostWei: wei(j.CostWei), RefundWei: wei(j.RefundWei),
		ResultHash: hashHex(j.ResultHash), Attempts: j.Attempts}
}

func (c *chainService) GetJob(ctx context.Context, req *pb.GetJobRequest) (*pb.GetJobResponse, error) {
	if req.GetId() == 0 {
		return nil, fmt.Errorf("%w: job ids start at 1", ErrInvalidArgument)
	}
	j, err := c.b.Job(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.GetJobResponse{Job: jobPB(&j)}, nil
}

func (c *chainService) ListJobs(ctx context.Context, req *pb.ListJobsRequest) (*pb.ListJobsResponse, error) {
	owner, err := parseAddr("owner", req.GetOwner())
	if err != nil {
		return nil, err
	}
	page, err := c.b.Jobs(ctx, JobsQuery{Owner: owner, State: req.GetState(), Offset: req.GetOffset(), Limit: req.GetLimit()})
	if err != nil {
		return nil, err
	}
	jobs, _ := capList(page.Jobs, c.s.cfg.MaxListItems)
	resp := &pb.ListJobsResponse{Number: page.Number, Total: page.Total, NextOffset: page.NextOffset,
		Jobs: make([]*pb.Job, len(jobs))}
	for i := range jobs {
		resp.Jobs[i] = jobPB(&jobs[i])
	}
	return resp, nil
}
