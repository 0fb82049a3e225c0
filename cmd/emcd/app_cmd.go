package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newAppCmd) }

// extraAppCommands are the operators' subcommands (app_ops_cmd.go).
var extraAppCommands []func(*globals) *cobra.Command

func appsABI() (*abi.ABI, error) { return parseModuleABI(new(apps.Module)) }

func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Publish apps and deploy, follow, stop and list their instances (EMC Hub), over JSON-RPC",
		Long: `app talks to the apps module (` + native.AppsAddress.Hex() + `).

A model developer publishes an app (a container image serving HTTP on a
port, with a health path and prices per call and per GPU-second, and a
royalty share); a user deploys an instance with an EMC or Credits escrow
and gets an API key; a router places it on a compute node holding the
image, which starts it and reports it ready; callers reach it through the
routers at /apps/<instance>/<path> with "Authorization: Bearer KEY"; usage
is settled from the escrow with signed receipts, and the rest is refunded
when the lease ends. See computing/apps.`,
	}
	cmd.AddCommand(newAppPublishCmd(g), newAppDeployCmd(g), newAppStatusCmd(g), newAppStopCmd(g), newAppListCmd(g))
	for _, f := range extraAppCommands {
		cmd.AddCommand(f(g))
	}
	return cmd
}

// appPublishFlags are publish's flags.
type appPublishFlags struct {
	image, health, name, description, paramsDoc string
	perCall, perGPUSecond                       string
	port                                        uint32
	royaltyBps                                  uint32
}

// args returns publishApp's arguments from the flags, checked as the
// module checks them (so a bad flag exits before anything is sent).
func (f *appPublishFlags) args() ([]any, error) {
	img, err := parseDigest(f.image)
	if err != nil {
		return nil, err
	}
	if f.port == 0 || f.port > 65535 {
		return nil, fmt.Errorf("--port %d: want 1 to 65535", f.port)
	}
	if !strings.HasPrefix(f.health, "/") || len(f.health) > apps.MaxHealthPathBytes {
		return nil, fmt.Errorf("--health %q: want a path starting with / (at most %d bytes)", f.health, apps.MaxHealthPathBytes)
	}
	if f.royaltyBps > apps.MaxRoyaltyBps {
		return nil, fmt.Errorf("--royalty-bps %d: at most %d (100 %%)", f.royaltyBps, apps.MaxRoyaltyBps)
	}
	name := f.name
	if name == "" {
		name = "app-" + strings.TrimPrefix(img.Hex(), "0x")[:12]
	}
	if len(name) > apps.MaxNameBytes {
		return nil, fmt.Errorf("--name: %d bytes, at most %d", len(name), apps.MaxNameBytes)
	}
	if len(f.description) > apps.MaxDescriptionBytes {
		return nil, fmt.Errorf("--description: %d bytes, at most %d", len(f.description), apps.MaxDescriptionBytes)
	}
	doc := ""
	if f.paramsDoc != "" {
		b, err := os.ReadFile(f.paramsDoc)
		if err != nil {
			return nil, fmt.Errorf("--params-doc: %w", err)
		}
		if len(b) > apps.MaxParamsDocBytes {
			return nil, fmt.Errorf("--params-doc %s: %d bytes, at most %d", f.paramsDoc, len(b), apps.MaxParamsDocBytes)
		}
		doc = string(b)
	}
	perCall, err := parseWei("--price-per-call", f.perCall)
	if err != nil {
		return nil, err
	}
	perGPU, err := parseWei("--price-per-gpu-second", f.perGPUSecond)
	if err != nil {
		return nil, err
	}
	if perCall.Sign() == 0 && perGPU.Sign() == 0 {
		return nil, errors.New("give --price-per-call WEI or --price-per-gpu-second WEI (or both), not both zero")
	}
	return []any{[32]byte(img), uint16(f.port), f.health, name, f.description, doc, perCall, perGPU, uint16(f.royaltyBps)}, nil
}

// parseWei parses a whole number of wei ("" is 0).
func parseWei(flag, s string) (*big.Int, error) {
	if s == "" {
		return new(big.Int), nil
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 256 {
		return nil, fmt.Errorf("%s %q: want a whole number of wei", flag, s)
	}
	return v, nil
}

// parseAppID parses an app or instance id (decimal or 0x-hex, from 1).
func parseAppID(what, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 0, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%s id %q: want a number from 1", what, s)
	}
	return id, nil
}

// idFromLog reads the first indexed id of event ev of the apps module in
// tx's receipt.
func idFromLog(ctx context.Context, nd *rpcNode, a *abi.ABI, tx common.Hash, ev string) (uint64, error) {
	rcpt, err := nd.eth.TransactionReceipt(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("receipt of %s: %w", tx.Hex(), err)
	}
	id := a.Events[ev].ID
	for _, l := range rcpt.Logs {
		if l.Address == native.AppsAddress && len(l.Topics) >= 2 && l.Topics[0] == id {
			v := l.Topics[1].Big()
			if !v.IsUint64() {
				return 0, fmt.Errorf("%s id %s out of range", ev, v)
			}
			return v.Uint64(), nil
		}
	}
	return 0, fmt.Errorf("transaction %s succeeded without a %s log", tx.Hex(), ev)
}

// appTxJSON is a signing command's --json output with the new id (and
// key) also at the top level, for scripts: {"id": …} or {"instance": …,
// "api_key": …} alongside the transaction's outcome.
type appTxJSON struct {
	*txOutcome
	ID       *uint64 `json:"id,omitempty"`
	Instance *uint64 `json:"instance,omitempty"`
	APIKey   string  `json:"api_key,omitempty"`
}

func newAppPublishCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var pf appPublishFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "publish --image DIGEST --port N --health PATH (--price-per-call WEI | --price-per-gpu-second WEI) [--royalty-bps B] [--name N]",
		Short: "Publish an app (publishApp); prints its id",
		Long: `publish sends publishApp from the signer, the app's developer (who earns
its royalty): the image digest, the container port, the health path, a name
(default app-<digest prefix>), a description and a parameters doc (a text
file), the prices in wei (per call and per GPU-second; at least one) and the
royalty in basis points of every charge (default 0). An app is never edited:
publish again for a new version. Prints the id ({"id": …} with --json).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			callArgs, err := pf.args()
			if err != nil {
				return err
			}
			a, err := appsABI()
			if err != nil {
				return err
			}
			data, err := a.Pack("publishApp", callArgs...)
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
			res := appTxJSON{txOutcome: out}
			summary := ""
			if out.Status == "success" {
				id, err := idFromLog(sc.ctx, sc.nd, a, *out.TxHash, "AppPublished")
				if err != nil {
					return err
				}
				res.ID = &id
				out.Result = map[string]any{"id": id, "name": callArgs[3]}
				summary = fmt.Sprintf("published app %d (%s)", id, callArgs[3])
			}
			if rf.json {
				if err := writeJSON(c.OutOrStdout(), res); err != nil {
					return err
				}
				return report(io.Discard, true, out, "")
			}
			return report(c.OutOrStdout(), false, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&pf.image, "image", "", "container image digest (sha256:<64 hex digits>)")
	fs.Uint32Var(&pf.port, "port", 0, "the port the container serves HTTP on")
	fs.StringVar(&pf.health, "health", "", "the health-check path (GET, 200 when ready), e.g. /health")
	fs.StringVar(&pf.name, "name", "", "the app's name (printable ASCII, at most "+strconv.Itoa(apps.MaxNameBytes)+" bytes)")
	fs.StringVar(&pf.description, "description", "", "a description (at most "+strconv.Itoa(apps.MaxDescriptionBytes)+" bytes)")
	fs.StringVar(&pf.paramsDoc, "params-doc", "", "a text file documenting the API's parameters (at most "+strconv.Itoa(apps.MaxParamsDocBytes)+" bytes)")
	fs.StringVar(&pf.perCall, "price-per-call", "", "wei charged per call")
	fs.StringVar(&pf.perGPUSecond, "price-per-gpu-second", "", "wei charged per GPU-second used")
	fs.Uint32Var(&pf.royaltyBps, "royalty-bps", 0, "the developer's share of every charge in basis points (10000 = 100 %)")
	gasFlag(cmd, &gas)
	_ = cmd.MarkFlagRequired("image")
	_ = cmd.MarkFlagRequired("port")
	_ = cmd.MarkFlagRequired("health")
	return cmd
}

func newAppDeployCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gpus uint32
	var hours uint64
	var escrow, creditsN string
	var gas uint64
	var restart bool
	cmd := &cobra.Command{
		Use:   "deploy APP [--gpus N] --hours H (--escrow EMC | --credits N) [--restart]",
		Short: "Rent an instance of APP (deploy or deployCredits); prints the instance and its API key",
		Long: `deploy makes a fresh API key on this machine, sends deploy(app, gpus, hours,
keccak256(key)) with the EMC escrow (or deployCredits locking N of the
signer's Credits) and prints the instance id and the key ({"instance": …,
"api_key": …} with --json). Only the key's hash goes on chain: keep the
key, it is shown once. A router places the instance on a node holding the
image; the lease runs --hours from when the node reports it ready. Usage is
charged from the escrow at the app's prices; what is left is refunded when
the lease ends (on time, by 'emcd app stop', or when the node dies).
With --restart a second transaction, setRestart(instance, true), asks that
when the node dies the instance be placed again on another node with the
rest of its lease and escrow (at most the chain's maxRestarts times);
'emcd app status' shows it. Without it a dead node ends the lease.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			appID, err := parseAppID("app", args[0])
			if err != nil {
				return err
			}
			if hours == 0 || hours > apps.MaxHours {
				return fmt.Errorf("--hours %d: want 1 to %d", hours, apps.MaxHours)
			}
			if (escrow == "") == (creditsN == "") {
				return errors.New("give exactly one of --escrow EMC and --credits N")
			}
			key, err := apps.NewAPIKey()
			if err != nil {
				return err
			}
			keyHash := [32]byte(apps.APIKeyHash(key))
			a, err := appsABI()
			if err != nil {
				return err
			}
			var data []byte
			var value *big.Int
			if escrow != "" {
				if value, err = parseEMC(escrow); err != nil {
					return fmt.Errorf("--escrow: %w", err)
				}
				if value.Sign() == 0 {
					return errors.New("--escrow: must be more than zero")
				}
				data, err = a.Pack("deploy", new(big.Int).SetUint64(appID), gpus, hours, keyHash)
			} else {
				n, ok := new(big.Int).SetString(creditsN, 10)
				if !ok || n.Sign() <= 0 || n.BitLen() > 256 {
					return fmt.Errorf("--credits %q: want a positive whole number of Credits", creditsN)
				}
				data, err = a.Pack("deployCredits", new(big.Int).SetUint64(appID), gpus, hours, keyHash, n)
			}
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			out, err := sendTx(sc.ctx, sc.nd, sc.s, txRequest{To: native.AppsAddress, Value: value, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			res := appTxJSON{txOutcome: out}
			summary := ""
			if out.Status == "success" {
				id, err := idFromLog(sc.ctx, sc.nd, a, *out.TxHash, "InstanceDeployed")
				if err != nil {
					return err
				}
				res.Instance, res.APIKey = &id, key
				out.Result = map[string]any{"instance": id, "app": appID, "api_key": key, "apiKeyHash": common.Hash(keyHash).Hex()}
				summary = fmt.Sprintf("deployed instance %d of app %d\napi key (shown once, keep it): %s", id, appID, key)
				if restart {
					if err := setRestart(sc, a, id); err != nil {
						// the instance exists: say so, with its key, and fail
						fmt.Fprintln(c.ErrOrStderr(), summary)
						return fmt.Errorf("instance %d deployed, but restart not set (retry with a setRestart transaction): %w", id, err)
					}
					summary += "\nrestart elsewhere on node death: on"
				}
			}
			if rf.json {
				if err := writeJSON(c.OutOrStdout(), res); err != nil {
					return err
				}
				return report(io.Discard, true, out, "")
			}
			return report(c.OutOrStdout(), false, out, summary)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	fs := cmd.Flags()
	fs.Uint32Var(&gpus, "gpus", 1, "GPUs the instance needs (0: CPU only)")
	fs.Uint64Var(&hours, "hours", 0, "lease length in hours")
	fs.StringVar(&escrow, "escrow", "", "EMC escrowed for the instance's usage (decimal, more than zero)")
	fs.StringVar(&creditsN, "credits", "", "Credits of the signer escrowed instead of EMC (whole, more than zero)")
	fs.BoolVar(&restart, "restart", false, "if the node dies, place the instance again elsewhere (setRestart; a second transaction)")
	gasFlag(cmd, &gas)
	cmd.MarkFlagsMutuallyExclusive("escrow", "credits")
	_ = cmd.MarkFlagRequired("hours")
	return cmd
}

// setRestart sends setRestart(id, true) from the signer and checks it
// succeeded.
func setRestart(sc *signedConn, a *abi.ABI, id uint64) error {
	data, err := a.Pack("setRestart", new(big.Int).SetUint64(id), true)
	if err != nil {
		return err
	}
	out, err := sendTx(sc.ctx, sc.nd, sc.s, txRequest{To: native.AppsAddress, Data: data, ABIs: []*abi.ABI{a}})
	if err != nil {
		return err
	}
	if out.Status != "success" {
		return fmt.Errorf("setRestart: %s %s", out.Status, out.RevertReason)
	}
	return nil
}

// getInstance calls emc_getInstance; nil when there is none.
func getInstance(ctx context.Context, nd *rpcNode, id uint64, block string) (*jsonrpc.Instance, error) {
	bnh, err := parseBlockArg(block)
	if err != nil {
		return nil, err
	}
	var in *jsonrpc.Instance
	if err := nd.rpc.CallContext(ctx, &in, "emc_getInstance", hexutil.Uint64(id), bnh); err != nil {
		return nil, fmt.Errorf("emc_getInstance: %w", err)
	}
	return in, nil
}

func printInstance(c *cobra.Command, asJSON bool, in *jsonrpc.Instance) error {
	w := c.OutOrStdout()
	if asJSON {
		return writeJSON(w, in)
	}
	esc := formatEMC(in.Escrow.ToInt()) + " EMC"
	if in.EscrowKind == "credits" {
		esc = in.EscrowCredits.ToInt().String() + " Credits"
	}
	fmt.Fprintf(w, "instance %d of app %d: %s, owner %s, escrow %s, %d GPU(s), %d hour(s), deployed in block %d\n",
		uint64(in.ID), uint64(in.App), in.State, in.Owner.Hex(), esc, uint64(in.GPUs), uint64(in.Hours), uint64(in.DeployBlock))
	if in.Node != nil {
		fmt.Fprintf(w, "  node %s, router %s\n", in.Node.Hex(), in.Router.Hex())
	}
	if in.ReadyTime != 0 {
		fmt.Fprintf(w, "  lease from block time %d to %d\n", uint64(in.ReadyTime), uint64(in.EndTime))
	}
	if in.Restart || in.Restarts != 0 {
		fmt.Fprintf(w, "  restart elsewhere on node death: %v, restarts so far: %d\n", in.Restart, uint64(in.Restarts))
	}
	if in.Seq != 0 {
		fmt.Fprintf(w, "  settled through receipt %d: %d calls, %d GPU-ms, charged %s wei (node %s, royalty %s, burned %s)\n",
			uint64(in.Seq), uint64(in.Calls), uint64(in.GPUMillis), in.Charged.ToInt(), in.NodePaid.ToInt(), in.Royalty.ToInt(), in.Burned.ToInt())
	}
	if in.State == apps.StateClosed.String() {
		fmt.Fprintf(w, "  closed in block %d (%s): refunded %s EMC", uint64(in.EndBlock), in.EndReason, formatEMC(in.Refund.ToInt()))
		if in.EscrowKind == "credits" {
			fmt.Fprintf(w, ", %s Credits", in.RefundCredits.ToInt())
		}
		fmt.Fprintln(w)
	} else if in.EndReason != "" {
		fmt.Fprintf(w, "  ending (%s): receipts settle until block %d\n", in.EndReason, uint64(in.Deadline))
	}
	return nil
}

func newAppStatusCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var block string
	cmd := &cobra.Command{
		Use:   "status INSTANCE",
		Short: "Print instance INSTANCE (emc_getInstance)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseAppID("instance", args[0])
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			in, err := getInstance(ctx, nd, id, block)
			if err != nil {
				return err
			}
			if in == nil {
				return fmt.Errorf("no instance %d at block %s", id, block)
			}
			return printInstance(c, rf.json, in)
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}

func newAppStopCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var gas uint64
	cmd := &cobra.Command{
		Use:   "stop INSTANCE",
		Short: "Stop instance INSTANCE (its owner only); the rest of the escrow is refunded",
		Long: `stop sends stop(instance) from the owner. An instance not yet running closes
at once, refunded; a running one ends its lease now and closes after the
final settlement window, refunding what was not charged. A refused stop
exits 1 with the module's reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseAppID("instance", args[0])
			if err != nil {
				return err
			}
			a, err := appsABI()
			if err != nil {
				return err
			}
			data, err := a.Pack("stop", new(big.Int).SetUint64(id))
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
				summary = fmt.Sprintf("stopped instance %d", id)
				if in, err := getInstance(sc.ctx, sc.nd, id, hexutil.EncodeUint64(*out.Block)); err == nil && in != nil {
					res["state"], res["refundWei"] = in.State, in.Refund.ToInt().String()
					summary += "; " + in.State
					if in.State == apps.StateClosed.String() {
						summary += fmt.Sprintf(", refunded %s EMC", formatEMC(in.Refund.ToInt()))
					} else {
						summary += fmt.Sprintf(", the rest is refunded after block %d", uint64(in.Deadline))
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

func newAppListCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var block string
	var offset, limit uint64
	cmd := &cobra.Command{
		Use:   "list [--offset N] [--limit N]",
		Short: "List the published apps (emc_apps)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit > jsonrpc.MaxAppsPage {
				return fmt.Errorf("--limit %d: at most %d", limit, jsonrpc.MaxAppsPage)
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
			var out jsonrpc.AppsPage
			if err := nd.rpc.CallContext(ctx, &out, "emc_apps", hexutil.Uint64(offset), hexutil.Uint64(limit), bnh); err != nil {
				return fmt.Errorf("emc_apps: %w", err)
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), out)
			}
			w := c.OutOrStdout()
			for _, a := range out.Apps {
				fmt.Fprintf(w, "%d\t%s\t%s\tport %d\t%s wei/call\t%s wei/GPU-s\troyalty %d bps\t%s\n", uint64(a.ID), a.Name, a.Image.Hex(),
					uint64(a.Port), a.PricePerCall.ToInt(), a.PricePerGPUSecond.ToInt(), uint64(a.RoyaltyBps), a.Publisher.Hex())
			}
			fmt.Fprintf(w, "%d shown, next offset %d of %d (block %d)\n", len(out.Apps), uint64(out.NextOffset), uint64(out.Total), uint64(out.BlockNumber))
			return nil
		},
	}
	rf.register(cmd)
	fs := cmd.Flags()
	fs.Uint64Var(&offset, "offset", 0, "skip this many apps")
	fs.Uint64Var(&limit, "limit", 0, fmt.Sprintf("read at most this many (default and most: %d)", jsonrpc.MaxAppsPage))
	fs.StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}
