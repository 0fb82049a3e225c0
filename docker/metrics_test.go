package docker_test

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/emc-network/emcd/genesis"
)

// The metrics operators alert on and the dashboard draws: a dev node (all
// roles) must expose every one of them after a few blocks, an RPC call and
// a transfer. The IBFT engine's (consensusMetrics) run on the devnet's
// validators only: a dev node seals alone.
var operatorMetrics = []string{
	"emcd_chain_head_number", "emcd_chain_head_timestamp_seconds", "emcd_chain_block_interval_seconds_bucket",
	"emcd_chain_blocks_total", "emcd_chain_transactions_total",
	"emcd_consensus_round",
	"emcd_rpc_request_duration_seconds_bucket",
	"emcd_p2p_peers", "emcd_sync_distance_blocks",
	"emcd_txpool_pending", "emcd_txpool_queued",
	"emcd_jobs_created_total", "emcd_jobs_waiting", "emcd_jobs_events_total", "emcd_jobs_settled_cost_wei_total", "emcd_jobs_settled_burned_wei_total",
	"emcd_rewards_last_epoch_paid_wei", "emcd_rewards_accrued_unclaimed_wei", "emcd_rewards_next_settle_epoch",
	"emcd_gpu_utilization_percent", "emcd_gpu_memory_used_bytes", "emcd_gpu_temperature_celsius", "emcd_gpu_power_usage_watts",
	"emcd_gpu_devices", "emcd_datadir_filesystem_avail_bytes", "emcd_datadir_filesystem_size_bytes",
	"process_start_time_seconds", "go_goroutines",
}

var consensusMetrics = []string{"emcd_consensus_round_changes_total", "emcd_consensus_messages_in_total", "emcd_consensus_block_commit_seconds_bucket"}

var (
	devScrapeOnce sync.Once
	devScrapePage string
)

// devNodeMetrics starts a dev node once per test process, gives it some
// work (blocks, RPC calls, a transfer), scrapes /metrics and stops it.
func devNodeMetrics(t *testing.T) string {
	t.Helper()
	devScrapeOnce.Do(func() {
		n := startDevNode(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := ethclient.DialContext(ctx, n.rpcURL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		keys, err := genesis.DevAccountKeys(1)
		if err != nil {
			t.Fatal(err)
		}
		chainID, err := c.ChainID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		from := crypto.PubkeyToAddress(keys[0].PublicKey)
		nonce, err := c.PendingNonceAt(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		to := common.HexToAddress("0x00000000000000000000000000000000000ec0de")
		tx, err := types.SignNewTx(keys[0], types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
			ChainID: chainID, Nonce: nonce, To: &to, Value: big.NewInt(1), Gas: 21000,
			GasFeeCap: big.NewInt(100_000_000_000), GasTipCap: big.NewInt(1_000_000_000),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
		for {
			r, _ := c.TransactionReceipt(ctx, tx.Hash())
			h, err := c.BlockNumber(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r != nil && h >= 3 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("dev node: transfer not mined by block 3: %v\n%s", ctx.Err(), n.output())
			case <-time.After(200 * time.Millisecond):
			}
		}
		// The compute agent's first telemetry sample may lag the blocks.
		for {
			devScrapePage = scrape(t, n.metricsURL)
			if strings.Contains(devScrapePage, "emcd_gpu_utilization_percent{") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("dev node: no GPU telemetry in /metrics:\n%s", devScrapePage)
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	if devScrapePage == "" {
		t.Fatal("dev node metrics unavailable (an earlier test failed to scrape them)")
	}
	return devScrapePage
}

// TestMetricsPromtool: every metric a dev node (validator, router and
// compute roles in one process) exposes passes promtool check metrics,
// except the dcgm-exporter GPU labels, and the metrics operators alert on
// exist. TestDevnet lints each role on its own node.
func TestMetricsPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an emcd process: skipped under -short")
	}
	tool := promtool(t)
	page := devNodeMetrics(t)
	lintMetrics(t, tool, "dev node", page)
	names := metricNames(page)
	for _, m := range operatorMetrics {
		if !names[m] {
			t.Errorf("dev node does not expose %s", m)
		}
	}
}
