package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

// newOperatorChainCmds returns the operator commands of the chain services:
// txpool, validators, stake and jobs.
func newOperatorChainCmds(of *operatorFlags) []*cobra.Command {
	call := func(c *cobra.Command, f func(context.Context, grpc.ClientConnInterface) (proto.Message, error)) error {
		return of.run(c.Context(), c.OutOrStdout(), f)
	}
	var from string
	txpool := &cobra.Command{
		Use:   "txpool",
		Short: "Print the transaction pool: counts and transactions (--from keeps one sender's)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from != "" && !common.IsHexAddress(from) {
				return fmt.Errorf("--from %q is not an address", from)
			}
			return call(c, func(ctx context.Context, conn grpc.ClientConnInterface) (proto.Message, error) {
				return pb.NewTxPoolServiceClient(conn).ListTransactions(ctx, &pb.ListTransactionsRequest{From: from})
			})
		},
	}
	txpool.Flags().StringVar(&from, "from", "", "only this sender's transactions")

	validators := &cobra.Command{
		Use:   "validators",
		Short: "Print the consensus round, the validator set with stakes, and the staked candidates",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return call(c, func(ctx context.Context, conn grpc.ClientConnInterface) (proto.Message, error) {
				return pb.NewConsensusServiceClient(conn).GetValidators(ctx, &pb.GetValidatorsRequest{})
			})
		},
	}

	stake := &cobra.Command{
		Use:   "stake ADDRESS",
		Short: "Print an owner's staking position, unbonding entries and claimable rewards",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !common.IsHexAddress(args[0]) {
				return fmt.Errorf("%q is not an address", args[0])
			}
			return call(c, func(ctx context.Context, conn grpc.ClientConnInterface) (proto.Message, error) {
				return pb.NewStakingServiceClient(conn).GetPosition(ctx, &pb.GetPositionRequest{Owner: args[0]})
			})
		},
	}

	var q pb.ListJobsRequest
	jobsCmd := &cobra.Command{
		Use:   "jobs [ID]",
		Short: "Print one compute job, or a page of jobs (--owner, --state, --offset, --limit)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				id, err := strconv.ParseUint(args[0], 0, 64)
				if err != nil || id == 0 {
					return fmt.Errorf("job id %q: want a positive integer", args[0])
				}
				return call(c, func(ctx context.Context, conn grpc.ClientConnInterface) (proto.Message, error) {
					return pb.NewJobsServiceClient(conn).GetJob(ctx, &pb.GetJobRequest{Id: id})
				})
			}
			if q.Owner != "" && !common.IsHexAddress(q.Owner) {
				return fmt.Errorf("--owner %q is not an address", q.Owner)
			}
			return call(c, func(ctx context.Context, conn grpc.ClientConnInterface) (proto.Message, error) {
				return pb.NewJobsServiceClient(conn).ListJobs(ctx, &q)
			})
		},
	}
	jobsCmd.Flags().StringVar(&q.Owner, "owner", "", "only this submitter's jobs")
	jobsCmd.Flags().StringVar(&q.State, "state", "", "only jobs in this state (submitted, assigned, running, completed, failed, settled, ...)")
	jobsCmd.Flags().Uint64Var(&q.Offset, "offset", 0, "skip this many jobs of the list")
	jobsCmd.Flags().Uint64Var(&q.Limit, "limit", 0, "at most this many jobs (0: the node's maximum)")
	return []*cobra.Command{txpool, validators, stake, jobsCmd}
}
