// Command powprover is the prover program of the sandboxed-prover tests:
// the command line of `emcd pow prove` (pow prove --seed HEX --n N
// --workers W [--out DIR], DIR defaulting to $EMC_OUTPUT_DIR) over the
// same pow.ProveToDir, built static (CGO_ENABLED=0) so it also runs in a
// FROM scratch image. $POWPROVER_FAULT makes it a broken prover:
//
//	truncate   the leaf file without its last leaf
//	wrongroot  the leaf file stating another root
//	wrongseed  the leaf file of another seed
//	garbage    leaves of no computation, with the root they lead to
//	nofile     exit 0 and leave nothing
//	exit       print to stderr and exit 3
//	hang       write its pid to $POWPROVER_PIDFILE and sleep
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emc-network/emcd/computing/pow"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "powprover:", err)
		os.Exit(1)
	}
}

func run() error {
	args := os.Args[1:]
	if len(args) < 2 || args[0] != "pow" || args[1] != "prove" {
		return fmt.Errorf("usage: powprover pow prove --seed HEX --n N [--workers W] [--out DIR]")
	}
	fs := flag.NewFlagSet("prove", flag.ContinueOnError)
	seedHex := fs.String("seed", "", "")
	n := fs.Int("n", 0, "")
	workers := fs.Int("workers", 1, "")
	out := fs.String("out", os.Getenv("EMC_OUTPUT_DIR"), "")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	seed, err := hex.DecodeString(*seedHex)
	if err != nil || len(seed) != 32 {
		return fmt.Errorf("--seed: want 64 hex digits")
	}
	w := pow.Workload{N: *n}
	copy(w.Seed[:], seed)
	fault := os.Getenv("POWPROVER_FAULT")
	switch fault {
	case "":
		_, err := pow.ProveToDir(context.Background(), w, *workers, *out)
		return err
	case "nofile":
		return nil
	case "exit":
		fmt.Fprintln(os.Stderr, "prover broke on purpose")
		os.Exit(3)
	case "hang":
		if err := os.WriteFile(os.Getenv("POWPROVER_PIDFILE"), fmt.Appendf(nil, "%d", os.Getpid()), 0o644); err != nil {
			return err
		}
		time.Sleep(time.Hour)
		return nil
	}
	if fault == "wrongseed" {
		w.Seed[0] ^= 1
	}
	p, err := pow.Prove(context.Background(), w, *workers)
	if err != nil {
		return err
	}
	if fault == "garbage" {
		leaves := make([][32]byte, pow.Chunks(w.N))
		for i := range leaves {
			leaves[i] = sha256.Sum256(fmt.Appendf(nil, "junk %d", i))
		}
		if p, err = pow.NewProverFromLeaves(w, leaves); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := pow.WriteLeafFile(&buf, p); err != nil {
		return err
	}
	b := buf.Bytes()
	switch fault {
	case "truncate":
		b = b[:len(b)-32]
	case "wrongroot":
		b[pow.LeafFileHeader-1] ^= 1
	case "wrongseed", "garbage":
	default:
		return fmt.Errorf("unknown POWPROVER_FAULT %q", fault)
	}
	return os.WriteFile(filepath.Join(*out, pow.LeafFileName), b, 0o644)
}
