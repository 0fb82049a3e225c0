package docker_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/params"
)

var endpointLine = regexp.MustCompile(`(?m)^(\S+)\s+(\d+\.\d+\.\d+\.\d+)\s+(http://\S+)\s+\S+\s+(http://\S+/metrics)$`)

// TestDevnet builds the image, starts the Docker devnet with the scripts
// behind make devnet and make devnet-down, checks that the seven nodes
// agree on the chain, sends a transfer and sees it on every node with
// exact balances, lints every role's metrics with promtool, and removes
// everything in t.Cleanup, also on failure.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-container devnet: skipped under -short")
	}
	needDocker(t)
	dir := t.TempDir()
	// A name, subnet and data dir of its own: a developer's devnet (make
	// devnet) may be up at the same time.
	slot := 100 + os.Getpid()%100
	env := []string{
		"DEVNET_NAME=emcd-devnet-test-" + fmt.Sprint(os.Getpid()),
		fmt.Sprintf("DEVNET_SUBNET=172.28.%d.0/24", slot),
		fmt.Sprintf("DEVNET_IP_BASE=172.28.%d.10", slot),
		"DEVNET_DIR=" + dir,
		"DEVNET_TIMEOUT=150",
		"IMAGE=emcd:dev",
	}
	run(t, 15*time.Minute, nil, "docker/build-image.sh")
	t.Cleanup(func() { run(t, 2*time.Minute, env, "docker/devnet/down.sh") })
	out := run(t, 4*time.Minute, env, "docker/devnet/up.sh")
	t.Logf("make devnet:\n%s", out)

	eps := endpointLine.FindAllStringSubmatch(out, -1)
	if len(eps) != 7 {
		t.Fatalf("up.sh listed %d endpoints, want 7:\n%s", len(eps), out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clients := map[string]*ethclient.Client{}
	var names []string
	for _, ep := range eps {
		c, err := ethclient.DialContext(ctx, ep[3])
		if err != nil {
			t.Fatalf("%s: %v", ep[1], err)
		}
		t.Cleanup(c.Close)
		clients[ep[1]] = c
		names = append(names, ep[1])
	}

	// Heads agree again a few blocks later (up.sh checked once).
	agreeAt := func(min uint64) uint64 {
		t.Helper()
		for {
			low := uint64(0)
			for i, name := range names {
				h, err := clients[name].BlockNumber(ctx)
				if err != nil {
					t.Fatalf("%s: eth_blockNumber: %v", name, err)
				}
				if i == 0 || h < low {
					low = h
				}
			}
			if low >= min {
				var want common.Hash
				for i, name := range names {
					hd, err := clients[name].HeaderByNumber(ctx, new(big.Int).SetUint64(low))
					if err != nil {
						t.Fatalf("%s: header %d: %v", name, low, err)
					}
					if i == 0 {
						want = hd.Hash()
					} else if hd.Hash() != want {
						t.Fatalf("fork at %d: %s has %s, %s has %s", low, names[0], want, name, hd.Hash())
					}
				}
				return low
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the nodes did not reach block %d: %v", min, ctx.Err())
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	start := agreeAt(2)
	agreeAt(start + 3)

	// A transfer from a funded dev account, sent to one validator, seen
	// with the same balances on every node.
	keys, err := genesis.DevAccountKeys(1)
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(keys[0].PublicKey)
	to := common.HexToAddress("0x00000000000000000000000000000000000ec0de")
	send := clients["validator-2"]
	chainID, err := send.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := send.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	before, err := send.BalanceAt(ctx, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	value := new(big.Int).Mul(big.NewInt(3), big.NewInt(params.EMC))
	tx, err := types.SignNewTx(keys[0], types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, To: &to, Value: value, Gas: 21000,
		GasFeeCap: big.NewInt(100_000_000_000), GasTipCap: big.NewInt(1_000_000_000),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := send.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send: %v", err)
	}
	var rcpt *types.Receipt
	for rcpt == nil {
		rcpt, _ = send.TransactionReceipt(ctx, tx.Hash())
		if rcpt == nil {
			select {
			case <-ctx.Done():
				t.Fatalf("transfer %s not mined: %v", tx.Hash(), ctx.Err())
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	if rcpt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transfer failed: %+v", rcpt)
	}
	agreeAt(rcpt.BlockNumber.Uint64())
	fee := new(big.Int).Mul(new(big.Int).SetUint64(rcpt.GasUsed), rcpt.EffectiveGasPrice)
	wantFrom := new(big.Int).Sub(before, new(big.Int).Add(value, fee))
	for _, name := range names {
		gotTo, err := clients[name].BalanceAt(ctx, to, rcpt.BlockNumber)
		if err != nil {
			t.Fatal(err)
		}
		gotFrom, err := clients[name].BalanceAt(ctx, from, rcpt.BlockNumber)
		if err != nil {
			t.Fatal(err)
		}
		if gotTo.Cmp(value) != 0 || gotFrom.Cmp(wantFrom) != 0 {
			t.Errorf("%s at block %d: recipient %s (want %s), sender %s (want %s)", name, rcpt.BlockNumber, gotTo, value, gotFrom, wantFrom)
		}
	}

	// Every role's metrics pass promtool.
	if tool, err := lookPromtool(); err == nil {
		for _, ep := range eps {
			page := scrape(t, ep[4])
			lintMetrics(t, tool, ep[1], page)
			if strings.HasPrefix(ep[1], "validator-") {
				names := metricNames(page)
				for _, m := range consensusMetrics {
					if !names[m] {
						t.Errorf("%s does not expose %s", ep[1], m)
					}
				}
			}
		}
	} else {
		t.Log("promtool not installed: metrics of the devnet roles not linted")
	}

	// The shipped Prometheus config, rules and dashboard on the live devnet.
	checkLivePrometheus(t, fmt.Sprintf("172.28.%d.", slot))
}
