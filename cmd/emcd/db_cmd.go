package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/state"
)

func init() { extraCommands = append(extraCommands, newDBCmd) }

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Inspect the chain database"}
	var asJSON bool
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Print the size of each data category in the data dir",
		Long: `stats walks every key of DATADIR/chaindata and the state history files and
prints the size of each category: headers, bodies, receipts, certificates,
the transaction index, state (trie nodes, flat state, code), state history and
its indexes, metadata. Sizes are key+value bytes before pebble's compression;
the total on disk is printed last. The node must be stopped (the data dir is
locked while it runs).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dd := g.resolvedDataDir()
			if _, err := os.Stat(dd.ChainData()); err != nil {
				return fmt.Errorf("no chain data in %s (run `emcd init` or start the node first): %w", dd.Path, err)
			}
			if err := dd.Lock(); err != nil {
				return fmt.Errorf("%w: stop the node first", err)
			}
			defer dd.Unlock()
			db, err := state.OpenStoreReadOnly(dd.ChainData())
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := state.CollectDBStats(db, dd.ChainData())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(out, "data dir %s, state scheme %s, head %d\n", dd.Path, st.Scheme, st.Head)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "CATEGORY\tSIZE\tITEMS\t")
			for _, c := range st.Categories {
				fmt.Fprintf(tw, "%s\t%s\t%d\t\n", c.Name, common.StorageSize(c.Bytes), c.Items)
			}
			fmt.Fprintf(tw, "total\t%s\t\t\n", common.StorageSize(st.LogicalBytes))
			fmt.Fprintf(tw, "on disk\t%s\t\t\n", common.StorageSize(st.DiskBytes))
			return tw.Flush()
		},
	}
	stats.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(stats)
	return cmd
}
