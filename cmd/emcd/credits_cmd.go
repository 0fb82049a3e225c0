package main

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newCreditsCmd) }

func creditsABI() (*abi.ABI, error) {
	m, err := credits.New(nil)
	if err != nil {
		return nil, err
	}
	return parseModuleABI(m)
}

func newCreditsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credits",
		Short: "Buy Credits (the compute unit) and read balances, over JSON-RPC",
		Long: `credits talks to the Credits module (` + native.CreditsAddress.Hex() + `).

Credits are bought with EMC at the chain's credit price (creditPrice(), a
genesis param), are not transferable or withdrawable, and are spent by the
jobs and relay modules. See docs/economics.md, section "Credits".`,
	}
	cmd.AddCommand(newCreditsBuyCmd(g), newCreditsBalanceCmd(g))
	return cmd
}

func newCreditsBuyCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var to, amount string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "buy --credits N [--to ADDR] (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Buy N Credits for ADDR (default: the signer), paying N × creditPrice",
		Long: `buy sends buyCredits(to) with N × creditPrice wei, waits for the receipt
and prints the outcome (--json for scripts). It exits 1 with the revert
reason when the module refuses the purchase (then nothing is paid but gas;
with the default gas estimate a refused purchase is not even sent).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			n, ok := new(big.Int).SetString(amount, 10)
			if !ok || n.Sign() < 0 {
				return fmt.Errorf("--credits %q: want a non-negative whole number", amount)
			}
			if to != "" && !common.IsHexAddress(to) {
				return fmt.Errorf("--to %q is not an address", to)
			}
			a, err := creditsABI()
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			ctx, nd, s := sc.ctx, sc.nd, sc.s
			recipient := s.addr
			if to != "" {
				recipient = common.HexToAddress(to)
			}
			price, err := creditPrice(ctx, nd, a)
			if err != nil {
				return err
			}
			data, err := a.Pack("buyCredits", recipient)
			if err != nil {
				return err
			}
			value := new(big.Int).Mul(n, price)
			out, err := sendTx(ctx, nd, s, txRequest{To: native.CreditsAddress, Value: value, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			summary := ""
			if out.Status == "success" {
				res := map[string]any{"to": recipient, "credits": n.String(), "paidWei": value.String(), "creditPriceWei": price.String()}
				if bal, err := creditsOf(ctx, nd, recipient, hexutil.EncodeUint64(*out.Block)); err == nil {
					res["balance"] = bal.String()
					summary = fmt.Sprintf("bought %s credits for %s, paid %s wei; %s now holds %s credits", n, recipient.Hex(), value, recipient.Hex(), bal)
				} else {
					summary = fmt.Sprintf("bought %s credits for %s, paid %s wei", n, recipient.Hex(), value)
				}
				out.Result = res
			}
			return report(c.OutOrStdout(), rf.json, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&amount, "credits", "", "number of Credits to buy (whole units)")
	cmd.Flags().StringVar(&to, "to", "", "account credited (default: the signer)")
	gasFlag(cmd, &gas)
	_ = cmd.MarkFlagRequired("credits")
	return cmd
}

func newCreditsBalanceCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var block string
	cmd := &cobra.Command{
		Use:   "balance [ADDR]",
		Short: "Print ADDR's Credits (default: the account of --datadir, --keystore or --dev-account) via emc_creditsOf",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			addr, err := queryAddress(args, keySource{f: &kf, dataDir: g.dataDir}, "balance")
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			bal, err := creditsOf(ctx, nd, addr, block)
			if err != nil {
				return err
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), map[string]any{"address": addr, "credits": bal.String(), "block": block, "chainId": nd.chainID.Uint64()})
			}
			fmt.Fprintf(c.OutOrStdout(), "%s holds %s credits\n", addr.Hex(), bal)
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}

// creditsOf calls emc_creditsOf.
func creditsOf(ctx context.Context, nd *rpcNode, addr common.Address, block string) (*big.Int, error) {
	bnh, err := parseBlockArg(block)
	if err != nil {
		return nil, err
	}
	var res hexutil.Big
	if err := nd.rpc.CallContext(ctx, &res, "emc_creditsOf", addr, bnh); err != nil {
		return nil, fmt.Errorf("emc_creditsOf: %w", err)
	}
	return res.ToInt(), nil
}

// parseBlockArg accepts a tag, a 0x-hex or decimal number, or a block hash.
func parseBlockArg(s string) (rpc.BlockNumberOrHash, error) {
	if n, ok := new(big.Int).SetString(s, 10); ok && n.IsUint64() {
		s = hexutil.EncodeUint64(n.Uint64())
	}
	var bnh rpc.BlockNumberOrHash
	if err := bnh.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		return bnh, fmt.Errorf("--block %q: %w", s, err)
	}
	return bnh, nil
}

// creditPrice reads creditPrice() from the module.
func creditPrice(ctx context.Context, nd *rpcNode, a *abi.ABI) (*big.Int, error) {
	data, _ := a.Pack("creditPrice")
	to := native.CreditsAddress
	ret, err := nd.eth.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("creditPrice(): %w", err)
	}
	out, err := a.Unpack("creditPrice", ret)
	if err != nil || len(out) != 1 {
		return nil, fmt.Errorf("creditPrice(): bad result %x (is the credits module on this chain?): %v", ret, err)
	}
	p := out[0].(*big.Int)
	if p.Sign() <= 0 {
		return nil, fmt.Errorf("creditPrice() = %s", p)
	}
	return p, nil
}
