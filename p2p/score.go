package p2p

import (
	"math"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// Penalty is the weight of one misbehaviour. Penalties add up; a peer whose
// score reaches BanThreshold is disconnected and banned for BanDuration.
type Penalty int

// Penalty weights.
const (
	// PenaltyMinor: a timeout or an unhelpful answer; could be bad luck.
	PenaltyMinor Penalty = 5
	// PenaltyMalformed: a message that does not decode or exceeds its limit.
	PenaltyMalformed Penalty = 25
	// PenaltyInvalid: a well-formed message that is provably wrong (a block
	// whose certificate does not verify, a forged signature).
	PenaltyInvalid Penalty = 50
	// PenaltyBan bans the peer at once (wrong network).
	PenaltyBan Penalty = 1000
)

// Scoring defaults.
const (
	// BanThreshold is the score at which a peer is banned.
	BanThreshold = 100
	// DefaultBanDuration is how long a ban lasts.
	DefaultBanDuration = time.Hour
	// DefaultHalfLife is how fast penalties are forgiven.
	DefaultHalfLife = 10 * time.Minute
	// maxScored bounds the peers a Scoreboard remembers.
	maxScored = 4096
)

// Scoreboard tracks penalties per peer on an injected clock: scores decay
// with a half-life, and reaching BanThreshold bans the peer for a while. It is
// safe for concurrent use.
type Scoreboard struct {
	clock       mclock.Clock
	halfLife    time.Duration
	banDuration time.Duration

	mu     sync.Mutex
	scores map[PeerID]*peerScore
}

type peerScore struct {
	score    float64
	updated  mclock.AbsTime
	bannedTo mclock.AbsTime
}

// NewScoreboard returns a scoreboard; zero durations use the defaults.
func NewScoreboard(clock mclock.Clock, halfLife, banDuration time.Duration) *Scoreboard {
	if clock == nil {
		clock = mclock.System{}
	}
	if halfLife <= 0 {
		halfLife = DefaultHalfLife
	}
	if banDuration <= 0 {
		banDuration = DefaultBanDuration
	}
	return &Scoreboard{clock: clock, halfLife: halfLife, banDuration: banDuration, scores: make(map[PeerID]*peerScore)}
}

// Penalize adds p to peer's score and reports whether this penalty banned it.
func (s *Scoreboard) Penalize(peer PeerID, p Penalty) (bannedNow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	ps := s.scores[peer]
	if ps == nil {
		if len(s.scores) >= maxScored {
			s.evictLocked(now)
		}
		ps = &peerScore{updated: now}
		s.scores[peer] = ps
	}
	s.decayLocked(ps, now)
	ps.score += float64(p)
	if ps.score >= BanThreshold && now >= ps.bannedTo {
		ps.bannedTo = now.Add(s.banDuration)
		ps.score = 0
		return true
	}
	return false
}

// Banned reports whether peer is banned now.
func (s *Scoreboard) Banned(peer PeerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.scores[peer]
	return ps != nil && s.clock.Now() < ps.bannedTo
}

// Score returns peer's current decayed penalty score (0 is clean).
func (s *Scoreboard) Score(peer PeerID) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.scores[peer]
	if ps == nil {
		return 0
	}
	s.decayLocked(ps, s.clock.Now())
	return ps.score
}

func (s *Scoreboard) decayLocked(ps *peerScore, now mclock.AbsTime) {
	if dt := now.Sub(ps.updated); dt > 0 {
		ps.score *= math.Exp2(-float64(dt) / float64(s.halfLife))
		ps.updated = now
	}
}

// evictLocked forgets peers that are neither banned nor meaningfully scored.
func (s *Scoreboard) evictLocked(now mclock.AbsTime) {
	for id, ps := range s.scores {
		s.decayLocked(ps, now)
		if now >= ps.bannedTo && ps.score < 1 {
			delete(s.scores, id)
		}
	}
	// Still full: drop arbitrary unbanned entries.
	for id, ps := range s.scores {
		if len(s.scores) < maxScored {
			break
		}
		if now >= ps.bannedTo {
			delete(s.scores, id)
		}
	}
}
