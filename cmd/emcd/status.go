package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newStatusCmd) }

func newStatusCmd(_ *globals) *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print a node's consensus status (emc_consensusStatus) and head",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c, err := rpc.DialContext(ctx, url)
			if err != nil {
				return fmt.Errorf("dial %s: %w", url, err)
			}
			defer c.Close()
			var status json.RawMessage
			if err := c.CallContext(ctx, &status, "emc_consensusStatus"); err != nil {
				return fmt.Errorf("emc_consensusStatus: %w", err)
			}
			var head struct {
				Number    string `json:"number"`
				Hash      string `json:"hash"`
				Timestamp string `json:"timestamp"`
			}
			if err := c.CallContext(ctx, &head, "eth_getBlockByNumber", "latest", false); err != nil {
				return fmt.Errorf("eth_getBlockByNumber: %w", err)
			}
			var peers string
			_ = c.CallContext(ctx, &peers, "net_peerCount")
			out := map[string]any{"consensus": status, "head": head, "peers": peers, "rpc": url}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	cmd.Flags().StringVar(&url, "rpc", "http://127.0.0.1:8545", "JSON-RPC URL of the node")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	return cmd
}
