package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
)

// Snapshot is one telemetry reading of the node.
type Snapshot struct {
	TakenAtUnixMillis int64        `json:"taken_at_unix_ms"`
	GPUs              []gpu.Sample `json:"gpus"`
	Host              *Host        `json:"host,omitempty"`
}

// Host is the host's load at a snapshot.
type Host struct {
	CPUCount int `json:"cpu_count"`
	// CPUUtilizationPercent is busy time over the interval since the
	// previous sample; nil on the first.
	CPUUtilizationPercent *float64 `json:"cpu_utilization_percent,omitempty"`
	Load1                 float64  `json:"load1"`
	MemoryTotalBytes      uint64   `json:"memory_total_bytes"`
	MemoryUsedBytes       uint64   `json:"memory_used_bytes"`
}

// Sampler reads a provider and the host every interval and keeps the
// latest snapshot. Sample and Latest are safe for concurrent use.
type Sampler struct {
	provider gpu.Provider
	host     HostSource
	interval time.Duration
	clock    Clock
	log      *slog.Logger

	mu       sync.Mutex
	latest   *Snapshot
	prevHost *HostStats
	samples  uint64
	errors   uint64
}

// NewSampler samples p every interval on clk. host may be nil (no host
// stats); log may be nil.
func NewSampler(p gpu.Provider, interval time.Duration, clk Clock, host HostSource, log *slog.Logger) *Sampler {
	if clk == nil {
		clk = RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = 15 * time.Second
	}
	return &Sampler{provider: p, host: host, interval: interval, clock: clk, log: log.With("component", "telemetry")}
}

// Run samples now and then every interval until ctx is done. Sampling
// errors are logged and counted, not returned: a flaky GPU must not stop
// the node.
func (s *Sampler) Run(ctx context.Context) error {
	t := s.clock.NewTicker(s.interval)
	defer t.Stop()
	for {
		if _, err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("telemetry sample failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

// Sample takes a snapshot now and makes it the latest.
func (s *Sampler) Sample(ctx context.Context) (Snapshot, error) {
	gpus, err := s.provider.Sample(ctx)
	if err != nil {
		s.mu.Lock()
		s.errors++
		s.mu.Unlock()
		return Snapshot{}, fmt.Errorf("telemetry: GPU sample: %w", err)
	}
	snap := Snapshot{TakenAtUnixMillis: s.clock.Now().UnixMilli(), GPUs: gpus}
	var hs *HostStats
	if s.host != nil {
		h, err := s.host.ReadHost()
		if err != nil {
			s.log.Debug("host stats unavailable", "err", err)
		} else {
			hs = &h
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs != nil {
		snap.Host = &Host{
			CPUCount:         hs.CPUCount,
			Load1:            hs.Load1,
			MemoryTotalBytes: hs.MemoryTotalBytes,
			MemoryUsedBytes:  hs.MemoryTotalBytes - min(hs.MemoryAvailableBytes, hs.MemoryTotalBytes),
		}
		if p := s.prevHost; p != nil && hs.CPUTotalTicks > p.CPUTotalTicks && hs.CPUBusyTicks >= p.CPUBusyTicks {
			pct := 100 * float64(hs.CPUBusyTicks-p.CPUBusyTicks) / float64(hs.CPUTotalTicks-p.CPUTotalTicks)
			snap.Host.CPUUtilizationPercent = &pct
		}
		s.prevHost = hs
	}
	s.latest = &snap
	s.samples++
	return snap, nil
}

// Latest returns the most recent snapshot; ok is false before the first.
func (s *Sampler) Latest() (snap Snapshot, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return Snapshot{}, false
	}
	return *s.latest, true
}

// Counts returns how many samples succeeded and failed.
func (s *Sampler) Counts() (samples, errors uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.errors
}
