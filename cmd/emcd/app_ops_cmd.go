package main

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/state/native"
)

// The operators' side of `emcd app`: what routers and nodes send (their
// services automate it; these commands let an operator act by hand).

func init() {
	extraAppCommands = append(extraAppCommands, newAppPlaceCmd, newAppReadyCmd, newAppReapCmd, newAppSettleCmd)
}

// appInstanceTx is a command that sends one apps method on INSTANCE (and
// the extra arguments parse gives) and prints the instance's state after.
func appInstanceTx(g *globals, use, short, long, method string, nargs int, parse func(args []string) ([]any, error)) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(nargs),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseAppID("instance", args[0])
			if err != nil {
				return err
			}
			callArgs := []any{new(big.Int).SetUint64(id)}
			if parse != nil {
				more, err := parse(args[1:])
				if err != nil {
					return err
				}
				callArgs = append(callArgs, more...)
			}
			a, err := appsABI()
			if err != nil {
				return err
			}
			data, err := a.Pack(method, callArgs...)
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			out, err := sendTx(sc.ctx, sc.nd, sc.s, txRequest{To: native.AppsAddress, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			summary := ""
			if out.Status == "success" {
				res := map[string]any{"instance": id}
				summary = fmt.Sprintf("%s: instance %d", method, id)
				if in, err := getInstance(sc.ctx, sc.nd, id, hexutil.EncodeUint64(*out.Block)); err == nil && in != nil {
					res["state"] = in.State
					summary += " now " + in.State
					if method == "settle" {
						res["seq"], res["calls"], res["chargedWei"] = uint64(in.Seq), uint64(in.Calls), in.Charged.ToInt().String()
						summary += fmt.Sprintf(", settled through receipt %d (%d calls), charged %s wei in all", uint64(in.Seq), uint64(in.Calls), in.Charged.ToInt())
					}
				}
				out.Result = res
			}
			return report(c.OutOrStdout(), rf.json, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

func newAppPlaceCmd(g *globals) *cobra.Command {
	return appInstanceTx(g, "place INSTANCE NODE", "Place a deployed instance on NODE (an active router's call)",
		`place sends place(instance, node) from a staked, registered router: NODE (the
node's owner account) must be registered, live, hold the app's image and
enough GPUs; the router, the node and the instance's owner must differ.
The router co-signs the instance's usage receipts from then on.`, "place", 2,
		func(args []string) ([]any, error) {
			if !common.IsHexAddress(args[0]) {
				return nil, fmt.Errorf("NODE %q is not an address", args[0])
			}
			return []any{common.HexToAddress(args[0])}, nil
		})
}

func newAppReadyCmd(g *globals) *cobra.Command {
	return appInstanceTx(g, "ready INSTANCE", "Report a placed instance ready (the placed node's owner); its lease starts",
		`ready sends ready(instance) from the placed node's owner, after the
container's health check passed, within the ready window; the lease runs
its hours from this block's time.`, "ready", 1, nil)
}

func newAppReapCmd(g *globals) *cobra.Command {
	return appInstanceTx(g, "reap INSTANCE", "End an instance whose node is dead (anyone); the rest is refunded after the window",
		`reap sends reap(instance): refused while the node is registered and seen
within the liveness window; a running instance's lease ends (node-dead),
a placed one goes back to the routers.`, "reap", 1, nil)
}

func newAppSettleCmd(g *globals) *cobra.Command {
	return appInstanceTx(g, "settle INSTANCE RECEIPT", "Settle a signed usage receipt (hex) of INSTANCE (anyone may carry it)",
		`settle sends settle(instance, receipt) with RECEIPT, the 0x-hex encoding of
a cumulative usage receipt signed by the node's owner and the placing router
(computing/apps receipt.go). It is checked before sending (layout, instance);
the chain pays the charge since the last settled receipt: the royalty to the
developer, 80 % of the rest to the node, the rest burned.`, "settle", 2,
		func(args []string) ([]any, error) {
			raw, err := hexutil.Decode(strings.TrimSpace(args[0]))
			if err != nil {
				return nil, fmt.Errorf("RECEIPT: %w", err)
			}
			if _, err := apps.DecodeSignedReceipt(raw); err != nil {
				return nil, fmt.Errorf("RECEIPT: %w", err)
			}
			return []any{raw}, nil
		})
}
