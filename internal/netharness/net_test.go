package netharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newTestNet builds a Net or skips when this machine cannot.
func newTestNet(t *testing.T, ctx context.Context, nodes int) *Net {
	t.Helper()
	if err := Probe(ctx); err != nil {
		if errors.Is(err, ErrUnsupported) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := New(ctx, Options{Nodes: nodes, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// listenIn starts an echo server on addr inside namespace ns.
func listenIn(t *testing.T, ns string, addr netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := inNamespace(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
}

// reach reports whether a TCP echo round trip from namespace ns ("" = the
// host) to addr succeeds within d.
func reach(ns string, addr netip.AddrPort, d time.Duration) bool {
	var c net.Conn
	if err := inNamespace(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), d)
		return err
	}); err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("x")); err != nil {
		return false
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err == nil
}

func TestNetPartitionLossRelayCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := newTestNet(t, ctx, 3)
	hosts := n.Hosts()
	svc := make([]netip.AddrPort, len(hosts))
	for i, h := range hosts {
		svc[i] = netip.AddrPortFrom(h.IP, 9000)
		listenIn(t, h.NS, svc[i])
	}
	const ok, cut = 20 * time.Second, 1500 * time.Millisecond
	for i, h := range hosts {
		for j := range hosts {
			if i != j && !reach(h.NS, svc[j], ok) {
				t.Fatalf("node %d cannot reach node %d on a healthy net", i, j)
			}
		}
		if !reach("", svc[i], ok) {
			t.Fatalf("host cannot reach node %d", i)
		}
	}

	// {0} | {1, 2}: no way across, both ways; within a group and from the
	// host everything passes.
	if err := n.Partition(ctx, []int{0}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if reach(hosts[0].NS, svc[1], cut) || reach(hosts[2].NS, svc[0], cut) {
		t.Fatal("traffic crossed the partition")
	}
	if !reach(hosts[1].NS, svc[2], ok) || !reach(hosts[2].NS, svc[1], ok) {
		t.Fatal("partition cut traffic within a group")
	}
	for i := range hosts {
		if !reach("", svc[i], ok) {
			t.Fatalf("partition cut the host off node %d", i)
		}
	}
	if err := n.Partition(ctx, []int{0}, []int{0, 1}); err == nil {
		t.Fatal("Partition accepted a node in two groups")
	}
	if err := n.Partition(ctx, []int{7}); !errors.Is(err, ErrBadNode) {
		t.Fatalf("Partition with a bad node: %v", err)
	}

	// Isolate(1): 0 and 2 talk, 1 talks to nobody.
	if err := n.Isolate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !reach(hosts[0].NS, svc[2], ok) || reach(hosts[1].NS, svc[2], cut) || reach(hosts[0].NS, svc[1], cut) {
		t.Fatal("Isolate(1) did not isolate exactly node 1")
	}
	if err := n.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if !reach(hosts[0].NS, svc[1], ok) || !reach(hosts[1].NS, svc[0], ok) {
		t.Fatal("Heal did not restore traffic")
	}

	// Loss 0.999: a connection needs a SYN and a SYN-ACK to survive (one in
	// 10^6 chance within the cut window); the host is spared.
	if err := n.SetLoss(ctx, 0.999); err != nil {
		t.Fatal(err)
	}
	if reach(hosts[0].NS, svc[1], cut) {
		t.Fatal("a connection got through 99.9% loss")
	}
	if !reach("", svc[1], ok) {
		t.Fatal("loss rules dropped the host's traffic")
	}
	for _, p := range []float64{-0.1, 1, 2} {
		if err := n.SetLoss(ctx, p); err == nil {
			t.Fatalf("SetLoss(%v) accepted", p)
		}
	}
	if err := n.SetLoss(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if !reach(hosts[0].NS, svc[1], ok) {
		t.Fatal("SetLoss(0) did not restore traffic")
	}

	// A relay in node 2 forwards its address:9100 to a loopback-only
	// service; other nodes reach the service only through it, delayed.
	lo := netip.MustParseAddrPort("127.0.0.1:9200")
	listenIn(t, hosts[2].NS, lo)
	if _, err := n.Relay(2, 9100, 9200); err != nil {
		t.Fatal(err)
	}
	relayed := netip.AddrPortFrom(hosts[2].IP, 9100)
	if reach(hosts[0].NS, netip.AddrPortFrom(hosts[2].IP, 9200), cut) {
		t.Fatal("a loopback service was reachable from another namespace")
	}
	if !reach(hosts[0].NS, relayed, ok) {
		t.Fatal("relay does not forward")
	}
	const d = 100 * time.Millisecond
	if err := n.SetDelay(d); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if !reach(hosts[0].NS, relayed, ok) {
		t.Fatal("relay does not forward with a delay")
	}
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("round trip through the relay %s with one-way delay %s", rtt, d)
	}
	if r, err := n.Relay(1, 9101, 9200); err != nil || r.Delay() != d {
		t.Fatalf("a relay made after SetDelay(%s): %v, %v", d, r, err)
	}

	// A process started in a namespace sees that namespace's interfaces.
	logPath := t.TempDir() + "/ip.log"
	p, err := n.Start(1, logPath, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-ctx.Done():
		t.Fatal("ip addr did not exit")
	}
	if out := p.Tail(5); !strings.Contains(out, hosts[1].IP.String()+"/24") {
		t.Fatalf("process in node 1's namespace saw:\n%s", out)
	}
	sleeper, err := n.Start(0, logPath, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}

	// Close removes everything and kills what it started.
	id := n.ID()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if sleeper.Alive() {
		t.Fatal("Close left a process running")
	}
	left, err := Leftovers(ctx, id)
	if err != nil || len(left) > 0 {
		t.Fatalf("leftovers after Close: %v %v", left, err)
	}
	if err := n.Heal(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Heal after Close: %v", err)
	}
}

// TestCleanStale plants the remains of a crashed run (a namespace with a
// process in it, a veth, a bridge and a FORWARD rule, named for a pid that
// does not exist) and checks CleanStale removes them all, while it leaves
// a live Net alone.
func TestCleanStale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	live := newTestNet(t, ctx, 1)

	pid := 4194300 // above the default pid_max (4194304 is the hard limit)
	for pidAlive(pid) {
		pid--
	}
	id := fmt.Sprintf("%s%da", namePrefix, pid)
	ns, veth, br := id+"n0", id+"v0", id+"b"
	cleanup := func() {
		c := context.Background()
		killNamespace(c, ns)
		_, _ = run(c, "iptables", "-w", "-D", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT")
		_, _ = run(c, "ip", "link", "del", veth)
		_, _ = run(c, "ip", "netns", "del", ns)
		_, _ = run(c, "ip", "link", "del", br)
	}
	t.Cleanup(cleanup)
	for _, c := range [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", br, "up"},
		{"iptables", "-w", "-I", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT"},
	} {
		if _, err := run(ctx, c[0], c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	p, err := startProc(ns, t.TempDir()+"/sleep.log", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()

	if err := CleanStale(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	left, err := Leftovers(ctx, id)
	if err != nil || len(left) > 0 {
		t.Fatalf("CleanStale left %v (%v)", left, err)
	}
	select {
	case <-p.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("CleanStale left the stale namespace's process running")
	}
	if left, err := Leftovers(ctx, live.ID()); err != nil || len(left) == 0 {
		t.Fatalf("CleanStale touched a live Net: %v (%v)", left, err)
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		kind byte
		ok   bool
	}{
		{"enh123an0", 123, 'n', true},
		{"enh123bv12", 123, 'v', true},
		{"enh4194303zb", 4194303, 'b', true},
		{"enh123b", 0, 0, false}, // no letter before the kind
		{"enh-123an0", 0, 0, false},
		{"eth0", 0, 0, false},
		{"docker0", 0, 0, false},
		{"enh123ax0", 0, 0, false},
	} {
		pid, kind, ok := parseName(tc.name)
		if pid != tc.pid || kind != tc.kind || ok != tc.ok {
			t.Errorf("parseName(%q) = %d %q %v, want %d %q %v", tc.name, pid, kind, ok, tc.pid, tc.kind, tc.ok)
		}
	}
}

func TestNewBadOptions(t *testing.T) {
	for _, nodes := range []int{0, -1, MaxNodes + 1} {
		if _, err := New(context.Background(), Options{Nodes: nodes}); err == nil {
			t.Fatalf("New accepted %d nodes", nodes)
		}
	}
}
