package main

import (
	"fmt"
	"net/netip"
)

// testnetLayout is where the nodes of a testnet listen: every node on
// 127.0.0.1 with ports P+10k…P+10k+3 (the default), or, with --ip-base,
// node k on its own address IP+k with the same ports P…P+3 (one container
// or host per node).
type testnetLayout struct {
	basePort int
	ips      []netip.Addr // nil: all on 127.0.0.1
}

func newTestnetLayout(ipBase string, basePort, nodes int) (testnetLayout, error) {
	lay := testnetLayout{basePort: basePort}
	if ipBase == "" {
		return lay, nil
	}
	ip, err := netip.ParseAddr(ipBase)
	if err != nil || !ip.Is4() {
		return lay, fmt.Errorf("--ip-base %q: want an IPv4 address", ipBase)
	}
	if ip.IsUnspecified() || ip.IsMulticast() {
		return lay, fmt.Errorf("--ip-base %s: want a unicast address a node can bind", ip)
	}
	if basePort < 1024 || basePort+portMetrics > 65535 {
		return lay, fmt.Errorf("--base-port %d: ports %d…%d must lie in 1024…65535", basePort, basePort, basePort+portMetrics)
	}
	for k := 0; k < nodes; k++ {
		// Stay within the /24 of the first address: no .255 broadcast, no
		// wrap into the next network.
		if b := ip.As4(); b[3] == 0 || b[3] == 255 {
			return lay, fmt.Errorf("--ip-base %s: node %d would get %s; %d nodes need consecutive addresses x.y.z.1…x.y.z.254", ipBase, k+1, ip, nodes)
		}
		lay.ips = append(lay.ips, ip)
		ip = ip.Next()
	}
	return lay, nil
}

// addr returns node k's host and first port (p2p; JSON-RPC, gRPC and
// metrics follow at +portRPC, +portGRPC, +portMetrics).
func (l testnetLayout) addr(k int) (string, int) {
	if l.ips == nil {
		return "127.0.0.1", l.basePort + portStride*k
	}
	return l.ips[k].String(), l.basePort
}
