package main

// `emcd job dispute` against a dev node (real processes): the dev node's
// compute side runs a deterministic shell program (process executor). The
// dispute is refused with the module's reason for a job that is not
// deterministic, from an account that is not the submitter, and with a
// bond below the minimum; the submitter's dispute with a bond is taken,
// and with no other node to re-execute the job (the dev chain has one)
// the dispute is inconclusive: the bond comes back.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/emc-network/emcd/genesis"
)

func TestJobDisputeCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	dir := t.TempDir()
	prog := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho \"answer $1\" > \"$EMC_OUTPUT_DIR/out.txt\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "compute", "images", "load", prog, "--executor", "process", "--datadir", dir, "--json")
	var loaded imagesLoadResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &loaded) != nil || len(loaded.Images) != 1 {
		t.Fatalf("images load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	node := startDevNode(t, dir)
	url := node.url
	ec, err := ethclient.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	acct := crypto.PubkeyToAddress(keys[3].PublicKey)

	// Flags are checked before anything is sent.
	for _, args := range [][]string{
		{"job", "dispute", "1", "--rpc", url, "--dev-account", "3"},                   // no bond
		{"job", "dispute", "1", "--rpc", url, "--dev-account", "3", "--bond", "-1"},   // bad bond
		{"job", "dispute", "1", "--rpc", url, "--dev-account", "3", "--bond", "0"},    // zero
		{"job", "dispute", "zero", "--rpc", url, "--dev-account", "3", "--bond", "1"}, // bad id
		{"job", "dispute", "1", "--rpc", url, "--bond", "1"},                          // no key
	} {
		if r := runCLI(t, args...); r.code == 0 {
			t.Fatalf("%v: exit 0\n%s", args, r.stdout)
		}
	}

	// 1. A job that is not deterministic cannot be disputed.
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", loaded.Images[0], "--escrow", "1",
		"--run-timeout", "60s", "--json", "--", "1")
	if v := decodeTxJSON(t, r); r.code != 0 || v.Result["id"] != float64(1) {
		t.Fatalf("submit: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	r = runCLI(t, "job", "dispute", "1", "--rpc", url, "--dev-account", "3", "--bond", "1", "--json")
	if v := decodeTxJSON(t, r); r.code != 1 || v.Status != "rejected" || !strings.Contains(v.RevertReason, "not deterministic") {
		t.Fatalf("dispute of a job that is not deterministic: exit %d %+v\n%s", r.code, v, r.stderr)
	}

	// 2. A deterministic job, run by the dev node.
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", loaded.Images[0], "--escrow", "1",
		"--run-timeout", "60s", "--deterministic", "--json", "--", "42")
	if v := decodeTxJSON(t, r); r.code != 0 || v.Result["id"] != float64(2) {
		t.Fatalf("deterministic submit: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if r := runCLI(t, "job", "wait", "2", "--rpc", url, "--timeout", "60s"); r.code != 0 {
		t.Fatalf("wait: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	if r := runCLI(t, "job", "dispute", "2", "--rpc", url, "--dev-account", "2", "--bond", "1"); r.code != 1 ||
		!strings.Contains(r.stdout, "only the submitter may dispute") {
		t.Fatalf("dispute by another account: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "job", "dispute", "2", "--rpc", url, "--dev-account", "3", "--bond", "0.5"); r.code != 1 ||
		!strings.Contains(r.stdout, "bond below the minimum") {
		t.Fatalf("dispute with a small bond: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "job", "dispute", "2", "--rpc", url, "--dev-account", "3", "--bond", "1", "--json")
	v := decodeTxJSON(t, r)
	if r.code != 0 || v.Status != "success" || v.ValueWei != "1000000000000000000" || v.Result["bondWei"] != "1000000000000000000" {
		t.Fatalf("dispute: exit %d %+v\n%s\nnode:\n%s", r.code, v, r.stderr, node.output())
	}
	disputeBlock := *v.BlockNumber
	if j, r := jobRecord(t, url, "2", "--block", fmt.Sprint(disputeBlock)); r.code != 0 || j.State != "disputed" {
		t.Fatalf("in the dispute's block: %s (exit %d)\n%s", j.State, r.code, r.stderr)
	}
	// No other node: inconclusive, the result stands and settles; the
	// bond comes back to the submitter.
	deadline := time.Now().Add(90 * time.Second)
	for {
		j, r := jobRecord(t, url, "2")
		if r.code == 0 && j.State == "settled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job 2 %s after 90 s\nnode:\n%s", j.State, node.output())
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The bond is back: the submitter's balance from the dispute block on
	// moves by the bond only (it sends nothing else).
	ctx := context.Background()
	head, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ec.BalanceAt(ctx, acct, new(big.Int).SetUint64(head))
	atDispute, _ := ec.BalanceAt(ctx, acct, new(big.Int).SetUint64(disputeBlock))
	bond, _ := new(big.Int).SetString("1000000000000000000", 10)
	if got := new(big.Int).Sub(after, atDispute); got.Cmp(bond) < 0 {
		t.Fatalf("submitter got %s back after the dispute, want at least the bond %s", got, bond)
	}
}
