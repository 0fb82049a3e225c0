package sync

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/p2p"
)

// Network is what the syncer needs from the transport.
type Network interface {
	p2p.Requester
	p2p.PeerSet
	p2p.Penalizer
}

// Chain is what the syncer needs from the chain (state.Chain satisfies it).
// InsertBlock must verify the block's certificate against the validator set.
type Chain interface {
	Head() *types.Header
	InsertBlock(ctx context.Context, block *types.Block, c *cert.Certificate) error
}

// PeerHead is a head a peer reported.
type PeerHead struct {
	Peer   p2p.PeerID
	Number uint64
	Hash   common.Hash
}

// Config configures a Syncer. Network, Chain and Spec are required.
type Config struct {
	Network Network
	Chain   Chain
	Spec    p2p.Spec // Spec(chainID)
	// BatchSize is the blocks asked per request (default and max
	// MaxBlocksPerRequest).
	BatchSize int
	// StatusInterval is how often peers' statuses are polled (default 2s).
	StatusInterval time.Duration
	// ProgressInterval is how often progress is logged while syncing
	// (default 5s).
	ProgressInterval time.Duration
	// IsInvalid tells a block the chain rejected (penalise the peer) from a
	// local failure. Nil treats every insert error except a context error
	// as the block's fault. Pass errors.Is(err, state.ErrInvalidBlock).
	IsInvalid func(error) bool
	// MaxStatusPeers bounds the peers polled each round (default 16). With
	// more peers than that, each round polls a fresh random sample: peer
	// IDs are cheap to grind, so any fixed order (such as the first IDs)
	// would let an attacker own the syncer's view.
	MaxStatusPeers int
	// Rand picks the peers to poll and orders equally good sync
	// candidates. Nil: seeded from crypto/rand. Tests pass a seeded source.
	Rand  *rand.Rand
	Clock mclock.Clock
	Log   *slog.Logger
}

// Syncer catches the chain up with its peers.
type Syncer struct {
	cfg   Config
	log   *slog.Logger
	wake  chan struct{}
	heads chan PeerHead

	mu       gosync.Mutex
	rng      *rand.Rand // guarded by mu
	statuses map[p2p.PeerID]PeerHead
	polled   bool
	bestSeen uint64

	// progress
	lastLog    mclock.AbsTime
	lastHeight uint64
}

// New returns a syncer; call Run.
func New(cfg Config) (*Syncer, error) {
	if cfg.Network == nil || cfg.Chain == nil {
		return nil, errors.New("sync: Config.Network and Config.Chain are required")
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, err
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > MaxBlocksPerRequest {
		cfg.BatchSize = MaxBlocksPerRequest
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 2 * time.Second
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = 5 * time.Second
	}
	if cfg.MaxStatusPeers <= 0 {
		cfg.MaxStatusPeers = 16
	}
	if cfg.IsInvalid == nil {
		cfg.IsInvalid = func(err error) bool {
			return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = mclock.System{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("sync: seed peer sampling: %w", err)
		}
		cfg.Rand = rand.New(rand.NewChaCha8(seed))
	}
	return &Syncer{
		cfg: cfg, log: cfg.Log.With("component", "sync"), rng: cfg.Rand,
		wake: make(chan struct{}, 1), heads: make(chan PeerHead, 16),
		statuses: make(map[p2p.PeerID]PeerHead),
	}, nil
}

// Run polls statuses and syncs until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	for {
		s.pollStatuses(ctx)
		s.catchUp(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-s.cfg.Clock.After(s.cfg.StatusInterval):
		}
	}
}

// CaughtUp reports whether statuses were polled at least once and the local
// head is at or above every known peer head. With no peers it is true.
func (s *Syncer) CaughtUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polled && s.cfg.Chain.Head().Number.Uint64() >= s.bestLocked().Number
}

// Target returns the best head known from peers.
func (s *Syncer) Target() PeerHead {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bestLocked()
}

// Heads delivers peer heads that are higher than any seen before. It is
// bounded; when the reader lags, newer heads are dropped (the next poll
// reports them again).
func (s *Syncer) Heads() <-chan PeerHead { return s.heads }

// Observe tells the syncer that peer has block number (e.g. consensus saw a
// message for a later height from it) and wakes the sync loop.
func (s *Syncer) Observe(h PeerHead) {
	s.mu.Lock()
	if h.Number > s.statuses[h.Peer].Number {
		s.statuses[h.Peer] = h
	}
	s.mu.Unlock()
	s.Wake()
}

// Wake makes Run poll and sync now instead of at the next interval.
func (s *Syncer) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Syncer) bestLocked() PeerHead {
	var best PeerHead
	for _, h := range s.statuses {
		if h.Number > best.Number || (h.Number == best.Number && h.Peer < best.Peer) {
			best = h
		}
	}
	return best
}

// pollStatuses asks up to MaxStatusPeers peers for their heads, in parallel.
func (s *Syncer) pollStatuses(ctx context.Context) {
	s.mu.Lock()
	peers := samplePeers(s.cfg.Network.Peers(), s.cfg.MaxStatusPeers, s.rng)
	s.mu.Unlock()
	req := Request{Kind: KindGetStatus}.Encode()
	results := make([]*PeerHead, len(peers))
	var wg gosync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.cfg.Network.Request(ctx, p, s.cfg.Spec, req)
			if err != nil {
				s.log.Debug("status request failed", "peer", p, "err", err)
				return
			}
			st, err := DecodeStatus(resp)
			if err != nil {
				s.cfg.Network.Penalize(p, p2p.PenaltyMalformed, err.Error())
				return
			}
			results[i] = &PeerHead{Peer: p, Number: st.Number, Hash: st.Hash}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	connected := make(map[p2p.PeerID]bool, len(peers))
	for _, p := range s.cfg.Network.Peers() {
		connected[p] = true
	}
	for id := range s.statuses {
		if !connected[id] {
			delete(s.statuses, id)
		}
	}
	var newBest *PeerHead
	for _, r := range results {
		if r == nil {
			continue
		}
		s.statuses[r.Peer] = *r
		if r.Number > s.bestSeen {
			s.bestSeen = r.Number
			newBest = r
		}
	}
	s.polled = true
	s.mu.Unlock()
	if newBest != nil {
		select {
		case s.heads <- *newBest:
		default:
		}
	}
}

// candidates returns peers whose head reaches from, best first.
func (s *Syncer) candidates(from uint64) []PeerHead {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PeerHead
	for _, h := range s.statuses {
		if h.Number >= from {
			out = append(out, h)
		}
	}
	// Highest head first; peers with equal heads in random order (map
	// order is not random enough to rely on, and IDs can be ground).
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	slices.SortStableFunc(out, func(a, b PeerHead) int { return cmp.Compare(b.Number, a.Number) })
	return out
}

// samplePeers returns k peers chosen uniformly at random without
// replacement (all of them, shuffled, when there are at most k). It reorders
// peers in place.
func samplePeers(peers []p2p.PeerID, k int, rng *rand.Rand) []p2p.PeerID {
	// A partial Fisher-Yates shuffle: the first k slots end up a uniform
	// sample.
	k = min(k, len(peers))
	for i := 0; i < k; i++ {
		j := i + rng.IntN(len(peers)-i)
		peers[i], peers[j] = peers[j], peers[i]
	}
	return peers[:k]
}

func (s *Syncer) forget(peer p2p.PeerID) {
	s.mu.Lock()
	delete(s.statuses, peer)
	s.mu.Unlock()
}

// catchUp fetches and inserts batches until the head reaches the best known
// peer head or no peer can serve the next range.
func (s *Syncer) catchUp(ctx context.Context) {
	start := s.cfg.Chain.Head().Number.Uint64()
	startTime := s.cfg.Clock.Now()
	s.lastLog, s.lastHeight = startTime, start
	syncing := false
	for ctx.Err() == nil {
		head := s.cfg.Chain.Head().Number.Uint64()
		target := s.Target().Number
		if head >= target {
			break
		}
		if !syncing {
			syncing = true
			s.log.Info("syncing", "height", head, "target", target)
		}
		from := head + 1
		count := min(uint64(s.cfg.BatchSize), target-head)
		progressed := false
		for _, cand := range s.candidates(from) {
			n, err := s.fetchAndInsert(ctx, cand.Peer, from, min(count, cand.Number-head))
			if n > 0 {
				progressed = true
			}
			if err == nil {
				break
			}
			s.log.Debug("sync batch failed", "peer", cand.Peer, "from", from, "err", err)
			if n > 0 {
				break // partial progress: recompute the range
			}
		}
		if !progressed {
			break // nobody could serve the range; retry after the next poll
		}
		s.logProgress(target)
	}
	if syncing {
		head := s.cfg.Chain.Head().Number.Uint64()
		elapsed := time.Duration(s.cfg.Clock.Now() - startTime)
		s.log.Info("sync stopped", "height", head, "target", s.Target().Number,
			"blocks", head-start, "elapsed", elapsed.Round(time.Millisecond))
	}
}

// fetchAndInsert fetches [from, from+count) from peer and inserts what it
// got. It returns how many blocks were inserted.
func (s *Syncer) fetchAndInsert(ctx context.Context, peer p2p.PeerID, from, count uint64) (int, error) {
	resp, err := s.cfg.Network.Request(ctx, peer, s.cfg.Spec, Request{Kind: KindGetBlocks, From: from, Count: count}.Encode())
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Network.Penalize(peer, p2p.PenaltyMinor, fmt.Sprintf("sync request: %v", err))
		}
		s.forget(peer)
		return 0, err
	}
	entries, err := DecodeBlocks(resp, int(count))
	if err != nil {
		s.cfg.Network.Penalize(peer, p2p.PenaltyMalformed, err.Error())
		s.forget(peer)
		return 0, err
	}
	if len(entries) == 0 {
		// It claimed a head at or above from but serves nothing.
		s.cfg.Network.Penalize(peer, p2p.PenaltyMinor, "empty sync response")
		s.forget(peer)
		return 0, fmt.Errorf("sync: %s served no blocks from %d", peer, from)
	}
	for i, e := range entries {
		if want := from + uint64(i); e.Block.NumberU64() != want {
			s.cfg.Network.Penalize(peer, p2p.PenaltyMalformed, "out-of-range block")
			s.forget(peer)
			return i, fmt.Errorf("sync: %s served block %d, want %d", peer, e.Block.NumberU64(), want)
		}
	}
	for i, e := range entries {
		head := s.cfg.Chain.Head()
		if head.Number.Uint64() >= e.Block.NumberU64() {
			continue // consensus committed it meanwhile
		}
		if e.Block.ParentHash() != head.Hash() {
			// Not our chain: a fork no certificate can justify, or we moved on.
			if head.Number.Uint64()+1 == e.Block.NumberU64() {
				s.cfg.Network.Penalize(peer, p2p.PenaltyInvalid, "block does not extend the certified head")
				s.forget(peer)
			}
			return i, fmt.Errorf("sync: block %d from %s does not extend head %s", e.Block.NumberU64(), peer, head.Hash())
		}
		if err := s.cfg.Chain.InsertBlock(ctx, e.Block, e.Cert); err != nil {
			if s.cfg.IsInvalid(err) {
				s.cfg.Network.Penalize(peer, p2p.PenaltyInvalid, fmt.Sprintf("invalid block %d: %v", e.Block.NumberU64(), err))
				s.forget(peer)
				s.log.Warn("peer served an invalid block", "peer", peer, "number", e.Block.NumberU64(), "err", err)
			}
			return i, err
		}
	}
	return len(entries), nil
}

func (s *Syncer) logProgress(target uint64) {
	now := s.cfg.Clock.Now()
	dt := time.Duration(now - s.lastLog)
	if dt < s.cfg.ProgressInterval {
		return
	}
	head := s.cfg.Chain.Head().Number.Uint64()
	rate := float64(head-s.lastHeight) / dt.Seconds()
	var eta time.Duration
	if rate > 0 && target > head {
		eta = time.Duration(float64(target-head) / rate * float64(time.Second))
	}
	s.log.Info("sync progress", "height", head, "target", target,
		"blocks_per_s", fmt.Sprintf("%.1f", rate), "eta", eta.Round(time.Second))
	s.lastLog, s.lastHeight = now, head
}
