package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Status is what a compute node reports in each heartbeat.
type Status struct {
	FreeGPUs uint32
	GPUUtil  []uint32
	QueueLen uint32
	Images   []common.Hash
}

// Clip fits s within a heartbeat's bounds: counts are capped, utilisations
// above 100 % read as UtilUnknown, only the first MaxGPUs utilisations and
// the MaxImages smallest image digests are kept (sorted, so the choice does
// not depend on the order the source lists them in).
func (s Status) Clip() Status {
	out := Status{FreeGPUs: min(s.FreeGPUs, MaxUnits), QueueLen: min(s.QueueLen, MaxQueue)}
	util := s.GPUUtil[:min(len(s.GPUUtil), MaxGPUs)]
	out.GPUUtil = make([]uint32, len(util))
	for i, u := range util {
		if u > 100 {
			u = UtilUnknown
		}
		out.GPUUtil[i] = u
	}
	imgs := slices.Clone(s.Images)
	slices.SortFunc(imgs, func(a, b common.Hash) int { return a.Cmp(b) })
	imgs = slices.Compact(imgs)
	out.Images = imgs[:min(len(imgs), MaxImages)]
	return out
}

// MinPublishInterval is the shortest publishing period: twice the spacing
// receivers enforce (DefaultMinInterval), so a timer firing a little early
// never gets a heartbeat refused as too frequent.
const MinPublishInterval = 2 * DefaultMinInterval

// Source reports the node's current status (GPU telemetry, allocator,
// job queue, image store).
type Source func(ctx context.Context) (Status, error)

// Publish is the part of a p2p.Topic a Publisher needs.
type Publish interface {
	Publish(ctx context.Context, data []byte) error
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	ChainID uint64
	// Key is the node's libp2p identity key; heartbeats carry its peer id.
	Key crypto.PrivKey
	// Owner is the account the node is registered to.
	Owner  common.Address
	Topic  Publish
	Source Source
	// Interval is the publishing period (default DefaultInterval; at least
	// MinPublishInterval).
	Interval time.Duration
	// PollInterval is how often Run reads the source between heartbeats
	// (default DefaultPollInterval): a change of free GPUs is published
	// early, as soon as MinPublishInterval has passed since the last
	// heartbeat, so routers see freed (or taken) GPUs within about
	// MinPublishInterval instead of Interval.
	PollInterval time.Duration
	// Now is the wall clock (nil: time.Now).
	Now     func() time.Time
	Metrics *Metrics
	Log     *slog.Logger
}

// DefaultPollInterval is PublisherConfig.PollInterval's default.
const DefaultPollInterval = 250 * time.Millisecond

// Publisher signs and publishes the node's heartbeat every interval, and
// early when its free GPUs change.
type Publisher struct {
	cfg PublisherConfig
	log *slog.Logger
	// Run's goroutine only: the last heartbeat's sequence number, time
	// and free GPUs (at is zero before the first).
	seq      uint64
	at       time.Time
	lastFree uint32
}

// NewPublisher checks cfg and returns a publisher.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Key == nil || cfg.Topic == nil || cfg.Source == nil {
		return nil, errors.New("heartbeat: publisher needs Key, Topic and Source")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < MinPublishInterval {
		return nil, fmt.Errorf("heartbeat: interval %v is below %v (receivers refuse heartbeats closer than %v; timer jitter needs the slack)", cfg.Interval, MinPublishInterval, DefaultMinInterval)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, log: cfg.Log.With("component", "heartbeat")}, nil
}

// Next builds and signs the next heartbeat from st. The sequence number is
// the larger of the previous one plus one and the unix-ms clock, so it keeps
// increasing across restarts (receivers refuse a sequence they have seen)
// as long as the clock does not run backwards.
func (p *Publisher) Next(st Status) ([]byte, error) {
	now := p.cfg.Now().UnixMilli()
	if now <= 0 {
		return nil, fmt.Errorf("heartbeat: clock reads %d ms", now)
	}
	st = st.Clip()
	h := &Heartbeat{
		Owner: p.cfg.Owner, Seq: max(p.seq+1, uint64(now)), TimeMs: uint64(now),
		FreeGPUs: st.FreeGPUs, GPUUtil: st.GPUUtil, QueueLen: st.QueueLen, Images: st.Images,
	}
	if err := h.Sign(p.cfg.Key, p.cfg.ChainID); err != nil {
		return nil, err
	}
	data, err := h.Encode()
	if err != nil {
		return nil, err
	}
	p.seq = h.Seq
	return data, nil
}

// PublishOnce reads the source and publishes one heartbeat.
func (p *Publisher) PublishOnce(ctx context.Context) error {
	st, err := p.cfg.Source(ctx)
	if err != nil {
		return fmt.Errorf("heartbeat: status: %w", err)
	}
	return p.publish(ctx, st)
}

func (p *Publisher) publish(ctx context.Context, st Status) error {
	now := p.cfg.Now()
	data, err := p.Next(st)
	if err != nil {
		return err
	}
	// Spacing counts from the attempt, sent or not: a failed publish is
	// retried on the schedule, not on every poll.
	p.at, p.lastFree = now, st.Clip().FreeGPUs
	if err := p.cfg.Topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("heartbeat: publish: %w", err)
	}
	p.cfg.Metrics.Published.Inc()
	return nil
}

// Due reports whether a heartbeat with st is due at now: the first one;
// Interval after the last; or, once MinPublishInterval has passed since
// the last, when the free GPUs differ from the last heartbeat's. Receivers
// refuse heartbeats closer than DefaultMinInterval, so none is ever due
// sooner than MinPublishInterval after the last.
func (p *Publisher) Due(now time.Time, st Status) bool {
	if p.at.IsZero() {
		return true
	}
	since := now.Sub(p.at)
	switch {
	case since >= p.cfg.Interval:
		return true
	case since >= MinPublishInterval && st.Clip().FreeGPUs != p.lastFree:
		return true
	}
	return false
}

// Run publishes at once, then reads the source every PollInterval and
// publishes when Due, until ctx ends. A failed heartbeat is logged and the
// next one tried on schedule.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		st, err := p.cfg.Source(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil && p.Due(p.cfg.Now(), Status{FreeGPUs: p.lastFree}) {
				p.log.Warn("heartbeat not published", "err", fmt.Errorf("heartbeat: status: %w", err))
				p.at = p.cfg.Now()
			}
		case p.Due(p.cfg.Now(), st):
			if err := p.publish(ctx, st); err != nil && ctx.Err() == nil {
				p.log.Warn("heartbeat not published", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
