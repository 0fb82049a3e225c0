package jsonrpc

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

func post(t *testing.T, h http.Handler, host, origin, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHTTPVhostsAndCORS(t *testing.T) {
	b := newFakeBackend(t)
	cfg := DefaultConfig()
	cfg.CORSDomains = []string{"https://dapp.example"}
	srv, err := NewServer(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const body = `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`
	tests := []struct {
		host, origin string
		wantCode     int
		wantACAO     string
	}{
		{"localhost:8545", "", 200, ""},
		{"127.0.0.1:8545", "", 200, ""},
		{"[::1]:8545", "", 200, ""},
		{"evil.example", "", 403, ""},
		{"localhost", "https://dapp.example", 200, "https://dapp.example"},
		{"localhost", "https://other.example", 200, ""},
	}
	for _, tt := range tests {
		rec := post(t, srv, tt.host, tt.origin, body)
		if rec.Code != tt.wantCode {
			t.Errorf("host %q: code %d, want %d (%s)", tt.host, rec.Code, tt.wantCode, rec.Body)
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
			t.Errorf("host %q origin %q: ACAO %q, want %q", tt.host, tt.origin, got, tt.wantACAO)
		}
	}
	// Preflight.
	req := httptest.NewRequest(http.MethodOptions, "/", nil)
	req.Host = "localhost"
	req.Header.Set("Origin", "https://dapp.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight: %d %v", rec.Code, rec.Header())
	}

	// "*" allows any origin and host.
	cfg.CORSDomains, cfg.VHosts = []string{"*"}, []string{"*"}
	open, err := NewServer(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	rec = post(t, open, "node.example:8545", "http://localhost:3000", body)
	if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("wildcard: %d %v", rec.Code, rec.Header())
	}
}

func TestHTTPErrorsAndLimits(t *testing.T) {
	b := newFakeBackend(t)
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1024
	srv, err := NewServer(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rec := post(t, srv, "localhost", "", `{"jsonrpc":"2.0","id":1,`)
	if !strings.Contains(rec.Body.String(), "-32700") {
		t.Errorf("malformed JSON: %s", rec.Body)
	}
	rec = post(t, srv, "localhost", "", `{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x`+strings.Repeat("00", 2048)+`"]}`)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, srv, "localhost", "", `[]`)
	if !strings.Contains(rec.Body.String(), "-32600") {
		t.Errorf("empty batch: %s", rec.Body)
	}
}

func TestWebsocketConnCap(t *testing.T) {
	b := newFakeBackend(t)
	cfg := DefaultConfig()
	cfg.MaxWSConns = 1
	srv, err := NewServer(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, err := rpc.DialWebsocket(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	var id hexutilBig
	if err := c1.CallContext(ctx, &id, "eth_chainId"); err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.DialWebsocket(ctx, url, ""); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("second connection: err = %v, want 503", err)
	}
}

type hexutilBig = json.RawMessage

// TestEthclient drives the server through go-ethereum's ethclient over HTTP
// and WebSocket, as dApps and the lead's e2e test do, including
// subscriptions fed by the fake backend.
func TestEthclient(t *testing.T) {
	b := newFakeBackend(t)
	srv, err := NewServer(DefaultConfig(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hc, err := ethclient.DialContext(ctx, hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if id, err := hc.ChainID(ctx); err != nil || id.Cmp(testChainID) != 0 {
		t.Fatalf("chain id %v %v", id, err)
	}
	head, err := hc.HeaderByNumber(ctx, nil)
	if err != nil || head.Hash() != b.CurrentHeader().Hash() {
		t.Fatalf("client-side header hash differs: %v", err)
	}
	blk, err := hc.BlockByNumber(ctx, big.NewInt(1))
	if err != nil || blk.Hash() != b.BlockByNumber(1).Hash() || len(blk.Transactions()) != 1 {
		t.Fatalf("block 1: %v", err)
	}
	rcpt, err := hc.TransactionReceipt(ctx, blk.Transactions()[0].Hash())
	if err != nil || rcpt.Status != types.ReceiptStatusSuccessful || len(rcpt.Logs) != 1 {
		t.Fatalf("receipt: %+v %v", rcpt, err)
	}
	if bal, err := hc.BalanceAt(ctx, otherAddr, nil); err != nil || bal.Cmp(big.NewInt(params.Ether)) != 0 {
		t.Fatalf("balance %v %v", bal, err)
	}

	wc, err := ethclient.DialContext(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"))
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	heads := make(chan *types.Header, 4)
	hsub, err := wc.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	defer hsub.Unsubscribe()
	logs := make(chan types.Log, 4)
	lsub, err := wc.SubscribeFilterLogs(ctx, ethereumFilter(loggerAddr), logs)
	if err != nil {
		t.Fatal(err)
	}
	defer lsub.Unsubscribe()
	pendingHashes := make(chan common.Hash, 4)
	psub, err := wc.Client().EthSubscribe(ctx, pendingHashes, "newPendingTransactions")
	if err != nil {
		t.Fatal(err)
	}
	defer psub.Unsubscribe()

	// A polled block filter and log filter installed before the new block.
	var blockFilter, logFilter string
	if err := hc.Client().CallContext(ctx, &blockFilter, "eth_newBlockFilter"); err != nil {
		t.Fatal(err)
	}
	if err := hc.Client().CallContext(ctx, &logFilter, "eth_newFilter", map[string]any{"address": loggerAddr}); err != nil {
		t.Fatal(err)
	}

	signer := types.LatestSignerForChainID(testChainID)
	tx := types.MustSignNewTx(devKey, signer, &types.DynamicFeeTx{
		ChainID: testChainID, Nonce: 2, GasTipCap: big.NewInt(params.GWei), GasFeeCap: big.NewInt(5 * params.GWei),
		Gas: 100_000, To: &loggerAddr,
	})
	if err := hc.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-pendingHashes:
		if h != tx.Hash() {
			t.Fatalf("pending hash %v, want %v", h, tx.Hash())
		}
	case <-ctx.Done():
		t.Fatal("no pending tx notification")
	}
	pooled, isPending, err := hc.TransactionByHash(ctx, tx.Hash())
	if err != nil || !isPending || pooled.Hash() != tx.Hash() {
		t.Fatalf("pooled tx: %v %v", isPending, err)
	}
	if err := hc.SendTransaction(ctx, tx); err == nil || err.Error() != "already known" {
		t.Fatalf("resend: %v", err)
	}

	block := b.mine(tx)
	select {
	case h := <-heads:
		if h.Hash() != block.Hash() {
			t.Fatalf("newHeads hash %v, want %v", h.Hash(), block.Hash())
		}
	case <-ctx.Done():
		t.Fatal("no newHeads notification")
	}
	select {
	case l := <-logs:
		if l.TxHash != tx.Hash() || l.BlockHash != block.Hash() {
			t.Fatalf("log %+v", l)
		}
	case <-ctx.Done():
		t.Fatal("no logs notification")
	}

	// The filter loop runs asynchronously: poll until the block shows up.
	var hashes []common.Hash
	for len(hashes) == 0 {
		if err := hc.Client().CallContext(ctx, &hashes, "eth_getFilterChanges", blockFilter); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal("block filter never saw the block")
		}
	}
	if hashes[0] != block.Hash() {
		t.Fatalf("block filter %v", hashes)
	}
	var flogs []types.Log
	if err := hc.Client().CallContext(ctx, &flogs, "eth_getFilterChanges", logFilter); err != nil || len(flogs) != 1 {
		t.Fatalf("log filter changes %v %v", flogs, err)
	}
	// No fromBlock: like geth, the range defaults to latest..latest.
	if err := hc.Client().CallContext(ctx, &flogs, "eth_getFilterLogs", logFilter); err != nil || len(flogs) != 1 {
		t.Fatalf("filter logs %d %v", len(flogs), err)
	}
	var ok bool
	if err := hc.Client().CallContext(ctx, &ok, "eth_uninstallFilter", logFilter); err != nil || !ok {
		t.Fatalf("uninstall %v %v", ok, err)
	}
	if err := hc.Client().CallContext(ctx, &flogs, "eth_getFilterChanges", logFilter); err == nil {
		t.Fatal("uninstalled filter still answers")
	}

	// Subscriptions are refused over HTTP.
	if _, err := hc.SubscribeNewHead(ctx, heads); err == nil {
		t.Fatal("subscription over HTTP succeeded")
	}
}

func TestStartClose(t *testing.T) {
	srv, err := NewServer(Config{}, newFakeBackend(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr.String(), "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Result string }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if out.Result != "0x2" {
		t.Fatalf("blockNumber = %q", out.Result)
	}
	if _, err := srv.Start("127.0.0.1:0"); err != ErrServerStarted {
		t.Fatalf("second Start: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
