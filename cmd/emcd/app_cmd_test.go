package main

import (
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/state/native"
)

// TestAppPublishArgs: publish's flags are checked as the module checks
// them, before anything is sent.
func TestAppPublishArgs(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	good := appPublishFlags{image: digest, port: 8080, health: "/health", perCall: "1000"}
	args, err := good.args()
	if err != nil {
		t.Fatal(err)
	}
	if args[3].(string) != "app-abababababab" || args[6].(*big.Int).Int64() != 1000 || args[7].(*big.Int).Sign() != 0 || args[8].(uint16) != 0 {
		t.Fatalf("args %v", args)
	}
	doc := filepath.Join(t.TempDir(), "doc.txt")
	if err := os.WriteFile(doc, []byte("POST /v1/chat {\"prompt\": string}"), 0o600); err != nil {
		t.Fatal(err)
	}
	withDoc := good
	withDoc.paramsDoc, withDoc.perGPUSecond, withDoc.royaltyBps, withDoc.name = doc, "7", 10_000, "llama"
	if args, err := withDoc.args(); err != nil || !strings.Contains(args[5].(string), "prompt") || args[8].(uint16) != 10_000 || args[3] != "llama" {
		t.Fatalf("with doc: %v %v", args, err)
	}
	bad := map[string]func(f *appPublishFlags){
		"no image":      func(f *appPublishFlags) { f.image = "" },
		"zero image":    func(f *appPublishFlags) { f.image = "0x" + strings.Repeat("00", 32) },
		"port 0":        func(f *appPublishFlags) { f.port = 0 },
		"port too big":  func(f *appPublishFlags) { f.port = 65536 },
		"health":        func(f *appPublishFlags) { f.health = "health" },
		"royalty":       func(f *appPublishFlags) { f.royaltyBps = 10_001 },
		"no price":      func(f *appPublishFlags) { f.perCall = "" },
		"zero prices":   func(f *appPublishFlags) { f.perCall, f.perGPUSecond = "0", "0" },
		"bad price":     func(f *appPublishFlags) { f.perCall = "1.5" },
		"negative":      func(f *appPublishFlags) { f.perCall = "-1" },
		"huge price":    func(f *appPublishFlags) { f.perCall = "1" + strings.Repeat("0", 80) },
		"long name":     func(f *appPublishFlags) { f.name = strings.Repeat("n", apps.MaxNameBytes+1) },
		"missing doc":   func(f *appPublishFlags) { f.paramsDoc = filepath.Join(t.TempDir(), "nope") },
		"long describe": func(f *appPublishFlags) { f.description = strings.Repeat("d", apps.MaxDescriptionBytes+1) },
	}
	for name, mutate := range bad {
		f := good
		mutate(&f)
		if _, err := f.args(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAppCLIEndToEnd runs `emcd app` against `emcd --dev` (whose genesis
// loads the apps module): publish, list, deploy with a local API key,
// status, a stranger's stop refused, the owner's stop refunding the
// escrow; bad input exits non-zero.
func TestAppCLIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	node := startDevNode(t, t.TempDir())
	url := node.url
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	owner := crypto.PubkeyToAddress(keys[2].PublicKey)
	digest := "sha256:" + strings.Repeat("cd", 32)

	r := runCLI(t, "app", "publish", "--rpc", url, "--dev-account", "1", "--image", digest, "--port", "8080", "--health", "/health",
		"--price-per-call", "1000", "--royalty-bps", "1500", "--name", "echo", "--json")
	if r.code != 0 {
		t.Fatalf("publish: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	var pub struct {
		ID     uint64 `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &pub); err != nil || pub.ID != 1 || pub.Status != "success" {
		t.Fatalf("publish --json %q: %v", r.stdout, err)
	}
	if r := runCLI(t, "app", "list", "--rpc", url); r.code != 0 || !strings.Contains(r.stdout, "1\techo\t0x"+strings.Repeat("cd", 32)) ||
		!strings.Contains(r.stdout, "royalty 1500 bps") {
		t.Fatalf("list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, "app", "deploy", "1", "--rpc", url, "--dev-account", "2", "--hours", "1", "--escrow", "1", "--json")
	if r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var dep struct {
		Instance uint64 `json:"instance"`
		APIKey   string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dep); err != nil || dep.Instance != 1 || !strings.HasPrefix(dep.APIKey, apps.APIKeyPrefix) {
		t.Fatalf("deploy --json %q: %v", r.stdout, err)
	}
	r = runCLI(t, "app", "status", "1", "--rpc", url, "--json")
	var st struct {
		State      string `json:"state"`
		Owner      string `json:"owner"`
		APIKeyHash string `json:"apiKeyHash"`
		Escrow     string `json:"escrow"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || st.State != "deployed" || !strings.EqualFold(st.Owner, owner.Hex()) ||
		st.APIKeyHash != apps.APIKeyHash(dep.APIKey).Hex() || st.Escrow != "0xde0b6b3a7640000" {
		t.Fatalf("status: exit %d %+v %v\n%s", r.code, st, err, r.stderr)
	}

	// Refusals exit 1 with the module's reason.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stop", "1", "--dev-account", "3"}, "apps: only the instance's owner may stop it"},
		{[]string{"deploy", "9", "--dev-account", "2", "--hours", "1", "--escrow", "1"}, "apps: no such app"},
		{[]string{"reap", "1", "--dev-account", "3"}, "apps: instance is not in the required state"},
		{[]string{"ready", "1", "--dev-account", "3"}, "apps: instance is not in the required state"},
		{[]string{"place", "1", "0x000000000000000000000000000000000000dEaD", "--dev-account", "3"}, "apps: caller is not an active router"},
	} {
		r := runCLI(t, append(append([]string{"app"}, tc.args...), "--rpc", url)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d\n%s\n%s", tc.args, r.code, r.stdout, r.stderr)
		}
	}
	r = runCLI(t, "app", "stop", "1", "--rpc", url, "--dev-account", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "stopped instance 1; closed, refunded 1 EMC") {
		t.Fatalf("stop: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "app", "status", "1", "--rpc", url); r.code != 0 || !strings.Contains(r.stdout, "closed in block") || !strings.Contains(r.stdout, "(stopped): refunded 1 EMC") {
		t.Fatalf("status text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Usage errors exit non-zero without sending.
	for _, args := range [][]string{
		{"app", "publish", "--rpc", url, "--dev-account", "1", "--image", digest, "--port", "80", "--health", "/h"},                                                    // no price
		{"app", "publish", "--rpc", url, "--dev-account", "1", "--image", digest, "--port", "80", "--health", "/h", "--price-per-call", "1", "--royalty-bps", "10001"}, // royalty
		{"app", "deploy", "1", "--rpc", url, "--dev-account", "2", "--escrow", "1"},                                                                                    // no hours
		{"app", "deploy", "1", "--rpc", url, "--dev-account", "2", "--hours", "1"},                                                                                     // no escrow
		{"app", "deploy", "0", "--rpc", url, "--dev-account", "2", "--hours", "1", "--escrow", "1"},                                                                    // bad id
		{"app", "status", "7", "--rpc", url}, // no such instance
		{"app", "list", "--rpc", url, "--limit", "101"},
		{"app", "settle", "1", "0x1234", "--rpc", url, "--dev-account", "3"}, // not a receipt
		{"app", "place", "1", "0x12", "--rpc", url, "--dev-account", "3"},    // bad node
		// limit
	} {
		if r := runCLI(t, args...); r.code == 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestTestnetLoadsApps: `emcd testnet` names the apps module in its
// genesis params, so its nodes load it.
func TestTestnetLoadsApps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if out, err := runTestnetCmd(t, "--validators", "1", "--out", dir, "--base-port", "31500"); err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	g, err := genesis.FromFile(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Params[apps.Name]; !ok {
		t.Fatalf("testnet genesis params %v have no apps entry", g.Params)
	}
	mods, err := node.LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := mods.Lookup(native.AppsAddress); !ok || m.Name() != apps.Name {
		t.Fatal("the testnet chain does not load the apps module")
	}
}

// TestAppCLILifecycle runs an instance through `emcd app` against
// `emcd --dev`: a node registered with the app's image (dev account 3), the
// dev router (its genesis-staked key in a keystore) places the instance,
// the node reports it ready, a receipt signed by both settles through
// `app settle` (royalty, node share and burn to the wei of the module's
// split), its replay is refused, and the owner's stop ends the lease.
func TestAppCLILifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	node := startDevNode(t, t.TempDir())
	url := node.url
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	nodeAddr := crypto.PubkeyToAddress(keys[3].PublicKey)
	digest := "sha256:" + strings.Repeat("ef", 32)
	ksDir := t.TempDir()
	ks := keystore.NewKeyStore(ksDir, keystore.LightScryptN, keystore.LightScryptP)
	if _, err := ks.ImportECDSA(genesis.DevRouterKey(), "pw"); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routerFlags := []string{"--keystore", ksDir, "--password", pw}
	routerAddr := crypto.PubkeyToAddress(genesis.DevRouterKey().PublicKey)

	run := func(args ...string) cliResult {
		t.Helper()
		r := runCLI(t, append(args, "--rpc", url)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s\nnode:\n%s", args, r.code, r.stdout, r.stderr, node.output())
		}
		return r
	}
	run("node", "register", "--dev-account", "3", "--node-key", filepath.Join(t.TempDir(), "nodekey"), "--gpu.mode", "simulated",
		"--gpu.simulated", "1", "--price-per-gpu-second", "1", "--image", digest)
	// The dev node registers its router itself; register it here if it has
	// not yet (either way it ends up registered).
	if st := nodeStatusJSON(t, url, routerAddr.Hex()); st.Router == nil {
		r := runCLI(t, append([]string{"node", "register", "--role", "router", "--node-key", filepath.Join(t.TempDir(), "routerkey"), "--rpc", url}, routerFlags...)...)
		if r.code != 0 && !strings.Contains(r.stdout+r.stderr, "already registered") && !strings.Contains(r.stdout+r.stderr, "registered by another owner") {
			t.Fatalf("router register: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		deadline := time.Now().Add(60 * time.Second)
		for nodeStatusJSON(t, url, routerAddr.Hex()).Router == nil {
			if time.Now().After(deadline) {
				t.Fatalf("the dev router is not registered\nnode:\n%s", node.output())
			}
			time.Sleep(time.Second)
		}
	}
	const perCall, perGPU, royalty = 1_000_000, 3_000_000_000, 2_000
	run("app", "publish", "--dev-account", "1", "--image", digest, "--port", "8080", "--health", "/health",
		"--price-per-call", strconv.Itoa(perCall), "--price-per-gpu-second", strconv.Itoa(perGPU), "--royalty-bps", strconv.Itoa(royalty))
	run("app", "deploy", "1", "--dev-account", "2", "--hours", "1", "--escrow", "1")
	run(append([]string{"app", "place", "1", nodeAddr.Hex()}, routerFlags...)...)
	if r := run("app", "ready", "1", "--dev-account", "3"); !strings.Contains(r.stdout, "instance 1 now running") {
		t.Fatalf("ready: %s", r.stdout)
	}
	// GPU time accrues with block time, and the dev chain seals a block
	// only for transactions: let wall time pass, then seal one.
	time.Sleep(3 * time.Second)
	run("app", "publish", "--dev-account", "1", "--image", digest, "--port", "8081", "--health", "/", "--price-per-call", "1")

	m := apps.NewMeter(params.DevChainID, 1, uint256.NewInt(perCall), uint256.NewInt(perGPU))
	var rc apps.Receipt
	for i := 0; i < 5; i++ {
		if rc, err = m.Call(apps.RequestDigest("POST", "/v1/chat", [32]byte{byte(i)}), 100); err != nil {
			t.Fatal(err)
		}
	}
	s := apps.SignedReceipt{Receipt: rc}
	if s.NodeSig, err = apps.SignReceipt(&rc, apps.RoleNode, keys[3]); err != nil {
		t.Fatal(err)
	}
	if s.RouterSig, err = apps.SignReceipt(&rc, apps.RoleRouter, genesis.DevRouterKey()); err != nil {
		t.Fatal(err)
	}
	receipt := hexutil.Encode(s.Encode())
	if r := run("app", "settle", "1", receipt, "--dev-account", "1"); !strings.Contains(r.stdout, "settled through receipt 5 (5 calls)") {
		t.Fatalf("settle: %s", r.stdout)
	}
	charge, _ := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPU), 5, 500)
	roy, nodeShare, burn := apps.SplitCharge(charge, royalty)
	r := run("app", "status", "1", "--json")
	var st struct {
		State    string       `json:"state"`
		Calls    string       `json:"calls"`
		Charged  *hexutil.Big `json:"charged"`
		NodePaid *hexutil.Big `json:"nodePaid"`
		Royalty  *hexutil.Big `json:"royalty"`
		Burned   *hexutil.Big `json:"burned"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.State != "running" || st.Calls != "0x5" ||
		st.Charged.ToInt().Cmp(charge.ToBig()) != 0 || st.Royalty.ToInt().Cmp(roy.ToBig()) != 0 ||
		st.NodePaid.ToInt().Cmp(nodeShare.ToBig()) != 0 || st.Burned.ToInt().Cmp(burn.ToBig()) != 0 {
		t.Fatalf("status after settle %+v %v\n%s", st, err, r.stdout)
	}
	if r := runCLI(t, "app", "settle", "1", receipt, "--dev-account", "1", "--rpc", url); r.code != 1 || !strings.Contains(r.stderr, "apps: receipt is not newer") {
		t.Fatalf("replayed receipt: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := run("app", "stop", "1", "--dev-account", "2"); !strings.Contains(r.stdout, "stopped instance 1; ending, the rest is refunded after block") {
		t.Fatalf("stop: %s", r.stdout)
	}
	// --restart: setRestart follows the deploy; status shows it.
	if r := run("app", "deploy", "1", "--dev-account", "2", "--hours", "1", "--escrow", "1", "--restart"); !strings.Contains(r.stdout, "deployed instance 2") ||
		!strings.Contains(r.stdout, "restart elsewhere on node death: on") {
		t.Fatalf("deploy --restart: %s", r.stdout)
	}
	if r := run("app", "status", "2"); !strings.Contains(r.stdout, "restart elsewhere on node death: true, restarts so far: 0") {
		t.Fatalf("status of a restart-enabled instance: %s", r.stdout)
	}
	if r := run("app", "status", "2", "--json"); !strings.Contains(r.stdout, `"restart": true`) || !strings.Contains(r.stdout, `"restarts": "0x0"`) {
		t.Fatalf("status --json: %s", r.stdout)
	}
	if r := runCLI(t, "app", "deploy", "1", "--dev-account", "2", "--hours", "1", "--escrow", "1", "--restart", "--rpc", url, "--json"); r.code != 0 ||
		!strings.Contains(r.stdout, `"instance": 3`) || strings.Contains(r.stdout, "restart") {
		t.Fatalf("deploy --restart --json (the shape of deploy's): exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
