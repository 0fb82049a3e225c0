package scheduler

import (
	"errors"
	"testing"
	"time"

	"github.com/holiman/uint256"
)

// TestMinScore: a scored node below Params.MinScore takes no job, even
// when it is cheaper, closer and emptier than a good one, and even when it
// is the only node that fits (LowScore); with the minimum off it does.
func TestMinScore(t *testing.T) {
	p := DefaultParams()
	good, low := baseNode("good"), baseNode("low")
	good.Scored, good.Score = true, 900_000
	good.PriceWei, good.RTT, good.FreeGPUs = uint256.NewInt(190), time.Second, 2
	low.Scored, low.Score = true, DefaultMinScore-1
	low.PriceWei, low.RTT = uint256.NewInt(1), time.Millisecond
	low.StakeWei = emc(1_000_000)
	if a := scheduleOne(t, []Node{good, low}, baseJob("j"), p); a.Reason != Placed || a.NodeID != "good" {
		t.Fatalf("picked %+v, want the good node", a)
	}
	if a := scheduleOne(t, []Node{low}, baseJob("j"), p); a.Reason != LowScore || a.NodeID != "" {
		t.Fatalf("only a low node: %+v, want LowScore", a)
	}
	// CPU-only jobs too.
	cj := baseJob("cpu")
	cpuJob(&cj)
	if a := scheduleOne(t, []Node{low}, cj, p); a.Reason != LowScore {
		t.Fatalf("CPU-only job on a low node: %+v", a)
	}
	// LowScore comes right after liveness: a stale node and a low one
	// give LowScore; a low node and a good one lacking the image give
	// NoImage (the good node got further).
	stale := baseNode("stale")
	stale.LastSeen = time.Hour
	if a := scheduleOne(t, []Node{stale, low}, baseJob("j"), p); a.Reason != LowScore {
		t.Fatalf("stale and low: %+v, want LowScore", a)
	}
	noImg := good
	noImg.Images = nil
	if a := scheduleOne(t, []Node{low, noImg}, baseJob("j"), p); a.Reason != NoImage {
		t.Fatalf("low and a good node without the image: %+v, want NoImage", a)
	}
	// At the minimum exactly, it takes jobs.
	at := low
	at.Score = DefaultMinScore
	if a := scheduleOne(t, []Node{at}, baseJob("j"), p); a.Reason != Placed {
		t.Fatalf("node at the minimum: %+v", a)
	}
	// The minimum off: the low node is a node like any other (its score
	// still weighs as reliability).
	p.MinScore = 0
	if a := scheduleOne(t, []Node{low}, baseJob("j"), p); a.Reason != Placed {
		t.Fatalf("minimum off: %+v", a)
	}
	// An unscored node has no minimum (the counter formula).
	p = DefaultParams()
	plain := baseNode("plain")
	plain.Succeeded, plain.Failed = 0, 1000
	if a := scheduleOne(t, []Node{plain}, baseJob("j"), p); a.Reason != Placed {
		t.Fatalf("unscored node: %+v", a)
	}
}

// TestScoreIsReliability: a scored node's reliability term is its score,
// whatever its counters; the higher score wins between otherwise equal
// nodes, and the difference is WReliability times the scores'.
func TestScoreIsReliability(t *testing.T) {
	p := DefaultParams()
	a, b := baseNode("a"), baseNode("b")
	a.Scored, a.Score = true, 600_000
	b.Scored, b.Score = true, 700_000
	a.Succeeded, a.Failed = 1_000_000, 0 // ignored once scored
	b.Succeeded, b.Failed = 0, 1_000_000
	if got := reliabilityTerm(&a, &p); got != 600_000 {
		t.Fatalf("reliability of a scored node %d", got)
	}
	pa := scheduleOne(t, []Node{a}, baseJob("j"), p)
	pb := scheduleOne(t, []Node{b}, baseJob("j"), p)
	if pb.Score-pa.Score != p.WReliability*100_000 {
		t.Fatalf("scores %d and %d: difference %d, want %d", pa.Score, pb.Score, pb.Score-pa.Score, p.WReliability*100_000)
	}
	if got := scheduleOne(t, []Node{a, b}, baseJob("j"), p); got.NodeID != "b" {
		t.Fatalf("picked %s, want the higher score", got.NodeID)
	}
}

func TestScoreLimits(t *testing.T) {
	n := baseNode("n")
	n.Scored, n.Score = true, ppm+1
	if _, err := NewTable([]Node{n}, DefaultParams()); !errors.Is(err, ErrInvalidNode) {
		t.Fatalf("score above 1e6: %v", err)
	}
	p := DefaultParams()
	p.MinScore = ppm + 1
	if err := p.Validate(); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("MinScore above 1e6: %v", err)
	}
	if LowScore.String() != "every fitting node scores below the minimum" {
		t.Fatalf("LowScore reads %q", LowScore)
	}
}
