package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

func TestIsTestChainID(t *testing.T) {
	for id, want := range map[int64]bool{1337: true, 4200: true, 4242: true, 4299: true, 4199: false, 4300: false, 1: false, 0: false, -1337: false} {
		if got := isTestChainID(big.NewInt(id)); got != want {
			t.Errorf("isTestChainID(%d) = %t", id, got)
		}
	}
	if isTestChainID(nil) || isTestChainID(new(big.Int).Lsh(big.NewInt(1), 70)) {
		t.Error("nil or huge chain id accepted")
	}
}

func TestDecodeRevert(t *testing.T) {
	a, err := abi.JSON(strings.NewReader(`[{"type":"error","name":"TooLow","inputs":[{"name":"have","type":"uint256"},{"name":"want","type":"uint256"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	errStr, _ := abi.NewType("string", "", nil)
	reason, _ := abi.Arguments{{Type: errStr}}.Pack("credits: nope")
	u256, _ := abi.NewType("uint256", "", nil)
	panicData, _ := abi.Arguments{{Type: u256}}.Pack(big.NewInt(0x11))
	custom, _ := a.Errors["TooLow"].Inputs.Pack(big.NewInt(3), big.NewInt(5))
	id := a.Errors["TooLow"].ID
	sel := func(rest ...byte) []byte { return append(append([]byte(nil), id[:4]...), rest...) }
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{append([]byte{0x08, 0xc3, 0x79, 0xa0}, reason...), "credits: nope"},
		{append([]byte{0x4e, 0x48, 0x7b, 0x71}, panicData...), "arithmetic underflow or overflow"},
		{sel(custom...), "TooLow(3, 5)"},
		{nil, "reverted without a reason"},
		{[]byte{1, 2, 3, 4, 5}, "0x0102030405"},
		{sel(1), id.Hex()[:10] + "01"},
	} {
		if got := decodeRevert(tc.data, &a); !strings.Contains(got, tc.want) {
			t.Errorf("decodeRevert(%x) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

// fakeChainID serves eth_chainId only.
func fakeChainID(t *testing.T, id string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		if req.Method != "eth_chainId" {
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"error":{"code":-32601,"message":"not here"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":"` + id + `"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDevAccountRefusedOffTestChains: the test-mnemonic keys never sign for
// a chain that is neither dev nor testnet; nothing past eth_chainId is asked.
func TestDevAccountRefusedOffTestChains(t *testing.T) {
	url := fakeChainID(t, "0x1")
	for _, args := range [][]string{
		{"credits", "buy", "--credits", "1"},
		{"stake", "add", "--role", "compute", "--amount", "1"},
		{"stake", "unstake", "--amount", "1"},
		{"stake", "withdraw"},
		{"rewards", "claim"},
	} {
		root := newRootCmd()
		root.SetArgs(append(args, "--rpc", url, "--dev-account", "0", "--datadir", "", "--config", ""))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		if err := root.Execute(); !errors.Is(err, errNotTestChain) {
			t.Fatalf("%v --dev-account on chain 1: %v", args, err)
		}
	}
	nd, derr := dialNode(t.Context(), url)
	if derr != nil {
		t.Fatal(derr)
	}
	defer nd.Close()
	s, kerr := (keySource{f: &keyFlags{devAccount: 0}}).unlock()
	if kerr != nil {
		t.Fatal(kerr)
	}
	if _, err := sendTx(t.Context(), nd, s, txRequest{}); !errors.Is(err, errNotTestChain) {
		t.Fatalf("sendTx with a dev key on chain 1: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		f    rpcFlags
		want string
	}{
		{rpcFlags{}, "http://127.0.0.1:8545"},
		{rpcFlags{url: "ws://h:1"}, "ws://h:1"},
		{rpcFlags{url: "http://a:1", rpcAddr: "127.0.0.1:2"}, "http://a:1"},
		{rpcFlags{rpcAddr: "127.0.0.1:2"}, "http://127.0.0.1:2"},
		{rpcFlags{rpcAddr: "0.0.0.0:3"}, "http://127.0.0.1:3"},
		{rpcFlags{rpcAddr: ":4"}, "http://127.0.0.1:4"},
	} {
		if got := tc.f.endpoint(); got != tc.want {
			t.Errorf("%+v: endpoint %s, want %s", tc.f, got, tc.want)
		}
	}
}

// TestDataDirConfigGivesRPC: with --datadir, the node's rpc.addr from
// DATADIR/config.toml is where the CLI connects (here a server that only
// knows eth_chainId, so emc_creditsOf fails there: proof it was reached).
func TestDataDirConfigGivesRPC(t *testing.T) {
	url := fakeChainID(t, "0x10d2")
	dir := t.TempDir()
	cfg := "[rpc]\naddr = \"" + strings.TrimPrefix(url, "http://") + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	root.SetArgs([]string{"credits", "balance", "0x000000000000000000000000000000000000b0b0", "--datadir", dir})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "emc_creditsOf: not here") {
		t.Fatalf("err %v, want the fake node's emc_creditsOf error", err)
	}
}
