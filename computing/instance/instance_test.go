package instance_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/moby/moby/client"

	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/p2p/p2ptest"
	"github.com/emc-network/emcd/router/relay"
)

// changes records OnChange calls.
type changes struct {
	mu  sync.Mutex
	all []instance.Change
}

func (c *changes) add(ch instance.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, ch)
}

func (c *changes) states(id uint64) []instance.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []instance.State
	for _, ch := range c.all {
		if ch.ID == id {
			out = append(out, ch.State)
		}
	}
	return out
}

func newManager(t *testing.T, runner instance.Runner, mut func(*instance.Config)) (*instance.Manager, *changes) {
	t.Helper()
	ch := &changes{}
	cfg := instance.Config{Runner: runner, OnChange: ch.add, HealthInterval: 50 * time.Millisecond, ReadyTimeout: 20 * time.Second}
	if mut != nil {
		mut(&cfg)
	}
	m, err := instance.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, ch
}

func waitState(t *testing.T, m *instance.Manager, id uint64, want instance.State) instance.Target {
	t.Helper()
	var tg instance.Target
	p2ptest.Eventually(t, 30*time.Second, fmt.Sprintf("instance %d %s", id, want), func() bool {
		var ok bool
		tg, ok = m.Target(id)
		return ok && tg.State == want
	})
	return tg
}

func processSpec(id uint64, env map[string]string) instance.Spec {
	return instance.Spec{ID: id, Command: appPath, Env: env, HealthPath: "/health",
		KeyHash: instance.KeyHash("key"), Until: time.Now().Add(time.Hour)}
}

func eq(a, b []instance.State) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// checkChanges waits until OnChange has told as many changes of id as want
// holds, then compares them. The manager sets an instance's state before it
// calls OnChange, so Target can show the new state a moment before the
// change is told.
func checkChanges(t *testing.T, ch *changes, id uint64, want ...instance.State) {
	t.Helper()
	p2ptest.Eventually(t, 10*time.Second, fmt.Sprintf("instance %d: %d changes told", id, len(want)), func() bool {
		return len(ch.states(id)) >= len(want)
	})
	if got := ch.states(id); !eq(got, want) {
		t.Errorf("instance %d: changes %v, want %v", id, got, want)
	}
}

func TestProcessLifecycle(t *testing.T) {
	m, ch := newManager(t, &instance.Process{Dir: t.TempDir()}, nil)
	if err := m.Start(processSpec(1, map[string]string{"READY_AFTER_MS": "300"})); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(processSpec(1, nil)); err == nil {
		t.Fatal("second start of the same instance accepted")
	}
	tg := waitState(t, m, 1, instance.StateReady)
	resp, err := http.Get("http://" + tg.Addr + "/echo?a=1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("app: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := m.Stop(1); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, 1, instance.StateStopped)
	p2ptest.Eventually(t, 10*time.Second, "app process gone", func() bool {
		c, err := net.DialTimeout("tcp", tg.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	checkChanges(t, ch, 1, instance.StateStarting, instance.StateReady, instance.StateStopped)
}

func TestLeaseEndStops(t *testing.T) {
	m, ch := newManager(t, &instance.Process{Dir: t.TempDir()}, nil)
	spec := processSpec(2, nil)
	spec.Until = time.Now().Add(1500 * time.Millisecond)
	if err := m.Start(spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, 2, instance.StateReady)
	waitState(t, m, 2, instance.StateStopped)
	if l := m.List(); len(l) != 1 || l[0].Reason != "lease ended" {
		t.Fatalf("list %+v", l)
	}
	checkChanges(t, ch, 2, instance.StateStarting, instance.StateReady, instance.StateStopped)
	spec.ID, spec.Until = 3, time.Now().Add(-time.Second)
	if err := m.Start(spec); err == nil {
		t.Fatal("a lease that ended was started")
	}
}

func TestNeverHealthyFails(t *testing.T) {
	m, _ := newManager(t, &instance.Process{Dir: t.TempDir()}, func(c *instance.Config) { c.ReadyTimeout = time.Second })
	if err := m.Start(processSpec(4, map[string]string{"READY_AFTER_MS": "3600000"})); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, 4, instance.StateFailed)
}

func TestExitIsFailureNoRestart(t *testing.T) {
	m, ch := newManager(t, &instance.Process{Dir: t.TempDir()}, nil)
	if err := m.Start(processSpec(5, nil)); err != nil {
		t.Fatal(err)
	}
	tg := waitState(t, m, 5, instance.StateReady)
	if resp, err := http.Post("http://"+tg.Addr+"/exit", "", nil); err == nil {
		resp.Body.Close()
	}
	waitState(t, m, 5, instance.StateFailed)
	checkChanges(t, ch, 5, instance.StateStarting, instance.StateReady, instance.StateFailed)
	time.Sleep(300 * time.Millisecond)
	if got := ch.states(5); len(got) != 3 {
		t.Fatalf("changes %v (no restart expected)", got)
	}
}

func TestBadSpecs(t *testing.T) {
	m, _ := newManager(t, &instance.Process{Dir: t.TempDir()}, nil)
	for i, s := range []instance.Spec{
		{ID: 1, HealthPath: "/h", Until: time.Now().Add(time.Hour)},
		{ID: 1, Command: "x", HealthPath: "h", Until: time.Now().Add(time.Hour)},
		{ID: 1, Command: "x", HealthPath: "/h"},
		{ID: 1, Image: "x", HealthPath: "/h", Until: time.Now().Add(time.Hour)},
		{ID: 1, Command: "x", HealthPath: "/h", Until: time.Now().Add(time.Hour), Env: map[string]string{"A=B": "c"}},
	} {
		if err := m.Start(s); err == nil {
			t.Errorf("spec %d accepted", i)
		}
	}
}

// Through the relay: a router and a node on real libp2p hosts, the app
// run by the node's Manager.

func newHost(t *testing.T) *libp2p.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := p2ptest.Status(1)
	h, err := libp2p.New(libp2p.Config{ChainID: st.ChainID, Status: func() p2p.Status { return st }, Key: key,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true, HandshakeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// relayRig serves instance spec through a router; it returns the relay's
// base URL.
func relayRig(t *testing.T, m *instance.Manager, spec instance.Spec) string {
	t.Helper()
	names := p2p.Names{ChainID: p2ptest.Status(1).ChainID}
	router, node := newHost(t), newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := router.Connect(ctx, node.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 10*time.Second, "handshake", func() bool { return len(router.Peers()) == 1 && len(node.Peers()) == 1 })
	srv, err := instance.NewServer(instance.ServerConfig{Local: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(node, names); err != nil {
		t.Fatal(err)
	}
	dir := relay.NewMemDirectory()
	dir.Put(relay.Entry{ID: spec.ID, Nodes: []p2p.PeerID{node.Self()}, Port: spec.Port, KeyHash: spec.KeyHash, State: relay.StateReady})
	rl, err := relay.New(relay.Config{Streams: router, Protocol: names.App(), Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(rl)
	t.Cleanup(front.Close)
	return front.URL + "/apps/" + strconv.FormatUint(spec.ID, 10)
}

func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func call(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader("ping"))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkSSE reads n events sent gap apart: each must arrive before the app
// sent the next (its send time is in the event).
func checkSSE(t *testing.T, url, key string, n int, gap time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/sse?n="+strconv.Itoa(n), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	got := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		var i int
		var sent int64
		if _, err := fmt.Sscanf(line, "data: event %d %d", &i, &sent); err != nil || i != got {
			t.Fatalf("line %q (want event %d): %v", line, got, err)
		}
		if lag := time.Since(time.Unix(0, sent)); lag >= gap {
			t.Fatalf("event %d arrived %v after it was sent: the next was already due", i, lag)
		}
		got++
	}
	if got != n {
		t.Fatalf("%d events, want %d", got, n)
	}
}

func TestProcessAppThroughRelay(t *testing.T) {
	m, _ := newManager(t, &instance.Process{Dir: t.TempDir()}, nil)
	spec := processSpec(21, map[string]string{"GAP_MS": "400", "HOST": "127.0.0.1"})
	if err := m.Start(spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, 21, instance.StateReady)
	url := relayRig(t, m, spec)
	if code, body := call(t, url+"/echo", "key"); code != 200 || !strings.Contains(body, `"body":"ping"`) {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := call(t, url+"/echo", "wrong"); code != 401 {
		t.Fatalf("wrong key: %d", code)
	}
	checkSSE(t, url, "key", 4, 400*time.Millisecond)
	// Stopped: the node refuses, the relay says 503.
	m.Stop(21)
	waitState(t, m, 21, instance.StateStopped)
	if code, body := call(t, url+"/echo", "key"); code != 503 {
		t.Fatalf("after stop: %d %s", code, body)
	}
}

func TestDockerAppThroughRelay(t *testing.T) {
	if testImage == "" {
		t.Skip(dockerSkip)
	}
	m, ch := newManager(t, &instance.Docker{Client: dockerCli}, nil)
	spec := instance.Spec{ID: 31, Image: testImage, Port: 8080, HealthPath: "/health", KeyHash: instance.KeyHash("key"),
		Until: time.Now().Add(time.Hour), Env: map[string]string{"GAP_MS": "400"}, MemoryBytes: 64 << 20, CPUMillicores: 500}
	if err := m.Start(spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, 31, instance.StateReady)
	url := relayRig(t, m, spec)
	if code, body := call(t, url+"/echo", "key"); code != 200 || !strings.Contains(body, `"body":"ping"`) {
		t.Fatalf("%d %s", code, body)
	}
	checkSSE(t, url, "key", 4, 400*time.Millisecond)
	// Isolation: the app reaches nothing, not even a port the host serves
	// on all its interfaces.
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	targets := []string{net.JoinHostPort("172.17.0.1", port), "1.1.1.1:53"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				targets = append(targets, net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	for _, target := range targets {
		code, body := get(t, url+"/dial?addr="+target, "key")
		t.Logf("dial %s from the app: %d %s", target, code, body)
		if code != 200 || body == "connected" {
			t.Errorf("the app reached %s (or the call failed): %d %s", target, code, body)
		}
	}
	m.Stop(31)
	waitState(t, m, 31, instance.StateStopped)
	checkChanges(t, ch, 31, instance.StateStarting, instance.StateReady, instance.StateStopped)
	// The container and its network are gone.
	p2ptest.Eventually(t, 30*time.Second, "container removed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cs, err1 := dockerCli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "network.emc.app-instance=31")})
		return err1 == nil && len(cs.Items) == 0
	})
}

// TestManagerConcurrent: lookups from many goroutines (the node server's)
// while instances start, become ready and stop (run under -race).
func TestManagerConcurrent(t *testing.T) {
	m, ch := newManager(t, &instance.Process{Dir: t.TempDir()}, nil)
	const n = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for id := uint64(100); id < 100+n; id++ {
					m.Target(id)
				}
				m.List()
			}
		}()
	}
	for id := uint64(100); id < 100+n; id++ {
		if err := m.Start(processSpec(id, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint64(100); id < 100+n; id++ {
		waitState(t, m, id, instance.StateReady)
	}
	for id := uint64(100); id < 100+n; id++ {
		go m.Stop(id)
	}
	for id := uint64(100); id < 100+n; id++ {
		waitState(t, m, id, instance.StateStopped)
	}
	close(stop)
	wg.Wait()
	for id := uint64(100); id < 100+n; id++ {
		checkChanges(t, ch, id, instance.StateStarting, instance.StateReady, instance.StateStopped)
	}
}
