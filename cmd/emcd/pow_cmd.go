package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/pow"
)

func init() { extraCommands = append(extraCommands, newPowCmd) }

func newPowCmd(*globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pow",
		Short: "Proof-of-work challenge tools (verifiable compute)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPowProveCmd())
	return cmd
}

// newPowProveCmd is the prover program a compute node runs in its sandbox
// with --verify.prover sandbox (computing/challenge SandboxProver): the
// CPU reference. A GPU prover image implements the same command line.
func newPowProveCmd() *cobra.Command {
	var (
		seedHex string
		n       int
		workers int
		out     string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "prove --seed HEX --n N [--out DIR]",
		Short: "Compute a challenge's workload and write its Merkle leaves (the sandboxed prover)",
		Long: `Compute C = A·B for the proof-of-work workload (seed, n) on the CPU and write
DIR/` + pow.LeafFileName + `: the root and the Merkle leaves of C's chunks, not C
itself (layout in computing/pow/doc.go, "Leaf file"). A compute node runs
this in its sandbox (--verify.prover sandbox); a GPU prover image implements
the same command line and file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed, err := hex.DecodeString(strings.TrimPrefix(seedHex, "0x"))
			if err != nil || len(seed) != 32 {
				return fmt.Errorf("--seed %q: want 32 bytes in hex", seedHex)
			}
			w := pow.Workload{N: n}
			copy(w.Seed[:], seed)
			if err := w.Validate(); err != nil {
				return fmt.Errorf("--n: %w", err)
			}
			if workers < 1 {
				return fmt.Errorf("--workers %d: want at least 1", workers)
			}
			if out == "" {
				return errors.New("--out: no output dir (and $EMC_OUTPUT_DIR is not set)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			root, err := pow.ProveToDir(ctx, w, workers, out)
			if err != nil {
				return err
			}
			file := filepath.Join(out, pow.LeafFileName)
			wall := time.Since(start)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{
					"root": "0x" + hex.EncodeToString(root[:]), "n": n, "seed": "0x" + hex.EncodeToString(w.Seed[:]),
					"file": file, "bytes": pow.LeafFileSize(n), "wallMs": wall.Milliseconds(),
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "root 0x%x\nn %d, %d chunks, %s in %v\n", root, n, pow.Chunks(n), file, wall.Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&seedHex, "seed", "", "workload seed, 32 bytes in hex")
	f.IntVar(&n, "n", 0, "problem size: a multiple of 64 in [64, 65536]")
	f.IntVar(&workers, "workers", runtime.NumCPU(), "CPU goroutines")
	f.StringVar(&out, "out", os.Getenv("EMC_OUTPUT_DIR"), "output dir (default $EMC_OUTPUT_DIR, set by the node's executor)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
