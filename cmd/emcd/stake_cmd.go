package main

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newStakeCmd) }

func stakingABI() (*abi.ABI, error) {
	m, err := staking.New(nil)
	if err != nil {
		return nil, err
	}
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		return nil, fmt.Errorf("staking ABI: %w", err)
	}
	return &a, nil
}

func newStakeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stake",
		Short: "Stake EMC for a role, set a validator signer, unstake and withdraw, over JSON-RPC",
		Long: `stake talks to the staking module (` + native.StakingAddress.Hex() + `).

A position is (owner, role): validator, router or compute, each with a
minimum stake (genesis params). Stake changes take effect at the next epoch.
A lock (0, 7d, 30d, 90d, 180d, counted in epochs) raises the staking-reward
weight and forbids unstaking until it ends. Unstaked EMC waits
unbondingEpochs before "stake withdraw" pays it. See docs/economics.md,
section "Staking".`,
	}
	cmd.AddCommand(newStakeAddCmd(g), newStakeUnstakeCmd(g), newStakeWithdrawCmd(g), newStakeSignerCmd(g), newStakeStatusCmd(g))
	return cmd
}

// parseEMC parses a decimal EMC amount ("1.5") into wei: at most 18
// fraction digits, no sign, no exponent.
func parseEMC(s string) (*big.Int, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" || hasDot && frac == "" || len(frac) > 18 {
		return nil, fmt.Errorf("%q: want a decimal EMC amount with at most 18 fraction digits", s)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return nil, fmt.Errorf("%q: want a decimal EMC amount with at most 18 fraction digits", s)
			}
		}
	}
	wei, _ := new(big.Int).SetString(whole+frac+strings.Repeat("0", 18-len(frac)), 10)
	if wei == nil {
		wei = new(big.Int)
	}
	if wei.BitLen() > 256 {
		return nil, fmt.Errorf("%q: too large", s)
	}
	return wei, nil
}

// formatEMC renders wei as decimal EMC without trailing zeros.
func formatEMC(wei *big.Int) string {
	q, r := new(big.Int).QuoRem(wei, big.NewInt(params.EMC), new(big.Int))
	if r.Sign() == 0 {
		return q.String()
	}
	frac := strings.TrimRight(fmt.Sprintf("%018s", r.String()), "0")
	return q.String() + "." + frac
}

// parseLock parses --lock: 0 (or none), 7d, 30d, 90d, 180d.
func parseLock(s string) (uint8, error) {
	if s == "none" {
		s = "0"
	}
	names := jsonrpc.LockNames()
	for i, n := range names {
		if n == s {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("--lock %q: want one of %s", s, strings.Join(names[:], ", "))
}

// stakeSend is the common path of the signing stake commands: unlock the
// key, dial, send, and on success add the position after the transaction
// to the outcome.
func stakeSend(c *cobra.Command, g *globals, rf *rpcFlags, kf *keyFlags, gas uint64, value *big.Int, method string,
	summary func(before, after *jsonrpc.StakePosition) string, args ...any) error {
	ks := keySource{f: kf, dataDir: g.dataDir}
	s, err := ks.unlock()
	if err != nil {
		return err
	}
	a, err := stakingABI()
	if err != nil {
		return err
	}
	data, err := a.Pack(method, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(c.Context(), rf.timeout)
	defer cancel()
	nd, err := dialNode(ctx, rf.endpoint())
	if err != nil {
		return err
	}
	defer nd.Close()
	out, err := sendTx(ctx, nd, s, txRequest{To: native.StakingAddress, Value: value, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
	if err != nil {
		return err
	}
	line := ""
	if out.Status == "success" {
		after, aerr := stakeOf(ctx, nd, s.addr, hexutil.EncodeUint64(*out.Block))
		before, berr := stakeOf(ctx, nd, s.addr, hexutil.EncodeUint64(*out.Block-1))
		if aerr == nil && berr == nil {
			out.Result = map[string]any{"owner": s.addr, "position": after}
			line = summary(before, after)
		} else {
			line = method + " succeeded (position not readable: " + fmt.Sprint(aerr, berr) + ")"
		}
	}
	return report(c.OutOrStdout(), rf.json, out, line)
}

func newStakeAddCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var role, amount, lock string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "add --role validator|router|compute --amount EMC [--lock 0|7d|30d|90d|180d] (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Stake EMC for a role (adding to the signer's position)",
		Long: `add sends stake(role, lock) with --amount EMC, waits for the receipt and
prints the position after it (--json for scripts). The stake counts from
the next epoch. Adding to a position keeps one lock: the one that ends
later. It exits 1 with the revert reason when the module refuses (below the
role's minimum, another role than the position's, ...).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := staking.ParseRole(role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			l, err := parseLock(lock)
			if err != nil {
				return err
			}
			wei, err := parseEMC(amount)
			if err != nil {
				return fmt.Errorf("--amount %w", err)
			}
			return stakeSend(c, g, &rf, &kf, gas, wei, "stake", func(_, p *jsonrpc.StakePosition) string {
				return fmt.Sprintf("staked %s EMC as %s; position now %s EMC, lock %s until epoch %d, effective from epoch %d",
					formatEMC(wei), r, formatEMC(p.Amount.ToInt()), p.LockName, uint64(p.UnlockEpoch), uint64(p.EffectiveFrom))
			}, uint8(r), l)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	cmd.Flags().StringVar(&role, "role", "", "validator, router or compute")
	cmd.Flags().StringVar(&amount, "amount", "", "EMC to stake (decimal, e.g. 1000000 or 0.5)")
	cmd.Flags().StringVar(&lock, "lock", "0", "lock term: 0, 7d, 30d, 90d or 180d (in epochs of the chain)")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

func newStakeUnstakeCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var amount string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "unstake --amount EMC (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Move EMC of the signer's stake into the unbonding queue",
		Long: `unstake sends unstake(amount). The amount stops counting at the next epoch
and is paid by "stake withdraw" once its release epoch is reached. It exits
1 with the revert reason while the stake is locked, or when the rest would
be non-zero but below the role's minimum (unstake all, or less).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			wei, err := parseEMC(amount)
			if err != nil {
				return fmt.Errorf("--amount %w", err)
			}
			return stakeSend(c, g, &rf, &kf, gas, nil, "unstake", func(_, p *jsonrpc.StakePosition) string {
				release := uint64(0)
				if n := len(p.Unbonding); n > 0 {
					release = uint64(p.Unbonding[n-1].ReleaseEpoch)
				}
				return fmt.Sprintf("unstaked %s EMC, released at epoch %d; position now %s EMC", formatEMC(wei), release, formatEMC(p.Amount.ToInt()))
			}, wei)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	cmd.Flags().StringVar(&amount, "amount", "", "EMC to unstake (decimal)")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

func unbondingSum(p *jsonrpc.StakePosition) *big.Int {
	sum := new(big.Int)
	for _, u := range p.Unbonding {
		sum.Add(sum, u.Amount.ToInt())
	}
	return sum
}

func newStakeWithdrawCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "withdraw (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Pay the signer's released unbonding entries",
		Long: `withdraw sends withdraw(): every unbonding entry whose release epoch has
come is paid to the signer. It exits 1 with the revert reason when nothing
is released yet.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return stakeSend(c, g, &rf, &kf, gas, nil, "withdraw", func(before, after *jsonrpc.StakePosition) string {
				paid := new(big.Int).Sub(unbondingSum(before), unbondingSum(after))
				return fmt.Sprintf("withdrew %s EMC; %s EMC still unbonding", formatEMC(paid), formatEMC(unbondingSum(after)))
			})
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

func newStakeSignerCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "signer ADDR (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Set the consensus signer (hot key) of the signer's validator position",
		Long: `signer sends setSigner(ADDR): ADDR signs consensus messages for the
validator position of the cold key that sends it. ADDR may not be another
owner's signer or own a position; the owner's own address clears it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !common.IsHexAddress(args[0]) {
				return fmt.Errorf("%q is not an address", args[0])
			}
			addr := common.HexToAddress(args[0])
			return stakeSend(c, g, &rf, &kf, gas, nil, "setSigner", func(_, p *jsonrpc.StakePosition) string {
				return fmt.Sprintf("signer set to %s", p.Signer.Hex())
			}, addr)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

func newStakeStatusCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var block string
	cmd := &cobra.Command{
		Use:   "status [ADDR]",
		Short: "Print ADDR's staking position (default: the account of --datadir, --keystore or --dev-account) via emc_stakeOf",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			addr, err := queryAddress(args, keySource{f: &kf, dataDir: g.dataDir}, "position")
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context(), rf.timeout)
			defer cancel()
			nd, err := dialNode(ctx, rf.endpoint())
			if err != nil {
				return err
			}
			defer nd.Close()
			p, err := stakeOf(ctx, nd, addr, block)
			if err != nil {
				return err
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), map[string]any{"address": addr, "block": block, "chainId": nd.chainID.Uint64(), "position": p})
			}
			printPosition(c.OutOrStdout(), addr, p)
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}

func printPosition(w io.Writer, addr common.Address, p *jsonrpc.StakePosition) {
	if p.Jailed {
		fmt.Fprintf(w, "%s is jailed: slashed for double signing, it can never stake as a validator again\n", addr.Hex())
	}
	if p.Role == nil {
		fmt.Fprintf(w, "%s has no staking position\n", addr.Hex())
		return
	}
	fmt.Fprintf(w, "%s: %s, %s EMC staked (effective from epoch %d; %s EMC before), lock %s until epoch %d, signer %s\n",
		addr.Hex(), *p.Role, formatEMC(p.Amount.ToInt()), uint64(p.EffectiveFrom), formatEMC(p.PreviousAmount.ToInt()),
		p.LockName, uint64(p.UnlockEpoch), p.Signer.Hex())
	for _, u := range p.Unbonding {
		fmt.Fprintf(w, "  unbonding %s EMC, released at epoch %d\n", formatEMC(u.Amount.ToInt()), uint64(u.ReleaseEpoch))
	}
}

// stakeOf calls emc_stakeOf.
func stakeOf(ctx context.Context, nd *rpcNode, addr common.Address, block string) (*jsonrpc.StakePosition, error) {
	bnh, err := parseBlockArg(block)
	if err != nil {
		return nil, err
	}
	var p jsonrpc.StakePosition
	if err := nd.rpc.CallContext(ctx, &p, "emc_stakeOf", addr, bnh); err != nil {
		return nil, fmt.Errorf("emc_stakeOf: %w", err)
	}
	if p.Amount == nil || p.PreviousAmount == nil {
		return nil, fmt.Errorf("emc_stakeOf: incomplete answer (is the staking module on this chain?)")
	}
	return &p, nil
}
