package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/emc-network/emcd/p2p"
)

// ErrTooManyPeers is returned by Send when MaxPeers peers already have a
// worker; the message is dropped.
var ErrTooManyPeers = errors.New("outbox: too many peers with queued messages")

// Defaults of Config.
const (
	DefaultQueueLen    = 64
	DefaultQueueBytes  = 32 << 20
	DefaultMaxPeers    = 256
	DefaultIdleTimeout = time.Minute
)

// Config configures an Outbox. Requester and Spec are required.
type Config struct {
	// Requester carries each message as one request whose response is
	// ignored (a one-way protocol such as p2p.Names.DirectSpec).
	Requester p2p.Requester
	Spec      p2p.Spec
	// QueueLen and QueueBytes bound each peer's queue: messages and their
	// total size. QueueBytes is raised to Spec.MaxRequest so that any
	// sendable message fits alone.
	QueueLen   int
	QueueBytes int
	// MaxPeers bounds the workers running at once.
	MaxPeers int
	// IdleTimeout is how long a worker with an empty queue waits for more
	// before it exits.
	IdleTimeout time.Duration
	// Clock drives IdleTimeout (nil: the system clock). Each request is
	// bounded by Spec's timeout.
	Clock   mclock.Clock
	Metrics *Metrics
	Log     *slog.Logger
}

// Outbox queues messages per peer and sends them, in order, from one worker
// goroutine per peer. It is safe for concurrent use.
type Outbox struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	ctx    context.Context // cancelled by Close: aborts in-flight requests
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	queues map[p2p.PeerID]*queue
}

// queue is one peer's FIFO; items and bytes are guarded by Outbox.mu.
type queue struct {
	peer  p2p.PeerID
	items [][]byte
	bytes int
	wake  chan struct{} // capacity 1: "items may be non-empty"
}

// New returns an Outbox; workers start with the first message to a peer.
func New(cfg Config) (*Outbox, error) {
	if cfg.Requester == nil {
		return nil, errors.New("outbox: Config.Requester is required")
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	cfg.QueueBytes = max(cfg.QueueBytes, cfg.Spec.MaxRequest)
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = mclock.System{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Outbox{
		cfg: cfg, log: cfg.Log.With("component", "outbox", "protocol", cfg.Spec.ID), m: cfg.Metrics,
		ctx: ctx, cancel: cancel, queues: make(map[p2p.PeerID]*queue),
	}, nil
}

// Send queues data for peer and returns at once; the peer's worker sends it
// after the messages queued before it. When the queue is full the oldest
// messages are dropped to make room. The Outbox keeps data: the caller must
// not modify it afterwards. Errors: p2p.ErrTooLarge (over Spec.MaxRequest),
// p2p.ErrClosed, ErrTooManyPeers; delivery failures are only counted and
// logged.
func (o *Outbox) Send(peer p2p.PeerID, data []byte) error {
	if len(data) > o.cfg.Spec.MaxRequest {
		o.m.Dropped.WithLabelValues("too_large").Inc()
		return fmt.Errorf("%w: %d bytes for %s, limit %d", p2p.ErrTooLarge, len(data), o.cfg.Spec.ID, o.cfg.Spec.MaxRequest)
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		o.m.Dropped.WithLabelValues("closed").Inc()
		return fmt.Errorf("outbox: %w", p2p.ErrClosed)
	}
	q := o.queues[peer]
	if q == nil {
		if len(o.queues) >= o.cfg.MaxPeers {
			o.mu.Unlock()
			o.m.Dropped.WithLabelValues("too_many_peers").Inc()
			return fmt.Errorf("%w: %d", ErrTooManyPeers, o.cfg.MaxPeers)
		}
		q = &queue{peer: peer, wake: make(chan struct{}, 1)}
		o.queues[peer] = q
		o.wg.Add(1)
		o.m.Workers.Inc()
		go o.run(q)
	}
	dropped := 0
	for len(q.items) > 0 && (len(q.items) >= o.cfg.QueueLen || q.bytes+len(data) > o.cfg.QueueBytes) {
		q.bytes -= len(q.items[0])
		q.items[0] = nil
		q.items = q.items[1:]
		dropped++
	}
	q.items = append(q.items, data)
	q.bytes += len(data)
	o.mu.Unlock()

	o.m.Queued.Add(float64(1 - dropped))
	if dropped > 0 {
		o.m.Dropped.WithLabelValues("full").Add(float64(dropped))
		o.log.Debug("peer queue full, dropped oldest", "peer", peer, "dropped", dropped)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close stops every worker, aborting requests in flight, and waits for them.
// Messages still queued are dropped. Later Sends return p2p.ErrClosed.
func (o *Outbox) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	o.mu.Lock()
	left := 0
	for _, q := range o.queues {
		left += len(q.items)
	}
	clear(o.queues)
	o.mu.Unlock()
	o.m.Queued.Sub(float64(left))
	o.m.Dropped.WithLabelValues("closed").Add(float64(left))
}

// run is the worker of one peer: it sends the queue's messages one at a
// time, and exits on Close or after IdleTimeout with nothing to send.
func (o *Outbox) run(q *queue) {
	defer o.wg.Done()
	defer o.m.Workers.Dec()
	// idle runs while the queue is empty; a wake-up that finds nothing (a
	// token left by a message this loop already sent) keeps it running.
	var idle mclock.ChanTimer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		if o.ctx.Err() != nil {
			return
		}
		if data, ok := o.pop(q); ok {
			if idle != nil {
				idle.Stop()
				idle = nil
			}
			o.deliver(q.peer, data)
			continue
		}
		if idle == nil {
			idle = o.cfg.Clock.NewTimer(o.cfg.IdleTimeout)
		}
		select {
		case <-o.ctx.Done():
			return
		case <-q.wake:
		case <-idle.C():
			idle = nil
			if o.retire(q) {
				return
			}
		}
	}
}

func (o *Outbox) pop(q *queue) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	data := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	q.bytes -= len(data)
	o.m.Queued.Dec()
	return data, true
}

// retire removes an idle worker's queue, unless a message arrived meanwhile;
// the next Send to the peer starts a new worker.
func (o *Outbox) retire(q *queue) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(q.items) > 0 || o.closed {
		return o.closed
	}
	delete(o.queues, q.peer)
	return true
}

func (o *Outbox) deliver(peer p2p.PeerID, data []byte) {
	ctx, cancel := context.WithTimeout(o.ctx, o.cfg.Spec.TimeoutOrDefault())
	_, err := o.cfg.Requester.Request(ctx, peer, o.cfg.Spec, data)
	cancel()
	if err != nil {
		o.m.Failed.Inc()
		o.log.Debug("send failed", "peer", peer, "size", len(data), "err", err)
		return
	}
	o.m.Sent.Inc()
}
