package config

import (
	"errors"
	"testing"

	"github.com/spf13/pflag"
)

func newFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("rpc.addr", "127.0.0.1:8545", "")
	fs.String("log.level", "info", "")
	fs.Bool("dev", false, "")
	fs.StringSlice("rpc.corsdomain", nil, "")
	fs.Duration("dev.period", 0, "")
	fs.String("config", "", "")
	return fs
}

func TestPrecedence(t *testing.T) {
	file, err := Parse([]byte(`
dev = true
"dev.period" = "2s"
[rpc]
addr = "0.0.0.0:1"
corsdomain = ["a.example", "b.example"]
[log]
level = "debug"
`))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EMCD_LOG_LEVEL": "warn", "EMCD_RPC_ADDR": "0.0.0.0:2"}
	fs := newFlags()
	if err := fs.Parse([]string{"--rpc.addr", "0.0.0.0:3"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs, file, func(k string) string { return env[k] }, "config"); err != nil {
		t.Fatal(err)
	}
	get := func(n string) string { return fs.Lookup(n).Value.String() }
	if got := get("rpc.addr"); got != "0.0.0.0:3" {
		t.Errorf("flag should win: rpc.addr = %s", got)
	}
	if got := get("log.level"); got != "warn" {
		t.Errorf("env should beat file: log.level = %s", got)
	}
	if got := get("dev"); got != "true" {
		t.Errorf("file should beat default: dev = %s", got)
	}
	if got := get("dev.period"); got != "2s" {
		t.Errorf("dev.period = %s", got)
	}
	if got, _ := fs.GetStringSlice("rpc.corsdomain"); len(got) != 2 || got[1] != "b.example" {
		t.Errorf("corsdomain = %v", got)
	}
}

func TestUnknownKeyAndBadValue(t *testing.T) {
	fs := newFlags()
	_ = fs.Parse(nil)
	err := CheckKeys(fs, map[string]string{"rpc.adr": "x", "rpc.addr": "y"})
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want ErrUnknownKey, got %v", err)
	}
	fs = newFlags()
	_ = fs.Parse(nil)
	err = Apply(fs, nil, func(k string) string {
		if k == "EMCD_DEV_PERIOD" {
			return "soon"
		}
		return ""
	})
	if err == nil {
		t.Fatal("bad duration in env accepted")
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("rpc.addr"); got != "EMCD_RPC_ADDR" {
		t.Fatal(got)
	}
	if got := EnvName("no-dev-accounts"); got != "EMCD_NO_DEV_ACCOUNTS" {
		t.Fatal(got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[rpc]\naddr = \"x\"\n"))
	f.Add([]byte("a = [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data)
	})
}
