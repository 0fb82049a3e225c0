package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestComputeImagesLoadProcess(t *testing.T) {
	dd := t.TempDir()
	prog := filepath.Join(t.TempDir(), "tool")
	body := []byte("#!/bin/sh\necho hi\n")
	if err := os.WriteFile(prog, body, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--datadir", dd, "compute", "images", "load", "--executor", "process", "--json", prog})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var res imagesLoadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := filepath.Join(dd, "compute", "programs", hexSum)
	if res.Executor != "process" || len(res.Images) != 1 || res.Images[0] != "sha256:"+hexSum || res.Path != want {
		t.Fatalf("result %+v, want sha256:%s at %s", res, hexSum, want)
	}
	if got, err := os.ReadFile(want); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("stored program: %v", err)
	}

	for _, args := range [][]string{
		{"compute", "images", "load", "--executor", "process", filepath.Join(dd, "missing")},
		{"compute", "images", "load", "--executor", "vm", prog},
	} {
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetArgs(append([]string{"--datadir", dd}, args...))
		if err := root.Execute(); err == nil {
			t.Fatalf("%s: no error", strings.Join(args, " "))
		}
	}
}

func TestComputeExecutorSetting(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[compute]\nexecutor = \"process\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var got string
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		got = cmd.Flags().Lookup("compute.executor").Value.String()
		return nil
	}
	root.SetArgs([]string{"--datadir", dir})
	if err := root.Execute(); err != nil || got != "process" {
		t.Fatalf("compute.executor %q (%v), want process from config.toml", got, err)
	}
}
