package operator_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/emc-network/emcd/operator"
	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

// chainFake is a fakeBackend that also serves the chain services, from
// fixed values.
type chainFake struct {
	*fakeBackend
	pool  operator.TxPool
	set   operator.ValidatorSet
	pos   map[common.Address]operator.Position
	jobs  []operator.Job
	query chan operator.JobsQuery
}

var _ operator.ChainBackend = (*chainFake)(nil)

func (f *chainFake) TxPool(ctx context.Context, from *common.Address) (operator.TxPool, error) {
	if err := f.answer(ctx); err != nil {
		return operator.TxPool{}, err
	}
	if from == nil {
		return f.pool, nil
	}
	out := operator.TxPool{Pending: f.pool.Pending, Queued: f.pool.Queued}
	for _, t := range f.pool.Txs {
		if t.From == *from {
			out.Txs = append(out.Txs, t)
		}
	}
	return out, nil
}

func (f *chainFake) Validators(ctx context.Context) (operator.ValidatorSet, error) {
	return f.set, f.answer(ctx)
}

func (f *chainFake) Position(ctx context.Context, owner common.Address) (operator.Position, error) {
	return f.pos[owner], f.answer(ctx)
}

func (f *chainFake) Job(ctx context.Context, id uint64) (operator.Job, error) {
	if err := f.answer(ctx); err != nil {
		return operator.Job{}, err
	}
	for _, j := range f.jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return operator.Job{}, fmt.Errorf("job %d: %w", id, operator.ErrNotFound)
}

func (f *chainFake) Jobs(ctx context.Context, q operator.JobsQuery) (operator.JobsPage, error) {
	if f.query != nil {
		f.query <- q
	}
	if q.State == "bogus" {
		return operator.JobsPage{}, fmt.Errorf("%w: unknown job state %q", operator.ErrInvalidArgument, q.State)
	}
	return operator.JobsPage{Number: 9, Total: uint64(len(f.jobs)), NextOffset: uint64(len(f.jobs)), Jobs: f.jobs}, f.answer(ctx)
}

func newChainFake() *chainFake {
	to := addrB
	return &chainFake{
		fakeBackend: newFake(),
		pool: operator.TxPool{Pending: 1, Queued: 1, Txs: []operator.PoolTx{
			{Hash: hashA, From: addrA, To: &to, Nonce: 3, Gas: 21000, Value: big.NewInt(5), FeeCap: big.NewInt(7), TipCap: big.NewInt(1), Pending: true},
			{Hash: hashB, From: addrB, Nonce: 9, Gas: 100000, Value: new(big.Int), FeeCap: big.NewInt(7), TipCap: big.NewInt(1)},
		}},
		set: operator.ValidatorSet{Number: 41, Epoch: 2, EpochLength: 20, Height: 42, Round: 1, Proposer: addrA,
			Validators: []operator.ValidatorInfo{{Address: addrA, Owner: &addrB, StakeWei: big.NewInt(1e18)}, {Address: addrB, StakeWei: new(big.Int)}},
			Candidates: []operator.Candidate{{Owner: addrB, Signer: addrA, StakeWei: big.NewInt(2e18), InSet: true}}},
		pos: map[common.Address]operator.Position{addrA: {Number: 41, Owner: addrA, Role: "validator", AmountWei: big.NewInt(10),
			PrevAmountWei: big.NewInt(4), EffectiveFrom: 3, Lock: "30d", UnlockEpoch: 9, Signer: addrB,
			Unbonding: []operator.UnbondingEntry{{AmountWei: big.NewInt(2), ReleaseEpoch: 5}}, ClaimableWei: big.NewInt(77)}},
		jobs: []operator.Job{{ID: 1, State: "settled", Submitter: addrA, Image: hashB, GPUs: 1, GPUModel: "H100", Router: addrB,
			Node: addrB, EscrowKind: "emc", EscrowWei: big.NewInt(100), PriceWei: big.NewInt(3), SubmitBlock: 4, EndBlock: 12,
			GPUMillis: 1500, Exit: 0, CostWei: big.NewInt(4), RefundWei: big.NewInt(96), ResultHash: hashA, Attempts: 1}},
	}
}

func TestChainServices(t *testing.T) {
	f := newChainFake()
	h := start(t, f, operator.Config{})
	ctx := context.Background()

	pool, err := pb.NewTxPoolServiceClient(h.conn).ListTransactions(ctx, &pb.ListTransactionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.ListTransactionsResponse{Pending: 1, Queued: 1, Transactions: []*pb.PoolTransaction{
		{Hash: hashA.Hex(), From: addrA.Hex(), To: addrB.Hex(), Nonce: 3, Gas: 21000, ValueWei: "5", GasFeeCapWei: "7", GasTipCapWei: "1", Pending: true},
		{Hash: hashB.Hex(), From: addrB.Hex(), Nonce: 9, Gas: 100000, ValueWei: "0", GasFeeCapWei: "7", GasTipCapWei: "1"},
	}}
	if !proto.Equal(pool, want) {
		t.Errorf("ListTransactions = %v, want %v", pool, want)
	}
	one, err := pb.NewTxPoolServiceClient(h.conn).ListTransactions(ctx, &pb.ListTransactionsRequest{From: addrB.Hex()})
	if err != nil || len(one.Transactions) != 1 || one.Transactions[0].From != addrB.Hex() {
		t.Errorf("ListTransactions(from B) = %v, %v", one, err)
	}

	vs, err := pb.NewConsensusServiceClient(h.conn).GetValidators(ctx, &pb.GetValidatorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantVS := &pb.GetValidatorsResponse{Number: 41, Epoch: 2, EpochLength: 20, Height: 42, Round: 1, Proposer: addrA.Hex(),
		Validators: []*pb.Validator{{Address: addrA.Hex(), Owner: addrB.Hex(), StakeWei: "1000000000000000000"}, {Address: addrB.Hex(), StakeWei: "0"}},
		Candidates: []*pb.Candidate{{Owner: addrB.Hex(), Signer: addrA.Hex(), StakeWei: "2000000000000000000", InSet: true}}}
	if !proto.Equal(vs, wantVS) {
		t.Errorf("GetValidators = %v, want %v", vs, wantVS)
	}

	pos, err := pb.NewStakingServiceClient(h.conn).GetPosition(ctx, &pb.GetPositionRequest{Owner: addrA.Hex()})
	if err != nil {
		t.Fatal(err)
	}
	wantPos := &pb.GetPositionResponse{Number: 41, Owner: addrA.Hex(), Role: "validator", AmountWei: "10", PreviousAmountWei: "4",
		EffectiveFrom: 3, Lock: "30d", UnlockEpoch: 9, Signer: addrB.Hex(), Unbonding: []*pb.Unbonding{{AmountWei: "2", ReleaseEpoch: 5}}, ClaimableWei: "77"}
	if !proto.Equal(pos, wantPos) {
		t.Errorf("GetPosition = %v, want %v", pos, wantPos)
	}

	jc := pb.NewJobsServiceClient(h.conn)
	job, err := jc.GetJob(ctx, &pb.GetJobRequest{Id: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantJob := &pb.Job{Id: 1, State: "settled", Submitter: addrA.Hex(), Image: hashB.Hex(), Gpus: 1, GpuModel: "H100", Router: addrB.Hex(),
		Node: addrB.Hex(), EscrowKind: "emc", EscrowWei: "100", PriceWeiPerGpuSecond: "3", SubmitBlock: 4, EndBlock: 12, GpuMillis: 1500,
		CostWei: "4", RefundWei: "96", ResultHash: hashA.Hex(), Attempts: 1}
	if !proto.Equal(job.GetJob(), wantJob) {
		t.Errorf("GetJob = %v, want %v", job.GetJob(), wantJob)
	}
	f.query = make(chan operator.JobsQuery, 1)
	page, err := jc.ListJobs(ctx, &pb.ListJobsRequest{Owner: addrA.Hex(), State: "settled", Offset: 2, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if q := <-f.query; q.Owner == nil || *q.Owner != addrA || q.State != "settled" || q.Offset != 2 || q.Limit != 5 {
		t.Errorf("ListJobs passed %+v to the backend", q)
	}
	if page.Number != 9 || page.Total != 1 || len(page.Jobs) != 1 || !proto.Equal(page.Jobs[0], wantJob) {
		t.Errorf("ListJobs = %v", page)
	}
}

func TestChainServicesErrors(t *testing.T) {
	f := newChainFake()
	h := start(t, f, operator.Config{})
	ctx := context.Background()
	jc := pb.NewJobsServiceClient(h.conn)
	for _, c := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"unknown job", func() error { _, err := jc.GetJob(ctx, &pb.GetJobRequest{Id: 99}); return err }, codes.NotFound},
		{"job 0", func() error { _, err := jc.GetJob(ctx, &pb.GetJobRequest{Id: 0}); return err }, codes.InvalidArgument},
		{"bad owner", func() error { _, err := jc.ListJobs(ctx, &pb.ListJobsRequest{Owner: "0x12"}); return err }, codes.InvalidArgument},
		{"bad state", func() error { _, err := jc.ListJobs(ctx, &pb.ListJobsRequest{State: "bogus"}); return err }, codes.InvalidArgument},
		{"bad from", func() error {
			_, err := pb.NewTxPoolServiceClient(h.conn).ListTransactions(ctx, &pb.ListTransactionsRequest{From: "nope"})
			return err
		}, codes.InvalidArgument},
		{"no owner", func() error {
			_, err := pb.NewStakingServiceClient(h.conn).GetPosition(ctx, &pb.GetPositionRequest{})
			return err
		}, codes.InvalidArgument},
	} {
		if err := c.call(); status.Code(err) != c.code {
			t.Errorf("%s: %v, want code %v", c.name, err, c.code)
		}
	}
	f.err = errors.New("disk on fire")
	if _, err := pb.NewConsensusServiceClient(h.conn).GetValidators(ctx, &pb.GetValidatorsRequest{}); status.Code(err) != codes.Internal {
		t.Errorf("backend failure: %v, want INTERNAL", err)
	}
}

// listServices asks the server's reflection service for its services, as
// grpcurl does.
func listServices(t *testing.T, h *harness) []string {
	t.Helper()
	stream, err := rpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{ListServices: ""}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	// The file descriptor of a service must be served too, or grpcurl
	// cannot call it without the .proto.
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "emcd.operator.v1.Operator"}}); err != nil {
		t.Fatal(err)
	}
	fd, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(fd.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("reflection served no file descriptor for emcd.operator.v1.Operator: %v", fd)
	}
	slices.Sort(names)
	return names
}

func TestReflection(t *testing.T) {
	chain := listServices(t, start(t, newChainFake(), operator.Config{}))
	want := []string{"emcd.operator.v1.ConsensusService", "emcd.operator.v1.JobsService", "emcd.operator.v1.Operator",
		"emcd.operator.v1.StakingService", "emcd.operator.v1.TxPoolService", "grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection"}
	if !slices.Equal(chain, want) {
		t.Errorf("services with a chain backend = %v, want %v", chain, want)
	}
	// A backend without the chain part serves the Operator service alone.
	plain := listServices(t, start(t, newFake(), operator.Config{}))
	if slices.Contains(plain, "emcd.operator.v1.JobsService") || !slices.Contains(plain, "emcd.operator.v1.Operator") {
		t.Errorf("services without a chain backend = %v", plain)
	}
}

func TestChainServicesConcurrent(t *testing.T) {
	h := start(t, newChainFake(), operator.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			ctx := context.Background()
			for range 20 {
				var err error
				switch i % 4 {
				case 0:
					_, err = pb.NewTxPoolServiceClient(h.conn).ListTransactions(ctx, &pb.ListTransactionsRequest{})
				case 1:
					_, err = pb.NewConsensusServiceClient(h.conn).GetValidators(ctx, &pb.GetValidatorsRequest{})
				case 2:
					_, err = pb.NewStakingServiceClient(h.conn).GetPosition(ctx, &pb.GetPositionRequest{Owner: addrA.Hex()})
				case 3:
					_, err = pb.NewJobsServiceClient(h.conn).GetJob(ctx, &pb.GetJobRequest{Id: 1})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
