package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/staking"
)

func init() { extraCommands = append(extraCommands, newTestnetCmd) }

// testnetPassword is the keystore password of every testnet node. Testnets
// are for local testing only: the password sits in a file beside the key.
const testnetPassword = "emcd-testnet-insecure"

// Port layout of node k (0-based, validators first, then routers, then
// compute nodes, then candidates): p2p P+10k, JSON-RPC P+10k+1, gRPC
// P+10k+2, metrics P+10k+3.
const (
	portStride  = 10
	portRPC     = 1
	portGRPC    = 2
	portMetrics = 3
)

// testnetGasEMC is what every testnet node's account holds for gas, on top
// of the stake its role may need (testnetFunding).
const testnetGasEMC = 10_000

type testnetNode struct {
	// name is ROLE-i, or candidate-i for a validator-role node that is not
	// in the genesis set (it follows the chain until it stakes).
	name, role string
	index      int
	candidate  bool
	key        *ecdsa.PrivateKey
	peerID     string
	dir        string
}

func newTestnetCmd(_ *globals) *cobra.Command {
	var (
		validators, routers, computes int
		candidates                    int
		epochLength                   uint64
		out                           string
		basePort                      int
		period                        time.Duration
		chainID                       uint64
		noDevAccounts                 bool
		jobsParams, appsParams        string
		verifyParams                  string
		cc                            testnetCompute
		ipBase                        string
	)
	cmd := &cobra.Command{
		Use:   "testnet --validators N --out DIR",
		Short: "Write a local multi-node testnet (genesis, keys, configs) bound to 127.0.0.1",
		Long: `testnet writes DIR/genesis.json and one initialised data dir per node:
validator-1…, router-1…, compute-1…, candidate-1…, each with its key
(keystore), a password file, its libp2p node key and a config.toml that loads
automatically. Start node NAME with:

  emcd --role ROLE --datadir DIR/NAME

Candidates are validator-role nodes outside the genesis validator set: they
follow the chain until they stake (emcd stake add --role validator) and a
later epoch boundary puts them in the set.

The genesis keeps the mainnet supply table: the rewards pools, an ecosystem
account of 150,000,000 EMC and a reserve (test-mnemonic accounts 10 and 11)
holding the rest. Every node's account is funded from it with 10,000 EMC for
gas plus its role's minimum stake (validators and candidates 1,000,000 EMC,
routers 100,000 EMC).

Node k (0-based, validators, then routers, then compute nodes, then
candidates) listens with p2p on P+10k, JSON-RPC (HTTP and WS) on P+10k+1,
gRPC on P+10k+2 and metrics on P+10k+3. Every node bootstraps from the
validators.

With --ip-base IP (containers on a bridge network, one host per node) node
k binds p2p, JSON-RPC, gRPC and metrics on IP+k instead, with the same
ports P, P+1, P+2 and P+3 on every node, and the bootnodes name the
validators by those addresses.

INSECURE: keys are encrypted with a password stored next to them, and the
test-mnemonic dev accounts are funded (unless --no-dev-accounts). For local
testing only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if validators < 1 {
				return errors.New("--validators must be at least 1")
			}
			if (validators-1)%3 != 0 {
				// The stake-driven set has 3F+1 members: a testnet of 2,
				// 3, 5... would shrink at its first epoch boundary.
				return fmt.Errorf("--validators %d: a validator set has 3F+1 members (1, 4, 7, 10, ...); add the others as --candidates", validators)
			}
			if out == "" {
				return errors.New("--out DIR is required")
			}
			if routers < 0 || computes < 0 || candidates < 0 {
				return errors.New("--routers, --compute and --candidates must not be negative")
			}
			if epochLength < 1 {
				return errors.New("--epoch-length must be at least 1 block")
			}
			total := validators + routers + computes + candidates
			lay, err := newTestnetLayout(ipBase, basePort, total)
			if err != nil {
				return err
			}
			if lay.ips == nil && (basePort < 1024 || basePort+portStride*total > 65535) {
				return fmt.Errorf("--base-port %d: ports %d…%d must lie in 1024…65535", basePort, basePort, basePort+portStride*total)
			}
			if period < genesis.MinBlockPeriodMs*time.Millisecond {
				return fmt.Errorf("--block-period %s below the minimum %dms", period, genesis.MinBlockPeriodMs)
			}
			if err := cc.check(); err != nil {
				return err
			}
			var jobsRaw json.RawMessage
			if jobsParams != "" {
				if _, err := jobs.ParseParams(json.RawMessage(jobsParams)); err != nil {
					return fmt.Errorf("--jobs.params: %w", err)
				}
				jobsRaw = json.RawMessage(jobsParams)
			}
			var appsRaw json.RawMessage
			if appsParams != "" {
				if _, err := apps.ParseParams(json.RawMessage(appsParams)); err != nil {
					return fmt.Errorf("--apps.params: %w", err)
				}
				appsRaw = json.RawMessage(appsParams)
			}
			var verifyRaw json.RawMessage
			if verifyParams != "" {
				vp, err := verify.ParseParams(json.RawMessage(verifyParams))
				if err != nil {
					return fmt.Errorf("--verify.params: %w", err)
				}
				if err := vp.CheckTimeline(epochLength, uint64(period/time.Millisecond)); err != nil {
					return fmt.Errorf("--verify.params: %w", err)
				}
				verifyRaw = json.RawMessage(verifyParams)
			}
			if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
				return fmt.Errorf("--out %s exists and is not empty", out)
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			nodes, err := makeTestnetNodes(abs, validators, routers, computes, candidates)
			if err != nil {
				return err
			}
			gen, err := testnetGenesis(nodes, chainID, period, epochLength, !noDevAccounts)
			if err != nil {
				return err
			}
			if jobsRaw != nil {
				gen.Params[jobs.Name] = jobsRaw
			}
			if appsRaw != nil {
				gen.Params[apps.Name] = appsRaw
			}
			if verifyRaw != nil {
				gen.Params[verify.Name] = verifyRaw
			}
			if err := gen.Validate(); err != nil {
				return err
			}
			if _, err := genesisTable(gen); err != nil {
				return err
			}
			genJSON, err := gen.JSON()
			if err != nil {
				return err
			}
			genJSON = append(genJSON, '\n')
			if err := os.MkdirAll(abs, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(abs, "genesis.json"), genJSON, 0o644); err != nil {
				return err
			}
			var bootnodes []string
			for _, n := range nodes {
				if n.role == "validator" {
					host, p := lay.addr(n.index)
					bootnodes = append(bootnodes, fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", host, p, n.peerID))
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "testnet in %s: chain id %d, %d validators, %d routers, %d compute nodes, %d candidates, block period %s, epoch %d blocks\n",
				abs, chainID, validators, routers, computes, candidates, period, epochLength)
			for _, n := range nodes {
				if err := writeTestnetNode(n, genJSON, lay, bootnodes, cc); err != nil {
					return fmt.Errorf("%s: %w", n.name, err)
				}
				host, p := lay.addr(n.index)
				if lay.ips == nil {
					fmt.Fprintf(w, "  %-12s %s  p2p %d  rpc http://127.0.0.1:%d  grpc %d  metrics %d\n",
						n.name, crypto.PubkeyToAddress(n.key.PublicKey).Hex(), p, p+portRPC, p+portGRPC, p+portMetrics)
				} else {
					fmt.Fprintf(w, "  %-12s %s  ip %s  p2p %d  rpc http://%s:%d  grpc %d  metrics %d\n",
						n.name, crypto.PubkeyToAddress(n.key.PublicKey).Hex(), host, p, host, p+portRPC, p+portGRPC, p+portMetrics)
				}
			}
			fmt.Fprintf(w, "start each node with: emcd --role ROLE --datadir %s/NAME\n", abs)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&validators, "validators", 4, "number of validators")
	f.IntVar(&routers, "routers", 0, "number of router nodes")
	f.IntVar(&computes, "compute", 0, "number of compute nodes")
	f.IntVar(&candidates, "candidates", 0, "number of validator-role nodes outside the genesis set, funded to stake the validator minimum")
	f.Uint64Var(&epochLength, "epoch-length", genesis.DefaultEpochLength, "epoch length in blocks (validator-set changes, stake snapshots, rewards)")
	f.StringVar(&out, "out", "", "output directory (must not exist or be empty)")
	f.IntVar(&basePort, "base-port", 20000, "first port; node k uses P+10k … P+10k+3 (with --ip-base: P … P+3 on every node)")
	f.StringVar(&ipBase, "ip-base", "", "IPv4 address of the first node; node k binds IP+k (one host or container per node, e.g. a Docker bridge network) instead of 127.0.0.1")
	f.DurationVar(&period, "block-period", time.Second, "block period (sub-second allowed)")
	f.Uint64Var(&chainID, "chain-id", 4242, "chain id (4200–4299 marks a testnet: the signing CLI accepts --dev-account keys there)")
	f.BoolVar(&noDevAccounts, "no-dev-accounts", false, "do not fund the test-mnemonic accounts")
	f.StringVar(&verifyParams, "verify.params", "", `turn on the verification module (proof-of-work challenges of compute nodes) with these genesis params as JSON, '{}' for the defaults; every class's window must fit --epoch-length at --block-period`)
	f.StringVar(&appsParams, "apps.params", "", `the apps module's genesis params as JSON, e.g. '{"livenessBlocks":30,"settleBlocks":10}' (absent fields take defaults)`)
	f.StringVar(&jobsParams, "jobs.params", "", `the jobs module's genesis params as JSON, e.g. '{"offerDelayBlocks":1,"resultGraceSeconds":5}' (absent fields take defaults)`)
	f.IntVar(&cc.gpus, "gpu.simulated", 0, "compute nodes: number of simulated H100 80GB GPUs each (0: the node's real GPUs, --gpu.mode auto)")
	f.StringVar(&cc.executor, "compute.executor", agent.ExecutorDocker, "compute nodes: docker, or process (development only, NO isolation: programs loaded with `emcd compute images load FILE --executor process`)")
	f.StringVar(&cc.price, "compute.price-per-gpu-second", testnetGPUPriceWei, "compute nodes: price in wei per GPU-second")
	f.StringVar(&cc.cpuPrice, "compute.cpu-price", testnetGPUPriceWei, "compute nodes: price in wei per second of a CPU-only job (0: take none)")
	f.StringSliceVar(&cc.images, "compute.image", nil, "compute nodes: digests of the images (or process-executor programs) they hold, sha256:HEX (comma-separated or repeated)")
	return cmd
}

func makeTestnetNodes(dir string, validators, routers, computes, candidates int) ([]*testnetNode, error) {
	var nodes []*testnetNode
	add := func(prefix, role string, count int) error {
		for i := 1; i <= count; i++ {
			k, err := crypto.GenerateKey()
			if err != nil {
				return err
			}
			name := fmt.Sprintf("%s-%d", prefix, i)
			nodes = append(nodes, &testnetNode{name: name, role: role, index: len(nodes), key: k, dir: filepath.Join(dir, name),
				candidate: prefix == "candidate"})
		}
		return nil
	}
	for _, group := range []struct {
		prefix, role string
		count        int
	}{{"validator", "validator", validators}, {"router", "router", routers}, {"compute", "compute", computes}, {"candidate", "validator", candidates}} {
		if err := add(group.prefix, group.role, group.count); err != nil {
			return nil, err
		}
	}
	for _, n := range nodes {
		id, err := writeP2PKey(config.NewDataDir(n.dir).NodeKey())
		if err != nil {
			return nil, err
		}
		n.peerID = id
	}
	return nodes, nil
}

// testnetFunding returns what node n's account holds at genesis: gas
// money, plus, for every node but the genesis validators (whose stake is
// seeded at genesis, testnetStakes), its role's minimum stake (default
// staking params: candidates 1,000,000 EMC, routers 100,000, compute 0),
// so that it can stake its role from its own account.
func testnetFunding(n *testnetNode) *big.Int {
	fund := new(big.Int).Mul(big.NewInt(testnetGasEMC), big.NewInt(params.EMC))
	if n.role == "validator" && !n.candidate {
		return fund
	}
	role := map[string]staking.Role{"validator": staking.RoleValidator, "router": staking.RoleRouter, "compute": staking.RoleCompute}[n.role]
	return fund.Add(fund, staking.DefaultParams().MinStakeWei[role].ToBig())
}

// testnetStakingParams is the testnet's "staking" params: a genesis stake
// of the validator minimum (no lock, the node's key as owner and signer)
// for each genesis validator, so that the stake-driven set starts as the
// genesis set, and minValidators lowered to the genesis set's size when it
// is below the default (a 1-validator testnet keeps working).
func testnetStakingParams(validators []common.Address) (json.RawMessage, error) {
	type stakeJSON struct {
		Owner     common.Address `json:"owner"`
		AmountWei string         `json:"amountWei"`
		Lock      uint8          `json:"lock"`
	}
	p := struct {
		MinValidators uint64      `json:"minValidators"`
		GenesisStakes []stakeJSON `json:"genesisStakes"`
	}{MinValidators: min(uint64(len(validators)), staking.DefaultMinValidators)}
	amount := staking.DefaultParams().MinStakeWei[staking.RoleValidator].Dec()
	for _, v := range validators {
		p.GenesisStakes = append(p.GenesisStakes, stakeJSON{Owner: v, AmountWei: amount})
	}
	return json.Marshal(p)
}

// testnetGenesis builds the testnet genesis: the genesis validators, the
// mainnet supply table (ecosystem, reserve; the modules' pools come out of
// the reserve), every node funded from it, and the dev accounts if asked.
func testnetGenesis(nodes []*testnetNode, chainID uint64, period time.Duration, epochLength uint64, devAccounts bool) (*genesis.Genesis, error) {
	g := &genesis.Genesis{
		ChainID:       math.HexOrDecimal64(chainID),
		Timestamp:     math.HexOrDecimal64(time.Now().Unix()),
		BlockPeriodMs: math.HexOrDecimal64(period.Milliseconds()),
		EpochLength:   math.HexOrDecimal64(epochLength),
		Alloc:         types.GenesisAlloc{},
	}
	g.ScheduleAllForks()
	genesis.FundDevTable(g)
	for _, n := range nodes {
		addr := crypto.PubkeyToAddress(n.key.PublicKey)
		if n.role == "validator" && !n.candidate {
			g.Validators = append(g.Validators, addr)
		}
		g.Alloc[addr] = types.Account{Balance: testnetFunding(n)}
	}
	if devAccounts {
		genesis.FundDevAccounts(g)
	}
	sp, err := testnetStakingParams(g.Validators)
	if err != nil {
		return nil, err
	}
	g.Params = map[string]json.RawMessage{staking.Name: sp, "registry": genesis.DevRegistryParams(), "apps": json.RawMessage(`{}`)}
	return g, nil
}

// testnetGPUPriceWei is the default price of a testnet compute node: 10^12
// wei (10^-6 EMC) per GPU-second, and per second of a CPU-only job.
const testnetGPUPriceWei = "1000000000000"

// testnetCompute is what every compute node of a testnet is configured
// with: simulated GPUs, the executor, its prices and images. Its
// registration is automatic (--auto-register, on by default).
type testnetCompute struct {
	gpus            int
	executor        string
	price, cpuPrice string
	images          []string
}

func (c testnetCompute) check() error {
	if c.gpus < 0 || c.gpus > registry.MaxGPUs {
		return fmt.Errorf("--gpu.simulated %d: want 0 to %d", c.gpus, registry.MaxGPUs)
	}
	if c.executor != agent.ExecutorDocker && c.executor != agent.ExecutorProcess {
		return fmt.Errorf("--compute.executor %q: want docker or process", c.executor)
	}
	for _, x := range []struct{ flag, v string }{{"--compute.price-per-gpu-second", c.price}, {"--compute.cpu-price", c.cpuPrice}} {
		if v, ok := new(big.Int).SetString(x.v, 10); !ok || v.Sign() < 0 {
			return fmt.Errorf("%s %q: want a whole number of wei", x.flag, x.v)
		}
	}
	if len(c.images) > registry.MaxImages {
		return fmt.Errorf("--compute.image: %d images, at most %d", len(c.images), registry.MaxImages)
	}
	for _, im := range c.images {
		h := strings.TrimPrefix(im, "sha256:")
		if !strings.HasPrefix(im, "sha256:") || len(h) != 64 || strings.Trim(strings.ToLower(h), "0123456789abcdef") != "" {
			return fmt.Errorf("--compute.image %q: want sha256:HEX (64 hex digits)", im)
		}
	}
	return nil
}

// toml is the [gpu] and [compute] sections of a compute node's config.
func (c testnetCompute) toml() string {
	var b strings.Builder
	if c.gpus > 0 {
		fmt.Fprintf(&b, "\n[gpu]\nmode = \"simulated\"\nsimulated = %d\n", c.gpus)
	}
	quoted := func(xs []string) string {
		q := make([]string, len(xs))
		for i, x := range xs {
			q[i] = fmt.Sprintf("%q", x)
		}
		return strings.Join(q, ", ")
	}
	fmt.Fprintf(&b, "\n[compute]\nexecutor = %q\nprice-per-gpu-second = [%s]\ncpu-price = %q\n",
		c.executor, quoted([]string{c.price}), c.cpuPrice)
	if len(c.images) > 0 {
		fmt.Fprintf(&b, "image = [%s]\n", quoted(c.images))
	}
	return b.String()
}

func writeTestnetNode(n *testnetNode, genJSON []byte, lay testnetLayout, bootnodes []string, cc testnetCompute) error {
	dd := config.NewDataDir(n.dir)
	if err := os.MkdirAll(dd.Path, 0o700); err != nil {
		return err
	}
	ks := keystore.NewKeyStore(dd.Keystore(), keystore.LightScryptN, keystore.LightScryptP)
	if _, err := ks.ImportECDSA(n.key, testnetPassword); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	pwFile := filepath.Join(dd.Path, "password")
	if err := os.WriteFile(pwFile, []byte(testnetPassword+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(dd.GenesisFile(), genJSON, 0o644); err != nil {
		return err
	}
	host, p := lay.addr(n.index)
	var boots []string
	for _, b := range bootnodes {
		if !strings.HasSuffix(b, "/p2p/"+n.peerID) {
			boots = append(boots, fmt.Sprintf("%q", b))
		}
	}
	cfg := fmt.Sprintf(`# emcd testnet node %s (generated by emcd testnet; INSECURE, local testing only)
role = %q
password = %q
bootnodes = [%s]

[p2p]
addr = "/ip4/%[5]s/tcp/%[6]d"

[rpc]
addr = "%[5]s:%[7]d"

[grpc]
addr = "%[5]s:%[8]d"

[metrics]
addr = "%[5]s:%[9]d"
`, n.name, n.role, pwFile, strings.Join(boots, ", "), host, p, p+portRPC, p+portGRPC, p+portMetrics)
	if n.role == "compute" {
		cfg += cc.toml()
	}
	return os.WriteFile(dd.ConfigFile(), []byte(cfg), 0o644)
}

// writeP2PKey creates a libp2p identity key at path and returns its peer ID.
func writeP2PKey(path string) (string, error) {
	priv, _, err := p2pcrypto.GenerateEd25519Key(nil)
	if err != nil {
		return "", err
	}
	raw, err := p2pcrypto.MarshalPrivateKey(priv)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", err
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
