package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/internal/loadgen"
)

func init() { extraCommands = append(extraCommands, newBenchCmd) }

func newBenchCmd(g *globals) *cobra.Command {
	var (
		endpoints   []string
		accounts    int
		rate        float64
		duration    time.Duration
		drain       time.Duration
		feeCapGwei  float64
		tipGwei     float64
		maxInflight int
		funderFile  string
		seed        string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generator: signed transfers from many accounts, reports TPS and submit→commit latency",
		Long: `bench funds --accounts sender accounts from the funder (by default the last
test-mnemonic dev account), then sends signed EIP-1559 transfers from all of them
over JSON-RPC to the --rpc endpoints, at --rate tx/s (0: as fast as the node
accepts, at most --max-inflight uncommitted per account) for --duration. It
watches new blocks for the hashes it sent and reports sustained TPS and
p50/p95/p99 submit→commit latency.

Fee policy: every transfer pays --fee-cap-gwei max fee and --tip-gwei priority fee.`,
		Example: `  emcd bench --rate 1000 --duration 30s
  emcd bench --rpc http://127.0.0.1:20001,http://127.0.0.1:20011 --accounts 200 --rate 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(os.Stderr)
			if err != nil {
				return err
			}
			funder, err := benchFunder(funderFile)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			rep, err := loadgen.Run(ctx, loadgen.Config{
				Endpoints: endpoints, Funder: funder, Accounts: accounts, Rate: rate, Duration: duration, Drain: drain,
				FeeCapWei: gweiToWei(feeCapGwei), TipWei: gweiToWei(tipGwei), MaxInflight: maxInflight, Seed: seed,
			}, log)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&endpoints, "rpc", []string{"http://127.0.0.1:8545"}, "JSON-RPC HTTP endpoints (comma-separated)")
	f.IntVar(&accounts, "accounts", 100, "number of sender accounts")
	f.Float64Var(&rate, "rate", 0, "offered load in tx/s (0: as fast as possible)")
	f.DurationVar(&duration, "duration", 30*time.Second, "how long to offer load")
	f.DurationVar(&drain, "drain", 30*time.Second, "how long to wait for outstanding transactions afterwards")
	f.Float64Var(&feeCapGwei, "fee-cap-gwei", 100, "max fee per gas of every transfer, in gwei")
	f.Float64Var(&tipGwei, "tip-gwei", 1, "max priority fee per gas of every transfer, in gwei")
	f.IntVar(&maxInflight, "max-inflight", 256, "per-account bound on sent but uncommitted transactions")
	f.StringVar(&funderFile, "funder-key", "", "file with the hex private key that funds the senders (default: test-mnemonic account 9)")
	f.StringVar(&seed, "seed", "default", "derives the sender keys; reuse it to reuse funded accounts")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func benchFunder(file string) (*ecdsa.PrivateKey, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read funder key: %w", err)
		}
		k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(string(data)), "0x"))
		if err != nil {
			return nil, fmt.Errorf("funder key %s: %w", file, err)
		}
		return k, nil
	}
	keys, err := genesis.DevAccountKeys(genesis.DevAccountCount)
	if err != nil {
		return nil, err
	}
	return keys[genesis.DevAccountCount-1], nil
}

func gweiToWei(g float64) *big.Int {
	wei, _ := new(big.Float).Mul(big.NewFloat(g), big.NewFloat(1e9)).Int(nil)
	return wei
}
