package netharness

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/emc-network/emcd/config"
)

// Ports of an emcd node inside its namespace. Every namespace has its own
// ports, so all nodes use the same numbers.
const (
	// EmcdP2PPort is libp2p's listen port, on the namespace's loopback
	// only: other nodes reach it through the relay.
	EmcdP2PPort = 30303
	// EmcdRelayPort is the relay's port on the namespace's address; nodes
	// announce it (p2p.announce) and bootnodes point at it.
	EmcdRelayPort = 30304
	// EmcdRPCPort is JSON-RPC on the namespace's address, reachable from
	// the host through the bridge.
	EmcdRPCPort = 8545
	// EmcdGRPCPort is the operator API, on the namespace's loopback.
	EmcdGRPCPort = 9090
)

// ErrEmcdConfig is returned when a testnet node's config.toml is not what
// `emcd testnet` writes.
var ErrEmcdConfig = errors.New("netharness: unexpected emcd testnet config")

// EmcdNode says where a node configured by ConfigureEmcd listens.
type EmcdNode struct {
	Dir      string // its data dir
	Host     *Host
	RPCURL   string // http://IP:EmcdRPCPort
	Announce string // /ip4/IP/tcp/EmcdRelayPort: its address for other nodes
}

// ConfigureEmcd rewrites the config.toml of data dirs written by `emcd
// testnet` so that dirs[i] runs in hosts[i]: libp2p on the namespace's
// loopback behind the relay (Net.Relay(i, EmcdRelayPort, EmcdP2PPort)), the
// relay's address announced, bootnodes pointing at the other nodes' relays,
// JSON-RPC on the namespace's address, gRPC on its loopback, metrics off.
// Bootnodes are matched to nodes by the p2p port the testnet gave them, so
// dirs must hold every node the bootnodes name.
func ConfigureEmcd(dirs []string, hosts []*Host) ([]EmcdNode, error) {
	if len(dirs) != len(hosts) {
		return nil, fmt.Errorf("netharness: %d data dirs for %d hosts", len(dirs), len(hosts))
	}
	cfgs := make([]map[string]any, len(dirs))
	byPort := map[int]int{} // testnet p2p port -> node index
	for i, dir := range dirs {
		raw, err := os.ReadFile(config.NewDataDir(dir).ConfigFile())
		if err != nil {
			return nil, fmt.Errorf("netharness: %w", err)
		}
		var cfg map[string]any
		if err := toml.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrEmcdConfig, dir, err)
		}
		p2p, _ := cfg["p2p"].(map[string]any)
		addr, _ := p2p["addr"].(string)
		port, err := multiaddrTCPPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: p2p.addr: %w", ErrEmcdConfig, dir, err)
		}
		byPort[port] = i
		cfgs[i] = cfg
	}
	nodes := make([]EmcdNode, len(dirs))
	for i, cfg := range cfgs {
		h := hosts[i]
		nodes[i] = EmcdNode{
			Dir: dirs[i], Host: h,
			RPCURL:   "http://" + netip.AddrPortFrom(h.IP, EmcdRPCPort).String(),
			Announce: fmt.Sprintf("/ip4/%s/tcp/%d", h.IP, EmcdRelayPort),
		}
		boots, _ := cfg["bootnodes"].([]any)
		newBoots := make([]any, 0, len(boots))
		for _, b := range boots {
			s, _ := b.(string)
			port, err := multiaddrTCPPort(s)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: bootnode %q: %w", ErrEmcdConfig, dirs[i], s, err)
			}
			j, ok := byPort[port]
			_, id, hasID := strings.Cut(s, "/p2p/")
			if !ok || !hasID || id == "" || strings.Contains(id, "/") {
				return nil, fmt.Errorf("%w: %s: bootnode %q names no node of the set", ErrEmcdConfig, dirs[i], s)
			}
			newBoots = append(newBoots, fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", hosts[j].IP, EmcdRelayPort, id))
		}
		cfg["bootnodes"] = newBoots
		cfg["p2p"] = map[string]any{
			"addr":     fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", EmcdP2PPort),
			"announce": []any{nodes[i].Announce},
		}
		cfg["rpc"] = map[string]any{"addr": netip.AddrPortFrom(h.IP, EmcdRPCPort).String()}
		cfg["grpc"] = map[string]any{"addr": fmt.Sprintf("127.0.0.1:%d", EmcdGRPCPort)}
		delete(cfg, "metrics")
		out, err := toml.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("netharness: encode config: %w", err)
		}
		out = append([]byte("# rewritten by netharness: one node per network namespace\n"), out...)
		if err := os.WriteFile(config.NewDataDir(dirs[i]).ConfigFile(), out, 0o644); err != nil {
			return nil, fmt.Errorf("netharness: %w", err)
		}
	}
	return nodes, nil
}

// multiaddrTCPPort returns the port after /tcp/ in a multiaddr string.
func multiaddrTCPPort(addr string) (int, error) {
	parts := strings.Split(addr, "/")
	for k := 0; k+1 < len(parts); k++ {
		if parts[k] == "tcp" {
			p, err := strconv.Atoi(parts[k+1])
			if err != nil || p <= 0 || p > 65535 {
				return 0, fmt.Errorf("bad tcp port %q", parts[k+1])
			}
			return p, nil
		}
	}
	return 0, fmt.Errorf("no /tcp/ port in %q", addr)
}
