package main

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/inventory"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/jsonrpc"
	p2plibp2p "github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/state/native"
)

func init() { extraCommands = append(extraCommands, newNodeRegistryCmd) }

func registryABI() (*abi.ABI, error) { return parseModuleABI(new(registry.Module)) }

func newNodeRegistryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Register this compute node or router in the compute registry, over JSON-RPC",
		Long: `node talks to the compute registry module (` + native.RegistryAddress.Hex() + `).

A compute node registers its owner (the signing account), its libp2p peer
ID (proven by the node key in DATADIR/nodekey, or --node-key; created
there if missing, as the node does when it first starts), a summary of
its GPU inventory (what ` + "`emcd gpus`" + ` reports: count, model, memory
per GPU, simulated or not, and the hash of the inventory), its prices and
the image digests it holds. A router registers its peer ID and needs a
router stake (` + "`emcd stake add --role router`" + `) effective in the
current epoch.`,
	}
	cmd.AddCommand(newNodeRegisterCmd(g, false), newNodeRegisterCmd(g, true), newNodeDeregisterCmd(g), newNodeStatusCmd(g))
	return cmd
}

// nodeInputFlags are the inventory, price and image flags of register and
// update.
type nodeInputFlags struct {
	gpu      gpuFlags
	prices   []string
	cpuPrice string
	images   []string
	nodeKey  string
}

func (f *nodeInputFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayVar(&f.prices, "price-per-gpu-second", nil, "price in wei per GPU-second: WEI for the node's GPU model, or MODEL=WEI (repeatable, at most 8 models)")
	fs.StringVar(&f.cpuPrice, "cpu-price", "0", "price in wei per second of a CPU-only job (0: take none)")
	fs.StringArrayVar(&f.images, "image", nil, "digest of a container image the node holds: sha256:HEX, 0xHEX or HEX (repeatable, at most 16)")
	f.gpu.register(cmd)
}

func newNodeRegisterCmd(g *globals, update bool) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var nf nodeInputFlags
	var role string
	var gas uint64
	use, short := "register", "Register this node (compute, the default) or router (--role router)"
	if update {
		use, short = "update", "Replace this compute node's inventory, prices and images (the peer ID stays)"
	}
	cmd := &cobra.Command{
		Use:   use + " [flags] (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: short,
		Long: short + `.

The inventory comes from this host's GPUs, as ` + "`emcd gpus`" + ` sees them
(--gpu.mode simulated --gpu.simulated N for simulated GPUs, which only dev
and testnet chains accept). Its hash is keccak256 of the inventory object of
` + "`emcd gpus --json`" + `, compact JSON. The transaction is signed by the
owner's key; the libp2p node key (DATADIR/nodekey, or --node-key) signs the
peer-ID proof for that owner and this chain. The command waits for the
receipt and exits 1 with the revert reason when the registry refuses.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			asRouter := false
			switch role {
			case "compute":
			case "router":
				asRouter = true
			default:
				return fmt.Errorf("--role %q: want compute or router", role)
			}
			a, err := registryABI()
			if err != nil {
				return err
			}
			var args []any
			var summary inventory.Summary
			if !asRouter {
				if summary, err = nf.inventory(c, g); err != nil {
					return err
				}
				if args, err = nf.nodeArgs(summary); err != nil {
					return err
				}
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			ctx, nd, s := sc.ctx, sc.nd, sc.s
			method := "updateNode"
			var peerID []byte
			if !update {
				key, err := loadNodeKey(nf.nodeKey, g.dataDir, c.ErrOrStderr())
				if err != nil {
					return err
				}
				id, sig, err := registry.SignPeerProof(key, uint256.MustFromBig(nd.chainID), s.addr)
				if err != nil {
					return err
				}
				peerID = id
				args = append([]any{id, sig}, args...)
				method = "registerNode"
				if asRouter {
					method = "registerRouter"
				}
			}
			data, err := a.Pack(method, args...)
			if err != nil {
				return fmt.Errorf("encode %s: %w", method, err)
			}
			out, err := sendTx(ctx, nd, s, txRequest{To: native.RegistryAddress, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			text := ""
			if out.Status == "success" {
				res := map[string]any{"owner": s.addr, "role": role}
				if peerID != nil {
					res["peerId"] = peer.ID(peerID).String()
					text = fmt.Sprintf("%s %s %s as peer %s", verb(update), role, s.addr.Hex(), peer.ID(peerID))
				} else {
					text = fmt.Sprintf("updated compute node %s", s.addr.Hex())
				}
				if !asRouter {
					res["inventory"] = summary
					text += fmt.Sprintf(": %s", summary)
				}
				out.Result = res
			}
			return report(c.OutOrStdout(), rf.json, out, text)
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	if !update {
		cmd.Flags().StringVar(&role, "role", "compute", "what to register: compute or router")
		cmd.Flags().StringVar(&nf.nodeKey, "node-key", "", "libp2p node key file (default: DATADIR/nodekey)")
	} else {
		role = "compute"
	}
	nf.register(cmd)
	gasFlag(cmd, &gas)
	return cmd
}

func verb(update bool) string {
	if update {
		return "updated"
	}
	return "registered"
}

func newNodeDeregisterCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var role string
	var gas uint64
	cmd := &cobra.Command{
		Use:   "deregister [--role compute|router] (--datadir DIR | --keystore DIR --password FILE | --dev-account N)",
		Short: "Remove this compute node (default) or router from the registry, freeing its peer ID",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			method := map[string]string{"compute": "deregisterNode", "router": "deregisterRouter"}[role]
			if method == "" {
				return fmt.Errorf("--role %q: want compute or router", role)
			}
			a, err := registryABI()
			if err != nil {
				return err
			}
			sc, done, err := dialSigned(c, g, &rf, &kf)
			if err != nil {
				return err
			}
			defer done()
			ctx, nd, s := sc.ctx, sc.nd, sc.s
			data, _ := a.Pack(method)
			out, err := sendTx(ctx, nd, s, txRequest{To: native.RegistryAddress, Data: data, Gas: gas, ABIs: []*abi.ABI{a}})
			if err != nil {
				return err
			}
			if out.Status == "success" {
				out.Result = map[string]any{"owner": s.addr, "role": role}
			}
			return report(c.OutOrStdout(), rf.json, out, fmt.Sprintf("deregistered %s %s", role, s.addr.Hex()))
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&role, "role", "compute", "what to deregister: compute or router")
	gasFlag(cmd, &gas)
	return cmd
}

// nodeStatus is `emcd node status --json`: the account's node and router
// registrations at a block (null where none), in emc_computeNodes' form.
type nodeStatus struct {
	Address common.Address              `json:"address"`
	Block   string                      `json:"block"`
	ChainID uint64                      `json:"chainId"`
	Node    *jsonrpc.ComputeNodeEntry   `json:"node"`
	Router  *jsonrpc.ComputeRouterEntry `json:"router"`
}

func newNodeStatusCmd(g *globals) *cobra.Command {
	var rf rpcFlags
	var kf keyFlags
	var block string
	cmd := &cobra.Command{
		Use:   "status [ADDR]",
		Short: "Print ADDR's compute node and router registrations (default: the account of --datadir, --keystore or --dev-account)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			addr, err := queryAddress(args, keySource{f: &kf, dataDir: g.dataDir}, "registration")
			if err != nil {
				return err
			}
			bnh, err := parseBlockArg(block)
			if err != nil {
				return err
			}
			a, err := registryABI()
			if err != nil {
				return err
			}
			ctx, nd, done, err := dialRead(c, &rf)
			if err != nil {
				return err
			}
			defer done()
			st := nodeStatus{Address: addr, Block: block, ChainID: nd.chainID.Uint64()}
			call := func(method string) ([]any, error) {
				data, _ := a.Pack(method, addr)
				to := native.RegistryAddress
				var ret []byte
				var err error
				if bnh.BlockHash != nil {
					ret, err = nd.eth.CallContractAtHash(ctx, ethereum.CallMsg{To: &to, Data: data}, *bnh.BlockHash)
				} else {
					var num *big.Int
					if n, ok := bnh.Number(); ok && n >= 0 {
						num = big.NewInt(n.Int64())
					}
					ret, err = nd.eth.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, num)
				}
				if err != nil {
					return nil, fmt.Errorf("%s: %w", method, err)
				}
				out, err := a.Unpack(method, ret)
				if err != nil {
					return nil, fmt.Errorf("%s: bad result %x (is the registry module on this chain?): %w", method, ret, err)
				}
				return out, nil
			}
			out, err := call("nodeOf")
			if err != nil {
				return err
			}
			if out[0].(bool) {
				n, err := registry.DecodeNodeArgs(out[2:11])
				if err != nil {
					return fmt.Errorf("nodeOf: %w", err)
				}
				n.Owner, n.PeerID = addr, out[1].([]byte)
				n.RegisteredBlock, n.UpdatedBlock = out[11].(uint64), out[12].(uint64)
				e := jsonrpc.NodeEntry(&n)
				if seen, err := call("lastSeen"); err == nil && seen[0].(bool) {
					e.LastSeenBlock = hexutil.Uint64(seen[1].(uint64))
				}
				st.Node = &e
			}
			if out, err = call("routerOf"); err != nil {
				return err
			}
			if out[0].(bool) {
				st.Router = &jsonrpc.ComputeRouterEntry{Owner: addr, PeerID: peer.ID(out[1].([]byte)).String(),
					RegisteredBlock: hexutil.Uint64(out[2].(uint64)), Staked: out[3].(bool)}
			}
			if rf.json {
				return writeJSON(c.OutOrStdout(), st)
			}
			printNodeStatus(c.OutOrStdout(), &st)
			return nil
		},
	}
	rf.register(cmd)
	kf.register(cmd)
	cmd.Flags().StringVar(&block, "block", "latest", "block number (decimal or 0x-hex), hash, or tag")
	return cmd
}

func printNodeStatus(w io.Writer, st *nodeStatus) {
	if st.Node == nil && st.Router == nil {
		fmt.Fprintf(w, "%s has no compute node or router registered\n", st.Address.Hex())
		return
	}
	if n := st.Node; n != nil {
		sim := ""
		if n.Simulated {
			sim = " (simulated)"
		}
		fmt.Fprintf(w, "compute node %s, peer %s, registered at block %d, updated at block %d\n",
			n.Owner.Hex(), n.PeerID, uint64(n.RegisteredBlock), uint64(n.UpdatedBlock))
		fmt.Fprintf(w, "  GPUs: %d × %s, %d MiB each%s; inventory %s\n", uint64(n.GPUCount), n.GPUModel, uint64(n.MemoryMiB), sim, n.InventoryHash.Hex())
		for _, p := range n.Prices {
			fmt.Fprintf(w, "  price %s: %s wei per GPU-second\n", p.Model, p.WeiPerGPUSecond.ToInt())
		}
		fmt.Fprintf(w, "  CPU-only price: %s wei per second\n", n.CPUPrice.ToInt())
		for _, d := range n.Images {
			fmt.Fprintf(w, "  image sha256:%x\n", d[:])
		}
	}
	if r := st.Router; r != nil {
		staked := "staked"
		if !r.Staked {
			staked = "NOT staked (below the router minimum: it may not route)"
		}
		fmt.Fprintf(w, "router %s, peer %s, registered at block %d, %s\n", r.Owner.Hex(), r.PeerID, uint64(r.RegisteredBlock), staked)
	}
}

// inventory reads this host's GPUs through the GPU flags.
func (f *nodeInputFlags) inventory(c *cobra.Command, g *globals) (inventory.Summary, error) {
	p, err := f.gpu.open(g, c.ErrOrStderr())
	if err != nil {
		return inventory.Summary{}, err
	}
	defer p.Close()
	inv, err := p.Inventory(c.Context())
	if err != nil {
		return inventory.Summary{}, fmt.Errorf("GPU inventory: %w", err)
	}
	return inventory.Summarize(inv)
}

// nodeArgs builds registerNode's and updateNode's inventory arguments from
// the price and image flags, checked as the module will check them.
func (f *nodeInputFlags) nodeArgs(s inventory.Summary) ([]any, error) {
	o, err := inventory.ParseOffer(s, f.prices, f.cpuPrice, f.images)
	if err != nil {
		return nil, fmt.Errorf("--price-per-gpu-second, --cpu-price, --image: %w", err)
	}
	return inventory.Listing{Summary: s, Offer: o}.Args(), nil
}

// loadNodeKey reads the libp2p node key: path, else DATADIR/nodekey. A
// missing key is created there, as the node creates it when it first starts
// (a dev node runs no libp2p host and never writes one); the node then
// starts with the identity that was registered.
func loadNodeKey(path, dataDir string, stderr io.Writer) (lcrypto.PrivKey, error) {
	if path == "" {
		if dataDir == "" {
			return nil, errors.New("no node key: give --node-key FILE or --datadir DIR (its nodekey)")
		}
		path = config.NewDataDir(dataDir).NodeKey()
	}
	_, statErr := os.Stat(path)
	key, err := p2plibp2p.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintf(stderr, "created node key %s\n", path)
	}
	return key, nil
}
