package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/emc-network/emcd/config"
)

// runRoot executes the root command with args, capturing the settings the
// node would start with instead of starting it.
func runRoot(t *testing.T, args ...string) (map[string]string, error) {
	t.Helper()
	root := newRootCmd()
	got := map[string]string{}
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		for _, name := range []string{"rpc.addr", "log.level", "role", "dev.period", "state.scheme", "history.state", "history.index", "cache.buffer",
			"auto-register", "compute.price-per-gpu-second", "compute.cpu-price", "compute.image"} {
			got[name] = cmd.Flags().Lookup(name).Value.String()
		}
		return nil
	}
	root.SetArgs(args)
	root.SetOut(os.Stderr)
	return got, root.Execute()
}

func TestConfigFileInDataDirIsLoaded(t *testing.T) {
	dir := t.TempDir()
	cfg := "role = \"router\"\n\"dev.period\" = \"3s\"\n[rpc]\naddr = \"127.0.0.1:1111\"\n[log]\nlevel = \"debug\"\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := runRoot(t, "--datadir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got["rpc.addr"] != "127.0.0.1:1111" || got["log.level"] != "debug" || got["role"] != "router" || got["dev.period"] != "3s" {
		t.Fatalf("file values not applied: %v", got)
	}
	// env beats the file, a flag beats both
	t.Setenv("EMCD_LOG_LEVEL", "warn")
	t.Setenv("EMCD_RPC_ADDR", "127.0.0.1:3333")
	got, err = runRoot(t, "--datadir", dir, "--rpc.addr", "127.0.0.1:2222")
	if err != nil {
		t.Fatal(err)
	}
	if got["rpc.addr"] != "127.0.0.1:2222" || got["log.level"] != "warn" || got["role"] != "router" {
		t.Fatalf("precedence flag > env > file broken: %v", got)
	}
}

func TestStorageSettingsFromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	cfg := "[state]\nscheme = \"hash\"\n[history]\nstate = 1000\nindex = false\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EMCD_CACHE_BUFFER", "16")
	got, err := runRoot(t, "--datadir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got["state.scheme"] != "hash" || got["history.state"] != "1000" || got["history.index"] != "false" || got["cache.buffer"] != "16" {
		t.Fatalf("storage settings not applied: %v", got)
	}
	// The history index is on unless turned off.
	var sf storageFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	sf.register(fs)
	if sf.config().NoHistoryIndex {
		t.Fatal("history index off by default")
	}
	if err := fs.Parse([]string{"--history.index=false"}); err != nil || !sf.config().NoHistoryIndex {
		t.Fatalf("--history.index=false: %v, %+v", err, sf.config())
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[rpc]\nadress = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runRoot(t, "--datadir", dir); !errors.Is(err, config.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("rpc = [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runRoot(t, "--datadir", dir); err == nil {
		t.Fatal("broken TOML accepted")
	}
	// An explicit --config that does not exist is an error, not a silent default.
	if _, err := runRoot(t, "--config", filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("missing --config file accepted")
	}
}

// The registration settings come from config.toml as documented in the
// README (a model name with spaces, a list of two prices).
func TestRegistrationSettingsFromFile(t *testing.T) {
	dir := t.TempDir()
	cfg := "role = \"compute\"\nauto-register = false\n[compute]\nprice-per-gpu-second = [\"NVIDIA H100 80GB HBM3=2000\", \"A100=1000\"]\ncpu-price = \"7\"\nimage = [\"sha256:" + strings.Repeat("ab", 32) + "\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := runRoot(t, "--datadir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got["auto-register"] != "false" || got["compute.price-per-gpu-second"] != "[NVIDIA H100 80GB HBM3=2000,A100=1000]" ||
		got["compute.cpu-price"] != "7" || got["compute.image"] != "[sha256:"+strings.Repeat("ab", 32)+"]" {
		t.Fatalf("registration settings not applied: %v", got)
	}
	if got, err = runRoot(t, "--datadir", t.TempDir()); err != nil || got["auto-register"] != "true" {
		t.Fatalf("auto-register default %q (%v), want true", got["auto-register"], err)
	}
}
