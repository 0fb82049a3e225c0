package main

// Issue 8's report, against the real binary: 64 clients asking
// eth_getTransactionCount(addr, "pending") for many different funded
// accounts at once, with other reads mixed in, while transactions keep
// moving the head, killed `emcd --dev` within a second ("fatal error:
// concurrent map writes" in the pool's head StateDB). The node must survive
// and answer every call correctly.

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/genesis"
)

func TestDevNodeSurvivesConcurrentPendingNonceReads(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	const (
		clients  = 64
		accounts = 400 // funded by the test, never sending
		load     = 6 * time.Second
	)
	node := startDevNode(t, t.TempDir())
	// Funding and load, after the node is up, are bounded by 15 s.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := rpc.DialContext(ctx, node.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := genesis.DevAccountKeys(genesis.DevAccountCount)
	if err != nil {
		t.Fatal(err)
	}
	chainID := big.NewInt(1337)
	nonces := make([]uint64, len(keys))
	send := func(ctx context.Context, c *rpc.Client, from int, to common.Address) error {
		tx, err := types.SignNewTx(keys[from], types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
			ChainID: chainID, Nonce: nonces[from], GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(50e9),
			Gas: 21_000, To: &to, Value: big.NewInt(1e15),
		})
		if err != nil {
			return err
		}
		raw, _ := tx.MarshalBinary()
		if err := c.CallContext(ctx, nil, "eth_sendRawTransaction", hexutil.Encode(raw)); err != nil {
			return fmt.Errorf("send from dev %d nonce %d: %w", from, nonces[from], err)
		}
		nonces[from]++
		return nil
	}

	// Fund the accounts the clients will read: 40 transfers from each dev
	// account, then wait until the senders' latest nonces show them mined.
	funded := make([]common.Address, accounts)
	for i := range funded {
		funded[i] = common.BigToAddress(big.NewInt(int64(0xfeed0000 + i)))
		if err := send(ctx, c, i%len(keys), funded[i]); err != nil {
			t.Fatal(err)
		}
	}
	for from, k := range keys {
		addr := crypto.PubkeyToAddress(k.PublicKey)
		for {
			var n hexutil.Uint64
			if err := c.CallContext(ctx, &n, "eth_getTransactionCount", addr, "latest"); err != nil {
				t.Fatalf("waiting for the funding transfers: %v", err)
			}
			if uint64(n) == nonces[from] {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("funding transfers of dev %d not mined in time (nonce %d of %d)", from, n, nonces[from])
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	var startHead hexutil.Uint64
	if err := c.CallContext(ctx, &startHead, "eth_blockNumber"); err != nil {
		t.Fatal(err)
	}

	// A writer keeps the head moving; 64 clients read.
	loadCtx, stopLoad := context.WithTimeout(ctx, load)
	defer stopLoad()
	var (
		wg       sync.WaitGroup
		calls    atomic.Int64
		errMu    sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; loadCtx.Err() == nil; i++ {
			if err := send(loadCtx, c, i%len(keys), funded[i%accounts]); err != nil && loadCtx.Err() == nil {
				fail("writer: %v", err)
				return
			}
		}
	}()
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := rpc.DialContext(ctx, node.url)
			if err != nil {
				fail("client %d: %v", g, err)
				return
			}
			defer rc.Close()
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; loadCtx.Err() == nil; i++ {
				addr := funded[rnd.IntN(accounts)]
				if err := readOnce(loadCtx, rc, i, addr); err != nil {
					if loadCtx.Err() == nil {
						fail("client %d call %d: %v", g, i, err)
					}
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(failures) > 0 {
		// A crashed node takes a moment to be reaped: say why it died.
		select {
		case <-node.exited:
		case <-time.After(5 * time.Second):
		}
	}
	select {
	case <-node.exited:
		t.Fatalf("emcd died under concurrent reads:\n%s", crashReport(node.output()))
	default:
	}
	// Still alive and answering, and still producing blocks. The checks get
	// their own bound, so a slow setup cannot pass for a dead node.
	ctx, cancelCheck := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelCheck()
	var head hexutil.Uint64
	if err := c.CallContext(ctx, &head, "eth_blockNumber"); err != nil {
		t.Fatalf("eth_blockNumber after the load: %v", err)
	}
	for _, a := range []common.Address{funded[0], funded[accounts-1]} {
		var n hexutil.Uint64
		if err := c.CallContext(ctx, &n, "eth_getTransactionCount", a, "pending"); err != nil || n != 0 {
			t.Fatalf("pending nonce of %s after the load: %d, %v", a, n, err)
		}
	}
	t.Logf("%d clients made %d calls in %v; head moved %d -> %d", clients, calls.Load(), load, startHead, head)
	if head <= startHead {
		t.Errorf("head did not move during the load (%d)", head)
	}
}

// readOnce makes client call i: mostly the pending nonce of addr (which
// never sends, so it is 0), every fourth call another read of addr.
func readOnce(ctx context.Context, c *rpc.Client, i int, addr common.Address) error {
	switch i % 8 {
	case 3:
		var bal hexutil.Big
		if err := c.CallContext(ctx, &bal, "eth_getBalance", addr, "pending"); err != nil {
			return err
		}
		if (*big.Int)(&bal).Sign() == 0 {
			return fmt.Errorf("funded account %s has no balance", addr)
		}
		return nil
	case 7:
		var gas hexutil.Uint64
		return c.CallContext(ctx, &gas, "eth_estimateGas", map[string]any{"from": addr, "to": addr, "value": "0x1"})
	}
	var n hexutil.Uint64
	if err := c.CallContext(ctx, &n, "eth_getTransactionCount", addr, "pending"); err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("pending nonce of %s = %d, want 0", addr, n)
	}
	return nil
}

// crashReport returns the Go runtime's fatal error and the first stack
// of a dead node's output, or the output's end when there is none.
func crashReport(out string) string {
	const max = 3000
	if i := strings.Index(out, "fatal error:"); i >= 0 {
		out = out[i:]
	} else if i := strings.Index(out, "panic:"); i >= 0 {
		out = out[i:]
	} else if len(out) > max {
		return out[len(out)-max:]
	}
	if len(out) > max {
		out = out[:max]
	}
	return out
}
