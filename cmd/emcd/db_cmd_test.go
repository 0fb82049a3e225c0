package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
)

func runDBStats(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(append([]string{"db", "stats"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestDBStats(t *testing.T) {
	dir := t.TempDir()
	dd := config.NewDataDir(dir)
	if _, err := openGenesis(genesis.Dev(), dd.ChainData(), state.StorageConfig{}); err != nil {
		t.Fatal(err)
	}
	out, err := runDBStats(t, "--datadir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st state.DBStats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	sizes := map[string]uint64{}
	for _, c := range st.Categories {
		sizes[c.Name] = c.Bytes
	}
	if st.Scheme != state.SchemePath || sizes[state.CatHeaders] == 0 || sizes[state.CatStateTrie] == 0 || sizes[state.CatStateFlat] == 0 ||
		sizes[state.CatOther] != 0 || st.DiskBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	text, err := runDBStats(t, "--datadir", dir)
	if err != nil || !strings.Contains(text, "state scheme path") || !strings.Contains(text, "headers") {
		t.Fatalf("text output %v:\n%s", err, text)
	}
}

func TestDBStatsErrors(t *testing.T) {
	if _, err := runDBStats(t, "--datadir", filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), "no chain data") {
		t.Fatalf("absent data dir: %v", err)
	}
	dir := t.TempDir()
	dd := config.NewDataDir(dir)
	if _, err := openGenesis(genesis.Dev(), dd.ChainData(), state.StorageConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := dd.Lock(); err != nil {
		t.Fatal(err)
	}
	defer dd.Unlock()
	if _, err := runDBStats(t, "--datadir", dir); !errors.Is(err, config.ErrDataDirInUse) {
		t.Fatalf("locked data dir: %v", err)
	}
}
