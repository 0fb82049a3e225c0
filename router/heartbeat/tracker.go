package heartbeat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/emc-network/emcd/p2p"
)

// DefaultMaxPings bounds the round-trip probes a Tracker has in flight.
const DefaultMaxPings = 16

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// ChainID is the chain heartbeats must be signed for.
	ChainID uint64
	// Table bounds the live table; its Interval is also the tick period.
	Table Config
	// Requester pings live nodes over PingSpec to measure round-trip
	// times; nil measures none. Only connected peers can be pinged (a node
	// heard through a relay keeps RTTSamples 0 until it is a neighbour).
	Requester p2p.Requester
	PingSpec  p2p.Spec
	// MaxPings bounds concurrent probes (default DefaultMaxPings).
	MaxPings int
	// Now is the wall clock (nil: time.Now). Heartbeat timestamps are unix
	// time, so the skew check needs the wall clock, not a monotonic one.
	Now     func() time.Time
	Metrics *Metrics
	Log     *slog.Logger
}

// Tracker drives a Table for a live node: it is the heartbeat topic's
// validator, and Run ticks the table and pings the nodes in it. Its methods
// are safe for concurrent use.
type Tracker struct {
	cfg     TrackerConfig
	log     *slog.Logger
	metrics *Metrics

	mu    sync.Mutex
	table *Table
}

// NewTracker returns a tracker with an empty table.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPings <= 0 {
		cfg.MaxPings = DefaultMaxPings
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{cfg: cfg, log: cfg.Log.With("component", "heartbeat"), metrics: cfg.Metrics, table: NewTable(cfg.Table)}
	t.cfg.Table = t.table.Config()
	return t
}

// Validate is the heartbeat topic's p2p.Validator: decode (size-capped),
// verify the signature against the peer id it names, then apply it to the
// table. Only heartbeats the table accepted are forwarded; the error of a
// refused one wraps the p2p error that sets the relaying neighbour's
// penalty (p2p.GossipPenalty): malformed and oversized 25, forged 50,
// replayed, too frequent or skewed 5, unregistered none.
func (t *Tracker) Validate(_ context.Context, from p2p.PeerID, data []byte) error {
	err := t.receive(data)
	if err != nil {
		t.metrics.Dropped.WithLabelValues(DropReason(err)).Inc()
		t.log.Debug("heartbeat refused", "from", from, "reason", DropReason(err), "err", err)
		return err
	}
	t.metrics.Received.Inc()
	return nil
}

func (t *Tracker) receive(data []byte) error {
	h, err := Decode(data)
	if err != nil {
		return err
	}
	if err := h.Verify(t.cfg.ChainID); err != nil {
		return err
	}
	now := t.cfg.Now().UnixMilli()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.table.Receive(h, now); err != nil {
		return err
	}
	t.metrics.Live.Set(float64(t.table.Len()))
	return nil
}

// Tick ticks the table at the current time and returns the dropped peers.
func (t *Tracker) Tick() []p2p.PeerID {
	now := t.cfg.Now().UnixMilli()
	t.mu.Lock()
	dropped := t.table.Tick(now)
	live := t.table.Len()
	t.mu.Unlock()
	t.metrics.Live.Set(float64(live))
	t.metrics.Expired.Add(float64(len(dropped)))
	for _, id := range dropped {
		t.log.Info("compute node dropped from the live table", "peer", id)
	}
	return dropped
}

// Snapshot returns a copy of the live table, sorted by peer id.
func (t *Tracker) Snapshot() []Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.table.Snapshot()
}

// PingAll probes every live node once (at most MaxPings at a time) and
// folds each answer into its RTT estimate. It returns when every probe has
// answered or failed, or ctx ends.
func (t *Tracker) PingAll(ctx context.Context) {
	if t.cfg.Requester == nil {
		return
	}
	t.mu.Lock()
	peers := t.table.Peers()
	t.mu.Unlock()
	sem := make(chan struct{}, t.cfg.MaxPings)
	var wg sync.WaitGroup
	for _, id := range peers {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rtt, err := Ping(ctx, t.cfg.Requester, t.cfg.PingSpec, id, t.cfg.Now)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.metrics.PingFailures.Inc()
					t.log.Debug("ping failed", "peer", id, "err", err)
				}
				return
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			// The node may have been dropped meanwhile: ErrUnknownNode.
			_ = t.table.RTT(id, rtt)
		}()
	}
	wg.Wait()
}

// Run ticks the table and pings its nodes every Table.Interval, and
// drains topic's deliveries (Validate already applied them). It returns
// when ctx ends or the topic closes.
func (t *Tracker) Run(ctx context.Context, topic p2p.Topic) error {
	ticker := time.NewTicker(t.cfg.Table.Interval)
	defer ticker.Stop()
	pinged := make(chan struct{}, 1)
	pinged <- struct{}{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-topic.Messages():
			if !ok {
				return nil
			}
		case <-ticker.C:
			t.Tick()
			// One ping round at a time: a slow round skips ticks rather
			// than piling up.
			select {
			case <-pinged:
				wg.Add(1)
				go func() {
					defer wg.Done()
					pctx, cancel := context.WithTimeout(ctx, t.cfg.Table.Interval)
					defer cancel()
					t.PingAll(pctx)
					pinged <- struct{}{}
				}()
			default:
			}
		}
	}
}
