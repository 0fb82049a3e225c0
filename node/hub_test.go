package node

// The EMC Hub's router side on one dev node: a test-mnemonic account
// publishes an app whose image is a program loaded into the node, another
// deploys an instance of it over JSON-RPC, the dev router's placement
// service places it on the dev compute node, and the chain-backed
// directory the relay reads maps the instance to the compute node's peer
// ID, the app's port and the deploy's key hash, also when read from many
// goroutines at once (run it under -race).

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/relay"
	"github.com/emc-network/emcd/state/native"
)

func TestAPIKeyHashesAgree(t *testing.T) {
	for _, k := range []string{"emck_00", " emck_ab \t", ""} {
		if instance.KeyHash(k) != apps.APIKeyHash(k) {
			t.Fatalf("key %q: instance.KeyHash %s, apps.APIKeyHash %s", k, instance.KeyHash(k), apps.APIKeyHash(k))
		}
	}
}

// devHub starts a dev node with the market on, waits for both
// registrations and loads a program; it returns the node, its logs, an RPC
// client and the program's image.
func devHub(t *testing.T, program string) (*Node, *logBuf, *rpc.Client, common.Hash) {
	t.Helper()
	return devHubWith(t, program, genesis.Dev(), 1)
}

// devHubWith is devHub on genesis g with gpus simulated H100s.
func devHubWith(t *testing.T, program string, g *genesis.Genesis, gpus int) (*Node, *logBuf, *rpc.Client, common.Hash) {
	t.Helper()
	dd := config.NewDataDir(t.TempDir())
	logs := &logBuf{}
	n, err := New(Config{
		Role: RoleValidator, Dev: true, DevMarket: true, DevAccounts: true, DataDir: dd, Genesis: g,
		RPCAddr: "127.0.0.1:0",
		GPU: func() (gpu.Provider, error) {
			return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(gpus)})
		},
		TelemetryInterval:    time.Hour,
		Register:             RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1000000000000"}, CPUPriceWei: "1000000000000"},
		devHeartbeatInterval: heartbeat.MinPublishInterval,
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	owner := n.Wallet().Address()
	router := crypto.PubkeyToAddress(genesis.DevRouterKey().PublicKey)
	waitLogged(t, "registrations", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		_, nodeOK, _ := registry.NodeOf(st, owner)
		_, routerOK, _ := registry.RouterOf(st, router)
		return nodeOK && routerOK
	})
	image, err := agent.NewPrograms(filepath.Join(dd.Compute(), "programs")).Load(program)
	if err != nil {
		t.Fatal(err)
	}
	// The inventory recheck sees it; the update goes out on the next head.
	waitLogged(t, "program seen", logs, func() bool { return logs.count("images_now=1") > 0 })
	client, err := rpc.Dial("http://" + n.RPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return n, logs, client, image
}

// sendDev sends a transaction from an unlocked dev account and waits for a
// successful receipt.
func sendDev(t *testing.T, client *rpc.Client, logs *logBuf, from, to common.Address, value *big.Int, data []byte) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var h common.Hash
	if value == nil {
		value = new(big.Int)
	}
	if err := client.CallContext(ctx, &h, "eth_sendTransaction", map[string]any{
		"from": from, "to": to, "value": (*hexutil.Big)(value), "data": hexutil.Bytes(data),
	}); err != nil {
		t.Fatal(err)
	}
	var rc *types.Receipt
	waitLogged(t, "receipt", logs, func() bool {
		if err := client.CallContext(ctx, &rc, "eth_getTransactionReceipt", h); err != nil {
			t.Fatal(err)
		}
		return rc != nil
	})
	if rc.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction %s reverted; log:\n%s", h, logs)
	}
	return rc
}

// sendDevStatus sends a transaction from an unlocked dev account and
// returns its receipt, reverted or not (the gas is fixed: a reverting
// call cannot be estimated).
func sendDevStatus(t *testing.T, client *rpc.Client, logs *logBuf, from, to common.Address, data []byte) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var h common.Hash
	if err := client.CallContext(ctx, &h, "eth_sendTransaction", map[string]any{
		"from": from, "to": to, "gas": hexutil.Uint64(500_000), "data": hexutil.Bytes(data),
	}); err != nil {
		t.Fatal(err)
	}
	var rc *types.Receipt
	waitLogged(t, "receipt", logs, func() bool {
		if err := client.CallContext(ctx, &rc, "eth_getTransactionReceipt", h); err != nil {
			t.Fatal(err)
		}
		return rc != nil
	})
	return rc
}

// buildTestApp builds computing/instance's test app (a static HTTP server
// on $PORT: /health, /echo, /sse?n=N) and returns its path.
func buildTestApp(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../computing/instance/testdata/app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test app: %v\n%s", err, b)
	}
	return out
}

func TestHubDevEndToEnd(t *testing.T) {
	n, logs, client, image := devHub(t, buildTestApp(t))
	keys, err := genesis.DevAccountKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	user, publisher := crypto.PubkeyToAddress(keys[0].PublicKey), crypto.PubkeyToAddress(keys[1].PublicKey)
	mods, err := LoadModules(genesis.Dev())
	if err != nil {
		t.Fatal(err)
	}
	appsABI := moduleABI(t, mods, native.AppsAddress)
	sendDev(t, client, logs, publisher, native.AppsAddress, nil, pack(t, appsABI, "publishApp",
		image, uint16(8080), "/health", "echo", "an echo app", "none", big.NewInt(1_000_000_000), new(big.Int), uint16(1000)))
	// The node lists the image in the update the publish's block
	// triggers.
	waitLogged(t, "image listed", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		rec, _, _ := registry.NodeOf(st, n.Wallet().Address())
		return rec.HasImage(image)
	})
	key, err := apps.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	escrow := new(big.Int).Mul(big.NewInt(1e18), big.NewInt(1))
	sendDev(t, client, logs, user, native.AppsAddress, escrow, pack(t, appsABI, "deploy",
		big.NewInt(1), uint32(1), uint64(1), apps.APIKeyHash(key)))

	owner := n.Wallet().Address()
	router := crypto.PubkeyToAddress(genesis.DevRouterKey().PublicKey)
	var in apps.Instance
	waitLogged(t, "instance 1 placed", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		in, _, err = apps.InstanceOf(st, 1)
		if err != nil {
			t.Fatal(err)
		}
		return in.State != apps.StateDeployed
	})
	if in.State != apps.StatePlaced && in.State != apps.StateRunning || in.Node != owner || in.Router != router {
		t.Fatalf("instance %+v: want placed on the dev node %s by the dev router %s", in, owner, router)
	}

	dir := hubDirectory{chain: n.Chain()}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				e, ok, err := dir.Instance(1)
				if err != nil || !ok {
					errs <- "instance 1 not found: " + errString(err)
					return
				}
				if len(e.Nodes) != 1 || e.Nodes[0] != n.dev.computePeer || e.Port != 8080 || e.KeyHash != instance.KeyHash(key) ||
					(e.State != relay.StatePending && e.State != relay.StateReady) {
					errs <- "bad entry"
					return
				}
				if _, ok, err := dir.Instance(99); ok || err != nil {
					errs <- "instance 99 found"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	// The node starts it and reports it ready.
	waitLogged(t, "instance 1 running", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		in, _, err = apps.InstanceOf(st, 1)
		if err != nil {
			t.Fatal(err)
		}
		return in.State == apps.StateRunning
	})

	// Calls through the relay on the RPC port. Every answered call comes
	// with its usage receipt in the Emc-Receipt trailer, signed by the
	// node's owner and the placing router; the user audits it by
	// recomputing the request chain over the calls they made.
	chainID := n.Chain().Config().ChainID.Uint64()
	price := uint256.NewInt(1_000_000_000)
	audit := apps.ChainStart(chainID, 1)
	calls := uint64(0)
	var first []byte // call 1's receipt
	base := "http://" + n.RPCAddr().String() + relay.Prefix + "1"
	call := func(k, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+k)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == http.StatusOK {
			calls++
			audit = apps.NextCallsHash(audit, apps.RequestDigest(http.MethodPost, path, sha256.Sum256([]byte("hi"))))
			raw, err := hexutil.Decode(res.Trailer.Get(relay.ReceiptTrailer))
			if err != nil {
				t.Fatalf("call %d: trailer %q: %v", calls, res.Trailer.Get(relay.ReceiptTrailer), err)
			}
			rc, err := apps.DecodeSignedReceipt(raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Verify(chainID, 1, owner, router, price, new(uint256.Int)); err != nil {
				t.Fatalf("call %d: %v", calls, err)
			}
			if calls == 1 {
				first = raw
			}
			if rc.Seq != calls || rc.Calls != calls || rc.CallsHash != audit || rc.ChargeWei.Uint64() != calls*price.Uint64() {
				t.Fatalf("call %d: receipt %+v, want sequence and calls %d, the audited chain %s", calls, rc.Receipt, calls, audit)
			}
		} else if res.Trailer.Get(relay.ReceiptTrailer) != "" {
			t.Fatalf("a refused call (%d) came with a receipt", res.StatusCode)
		}
		return res.StatusCode, string(b)
	}
	for i := range 20 {
		if code, body := call(key, fmt.Sprintf("/echo?i=%d", i)); code != http.StatusOK || !strings.Contains(body, `"body":"hi"`) || !strings.Contains(body, fmt.Sprintf(`"query":"i=%d"`, i)) {
			t.Fatalf("call %d: %d %s", i, code, body)
		}
	}
	if code, body := call(key, "/sse?n=3"); code != http.StatusOK || strings.Count(body, "data: event ") != 3 {
		t.Fatalf("sse: %d %q", code, body)
	}
	if code, body := call("emck_wrong", "/echo"); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d %s", code, body)
	}
	// Concurrent calls end out of order: the router still countersigns
	// every receipt, in sequence.
	var cwg sync.WaitGroup
	cerrs := make(chan error, 16)
	for i := range 8 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/echo?c=%d", base, i), strings.NewReader("hi"))
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				cerrs <- err
				return
			}
			defer res.Body.Close()
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				cerrs <- err
				return
			}
			if res.StatusCode != http.StatusOK || res.Trailer.Get(relay.ReceiptTrailer) == "" {
				cerrs <- fmt.Errorf("concurrent call %d: %d, receipt %q", i, res.StatusCode, res.Trailer.Get(relay.ReceiptTrailer))
			}
		}()
	}
	cwg.Wait()
	close(cerrs)
	for err := range cerrs {
		t.Fatal(err)
	}
	calls += 8
	// Anyone may settle a receipt: call 1's goes through once (unless the
	// router settled a newer one first); again (a replay) it reverts.
	pubBefore, burnBefore := balanceAt(t, n, publisher), burnedRent(t, n)
	pubGas := new(big.Int)
	for i := range 2 {
		rc := sendDevStatus(t, client, logs, publisher, native.AppsAddress, pack(t, appsABI, "settle", big.NewInt(1), first))
		if i == 1 && rc.Status == types.ReceiptStatusSuccessful {
			t.Fatal("a replayed receipt settled")
		}
		pubGas.Add(pubGas, new(big.Int).Mul(new(big.Int).SetUint64(rc.GasUsed), rc.EffectiveGasPrice))
	}

	// The owner stops it: the lease ends, the node stops the instance.
	userBefore := balanceAt(t, n, user)
	stopRc := sendDev(t, client, logs, user, native.AppsAddress, nil, pack(t, appsABI, "stop", big.NewInt(1)))
	stopGas := new(big.Int).Mul(new(big.Int).SetUint64(stopRc.GasUsed), stopRc.EffectiveGasPrice)
	waitLogged(t, "instance 1 stopped on the node", logs, func() bool {
		for _, s := range n.hubInstances() {
			if s.ID == 1 {
				return s.State.Terminal()
			}
		}
		return false
	})
	if code, _ := call(key, "/echo"); code != http.StatusNotFound {
		t.Fatalf("call after stop: %d, want 404", code)
	}
	// The dev sealer keeps sealing while the instance holds escrow: the
	// router settles the newest receipt in the final window, then the
	// window passes and the rest of the escrow comes back.
	waitLogged(t, "instance 1 closed", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		in, _, err = apps.InstanceOf(st, 1)
		if err != nil {
			t.Fatal(err)
		}
		return in.State == apps.StateClosed
	})
	// Every call charged once, at the price, to the wei: royalty to the
	// publisher, 80 % of the rest to the node, 20 % burned, the rest of
	// the escrow refunded.
	charged := new(uint256.Int).Mul(price, uint256.NewInt(calls))
	royalty, nodeShare, burn := apps.SplitCharge(charged, 1000)
	if in.Calls != calls || in.Seq != calls || in.CallsHash == (common.Hash{}) || !in.ChargedWei.Eq(charged) ||
		!in.RoyaltyWei.Eq(royalty) || !in.NodeWei.Eq(nodeShare) || !in.BurnedWei.Eq(burn) {
		t.Fatalf("closed instance: calls %d seq %d charged %s (royalty %s node %s burned %s), want %d calls charged %s (%s %s %s)",
			in.Calls, in.Seq, in.ChargedWei, in.RoyaltyWei, in.NodeWei, in.BurnedWei, calls, charged, royalty, nodeShare, burn)
	}
	refund := new(uint256.Int).Sub(uint256.MustFromBig(escrow), charged)
	if in.EscrowWei.ToBig().Cmp(escrow) != 0 || !in.RefundWei.Eq(refund) {
		t.Fatalf("closed instance: escrow %s refund %s, want %s refunded", in.EscrowWei, in.RefundWei, refund)
	}
	if got := new(big.Int).Sub(balanceAt(t, n, publisher), pubBefore); got.Cmp(new(big.Int).Sub(royalty.ToBig(), pubGas)) != 0 {
		t.Fatalf("publisher got %s, want the royalty %s less the gas %s of its two settles", got, royalty, pubGas)
	}
	if got := new(big.Int).Sub(burnedRent(t, n), burnBefore); got.Cmp(burn.ToBig()) != 0 {
		t.Fatalf("rent burned %s, want %s", got, burn)
	}
	want := new(big.Int).Add(new(big.Int).Sub(userBefore, stopGas), refund.ToBig())
	if got := balanceAt(t, n, user); got.Cmp(want) != 0 {
		t.Fatalf("user balance %s, want %s (before %s − gas %s + refund %s)", got, want, userBefore, stopGas, refund)
	}
}

func balanceAt(t *testing.T, n *Node, a common.Address) *big.Int {
	t.Helper()
	st, err := n.Chain().StateAt(n.Chain().Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	return st.GetBalance(a).ToBig()
}

func burnedRent(t *testing.T, n *Node) *big.Int {
	t.Helper()
	st, err := n.Chain().StateAt(n.Chain().Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	return native.Burned(st, native.BurnRent).ToBig()
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
