package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/pow"
)

// TestPowProveCmd runs `emcd pow prove` in process: the leaf file it
// writes reads back (pow.ReadLeafFile) with the root of pow.Prove and the
// root it prints; bad flags fail with a message and no file.
func TestPowProveCmd(t *testing.T) {
	run := func(args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"--datadir", t.TempDir()}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	w := pow.Workload{Seed: [32]byte{0xab, 1}, N: 192}
	seed := "0xab01" + strings.Repeat("00", 30)
	dir := t.TempDir()
	out, err := run("pow", "prove", "--seed", seed, "--n", "192", "--workers", "2", "--out", dir, "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var got struct {
		Root  string `json:"root"`
		N     int    `json:"n"`
		Bytes int64  `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ref, err := pow.Prove(context.Background(), w, 2)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, pow.LeafFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	p, err := pow.ReadLeafFile(f, fi.Size(), w)
	if err != nil {
		t.Fatal(err)
	}
	root := ref.Root()
	if p.Root() != root || got.Root != "0x"+hex.EncodeToString(root[:]) || got.N != 192 || got.Bytes != fi.Size() {
		t.Fatalf("printed %+v, file root %x, pow.Prove root %x", got, p.Root(), root)
	}
	for _, bad := range [][]string{
		{"--seed", "0x01", "--n", "64", "--out", dir},
		{"--seed", seed, "--n", "100", "--out", dir},
		{"--seed", seed, "--n", "64", "--out", dir, "--workers", "0"},
		{"--seed", seed, "--n", "64", "--out", filepath.Join(dir, "absent")},
	} {
		if _, err := run(append([]string{"pow", "prove"}, bad...)...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestVerifyProverSettings: --verify.prover and --verify.prover-image
// come from config.toml's [verify] section as the README documents, and a
// bad prover is refused before the node starts.
func TestVerifyProverSettings(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[verify]\nprover = \"sandbox\"\nprover-image = \"gpu-prover:1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var prover, image string
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		prover, image = cmd.Flags().Lookup("verify.prover").Value.String(), cmd.Flags().Lookup("verify.prover-image").Value.String()
		return nil
	}
	root.SetArgs([]string{"--datadir", dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if prover != "sandbox" || image != "gpu-prover:1" {
		t.Fatalf("prover %q image %q", prover, image)
	}
	root = newRootCmd()
	root.SetArgs([]string{"--datadir", t.TempDir(), "--verify.prover", "gpu"})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--verify.prover") {
		t.Fatalf("bad prover: %v", err)
	}
}
