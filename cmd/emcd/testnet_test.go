package main

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/node"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/state/native"
)

// runTestnetCmd runs `emcd testnet args...` in process and returns its
// output.
func runTestnetCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"testnet"}, args...))
	err := root.Execute()
	return out.String(), err
}

// TestTestnetTableCandidatesEpoch: `emcd testnet` writes a genesis with the
// given epoch length, the genesis validators only (candidates are outside
// the set), every node funded from the supply table (gas plus its role's
// minimum stake), and a table that adds up to the total supply.
func TestTestnetTableCandidatesEpoch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	out, err := runTestnetCmd(t, "--validators", "4", "--routers", "1", "--compute", "1", "--candidates", "2",
		"--epoch-length", "20", "--out", dir, "--base-port", "31000")
	if err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	addrs := map[string]common.Address{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && common.IsHexAddress(f[1]) {
			addrs[f[0]] = common.HexToAddress(f[1])
		}
	}
	if len(addrs) != 8 {
		t.Fatalf("want 8 nodes in the output, got %v\n%s", addrs, out)
	}
	g, err := genesis.FromFile(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if g.EpochLength != 20 {
		t.Fatalf("epoch length %d, want 20", g.EpochLength)
	}
	if len(g.Validators) != 4 || g.Validators[0] != addrs["validator-1"] || g.Validators[3] != addrs["validator-4"] {
		t.Fatalf("validators %v, want validator-1 … validator-4 only", g.Validators)
	}
	emc := func(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(params.EMC)) }
	// Genesis validators get gas only: their stake is seeded at genesis.
	want := map[string]*big.Int{
		"validator-1": emc(10_000), "validator-4": emc(10_000), "router-1": emc(110_000),
		"compute-1": emc(10_000), "candidate-1": emc(1_010_000), "candidate-2": emc(1_010_000),
	}
	for name, w := range want {
		if got := g.Alloc[addrs[name]].Balance; got == nil || got.Cmp(w) != 0 {
			t.Errorf("%s funded %v, want %s", name, got, w)
		}
	}
	// A candidate is a validator-role data dir with its key, following the chain.
	cfg, err := os.ReadFile(filepath.Join(dir, "candidate-2", "config.toml"))
	if err != nil || !strings.Contains(string(cfg), `role = "validator"`) {
		t.Fatalf("candidate config: %v\n%s", err, cfg)
	}
	if ks, err := os.ReadDir(filepath.Join(dir, "candidate-2", "keystore")); err != nil || len(ks) != 1 ||
		!strings.Contains(strings.ToLower(ks[0].Name()), strings.ToLower(addrs["candidate-2"].Hex()[2:])) {
		t.Fatalf("candidate keystore: %v %v", ks, err)
	}
	// Each genesis validator has a genesis stake of the minimum; the set
	// they elect is the genesis set (node.LoadModules checks it).
	mods, err := node.LoadModules(g)
	if err != nil {
		t.Fatalf("genesis stakes: %v", err)
	}
	if got := mods.GenesisAlloc()[native.StakingAddress].Balance; got.Cmp(emc(4_000_000)) != 0 {
		t.Fatalf("staking module holds %s at genesis, want 4,000,000 EMC", got)
	}
	// The table: ecosystem 150M, the reserve the rest, all of it the total.
	eco, res := genesis.DevTableAccounts()
	if *g.Reserve != res || g.Alloc[eco].Balance.Cmp(emc(genesis.EcosystemEMC)) != 0 {
		t.Fatalf("table accounts: reserve %s, ecosystem %v", g.Reserve, g.Alloc[eco].Balance)
	}
	tab, err := genesisTable(g)
	if err != nil {
		t.Fatal(err)
	}
	sum := new(big.Int).Add(tab.allocWei, tab.modulesWei)
	if sum.Add(sum, tab.reserveWei).Cmp(genesis.DefaultTotalSupplyWei()) != 0 || tab.reserveWei.Sign() <= 0 {
		t.Fatalf("alloc %s + modules %s + reserve %s != total", tab.allocWei, tab.modulesWei, tab.reserveWei)
	}
}

func TestTestnetFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--epoch-length", "0"},
		{"--candidates", "-1"},
		{"--validators", "0"},
		{"--validators", "2"}, // not 3F+1
		{"--validators", "5"},
	} {
		if out, err := runTestnetCmd(t, append(args, "--out", filepath.Join(t.TempDir(), "net"))...); err == nil {
			t.Errorf("%v accepted\n%s", args, out)
		}
	}
}

// TestTestnetCandidateFollows runs a one-validator testnet with one
// candidate and 4-block epochs: the candidate (a validator-role node
// outside the set) follows the chain across epoch boundaries, stakes the
// validator minimum from its own funding with `emcd stake --datadir`, and
// emc_supply on it adds up to the total.
func TestTestnetCandidateFollows(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	base := freeBasePort(t, 20)
	if out, err := exec.Command(emcdBinary(t), "testnet", "--validators", "1", "--candidates", "1", "--epoch-length", "4",
		"--out", filepath.Join(dir, "net"), "--base-port", fmt.Sprint(base), "--block-period", "100ms").CombinedOutput(); err != nil {
		t.Fatalf("emcd testnet: %v\n%s", err, out)
	}
	var procs []*proc
	for k, name := range []string{"validator-1", "candidate-1"} {
		p := &proc{t: t, name: name, role: "validator", datadir: filepath.Join(dir, "net", name),
			rpcURL: fmt.Sprintf("http://127.0.0.1:%d", base+10*k+1), logPath: filepath.Join(dir, name+".log")}
		procs = append(procs, p)
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if t.Failed() {
				t.Logf("---- %s log tail ----\n%s", p.name, p.tail(30))
			}
			p.kill()
		}
	})
	cand := procs[1]
	waitFor(t, 90*time.Second, "the candidate past two epoch boundaries", func() bool { return cand.height(ctx) >= 9 })
	a, errA := procs[0].hashAt(ctx, 8)
	b, errB := cand.hashAt(ctx, 8)
	if errA != nil || errB != nil || a != b {
		t.Fatalf("block 8: validator %s (%v), candidate %s (%v)", a, errA, b, errB)
	}
	r := runCLI(t, "stake", "add", "--rpc", cand.rpcURL, "--datadir", cand.datadir, "--role", "validator", "--amount", "1000000", "--json")
	if v := decodeTxJSON(t, r); r.code != 0 || v.Status != "success" {
		t.Fatalf("candidate stake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	c, err := rpc.DialContext(ctx, cand.rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s jsonrpc.Supply
	if err := c.CallContext(ctx, &s, "emc_supply"); err != nil {
		t.Fatal(err)
	}
	sum := new(big.Int).Add(s.Circulating.ToInt(), s.Burned.ToInt())
	sum.Add(sum, s.ModuleHeld.ToInt())
	if s.Total.ToInt().Cmp(genesis.DefaultTotalSupplyWei()) != 0 || sum.Cmp(s.Total.ToInt()) != 0 ||
		s.BurnedBaseFee.ToInt().Sign() == 0 || s.ModuleHeld.ToInt().Cmp(new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.EMC))) < 0 {
		t.Fatalf("emc_supply %+v", s)
	}
}

// TestTestnetComputeNodes: --gpu.simulated, --compute.executor, the prices,
// --compute.image, --jobs.params and --apps.params land in the compute nodes' config.toml
// (as keys `emcd run` knows) and in the genesis; validators and routers get
// no [gpu] or [compute] section; bad values are refused before anything is
// written.
func TestTestnetComputeNodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	img := "sha256:" + strings.Repeat("ab", 32)
	out, err := runTestnetCmd(t, "--validators", "1", "--routers", "1", "--compute", "2", "--gpu.simulated", "3",
		"--compute.executor", "process", "--compute.price-per-gpu-second", "777", "--compute.image", img,
		"--jobs.params", `{"offerDelayBlocks":1,"resultGraceSeconds":5}`, "--apps.params", `{"livenessBlocks":30}`, "--out", dir, "--base-port", "31200")
	if err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	root := newRootCmd()
	known := func(k string) bool { return root.Flags().Lookup(k) != nil || root.PersistentFlags().Lookup(k) != nil }
	for _, name := range []string{"compute-1", "compute-2"} {
		m, err := config.LoadFile(filepath.Join(dir, name, "config.toml"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"role": "compute", "gpu.mode": "simulated", "gpu.simulated": "3", "compute.executor": "process",
			"compute.price-per-gpu-second": "777", "compute.cpu-price": "1000000000000", "compute.image": img}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %q, want %q", name, k, m[k], v)
			}
		}
		for k := range m {
			if !known(k) {
				t.Errorf("%s: config key %q is no flag of emcd", name, k)
			}
		}
	}
	for _, name := range []string{"validator-1", "router-1"} {
		m, err := config.LoadFile(filepath.Join(dir, name, "config.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m["gpu.mode"]; ok {
			t.Errorf("%s has a [gpu] section", name)
		}
		if _, ok := m["compute.executor"]; ok {
			t.Errorf("%s has a [compute] section", name)
		}
	}
	g, err := genesis.FromFile(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := jobs.ParseParams(g.Params[jobs.Name])
	if err != nil || p.OfferDelayBlocks != 1 || p.ResultGraceSeconds != 5 || p.AssignBlocks != jobs.DefaultAssignBlocks {
		t.Fatalf("jobs params %+v, %v", p, err)
	}
	ap, err := apps.ParseParams(g.Params[apps.Name])
	if err != nil || ap.LivenessBlocks != 30 || ap.SettleBlocks != apps.DefaultSettleBlocks {
		t.Fatalf("apps params %+v, %v", ap, err)
	}

	// Defaults: the Docker executor, no [gpu] section without --gpu.simulated.
	dir2 := filepath.Join(t.TempDir(), "net")
	if out, err := runTestnetCmd(t, "--validators", "1", "--compute", "1", "--out", dir2, "--base-port", "31300"); err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	m, err := config.LoadFile(filepath.Join(dir2, "compute-1", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if m["compute.executor"] != "docker" || m["gpu.mode"] != "" || m["compute.image"] != "" {
		t.Fatalf("default compute config %v", m)
	}

	for _, bad := range [][]string{
		{"--compute.executor", "vm"},
		{"--gpu.simulated", "-1"},
		{"--compute.price-per-gpu-second", "1.5"},
		{"--compute.cpu-price", "-3"},
		{"--compute.image", "sha256:12"},
		{"--compute.image", strings.Repeat("ab", 32)},
		{"--jobs.params", `{"offerDelayBlocks":0}`},
		{"--jobs.params", `{"nope":1}`},
		{"--apps.params", `{"livenessBlocks":0}`},
		{"--apps.params", `{"nope":1}`},
	} {
		d := filepath.Join(t.TempDir(), "net")
		if out, err := runTestnetCmd(t, append([]string{"--validators", "1", "--compute", "1", "--out", d}, bad...)...); err == nil {
			t.Errorf("%v accepted\n%s", bad, out)
		}
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%v: %s written", bad, d)
		}
	}
}

// TestTestnetVerifyParams: --verify.params puts the verification module's
// params in the genesis (so the nodes load it); bad params and windows
// that do not fit the epoch are refused before anything is written.
func TestTestnetVerifyParams(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if out, err := runTestnetCmd(t, "--validators", "1", "--verify.params", `{"attestBlocks":10}`, "--epoch-length", "200",
		"--out", dir, "--base-port", "31400"); err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	g, err := genesis.FromFile(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := verify.ParseParams(g.Params[verify.Name])
	if err != nil || p.AttestBlocks != 10 {
		t.Fatalf("verify params %+v, %v", p, err)
	}
	for _, bad := range [][]string{
		{"--verify.params", `{"verifiers":9}`},
		{"--verify.params", `{"nope":1}`},
		{"--verify.params", `{}`, "--epoch-length", "100"}, // the CPU class's 120 s are 120 blocks at 1 s
	} {
		d := filepath.Join(t.TempDir(), "net")
		if out, err := runTestnetCmd(t, append([]string{"--validators", "1", "--out", d}, bad...)...); err == nil {
			t.Errorf("%v accepted\n%s", bad, out)
		}
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			t.Errorf("%v wrote %d entries", bad, len(entries))
		}
	}
}
