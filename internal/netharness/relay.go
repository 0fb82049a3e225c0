package netharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Relay bounds: a direction holds at most relayQueue chunks of at most
// relayChunk bytes (8 MiB); a full queue stops reading, so the sender sees
// TCP backpressure rather than the relay growing.
const (
	relayChunk  = 32 << 10
	relayQueue  = 256
	dialTimeout = 10 * time.Second
)

// RelayConfig configures NewRelay.
type RelayConfig struct {
	NS     string // namespace to listen and dial in ("" = the caller's)
	Listen string // host:port to listen on
	Target string // host:port each accepted connection is forwarded to
	Logger *slog.Logger
}

// Relay is a TCP forwarder that delays every byte it carries by a settable
// one-way delay, in both directions: the harness's substitute for netem.
// A byte read at t is written at t+delay (delay read when the byte arrives);
// order is kept.
//
// It differs from a delaying link in one way: TCP on either side sees the
// relay's own round trip, not the delayed one, so loss recovery runs at the
// undelayed RTT, and the relay acknowledges bytes it has not delivered yet.
type Relay struct {
	cfg   RelayConfig
	log   *slog.Logger
	ln    net.Listener
	delay atomic.Int64 // nanoseconds

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewRelay listens on cfg.Listen inside cfg.NS and starts forwarding.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Relay{cfg: cfg, log: log.With("relay", cfg.Listen), conns: map[net.Conn]struct{}{}}
	err := inNamespace(cfg.NS, func() error {
		ln, err := net.Listen("tcp", cfg.Listen)
		r.ln = ln
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netharness: relay listen %s in %q: %w", cfg.Listen, cfg.NS, err)
	}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// SetDelay sets the one-way delay for bytes read from now on.
func (r *Relay) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

// Delay returns the current one-way delay.
func (r *Relay) Delay() time.Duration { return time.Duration(r.delay.Load()) }

// Close stops listening, closes every relayed connection and waits for the
// relay's goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	err := r.ln.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// track registers c so Close can close it; false when the relay is closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.log.Warn("accept failed", "err", err)
			}
			return
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go r.serve(c)
	}
}

// serve dials the target for one accepted connection and pumps both ways
// until either side ends.
func (r *Relay) serve(in net.Conn) {
	defer r.wg.Done()
	defer r.untrack(in)
	defer in.Close()
	var out net.Conn
	err := inNamespace(r.cfg.NS, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.cfg.Target)
		out = c
		return err
	})
	if err != nil {
		r.log.Debug("dial target failed", "target", r.cfg.Target, "err", err)
		return
	}
	if !r.track(out) {
		out.Close()
		return
	}
	defer r.untrack(out)
	defer out.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pump(in, out) }()
	go func() { defer wg.Done(); r.pump(out, in) }()
	wg.Wait()
}

type chunk struct {
	due  time.Time
	data []byte
}

// pump copies src to dst, each chunk no earlier than delay after it was
// read. When src ends it half-closes dst after the queue drains; when dst
// fails it closes src so the reader stops.
func (r *Relay) pump(src, dst net.Conn) {
	q := make(chan chunk, relayQueue)
	go func() {
		defer close(q)
		buf := make([]byte, relayChunk)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{due: time.Now().Add(r.Delay()), data: append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failed := false
	for c := range q {
		if failed {
			continue // drain so the reader can finish
		}
		if wait := time.Until(c.due); wait > 0 {
			timer.Reset(wait)
			<-timer.C
		}
		if _, err := dst.Write(c.data); err != nil {
			failed = true
			src.Close()
			dst.Close()
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok && !failed {
		_ = tc.CloseWrite()
	}
}
