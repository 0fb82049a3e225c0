package node

// Node-level tests of auto-registration (node/registrar) on a running dev
// node: the dev sealer seals a block every few milliseconds, the node's
// wallet sends from the dev compute owner, and the test reads the registry
// module in the head state, as the router's heartbeat table does.

import (
	"bytes"
	"context"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
)

// logBuf is a slog sink the test reads while the node writes.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startRegisteringNode starts a dev node in role with simulated GPUs and
// auto-registration at prices.
func startRegisteringNode(t *testing.T, dd *config.DataDir, g *genesis.Genesis, role string, prices ...string) (*Node, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	n, err := New(Config{
		Role: role, Dev: true, DataDir: dd, Genesis: g, DevPeriod: 20 * time.Millisecond,
		GPU: func() (gpu.Provider, error) {
			return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(2)})
		},
		TelemetryInterval: time.Hour,
		Register:          RegisterConfig{Auto: true, PricesPerGPUSecond: prices, CPUPriceWei: "7", Images: []string{strings.Repeat("ab", 32)}},
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	return n, logs
}

// waitLogged polls cond until it holds (the node seals and registers in the
// background; the deadline only bounds a broken run).
func waitLogged(t *testing.T, what string, logs *logBuf, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; node log:\n%s", what, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func headNode(t *testing.T, n *Node, owner common.Address) (registry.Node, bool) {
	t.Helper()
	st, err := n.Chain().StateAt(n.Chain().Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	rn, ok, err := registry.NodeOf(st, owner)
	if err != nil {
		t.Fatal(err)
	}
	return rn, ok
}

func metricValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("metric %s not on the node's registry", name)
	return 0
}

func nodePeerID(t *testing.T, dd *config.DataDir) peer.ID {
	t.Helper()
	key, err := libp2p.LoadOrCreateKey(dd.NodeKey())
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func priceOf(n registry.Node) string {
	if len(n.Prices) != 1 {
		return ""
	}
	return n.Prices[0].Model + "=" + n.Prices[0].WeiPerGPUSecond.Dec()
}

// A compute node registers itself from its wallet's key with its node
// key's peer ID; the heartbeat table then counts it. Restarted with another
// price it sends updateNode; restarted unchanged it sends nothing.
func TestComputeNodeRegistersItself(t *testing.T) {
	dd := config.NewDataDir(t.TempDir())
	const model = "Simulated NVIDIA H100 80GB HBM3"

	n, logs := startRegisteringNode(t, dd, nil, RoleCompute, "1000")
	owner := n.Wallet().Address()
	waitLogged(t, "registration", logs, func() bool { _, ok := headNode(t, n, owner); return ok })
	rn, _ := headNode(t, n, owner)
	id := nodePeerID(t, dd)
	if peer.ID(rn.PeerID) != id || rn.GPUCount != 2 || rn.GPUModel != model || !rn.Simulated ||
		priceOf(rn) != model+"=1000" || rn.CPUPriceWei.Uint64() != 7 || len(rn.Images) != 1 {
		t.Fatalf("registered %+v (peer %s), want peer %s, 2 simulated %s at 1000 wei, CPU 7, one image", rn, peer.ID(rn.PeerID), id, model)
	}
	table := &chainRegistry{chain: n.Chain(), log: discardLog()}
	if got, ok := table.Registered(p2p.PeerID(id.String())); !ok || got != owner {
		t.Fatalf("heartbeat table: peer %s owner %s counted %v, want %s", id, got, ok, owner)
	}
	waitLogged(t, "registered gauge", logs, func() bool { return metricValue(t, n, "emcd_registrar_registered") == 1 })
	if sent := metricValue(t, n, "emcd_registrar_sent_total"); sent != 1 {
		t.Fatalf("sent %v registration txs, want 1", sent)
	}
	n.Close()

	n, logs = startRegisteringNode(t, dd, nil, RoleCompute, model+"=2000")
	waitLogged(t, "update", logs, func() bool { rn, _ := headNode(t, n, owner); return priceOf(rn) == model+"=2000" })
	up, _ := headNode(t, n, owner)
	if up.RegisteredBlock != rn.RegisteredBlock || up.UpdatedBlock <= rn.UpdatedBlock || !bytes.Equal(up.PeerID, rn.PeerID) {
		t.Fatalf("after the update: %+v, want the registration of block %d updated later", up, rn.RegisteredBlock)
	}
	if logs.count("method=updateNode") == 0 || logs.count("method=registerNode") != 0 {
		t.Fatalf("want an updateNode and no registerNode; log:\n%s", logs)
	}
	n.Close()

	n, logs = startRegisteringNode(t, dd, nil, RoleCompute, model+"=2000")
	defer n.Close()
	start := n.Chain().Head().Number.Uint64()
	waitLogged(t, "up to date and 5 blocks", logs, func() bool {
		return metricValue(t, n, "emcd_registrar_registered") == 1 && n.Chain().Head().Number.Uint64() >= start+5
	})
	if sent := metricValue(t, n, "emcd_registrar_sent_total"); sent != 0 || logs.count("registration up to date") != 1 {
		t.Fatalf("unchanged registration: sent %v txs, want none and one up-to-date line; log:\n%s", sent, logs)
	}
	if again, _ := headNode(t, n, owner); again.UpdatedBlock != up.UpdatedBlock {
		t.Fatalf("registration touched again at block %d", again.UpdatedBlock)
	}
}

// A router whose owner has no router stake does not register: it says so,
// sends nothing, and keeps running.
func TestRouterWithoutStakeDoesNotRegister(t *testing.T) {
	dd := config.NewDataDir(t.TempDir())
	n, logs := startRegisteringNode(t, dd, nil, RoleRouter)
	defer n.Close()
	waitLogged(t, "two refusals", logs, func() bool { return logs.count("no router stake") >= 2 })
	if sent := metricValue(t, n, "emcd_registrar_sent_total"); sent != 0 || metricValue(t, n, "emcd_registrar_refused_total") < 2 {
		t.Fatalf("unstaked router: sent %v txs, want none; log:\n%s", sent, logs)
	}
	st, err := n.Chain().StateAt(n.Chain().Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := registry.RouterOf(st, n.Wallet().Address()); ok {
		t.Fatal("an unstaked router registered")
	}
	select {
	case err := <-n.Err():
		t.Fatalf("node stopped: %v", err)
	default:
	}
}

// A compute node whose account holds no coin says so on every attempt
// (balance and need), counts it, keeps running and retries with backoff;
// once funded it registers.
func TestComputeNodeShortOfGas(t *testing.T) {
	g := genesis.Dev()
	key, err := devWalletKey()
	if err != nil {
		t.Fatal(err)
	}
	owner := crypto.PubkeyToAddress(key.PublicKey)
	delete(g.Alloc, owner)
	dd := config.NewDataDir(t.TempDir())
	n, logs := startRegisteringNode(t, dd, g, RoleCompute, "1000")
	defer n.Close()
	waitLogged(t, "three short-of-gas attempts", logs, func() bool { return logs.count("registration short of gas") >= 3 })
	line := logs.String()
	if !strings.Contains(line, "balance_wei=0") || !strings.Contains(line, "need_wei=") {
		t.Fatalf("short-of-gas line without balance and need:\n%s", line)
	}
	if v := metricValue(t, n, "emcd_registrar_short_of_gas_total"); v < 3 {
		t.Fatalf("short_of_gas_total %v, want >= 3", v)
	}
	// Backoff: attempt k (from 0, at the start head 0) waits 1, 2, 4 …
	// blocks after the one before, so it comes at head 2^k - 1 or later.
	k, head := logs.count("registration short of gas"), n.Chain().Head().Number.Uint64()
	if head+1 < 1<<(k-1) {
		t.Fatalf("%d attempts by head %d: no backoff", k, head)
	}
	select {
	case err := <-n.Err():
		t.Fatalf("node stopped: %v", err)
	default:
	}

	// Fund it from the first dev account.
	keys, err := genesis.DevAccountKeys(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := n.Chain().Config()
	tx, err := types.SignNewTx(keys[0], types.LatestSigner(cfg), &types.DynamicFeeTx{
		ChainID: cfg.ChainID, Nonce: 0, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9), Gas: 21_000,
		To: &owner, Value: new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.backend.SendTx(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, "registration once funded", logs, func() bool { _, ok := headNode(t, n, owner); return ok })
}

// Auto-registration at start: a node with GPUs and no price, or one that
// sells nothing, runs unregistered and says why; a price that does not
// parse stops the start with the flag named; validators never register.
func TestAutoRegistrationStartChecks(t *testing.T) {
	for _, tc := range []struct {
		name, role string
		gpus       int
		reg        RegisterConfig
		wantErr    string // Start's error
		wantLog    string
	}{
		{"unpriced GPUs", RoleCompute, 2, RegisterConfig{Auto: true}, "", "this node has GPUs and no price"},
		{"sells nothing", RoleCompute, 0, RegisterConfig{Auto: true, CPUPriceWei: "0"}, "", "this node sells nothing"},
		{"bad price", RoleCompute, 2, RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"lots"}}, "--compute.price-per-gpu-second", ""},
		{"bad image", RoleCompute, 0, RegisterConfig{Auto: true, CPUPriceWei: "1", Images: []string{"sha256:00"}}, "want sha256:HEX", ""},
		{"validator", RoleValidator, 2, RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1"}}, "", ""},
		{"off", RoleCompute, 2, RegisterConfig{PricesPerGPUSecond: []string{"1"}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuf{}
			n, err := New(Config{
				Role: tc.role, Dev: true, DataDir: config.NewDataDir(t.TempDir()), TelemetryInterval: time.Hour,
				GPU: func() (gpu.Provider, error) {
					return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(tc.gpus)})
				},
				Register: tc.reg,
			}, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Start()
			defer n.Close()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Start: %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Registrar() != nil {
				t.Fatal("a registrar runs")
			}
			if tc.wantLog != "" && logs.count(tc.wantLog) != 1 {
				t.Fatalf("want one %q line; log:\n%s", tc.wantLog, logs)
			}
		})
	}
}

// shrinkingGPUs is a simulated provider that loses its last GPU once lose
// is closed (a GPU fallen off the bus).
type shrinkingGPUs struct {
	gpu.Provider
	lose chan struct{}
}

func (p *shrinkingGPUs) Inventory(ctx context.Context) (*gpu.Inventory, error) {
	inv, err := p.Provider.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.lose:
		inv.Devices = inv.Devices[:len(inv.Devices)-1]
	default:
	}
	return inv, nil
}

// A registered compute node whose inventory changes while it runs sends
// updateNode with the new summary; SetListing (new prices at run time)
// does the same.
func TestComputeNodeUpdatesOnInventoryChange(t *testing.T) {
	logs := &logBuf{}
	lose := make(chan struct{})
	n, err := New(Config{
		Role: RoleCompute, Dev: true, DataDir: config.NewDataDir(t.TempDir()), DevPeriod: 20 * time.Millisecond,
		TelemetryInterval: time.Hour, InventoryRecheck: 20 * time.Millisecond,
		GPU: func() (gpu.Provider, error) {
			p, err := gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(2)})
			return &shrinkingGPUs{Provider: p, lose: lose}, err
		},
		Register: RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1000"}},
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	owner := n.Wallet().Address()
	waitLogged(t, "registration", logs, func() bool { rn, ok := headNode(t, n, owner); return ok && rn.GPUCount == 2 })
	close(lose)
	waitLogged(t, "update to 1 GPU", logs, func() bool { rn, _ := headNode(t, n, owner); return rn.GPUCount == 1 })
	if logs.count("GPU inventory changed") != 1 {
		t.Fatalf("want one inventory-change line; log:\n%s", logs)
	}
	l := n.Registrar().Listing()
	l.PricesWei = []*big.Int{big.NewInt(3000)}
	if err := n.Registrar().SetListing(l); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, "price update", logs, func() bool { rn, _ := headNode(t, n, owner); return strings.HasSuffix(priceOf(rn), "=3000") })
}
