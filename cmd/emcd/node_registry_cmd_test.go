package main

// End-to-end test of `emcd node register|update|status|deregister` against
// `emcd --dev` (whose genesis allows simulated GPUs), plus unit tests of the
// inventory summary and the argument parsing.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/inventory"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
)

// The summary and offer parsing are tested in computing/inventory; here
// only that the flags reach them.
func TestNodeArgs(t *testing.T) {
	gpuNode := inventory.Summary{InventoryHash: crypto.Keccak256Hash([]byte("x")), GPUCount: 1, GPUModel: "H100", MemoryMiB: 1}
	if _, err := (&nodeInputFlags{prices: []string{"5"}, cpuPrice: "0", images: []string{strings.Repeat("ab", 32)}}).nodeArgs(gpuNode); err != nil {
		t.Fatal(err)
	}
	if _, err := (&nodeInputFlags{cpuPrice: "0"}).nodeArgs(gpuNode); !errors.Is(err, inventory.ErrBadOffer) {
		t.Fatalf("a GPU node without a price: %v", err)
	}
}

func nodeStatusJSON(t *testing.T, url, addr string) nodeStatus {
	t.Helper()
	r := runCLI(t, "node", "status", addr, "--rpc", url, "--json")
	if r.code != 0 {
		t.Fatalf("node status: exit %d: %s", r.code, r.stderr)
	}
	var st nodeStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("node status --json %q: %v", r.stdout, err)
	}
	return st
}

func TestNodeRegistryCLIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	dir := t.TempDir()
	node := startDevNode(t, dir)
	url := node.url
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	acct1 := crypto.PubkeyToAddress(keys[1].PublicKey).Hex()
	// A dev node runs no libp2p host: register creates the key.
	nodeKey := filepath.Join(t.TempDir(), "nodekey")
	digest := "sha256:" + strings.Repeat("ab", 32)

	// 1. register: two simulated GPUs, a price, a CPU price, an image.
	r := runCLI(t, "node", "register", "--rpc", url, "--dev-account", "1", "--node-key", nodeKey,
		"--gpu.mode", "simulated", "--gpu.simulated", "2", "--price-per-gpu-second", "1000000000",
		"--cpu-price", "5", "--image", digest, "--json")
	if r.code != 0 {
		t.Fatalf("register: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	data, err := os.ReadFile(nodeKey)
	if err != nil || !strings.Contains(r.stderr, "created node key") {
		t.Fatalf("register created no node key: %v %q", err, r.stderr)
	}
	priv, err := lcrypto.UnmarshalPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	wantPeer, _ := peer.IDFromPrivateKey(priv)
	v := decodeTxJSON(t, r)
	if v.Status != "success" || !strings.EqualFold(v.To, "0x0000000000000000000000000000000000001001") || v.Result["peerId"] != wantPeer.String() {
		t.Fatalf("register outcome %+v", v)
	}
	st := nodeStatusJSON(t, url, acct1)
	if st.Node == nil || st.Router != nil || st.Node.PeerID != wantPeer.String() || st.Node.GPUCount != 2 || !st.Node.Simulated ||
		st.Node.MemoryMiB == 0 || len(st.Node.Prices) != 1 || st.Node.Prices[0].WeiPerGPUSecond.ToInt().Int64() != 1_000_000_000 ||
		st.Node.CPUPrice.ToInt().Int64() != 5 || len(st.Node.Images) != 1 || st.Node.Images[0].Hex() != "0x"+strings.Repeat("ab", 32) {
		t.Fatalf("status after register %+v", st.Node)
	}

	// 2. refusals, each a non-zero exit with the module's reason: the same
	// owner again, another owner with the same node key, an unstaked
	// router, a GPU node without a price (refused before sending).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"node", "register", "--dev-account", "1", "--node-key", nodeKey, "--gpu.mode", "simulated", "--gpu.simulated", "1", "--price-per-gpu-second", "1"}, "registry: already registered"},
		{[]string{"node", "register", "--dev-account", "2", "--node-key", nodeKey, "--gpu.mode", "simulated", "--gpu.simulated", "1", "--price-per-gpu-second", "1"}, "registry: peer ID is registered by another owner"},
		{[]string{"node", "register", "--role", "router", "--dev-account", "3", "--node-key", nodeKey}, "registry: router stake below the router minimum"},
		{[]string{"node", "register", "--dev-account", "3", "--node-key", nodeKey, "--gpu.mode", "simulated", "--gpu.simulated", "1"}, "a price per GPU-second is required"},
		{[]string{"node", "register", "--dev-account", "3", "--gpu.mode", "none"}, "no node key"},
		{[]string{"node", "update", "--dev-account", "3", "--gpu.mode", "none"}, "registry: not registered"},
	} {
		r := runCLI(t, append(tc.args, "--rpc", url)...)
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("%v: exit %d, output %q %q, want %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}

	// 3. update: one GPU now, two prices; the peer ID stays.
	r = runCLI(t, "node", "update", "--rpc", url, "--dev-account", "1", "--gpu.mode", "simulated", "--gpu.simulated", "1",
		"--price-per-gpu-second", "7", "--price-per-gpu-second", "NVIDIA A100=3")
	if r.code != 0 || !strings.Contains(r.stdout, "updated compute node") {
		t.Fatalf("update: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	st = nodeStatusJSON(t, url, acct1)
	if st.Node == nil || st.Node.GPUCount != 1 || len(st.Node.Prices) != 2 || len(st.Node.Images) != 0 || st.Node.PeerID != wantPeer.String() ||
		st.Node.UpdatedBlock <= st.Node.RegisteredBlock || st.Node.LastSeenBlock != st.Node.UpdatedBlock {
		t.Fatalf("status after update %+v", st.Node)
	}

	// 4. emc_computeNodes lists it beside the dev node's own compute node
	// (live: it heartbeats to the dev router); text status names it.
	var cn jsonrpc.ComputeNodes
	client, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rc := client.Call(&cn, "emc_computeNodes")
	devOwner := crypto.PubkeyToAddress(genesis.DevComputeKey().PublicKey)
	if rc != nil || cn.TotalNodes != 2 || len(cn.Nodes) != 2 {
		t.Fatalf("emc_computeNodes = %+v, %v", cn, rc)
	}
	for _, nd := range cn.Nodes {
		switch {
		case strings.EqualFold(nd.Owner.Hex(), acct1):
			if nd.Live != nil {
				t.Fatalf("emc_computeNodes: %s live %+v, sends no heartbeats", acct1, nd.Live)
			}
		case nd.Owner != devOwner:
			t.Fatalf("emc_computeNodes = %+v, want %s and the dev node's %s", cn, acct1, devOwner)
		}
	}
	r = runCLI(t, "node", "status", acct1, "--rpc", url)
	if r.code != 0 || !strings.Contains(r.stdout, "compute node "+crypto.PubkeyToAddress(keys[1].PublicKey).Hex()) || !strings.Contains(r.stdout, "(simulated)") {
		t.Fatalf("status text: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// 5. deregister frees the peer ID: account 2 may now register it.
	if r = runCLI(t, "node", "deregister", "--rpc", url, "--dev-account", "1"); r.code != 0 {
		t.Fatalf("deregister: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if st = nodeStatusJSON(t, url, acct1); st.Node != nil {
		t.Fatalf("node left after deregister: %+v", st.Node)
	}
	r = runCLI(t, "node", "register", "--rpc", url, "--dev-account", "2", "--node-key", nodeKey, "--gpu.mode", "none", "--cpu-price", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "no GPUs (CPU only)") {
		t.Fatalf("register CPU node by account 2: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}
