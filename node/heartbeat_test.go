package node

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/p2ptest"
	"github.com/emc-network/emcd/router/heartbeat"
)

// TestHeartbeatsComputeToRouter starts a router and a compute node with two
// simulated GPUs as real networked nodes: the router's live table (what
// emc_liveNodes serves) gets the compute node's heartbeats and an RTT, and
// the compute node refuses emc_liveNodes with a clear error.
func TestHeartbeatsComputeToRouter(t *testing.T) {
	if testing.Short() {
		t.Skip("two networked nodes")
	}
	start := func(cfg Config) *Node {
		t.Helper()
		cfg.DataDir, cfg.Genesis, cfg.P2PAddr = config.NewDataDir(t.TempDir()), genesis.Dev(), "/ip4/127.0.0.1/tcp/0"
		// No validator moves this chain, so nobody can register on it:
		// every peer counts here (TestChainRegistryCountsRegisteredPeers
		// covers the registry-backed answer).
		cfg.heartbeatRegistry = heartbeat.AcceptAll{}
		n, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(); err != nil {
			n.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	router := start(Config{Role: RoleRouter})
	compute := start(Config{
		Role:              RoleCompute,
		Bootnodes:         router.net.host.Addrs()[:1],
		GPU:               func() (gpu.Provider, error) { return gpu.NewSimulated(gpu.SimulatedH100s(2)), nil },
		TelemetryInterval: 100 * time.Millisecond,
	})
	self := compute.net.host.Self()
	p2ptest.Eventually(t, 30*time.Second, "router's table holds the compute node with telemetry and an RTT", func() bool {
		nodes, err := router.backend.LiveNodes()
		if err != nil {
			t.Fatal(err)
		}
		return len(nodes) == 1 && nodes[0].Peer == self && len(nodes[0].Latest.GPUUtil) == 2 && nodes[0].RTT > 0
	})
	nodes, _ := router.backend.LiveNodes()
	if got := nodes[0].Latest; got.FreeGPUs != 2 || got.GPUUtil[0] != 0 {
		t.Fatalf("heartbeat %+v, want 2 free idle GPUs", got)
	}
	_, err := compute.backend.LiveNodes()
	if !errors.Is(err, errNoLiveTable) || !strings.Contains(err.Error(), "compute") {
		t.Fatalf("emc_liveNodes on a compute node: %v", err)
	}
	if router.net.host.Score(p2p.PeerID(self)) != 0 {
		t.Fatal("honest compute node penalised")
	}
	mfs, err := router.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
	}
	for _, name := range []string{"emcd_heartbeat_received_total", "emcd_heartbeat_live_nodes"} {
		if !found[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}
