package netharness

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// testnetConfig is config.toml as `emcd testnet` writes it for node k.
func testnetConfig(k int, boots ...string) string {
	ports := []string{"20000", "20010", "20020"}
	var quoted []string
	for _, b := range boots {
		quoted = append(quoted, `"`+b+`"`)
	}
	return `# emcd testnet node
role = "validator"
password = "/x/password"
bootnodes = [` + strings.Join(quoted, ", ") + `]

[p2p]
addr = "/ip4/127.0.0.1/tcp/` + ports[k] + `"

[rpc]
addr = "127.0.0.1:20001"

[grpc]
addr = "127.0.0.1:20002"

[metrics]
addr = "127.0.0.1:20003"
`
}

func TestConfigureEmcd(t *testing.T) {
	dir := t.TempDir()
	boot := []string{"/ip4/127.0.0.1/tcp/20000/p2p/PeerA", "/ip4/127.0.0.1/tcp/20010/p2p/PeerB"}
	cfgs := []string{testnetConfig(0, boot[1]), testnetConfig(1, boot[0]), testnetConfig(2, boot...)}
	var dirs []string
	var hosts []*Host
	for i, c := range cfgs {
		d := filepath.Join(dir, []string{"validator-1", "validator-2", "router-1"}[i])
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "config.toml"), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
		hosts = append(hosts, &Host{Index: i, IP: netip.AddrFrom4([4]byte{10, 213, 9, byte(11 + i)})})
	}
	nodes, err := ConfigureEmcd(dirs, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[2].RPCURL != "http://10.213.9.13:8545" || nodes[0].Announce != "/ip4/10.213.9.11/tcp/30304" {
		t.Fatalf("nodes %+v", nodes)
	}
	raw, err := os.ReadFile(filepath.Join(dirs[2], "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Role      string   `toml:"role"`
		Password  string   `toml:"password"`
		Bootnodes []string `toml:"bootnodes"`
		P2P       struct {
			Addr     string   `toml:"addr"`
			Announce []string `toml:"announce"`
		} `toml:"p2p"`
		RPC     struct{ Addr string } `toml:"rpc"`
		GRPC    struct{ Addr string } `toml:"grpc"`
		Metrics map[string]any        `toml:"metrics"`
	}
	if err := toml.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	want := []string{"/ip4/10.213.9.11/tcp/30304/p2p/PeerA", "/ip4/10.213.9.12/tcp/30304/p2p/PeerB"}
	if got.Role != "validator" || got.Password != "/x/password" || strings.Join(got.Bootnodes, ",") != strings.Join(want, ",") ||
		got.P2P.Addr != "/ip4/127.0.0.1/tcp/30303" || strings.Join(got.P2P.Announce, ",") != "/ip4/10.213.9.13/tcp/30304" ||
		got.RPC.Addr != "10.213.9.13:8545" || got.GRPC.Addr != "127.0.0.1:9090" || got.Metrics != nil {
		t.Fatalf("rewritten config:\n%s", raw)
	}

	// A bootnode that names no node of the set is an error, not a silent drop.
	if err := os.WriteFile(filepath.Join(dirs[0], "config.toml"), []byte(testnetConfig(0, "/ip4/127.0.0.1/tcp/29999/p2p/X")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigureEmcd(dirs, hosts); !errors.Is(err, ErrEmcdConfig) {
		t.Fatalf("foreign bootnode: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dirs[0], "config.toml"), []byte("role = \"validator\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigureEmcd(dirs, hosts); !errors.Is(err, ErrEmcdConfig) {
		t.Fatalf("config without p2p.addr: %v", err)
	}
	if _, err := ConfigureEmcd(dirs, hosts[:1]); err == nil {
		t.Fatal("ConfigureEmcd accepted 3 dirs for 1 host")
	}
}
