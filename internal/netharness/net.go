package netharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Limits on what one Net may hold.
const (
	// MaxNodes bounds the namespaces of one Net: their addresses are
	// 10.213.S.11 … 10.213.S.(10+MaxNodes) and veth names carry two digits.
	MaxNodes = 64
	// cmdTimeout bounds every ip/iptables command the harness runs.
	cmdTimeout = 20 * time.Second
)

var (
	// ErrUnsupported is returned by Probe and New when this machine cannot
	// host namespaces (not root, no ip or iptables, unshare denied…); tests
	// skip on it.
	ErrUnsupported = errors.New("netharness: network namespaces unavailable")
	// ErrClosed is returned by the methods of a Net after Close.
	ErrClosed = errors.New("netharness: closed")
	// ErrBadNode is returned for a node index outside the Net.
	ErrBadNode = errors.New("netharness: no such node")
	// ErrLeftover is returned by Close (wrapped, with the names) when
	// namespaces, links or FORWARD rules of the Net are still there after
	// tearing it down.
	ErrLeftover = errors.New("netharness: leftovers after close")
)

// Options configure New.
type Options struct {
	// Nodes is the number of namespaces, 1 … MaxNodes.
	Nodes int
	// Logger receives the harness's actions (component=netharness); nil
	// discards them.
	Logger *slog.Logger
}

// Host is one node's namespace.
type Host struct {
	Index int        // 0-based position in the Net
	NS    string     // namespace name (ip netns)
	IP    netip.Addr // its address on the bridge
	veth  string     // host side of its veth pair
}

// Net is a bridge with one network namespace per node, joined by veth pairs,
// plus the iptables rules and relays that inject faults. All methods are safe
// for concurrent use.
type Net struct {
	log    *slog.Logger
	id     string // prefix+pid+letter: every name of this Net starts with it
	bridge string
	gw     netip.Addr // the bridge's address: the host side of the subnet
	hosts  []*Host

	mu      sync.Mutex
	closed  bool
	forward bool // the FORWARD accept rule is installed
	relays  []*Relay
	procs   []*Proc
	delay   time.Duration // the relays' one-way delay
}

// New creates the bridge, the namespaces and the veth pairs, after removing
// leftovers of earlier runs whose process is gone. It returns an error
// wrapping ErrUnsupported when Probe fails. Call Close when done, also on
// failure paths: New cleans up after itself only when it fails.
func New(ctx context.Context, opts Options) (*Net, error) {
	if opts.Nodes < 1 || opts.Nodes > MaxNodes {
		return nil, fmt.Errorf("netharness: %d nodes, want 1…%d", opts.Nodes, MaxNodes)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "netharness")
	if err := Probe(ctx); err != nil {
		return nil, err
	}
	// Our names carry our pid, so a leftover that will not go cannot clash
	// with this Net: report it and go on.
	if err := CleanStale(ctx, log); err != nil {
		log.Warn("stale cleanup incomplete", "err", err)
	}
	n := &Net{log: log}
	if err := n.claimBridge(ctx); err != nil {
		return nil, err
	}
	if err := n.setup(ctx, opts.Nodes); err != nil {
		if cerr := n.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	log.Info("network up", "id", n.id, "bridge", n.bridge, "gateway", n.gw, "nodes", opts.Nodes)
	return n, nil
}

// claimBridge picks this Net's id: the first letter whose bridge does not
// exist yet (creating the bridge is the claim, so concurrent Nets of one
// process never share names), and a /24 no other interface uses.
func (n *Net) claimBridge(ctx context.Context) error {
	pid := os.Getpid()
	for c := 'a'; c <= 'z'; c++ {
		id := fmt.Sprintf("%s%d%c", namePrefix, pid, c)
		br := id + "b"
		if _, err := net.InterfaceByName(br); err == nil {
			continue
		}
		if _, err := run(ctx, "ip", "link", "add", br, "type", "bridge"); err != nil {
			if _, e := net.InterfaceByName(br); e == nil {
				continue // lost a race to another Net of this process
			}
			return err
		}
		n.id, n.bridge = id, br
		return nil
	}
	return fmt.Errorf("netharness: 26 nets already open in process %d", pid)
}

func (n *Net) setup(ctx context.Context, nodes int) error {
	subnet, err := freeSubnet(os.Getpid())
	if err != nil {
		return err
	}
	n.gw = subnet.Addr().Next()
	base := subnet.Addr().As4()
	cmds := [][]string{
		{"ip", "addr", "add", n.gw.String() + "/24", "dev", n.bridge},
		{"ip", "link", "set", n.bridge, "up"},
	}
	for _, c := range cmds {
		if _, err := run(ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	// Docker's FORWARD policy is DROP and bridged frames pass through
	// iptables (bridge-nf-call-iptables): accept what stays on our bridge.
	if _, err := run(ctx, "iptables", "-w", "-I", "FORWARD", "-i", n.bridge, "-o", n.bridge, "-j", "ACCEPT"); err != nil {
		return err
	}
	n.forward = true
	for i := 0; i < nodes; i++ {
		ip := base
		ip[3] = byte(10 + i + 1)
		h := &Host{Index: i, NS: fmt.Sprintf("%sn%d", n.id, i), IP: netip.AddrFrom4(ip), veth: fmt.Sprintf("%sv%d", n.id, i)}
		n.hosts = append(n.hosts, h)
		if _, err := run(ctx, "ip", "netns", "add", h.NS); err != nil {
			return err
		}
		steps := [][]string{
			{"ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
			{"ip", "link", "set", h.veth, "master", n.bridge, "up"},
			{"ip", "-n", h.NS, "addr", "add", h.IP.String() + "/24", "dev", "eth0"},
			{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
			{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		}
		for _, c := range steps {
			if _, err := run(ctx, c[0], c[1:]...); err != nil {
				return err
			}
		}
		// Fault chains: NHPART holds partition drops, NHLOSS random loss.
		// Both spare the bridge address, so the host always reaches RPC.
		if err := n.restore(ctx, h, "*filter\n:NHPART - [0:0]\n:NHLOSS - [0:0]\n-A INPUT -j NHPART\n-A INPUT -j NHLOSS\nCOMMIT\n"); err != nil {
			return err
		}
	}
	return nil
}

// ID is the prefix of every name this Net created.
func (n *Net) ID() string { return n.id }

// Gateway is the bridge's address: the host's address in the subnet,
// which reaches every namespace and is never dropped by fault rules.
func (n *Net) Gateway() netip.Addr { return n.gw }

// Hosts returns the nodes' namespaces in index order.
func (n *Net) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Host returns node i's namespace.
func (n *Net) Host(i int) (*Host, error) {
	if i < 0 || i >= len(n.hosts) {
		return nil, fmt.Errorf("%w: %d of %d", ErrBadNode, i, len(n.hosts))
	}
	return n.hosts[i], nil
}

// Partition splits the nodes into groups that cannot reach each other:
// packets between nodes of different groups are dropped (silently, as by a
// cut cable), packets within a group pass. A node in no group is isolated
// from all others. It replaces any earlier partition.
func (n *Net) Partition(ctx context.Context, groups ...[]int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	group := make([]int, len(n.hosts)) // node -> group number, -1: isolated
	for i := range group {
		group[i] = -1
	}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(n.hosts) {
				return fmt.Errorf("%w: %d of %d", ErrBadNode, i, len(n.hosts))
			}
			if group[i] != -1 {
				return fmt.Errorf("netharness: node %d is in two groups", i)
			}
			group[i] = g
		}
	}
	for _, h := range n.hosts {
		var b strings.Builder
		b.WriteString("*filter\n-F NHPART\n")
		for _, o := range n.hosts {
			if o != h && (group[h.Index] == -1 || group[h.Index] != group[o.Index]) {
				fmt.Fprintf(&b, "-A NHPART -s %s/32 -j DROP\n", o.IP)
			}
		}
		b.WriteString("COMMIT\n")
		if err := n.restore(ctx, h, b.String()); err != nil {
			return err
		}
	}
	n.log.Info("partition", "groups", fmt.Sprint(groups))
	return nil
}

// Isolate cuts node i off from every other node (the others still reach
// each other).
func (n *Net) Isolate(ctx context.Context, i int) error {
	if _, err := n.Host(i); err != nil {
		return err
	}
	var rest []int
	for _, h := range n.hosts {
		if h.Index != i {
			rest = append(rest, h.Index)
		}
	}
	return n.Partition(ctx, rest)
}

// Heal removes every partition (loss and delay stay).
func (n *Net) Heal(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	for _, h := range n.hosts {
		if err := n.restore(ctx, h, "*filter\n-F NHPART\nCOMMIT\n"); err != nil {
			return err
		}
	}
	n.log.Info("healed")
	return nil
}

// SetLoss drops each packet arriving at a node from another node with
// probability p (0 stops dropping). The drop is per packet and independent
// (iptables statistic match); TCP retransmits what is lost.
func (n *Net) SetLoss(ctx context.Context, p float64) error {
	if p < 0 || p >= 1 || math.IsNaN(p) {
		return fmt.Errorf("netharness: loss probability %v outside [0, 1)", p)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	for _, h := range n.hosts {
		rules := "*filter\n-F NHLOSS\n"
		if p > 0 {
			rules += fmt.Sprintf("-A NHLOSS -i eth0 ! -s %s/32 -m statistic --mode random --probability %.6f -j DROP\n", n.gw, p)
		}
		if err := n.restore(ctx, h, rules+"COMMIT\n"); err != nil {
			return err
		}
	}
	n.log.Info("loss", "probability", p)
	return nil
}

// SetDelay makes every relay of the Net hold the bytes it forwards for d in
// each direction (d = 0: forward at once). Bytes already queued keep the
// delay they were read with.
func (n *Net) SetDelay(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("netharness: negative delay %s", d)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	for _, r := range n.relays {
		r.SetDelay(d)
	}
	n.delay = d
	n.log.Info("delay", "one_way", d)
	return nil
}

// Relay starts a TCP relay inside node i's namespace: it listens on the
// node's address at listenPort and forwards each connection to
// 127.0.0.1:targetPort in the same namespace, holding bytes for the Net's
// delay (the current SetDelay). A service that listens on loopback only and announces the relay's
// address is reachable from other nodes through the relay alone, so every
// byte between nodes can be delayed. Close closes it.
func (n *Net) Relay(i, listenPort, targetPort int) (*Relay, error) {
	h, err := n.Host(i)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	r, err := NewRelay(RelayConfig{
		NS:     h.NS,
		Listen: netip.AddrPortFrom(h.IP, uint16(listenPort)).String(),
		Target: fmt.Sprintf("127.0.0.1:%d", targetPort),
		Logger: n.log,
	})
	if err != nil {
		return nil, err
	}
	r.SetDelay(n.delay)
	n.relays = append(n.relays, r)
	return r, nil
}

// Start runs name with args inside node i's namespace (ip netns exec), in
// its own process group, with stdout and stderr appended to logPath. The
// Net kills it on Close.
func (n *Net) Start(i int, logPath, name string, args ...string) (*Proc, error) {
	h, err := n.Host(i)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	p, err := startProc(h.NS, logPath, name, args...)
	if err != nil {
		return nil, err
	}
	n.procs = append(n.procs, p)
	n.log.Info("started", "ns", h.NS, "cmd", name, "pid", p.Pid())
	return p, nil
}

// Close kills the processes the Net started, closes its relays, and deletes
// its namespaces, veths, bridge and FORWARD rule. It then checks that none
// of them is left and returns ErrLeftover (wrapped, with the names) if some
// are. Close is idempotent; it keeps going past errors and joins them.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	procs, relays := n.procs, n.relays
	n.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, p := range procs {
		p.Kill()
	}
	for _, r := range relays {
		if err := r.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.forward {
		if _, err := run(ctx, "iptables", "-w", "-D", "FORWARD", "-i", n.bridge, "-o", n.bridge, "-j", "ACCEPT"); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range n.hosts {
		killNamespace(ctx, h.NS)
		// Deleting the host side removes both ends at once; deleting the
		// namespace alone frees its veth only when the kernel gets to it.
		if linkExists(h.veth) {
			if _, err := run(ctx, "ip", "link", "del", h.veth); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := run(ctx, "ip", "netns", "del", h.NS); err != nil && nsExists(ctx, h.NS) {
			errs = append(errs, err)
		}
	}
	if n.bridge != "" && linkExists(n.bridge) {
		if _, err := run(ctx, "ip", "link", "del", n.bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if n.id != "" {
		if left, err := Leftovers(ctx, n.id); err != nil {
			errs = append(errs, err)
		} else if len(left) > 0 {
			errs = append(errs, fmt.Errorf("%w: %s", ErrLeftover, strings.Join(left, ", ")))
		}
	}
	n.log.Info("network down", "id", n.id, "errors", len(errs))
	return errors.Join(errs...)
}

// restore applies an iptables-restore script (without flushing what it
// does not name) inside h's namespace.
func (n *Net) restore(ctx context.Context, h *Host, script string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.NS, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netharness: iptables-restore in %s: %w: %s", h.NS, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// run runs a command with a bounded time and returns its combined output;
// the error carries the command line and its output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netharness: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// freeSubnet picks a 10.213.S.0/24 that no interface of this machine has an
// address in, starting from one derived from pid so that concurrent runs
// rarely even look at the same one.
func freeSubnet(pid int) (netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("netharness: interface addresses: %w", err)
	}
	used := map[byte]bool{}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || !p.Addr().Is4() {
			continue
		}
		b := p.Addr().As4()
		if b[0] == 10 && b[1] == 213 {
			used[b[2]] = true
		}
	}
	for k := 0; k < 250; k++ {
		s := byte(1 + (pid+k)%250)
		if !used[s] {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, s, 0}), 24), nil
		}
	}
	return netip.Prefix{}, errors.New("netharness: every 10.213.x.0/24 is in use")
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
