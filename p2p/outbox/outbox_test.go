package outbox

// Method: a fake Requester records what each peer receives and can hold
// requests until released (or their context ends), so tests decide exactly
// which message is in flight while others queue. Idle expiry runs on a
// simulated clock; every wait is bounded.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/p2p"
)

const wait = 10 * time.Second

var spec = p2p.Spec{ID: "/emcd/1/direct/1", MaxRequest: 1 << 10, MaxResponse: 16, Timeout: 5 * time.Second}

type fakeNet struct {
	mu      sync.Mutex
	got     map[p2p.PeerID][][]byte
	fail    map[p2p.PeerID]error
	hold    chan struct{} // when non-nil, requests wait for it to close (or ctx)
	started chan p2p.PeerID
	active  int
}

func newFakeNet(hold bool) *fakeNet {
	f := &fakeNet{got: make(map[p2p.PeerID][][]byte), fail: make(map[p2p.PeerID]error), started: make(chan p2p.PeerID, 1024)}
	if hold {
		f.hold = make(chan struct{})
	}
	return f
}

func (f *fakeNet) Request(ctx context.Context, peer p2p.PeerID, _ p2p.Spec, req []byte) ([]byte, error) {
	f.mu.Lock()
	f.active++
	hold, err := f.hold, f.fail[peer]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	f.started <- peer
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.got[peer] = append(f.got[peer], req)
	f.mu.Unlock()
	return nil, nil
}

func (f *fakeNet) release() { close(f.hold) }

func (f *fakeNet) received(peer p2p.PeerID) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.got[peer]...)
}

func (f *fakeNet) inFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

func (f *fakeNet) awaitStart(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-f.started:
		case <-time.After(wait):
			t.Fatalf("request %d of %d never started", i+1, n)
		}
	}
}

func newOutbox(t *testing.T, f *fakeNet, mut func(*Config)) (*Outbox, *Metrics) {
	t.Helper()
	m := NopMetrics()
	cfg := Config{Requester: f, Spec: spec, Metrics: m, QueueLen: 4}
	if mut != nil {
		mut(&cfg)
	}
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o, m
}

func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func msg(i int) []byte { return fmt.Appendf(nil, "m%d", i) }

func TestSendInOrderPerPeer(t *testing.T) {
	f := newFakeNet(false)
	o, m := newOutbox(t, f, func(c *Config) { c.QueueLen = 64 })
	for i := 0; i < 10; i++ {
		if err := o.Send("a", msg(i)); err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			if err := o.Send("b", msg(100+i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "all delivered", func() bool { return len(f.received("a")) == 10 && len(f.received("b")) == 5 })
	for i, got := range f.received("a") {
		if !bytes.Equal(got, msg(i)) {
			t.Fatalf("a's message %d is %q: out of order", i, got)
		}
	}
	if got := value(m.Sent); got != 15 {
		t.Fatalf("sent counter %v, want 15", got)
	}
	if len(f.received("c")) != 0 {
		t.Fatal("a peer nobody sent to received something")
	}
}

// A full queue drops its oldest messages, counts them, and spawns nothing.
func TestQueueBoundedDropsOldest(t *testing.T) {
	f := newFakeNet(true)
	o, m := newOutbox(t, f, nil) // QueueLen 4
	if err := o.Send("a", msg(0)); err != nil {
		t.Fatal(err)
	}
	f.awaitStart(t, 1) // m0 is in flight, held
	before := runtime.NumGoroutine()
	for i := 1; i <= 1000; i++ {
		if err := o.Send("a", msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Fatalf("goroutines grew from %d to %d while queueing 1000 messages", before, g)
	}
	if q, d := value(m.Queued), value(m.Dropped.WithLabelValues("full")); q != 4 || d != 996 {
		t.Fatalf("queued %v dropped %v, want 4 and 996", q, d)
	}
	f.release()
	eventually(t, "queue drained", func() bool { return len(f.received("a")) == 5 })
	want := [][]byte{msg(0), msg(997), msg(998), msg(999), msg(1000)}
	for i, got := range f.received("a") {
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("delivery %d is %q, want %q", i, got, want[i])
		}
	}
	if q := value(m.Queued); q != 0 {
		t.Fatalf("queued gauge %v after draining", q)
	}
}

// The byte bound drops old messages too, but a message up to MaxRequest
// always fits.
func TestQueueByteBound(t *testing.T) {
	f := newFakeNet(true)
	small := spec
	small.MaxRequest = 8
	o, m := newOutbox(t, f, func(c *Config) { c.Spec = small; c.QueueBytes = 1; c.QueueLen = 100 })
	_ = o.Send("a", []byte("held"))
	f.awaitStart(t, 1)
	for _, s := range []string{"aaaa", "bbbb", "cccc", "dddddddd"} {
		if err := o.Send("a", []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if d := value(m.Dropped.WithLabelValues("full")); d != 3 {
		t.Fatalf("dropped %v, want 3 (only the 8-byte message fits 8 bytes)", d)
	}
	if err := o.Send("a", make([]byte, 9)); !errors.Is(err, p2p.ErrTooLarge) {
		t.Fatalf("9-byte message: %v, want ErrTooLarge", err)
	}
	f.release()
	eventually(t, "drained", func() bool { return len(f.received("a")) == 2 })
	if got := f.received("a")[1]; string(got) != "dddddddd" {
		t.Fatalf("kept %q", got)
	}
}

func TestFailuresCounted(t *testing.T) {
	f := newFakeNet(false)
	f.fail["gone"] = fmt.Errorf("%w: gone", p2p.ErrNotConnected)
	o, m := newOutbox(t, f, nil)
	for i := 0; i < 3; i++ {
		_ = o.Send("gone", msg(i))
	}
	_ = o.Send("ok", msg(9))
	eventually(t, "attempts", func() bool { return value(m.Failed) == 3 && value(m.Sent) == 1 })
}

func TestTooManyPeers(t *testing.T) {
	f := newFakeNet(true)
	o, m := newOutbox(t, f, func(c *Config) { c.MaxPeers = 2 })
	_ = o.Send("a", msg(1))
	_ = o.Send("b", msg(2))
	if err := o.Send("c", msg(3)); !errors.Is(err, ErrTooManyPeers) {
		t.Fatalf("third peer: %v, want ErrTooManyPeers", err)
	}
	if err := o.Send("a", msg(4)); err != nil {
		t.Fatalf("a peer with a worker refused: %v", err)
	}
	if d := value(m.Dropped.WithLabelValues("too_many_peers")); d != 1 {
		t.Fatalf("dropped %v", d)
	}
	f.release()
}

// Close aborts requests in flight, waits for every worker and leaves no
// goroutine behind; Send afterwards fails.
func TestCloseStopsWorkers(t *testing.T) {
	base := runtime.NumGoroutine()
	f := newFakeNet(true)
	o, m := newOutbox(t, f, nil)
	const peers = 20
	for i := 0; i < peers; i++ {
		for j := 0; j < 3; j++ {
			if err := o.Send(p2p.PeerID(fmt.Sprint("p", i)), msg(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.awaitStart(t, peers)
	if w := value(m.Workers); w != peers {
		t.Fatalf("workers %v, want %d", w, peers)
	}
	done := make(chan struct{})
	go func() { o.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Close did not return while requests were in flight")
	}
	if n := f.inFlight(); n != 0 {
		t.Fatalf("%d requests still running after Close", n)
	}
	if w, q := value(m.Workers), value(m.Queued); w != 0 || q != 0 {
		t.Fatalf("after Close: workers %v queued %v", w, q)
	}
	if d := value(m.Dropped.WithLabelValues("closed")); d != 2*peers {
		t.Fatalf("dropped on close %v, want %d", d, 2*peers)
	}
	if err := o.Send("p0", msg(0)); !errors.Is(err, p2p.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	o.Close() // idempotent
	eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
}

// A worker with nothing to send exits after IdleTimeout (simulated clock);
// the next message starts a new one.
func TestIdleWorkerExits(t *testing.T) {
	clk := new(mclock.Simulated)
	f := newFakeNet(false)
	o, m := newOutbox(t, f, func(c *Config) { c.Clock = clk; c.IdleTimeout = time.Minute })
	_ = o.Send("a", msg(1))
	eventually(t, "delivery", func() bool { return len(f.received("a")) == 1 })
	clk.WaitForTimers(1)
	clk.Run(59 * time.Second)
	if w := value(m.Workers); w != 1 {
		t.Fatalf("worker gone before its idle timeout: %v", w)
	}
	clk.Run(time.Second)
	eventually(t, "idle worker exit", func() bool { return value(m.Workers) == 0 })
	o.mu.Lock()
	n := len(o.queues)
	o.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d queues left after the worker exited", n)
	}
	_ = o.Send("a", msg(2))
	eventually(t, "delivery by a new worker", func() bool { return len(f.received("a")) == 2 })
}

func TestConfigRequired(t *testing.T) {
	if _, err := New(Config{Spec: spec}); err == nil {
		t.Fatal("no Requester accepted")
	}
	if _, err := New(Config{Requester: newFakeNet(false)}); err == nil {
		t.Fatal("zero Spec accepted")
	}
}
