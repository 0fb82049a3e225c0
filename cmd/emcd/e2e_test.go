package main

// End-to-end test of `emcd --dev`: the real binary runs as a subprocess and
// is driven only through go-ethereum's ethclient and rpc client, over HTTP
// and WebSocket, the way a dApp would.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/genesis"
)

// emitterCode deploys a contract that, called with 32 bytes of data, stores
// them in slot 0 and emits LOG1(topic 0xaa..aa, data); called with no data it
// reverts with Error("boom"). Hand-assembled; see the test for the layout.
const emitterCode = "605c600c600039605c6000f33615603657600035806000556000527faaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa60206000a1005b6308c379a060e01b6000526020600452600460245263626f6f6d60e01b60445260646000fd"

var emitterTopic = common.HexToHash("0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// emcdBinary builds the emcd binary once per test process.
// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func emcdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "emcd-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "emcd")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// devNode is a running `emcd --dev` subprocess.
type devNode struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string // http://host:port
	logs   *strings.Builder
	logMu  *sync.Mutex
	exited chan struct{}
}

var rpcLine = regexp.MustCompile(`JSON-RPC listening.*http=(http://[0-9.:]+)`)

func startDevNode(t *testing.T, datadir string, extra ...string) *devNode {
	t.Helper()
	args := append([]string{"--dev", "--datadir", datadir, "--rpc.addr", "127.0.0.1:0", "--grpc.addr", "127.0.0.1:0", "--log.level", "info"}, extra...)
	cmd := exec.Command(emcdBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &devNode{t: t, cmd: cmd, logs: &strings.Builder{}, logMu: &sync.Mutex{}, exited: make(chan struct{})}
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.logMu.Lock()
			n.logs.WriteString(line + "\n")
			n.logMu.Unlock()
			if m := rpcLine.FindStringSubmatch(line); m != nil {
				select {
				case urlCh <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() { n.kill() })
	select {
	case n.url = <-urlCh:
	case <-n.exited:
		t.Fatalf("emcd exited early:\n%s", n.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("emcd did not start JSON-RPC in time:\n%s", n.output())
	}
	return n
}

func (n *devNode) output() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.logs.String()
}

func (n *devNode) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

func (n *devNode) wsURL() string { return "ws://" + strings.TrimPrefix(n.url, "http://") }

func waitReceipt(t *testing.T, c *ethclient.Client, hash common.Hash) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		r, err := c.TransactionReceipt(ctx, hash)
		if err == nil {
			return r
		}
		if !errors.Is(err, ethereum.NotFound) {
			t.Fatalf("receipt %s: %v", hash, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("receipt %s: not mined in time", hash)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func signTx(t *testing.T, key *ecdsa.PrivateKey, chainID *big.Int, nonce uint64, to *common.Address, value *big.Int, gas uint64, data []byte) *types.Transaction {
	t.Helper()
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: big.NewInt(1_000_000_000), GasFeeCap: big.NewInt(20_000_000_000),
		Gas: gas, To: to, Value: value, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestDevNodeEndToEnd runs once per state scheme: the SIGKILL and restart
// at its end must lose nothing under either (the path scheme rebuilds its
// lost in-memory layers by re-executing blocks at open).
func TestDevNodeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	for _, scheme := range []string{"path", "hash"} {
		t.Run(scheme, func(t *testing.T) { testDevNodeEndToEnd(t, scheme) })
	}
}

func testDevNodeEndToEnd(t *testing.T, scheme string) {
	datadir := t.TempDir()
	node := startDevNode(t, datadir, "--state.scheme", scheme)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	client, err := ethclient.DialContext(ctx, node.url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	wsClient, err := ethclient.DialContext(ctx, node.wsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer wsClient.Close()

	chainID, err := client.ChainID(ctx)
	if err != nil || chainID.Uint64() != 1337 {
		t.Fatalf("chain id %v, %v", chainID, err)
	}
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	alice := crypto.PubkeyToAddress(keys[0].PublicKey)
	bob := common.HexToAddress("0x000000000000000000000000000000000000b0b0")

	heads := make(chan *types.Header, 64)
	sub, err := wsClient.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatalf("subscribe newHeads: %v", err)
	}
	defer sub.Unsubscribe()

	// 1. A value transfer, with exact balances including fees.
	before, err := client.BalanceAt(ctx, alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Mul(big.NewInt(10_000), big.NewInt(1e18)); before.Cmp(want) != 0 {
		t.Fatalf("dev account balance %s, want %s", before, want)
	}
	value := big.NewInt(1_234_567_890)
	tx := signTx(t, keys[0], chainID, 0, &bob, value, 21000, nil)
	if err := client.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send transfer: %v", err)
	}
	rcpt := waitReceipt(t, client, tx.Hash())
	if rcpt.Status != types.ReceiptStatusSuccessful || rcpt.GasUsed != 21000 {
		t.Fatalf("transfer receipt %+v", rcpt)
	}
	after, _ := client.BalanceAt(ctx, alice, rcpt.BlockNumber)
	fee := new(big.Int).Mul(new(big.Int).SetUint64(rcpt.GasUsed), rcpt.EffectiveGasPrice)
	if want := new(big.Int).Sub(before, new(big.Int).Add(value, fee)); after.Cmp(want) != 0 {
		t.Fatalf("alice balance %s, want %s", after, want)
	}
	if got, _ := client.BalanceAt(ctx, bob, nil); got.Cmp(value) != 0 {
		t.Fatalf("bob balance %s, want %s", got, value)
	}
	// The block a client hashes itself is the block the node reports.
	blk, err := client.BlockByNumber(ctx, rcpt.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}
	if blk.Header().Hash() != rcpt.BlockHash || blk.Hash() != rcpt.BlockHash {
		t.Fatalf("client-side header hash %s != node's %s", blk.Header().Hash(), rcpt.BlockHash)
	}

	// newHeads over WS delivered that block.
	select {
	case h := <-heads:
		if h.Number.Sign() <= 0 || h.Hash() != mustHeader(t, client, h.Number).Hash() {
			t.Fatalf("newHeads header %d does not match the chain", h.Number)
		}
	case err := <-sub.Err():
		t.Fatalf("subscription: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no newHeads notification")
	}

	// 2. Deploy a contract, emit a log, find it with eth_getLogs and a filter.
	rpcClient, err := rpc.DialContext(ctx, node.url)
	if err != nil {
		t.Fatal(err)
	}
	defer rpcClient.Close()
	var filterID string
	if err := rpcClient.CallContext(ctx, &filterID, "eth_newFilter", map[string]any{"topics": []any{emitterTopic}}); err != nil {
		t.Fatalf("eth_newFilter: %v", err)
	}
	deploy := signTx(t, keys[1], chainID, 0, nil, nil, 300_000, common.FromHex(emitterCode))
	if err := client.SendTransaction(ctx, deploy); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	drcpt := waitReceipt(t, client, deploy.Hash())
	if drcpt.Status != types.ReceiptStatusSuccessful || drcpt.ContractAddress == (common.Address{}) {
		t.Fatalf("deploy receipt %+v", drcpt)
	}
	contract := drcpt.ContractAddress
	if code, _ := client.CodeAt(ctx, contract, nil); len(code) == 0 {
		t.Fatal("no code at contract address")
	}
	payload := common.LeftPadBytes([]byte{0x42}, 32)
	call := signTx(t, keys[1], chainID, 1, &contract, nil, 100_000, payload)
	if err := client.SendTransaction(ctx, call); err != nil {
		t.Fatal(err)
	}
	crcpt := waitReceipt(t, client, call.Hash())
	if crcpt.Status != types.ReceiptStatusSuccessful || len(crcpt.Logs) != 1 {
		t.Fatalf("call receipt %+v", crcpt)
	}
	logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0), Addresses: []common.Address{contract}, Topics: [][]common.Hash{{emitterTopic}},
	})
	if err != nil {
		t.Fatalf("eth_getLogs: %v", err)
	}
	if len(logs) != 1 || logs[0].TxHash != call.Hash() || common.BytesToHash(logs[0].Data) != common.BytesToHash(payload) {
		t.Fatalf("eth_getLogs returned %+v", logs)
	}
	var changes []types.Log
	if err := rpcClient.CallContext(ctx, &changes, "eth_getFilterChanges", filterID); err != nil {
		t.Fatalf("eth_getFilterChanges: %v", err)
	}
	if len(changes) != 1 || changes[0].TxHash != call.Hash() {
		t.Fatalf("filter changes %+v", changes)
	}
	slot, _ := client.StorageAt(ctx, contract, common.Hash{}, nil)
	if common.BytesToHash(slot) != common.BytesToHash(payload) {
		t.Fatalf("storage slot 0 = %x", slot)
	}

	// 3. A revert reason surfaces as geth does: code 3, message and data.
	_, err = client.CallContract(ctx, ethereum.CallMsg{From: alice, To: &contract}, nil)
	var dataErr rpc.DataError
	if !errors.As(err, &dataErr) || !strings.Contains(err.Error(), "execution reverted: boom") {
		t.Fatalf("revert: got %v", err)
	}
	if d, _ := dataErr.ErrorData().(string); !strings.HasPrefix(d, "0x08c379a0") {
		t.Fatalf("revert data %v", dataErr.ErrorData())
	}
	var rpcErr rpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.ErrorCode() != 3 {
		t.Fatalf("revert error code: %v", err)
	}

	// 4. A chain-native module, found through emc_systemContracts and called
	// with its ABI like any contract: stake 5 EMC, read it back, find the event.
	var contracts []struct {
		Name    string          `json:"name"`
		Address common.Address  `json:"address"`
		ABI     json.RawMessage `json:"abi"`
	}
	if err := rpcClient.CallContext(ctx, &contracts, "emc_systemContracts"); err != nil {
		t.Fatalf("emc_systemContracts: %v", err)
	}
	var stakingAddr common.Address
	var stakingABI abi.ABI
	for _, c := range contracts {
		if c.Name == "staking" {
			stakingAddr = c.Address
			if stakingABI, err = abi.JSON(bytes.NewReader(c.ABI)); err != nil {
				t.Fatalf("staking ABI: %v", err)
			}
		}
	}
	if stakingAddr == (common.Address{}) {
		t.Fatalf("no staking module in %+v", contracts)
	}
	stakeData, _ := stakingABI.Pack("stake", uint8(2), uint8(0)) // compute role, no lock
	fiveEMC := new(big.Int).Mul(big.NewInt(5), big.NewInt(1e18))
	staker := crypto.PubkeyToAddress(keys[3].PublicKey)
	stakeTx := signTx(t, keys[3], chainID, 0, &stakingAddr, fiveEMC, 1_000_000, stakeData)
	if err := client.SendTransaction(ctx, stakeTx); err != nil {
		t.Fatalf("stake: %v", err)
	}
	srcpt := waitReceipt(t, client, stakeTx.Hash())
	if srcpt.Status != types.ReceiptStatusSuccessful || len(srcpt.Logs) != 1 || srcpt.Logs[0].Address != stakingAddr {
		t.Fatalf("stake receipt %+v", srcpt)
	}
	query, _ := stakingABI.Pack("stakeOf", staker)
	out, err := client.CallContract(ctx, ethereum.CallMsg{To: &stakingAddr, Data: query}, nil)
	if err != nil {
		t.Fatalf("stakeOf: %v", err)
	}
	res, err := stakingABI.Unpack("stakeOf", out)
	if err != nil || res[1].(*big.Int).Cmp(fiveEMC) != 0 {
		t.Fatalf("stakeOf = %v (%v), want %s", res, err, fiveEMC)
	}
	stakedLogs, err := client.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0), Addresses: []common.Address{stakingAddr},
		Topics: [][]common.Hash{{stakingABI.Events["Staked"].ID}, {common.BytesToHash(staker.Bytes())}},
	})
	if err != nil || len(stakedLogs) != 1 || stakedLogs[0].TxHash != stakeTx.Hash() {
		t.Fatalf("Staked logs %+v (%v)", stakedLogs, err)
	}
	unstakeData, _ := stakingABI.Pack("unstake", new(big.Int).Mul(fiveEMC, big.NewInt(2)))
	_, err = client.CallContract(ctx, ethereum.CallMsg{From: staker, To: &stakingAddr, Data: unstakeData}, nil)
	if err == nil || !strings.Contains(err.Error(), "execution reverted") {
		t.Fatalf("unstake beyond stake: got %v, want a revert", err)
	}

	// 5. 200 transactions back to back, all mined.
	sender := keys[2]
	var hashes []common.Hash
	for i := uint64(0); i < 200; i++ {
		tx := signTx(t, sender, chainID, i, &bob, big.NewInt(1), 21000, nil)
		if err := client.SendTransaction(ctx, tx); err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		hashes = append(hashes, tx.Hash())
	}
	for _, h := range hashes {
		if r := waitReceipt(t, client, h); r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("tx %s failed", h)
		}
	}
	if n, _ := client.NonceAt(ctx, crypto.PubkeyToAddress(sender.PublicKey), nil); n != 200 {
		t.Fatalf("sender nonce %d after 200 txs", n)
	}

	// 6. SIGKILL, restart, and find everything that was mined.
	head, err := client.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type snapshot struct {
		hash common.Hash
		root common.Hash
	}
	blocks := make(map[uint64]snapshot)
	for i := uint64(0); i <= head; i++ {
		h := mustHeader(t, client, new(big.Int).SetUint64(i))
		blocks[i] = snapshot{h.Hash(), h.Root}
	}
	bobBal, _ := client.BalanceAt(ctx, bob, nil)
	aliceBal, _ := client.BalanceAt(ctx, alice, nil)
	client.Close()
	wsClient.Close()
	rpcClient.Close()
	node.kill()

	// The data dir keeps its scheme: the other one is refused.
	other := map[string]string{"path": "hash", "hash": "path"}[scheme]
	refused, err := exec.Command(emcdBinary(t), "--dev", "--datadir", datadir, "--rpc.addr", "127.0.0.1:0", "--grpc.addr", "",
		"--state.scheme", other).CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "created with --state.scheme "+scheme) {
		t.Fatalf("restart with --state.scheme %s: %v\n%s", other, err, refused)
	}

	node2 := startDevNode(t, datadir) // no flag: the data dir's scheme
	client2, err := ethclient.DialContext(ctx, node2.url)
	if err != nil {
		t.Fatal(err)
	}
	defer client2.Close()
	if !strings.Contains(node2.output(), "scheme="+scheme) {
		t.Fatalf("restarted node did not open the %s scheme:\n%s", scheme, node2.output())
	}
	// The path scheme lost its in-memory layers to the SIGKILL and rebuilt
	// them by re-executing the stored blocks; the hash scheme had nothing
	// to rebuild.
	if replayed := strings.Contains(node2.output(), "state recovered"); replayed != (scheme == "path") {
		t.Fatalf("%s scheme: replayed blocks at restart = %v:\n%s", scheme, replayed, node2.output())
	}
	head2, err := client2.BlockNumber(ctx)
	if err != nil || head2 < head {
		t.Fatalf("head after restart %d (err %v), before kill %d", head2, err, head)
	}
	for i := uint64(0); i <= head; i++ {
		h := mustHeader(t, client2, new(big.Int).SetUint64(i))
		if (snapshot{h.Hash(), h.Root}) != blocks[i] {
			t.Fatalf("block %d changed across restart", i)
		}
	}
	for _, h := range append(hashes, tx.Hash(), deploy.Hash(), call.Hash(), stakeTx.Hash()) {
		if r, err := client2.TransactionReceipt(ctx, h); err != nil || r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("receipt %s after restart: %v", h, err)
		}
	}
	if b, _ := client2.BalanceAt(ctx, bob, nil); b.Cmp(bobBal) != 0 {
		t.Fatalf("bob balance %s after restart, want %s", b, bobBal)
	}
	if b, _ := client2.BalanceAt(ctx, alice, nil); b.Cmp(aliceBal) != 0 {
		t.Fatalf("alice balance %s after restart, want %s", b, aliceBal)
	}
	// Historical state survives too: bob held exactly the first transfer
	// after its block.
	if b, err := client2.BalanceAt(ctx, bob, rcpt.BlockNumber); err != nil || b.Cmp(value) != 0 {
		t.Fatalf("bob balance at block %d after restart: %v, %v; want %s", rcpt.BlockNumber, b, err, value)
	}
	// And the restarted chain keeps producing blocks.
	next := signTx(t, keys[0], chainID, 1, &bob, big.NewInt(1), 21000, nil)
	if err := client2.SendTransaction(ctx, next); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	waitReceipt(t, client2, next.Hash())
}

func mustHeader(t *testing.T, c *ethclient.Client, n *big.Int) *types.Header {
	t.Helper()
	h, err := c.HeaderByNumber(context.Background(), n)
	if err != nil {
		t.Fatalf("header %v: %v", n, err)
	}
	return h
}
