package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emc-network/emcd/config"
)

// TestTestnetIPBase: with --ip-base every node binds its own address with
// the same ports, and the bootnodes name the validators by those addresses.
func TestTestnetIPBase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	out, err := runTestnetCmd(t, "--validators", "4", "--routers", "1", "--compute", "2", "--gpu.simulated", "1",
		"--compute.executor", "process", "--out", dir, "--ip-base", "172.30.5.10", "--base-port", "30300")
	if err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ip 172.30.5.16  p2p 30300  rpc http://172.30.5.16:30301") {
		t.Fatalf("output does not list compute-2 at 172.30.5.16:\n%s", out)
	}
	for i, name := range []string{"validator-1", "validator-2", "validator-3", "validator-4", "router-1", "compute-1", "compute-2"} {
		ip := fmt.Sprintf("172.30.5.%d", 10+i)
		kv, err := config.LoadFile(filepath.Join(dir, name, "config.toml"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"p2p.addr": "/ip4/" + ip + "/tcp/30300", "rpc.addr": ip + ":30301",
			"grpc.addr": ip + ":30302", "metrics.addr": ip + ":30303",
		}
		for k, v := range want {
			if kv[k] != v {
				t.Errorf("%s: %s = %q, want %q", name, k, kv[k], v)
			}
		}
		boots := kv["bootnodes"]
		if strings.Contains(boots, "127.0.0.1") {
			t.Errorf("%s: bootnodes %q name 127.0.0.1", name, boots)
		}
		// Every node but a validator itself lists all 4 validators.
		wantBoots := 4
		if i < 4 {
			wantBoots = 3
		}
		if got := strings.Count(boots, "/ip4/172.30.5.1"); got != wantBoots {
			t.Errorf("%s: %d bootnodes on the network (%q), want %d", name, got, boots, wantBoots)
		}
	}
}

func TestTestnetIPBaseRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip-base", "not-an-ip"}, "want an IPv4 address"},
		{[]string{"--ip-base", "fd00::1"}, "want an IPv4 address"},
		{[]string{"--ip-base", "0.0.0.0"}, "unicast"},
		{[]string{"--ip-base", "10.0.0.252"}, "consecutive addresses"}, // 4 nodes: .252 … .255
		{[]string{"--ip-base", "10.0.0.1", "--base-port", "65534"}, "must lie in 1024…65535"},
	} {
		dir := filepath.Join(t.TempDir(), "net")
		out, err := runTestnetCmd(t, append([]string{"--validators", "4", "--out", dir}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v (output %q), want %q", tc.args, err, out, tc.want)
		}
	}
}
