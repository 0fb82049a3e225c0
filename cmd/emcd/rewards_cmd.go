package main

import (
	"context"
	"fmt"
	"io"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newRewardsCmd) }

func rewardsABI() (*abi.ABI, error) {
	m, err := rewards.Factory(0, staking.RewardsView{})(nil)
	if err != nil {
		return nil, err
	}
	return parseModuleABI(m)
}

// newRewardsCmd is `emcd rewards [ADDR]` (status, the default) and
// `emcd rewards claim`.
func newRewardsCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var block string
	cmd := &cobra.Command{
		Use:   "rewards [ADDR]",
		Short: "Print ADDR's claimable rewards and the reward epoch (emc_rewardsOf, emc_epochInfo); `rewards claim` claims them",
		Long: `rewards talks to the rewards module (` + native.RewardsAddress.Hex() + `).

Without a subcommand it prints what ADDR (default: the account of --datadir,
--keystore or --dev-account) can claim: node rewards accrued at epoch
settlements and its shares of the two staking pools, then the current
reward epoch and the pools. See docs/economics.md, "The rewards module".`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			addr, err := queryAddress(args, keySource{f: &kf, dataDir: g.dataDir}, "rewards")
			if err != nil {
				return err
			}
			bnh, err := parseBlockArg(block)
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			var r jsonrpc.Rewards
			if err := nd.rpc.CallContext(ctx, &r, "emc_rewardsOf", addr, bnh); err != nil {
				return fmt.Errorf("emc_rewardsOf: %w", err)
			}
			var info jsonrpc.EpochInfo
			if err := nd.rpc.CallContext(ctx, &info, "emc_epochInfo", bnh); err != nil {
				return fmt.Errorf("emc_epochInfo: %w", err)
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), map[string]any{"address": addr, "block": block, "chainId": nd.chainID.Uint64(), "rewards": r, "epoch": info})
			}
			printRewards(c.OutOrStdout(), addr, &r, &info)
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	cmd.AddCommand(newRewardsClaimCmd(g))
	return cmd
}

func printRewards(w io.Writer, addr common.Address, r *jsonrpc.Rewards, info *jsonrpc.EpochInfo) {
	fmt.Fprintf(w, "%s can claim %s EMC: node %s, staking %s, long-term staking %s, trade %s (%s more vesting)\n", addr.Hex(),
		formatEMC(r.Total.ToInt()), formatEMC(r.Node.ToInt()), formatEMC(r.Staking.ToInt()), formatEMC(r.LongTerm.ToInt()),
		formatEMC(bigOrZero(r.Trade)), formatEMC(bigOrZero(r.TradeVesting)))
	fmt.Fprintf(w, "reward epoch %d (blocks %d-%d), emission period %d, epoch reward %s EMC\n",
		uint64(info.Epoch), uint64(info.FirstBlock), uint64(info.LastBlock), uint64(info.Period), formatEMC(info.EpochReward.ToInt()))
	if info.LastSettled != nil {
		fmt.Fprintf(w, "last settled epoch %d paid out %s EMC\n", uint64(*info.LastSettled), formatEMC(info.LastReward.ToInt()))
	}
	p := info.Pools
	fmt.Fprintf(w, "pools: node %s, trade %s, staking %s, long-term %s EMC; accrued unclaimed %s EMC\n",
		formatEMC(p.Node.ToInt()), formatEMC(p.Trade.ToInt()), formatEMC(p.Staking.ToInt()), formatEMC(p.LongTerm.ToInt()), formatEMC(p.Accrued.ToInt()))
}

func newRewardsClaimCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "claim (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Claim the signer's rewards (node, staking and vested trade rewards) with claim()",
		Long: `claim sends claim(), waits for the receipt and prints what was paid
(--json for scripts). It exits 1 with the revert reason when nothing is owed
(with the default gas estimate such a claim is not even sent).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			a, err := rewardsABI()
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			ctx, nd, s := sc.ctx, sc.nd, sc.s
			data, err := a.Pack("claim")
			if err != nil {
				return err
			}
			out, err := sendTx(ctx, nd, s, txRequest{To: native.RewardsAddress, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			summary := ""
			if out.Status == "success" {
				paid := claimedAmount(ctx, nd, a, out)
				out.Result = map[string]any{"owner": s.addr, "claimedWei": paid}
				summary = fmt.Sprintf("%s claimed %s wei", s.addr.Hex(), paid)
			}
			return report(c.OutOrStdout(), rf.json, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

// claimedAmount reads the Claimed event of the mined claim (as a decimal
// wei string; "unknown" when the receipt cannot be read).
func claimedAmount(ctx context.Context, nd *rpcNode, a *abi.ABI, out *txOutcome) string {
	rc, err := nd.eth.TransactionReceipt(ctx, *out.TxHash)
	if err != nil {
		return "unknown"
	}
	ev := a.Events["Claimed"]
	for _, l := range rc.Logs {
		if l.Address != native.RewardsAddress || len(l.Topics) == 0 || l.Topics[0] != ev.ID {
			continue
		}
		if vals, err := ev.Inputs.NonIndexed().Unpack(l.Data); err == nil && len(vals) == 1 {
			return fmt.Sprint(vals[0])
		}
	}
	return "unknown"
}

// bigOrZero is v's value, 0 when absent (a node from before the field).
func bigOrZero(v *hexutil.Big) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return v.ToInt()
}
