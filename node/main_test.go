package node

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/emc-network/emcd/computing/pow"
)

// TestMain lets this test binary be the prover program of the node's
// sandboxed prover (--verify.prover sandbox with the process executor runs
// os.Executable(), which in a test is this binary): invoked as
// `pow prove --seed HEX --n N --workers W`, it does what `emcd pow prove`
// does (pow.ProveToDir into $EMC_OUTPUT_DIR) and exits.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "pow" && os.Args[2] == "prove" {
		if err := powProve(os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "pow prove:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func powProve(args []string) error {
	fs := flag.NewFlagSet("prove", flag.ContinueOnError)
	seedHex := fs.String("seed", "", "")
	n := fs.Int("n", 0, "")
	workers := fs.Int("workers", 1, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	seed, err := hex.DecodeString(*seedHex)
	if err != nil || len(seed) != 32 {
		return fmt.Errorf("--seed %q", *seedHex)
	}
	w := pow.Workload{N: *n}
	copy(w.Seed[:], seed)
	_, err = pow.ProveToDir(context.Background(), w, *workers, os.Getenv("EMC_OUTPUT_DIR"))
	return err
}
