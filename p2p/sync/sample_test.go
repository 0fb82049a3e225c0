package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"testing"

	"github.com/emc-network/emcd/p2p"
)

// Peer IDs are cheap to grind: a syncer that polled the lexicographically
// first peers could be surrounded by an attacker's nodes. These tests pin a
// uniform, seeded sample instead.

func TestSamplePeers(t *testing.T) {
	const n, k, rounds = 64, 16, 2000
	var ids []p2p.PeerID
	for i := 0; i < n; i++ {
		ids = append(ids, p2p.PeerID(fmt.Sprintf("peer-%02d", i)))
	}
	seed := uint64(7)
	rng := rand.New(rand.NewPCG(seed, seed))
	counts := map[p2p.PeerID]int{}
	for r := 0; r < rounds; r++ {
		got := samplePeers(slices.Clone(ids), k, rng)
		if len(got) != k {
			t.Fatalf("SEED=%d: sample of %d, want %d", seed, len(got), k)
		}
		seen := map[p2p.PeerID]bool{}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("SEED=%d: %s sampled twice in one round", seed, id)
			}
			seen[id] = true
			counts[id]++
		}
	}
	// Each peer is expected in rounds*k/n = 500 samples (sd ≈ 19); with a
	// fixed seed this is deterministic, and the bounds are ±6 sd.
	for _, id := range ids {
		if c := counts[id]; c < 385 || c > 615 {
			t.Errorf("SEED=%d: %s polled %d times in %d rounds, want about %d", seed, id, c, rounds, rounds*k/n)
		}
	}
	if got := samplePeers(slices.Clone(ids[:5]), k, rng); len(got) != 5 {
		t.Fatalf("fewer peers than k: got %d, want all 5", len(got))
	}
	if got := samplePeers(nil, k, rng); len(got) != 0 {
		t.Fatalf("no peers: got %v", got)
	}
}

// countingNet answers status requests and counts them per peer.
type countingNet struct {
	mu    gosync.Mutex
	peers []p2p.PeerID
	asked map[p2p.PeerID]int
}

func (c *countingNet) Request(_ context.Context, peer p2p.PeerID, _ p2p.Spec, _ []byte) ([]byte, error) {
	c.mu.Lock()
	c.asked[peer]++
	c.mu.Unlock()
	return Status{Number: 1}.Encode(), nil
}
func (c *countingNet) Self() p2p.PeerID                         { return "self" }
func (c *countingNet) Peers() []p2p.PeerID                      { return slices.Clone(c.peers) }
func (c *countingNet) PeerCount() int                           { return len(c.peers) }
func (c *countingNet) Penalize(p2p.PeerID, p2p.Penalty, string) {}

func TestPollStatusesSamplesPeers(t *testing.T) {
	net := &countingNet{asked: map[p2p.PeerID]int{}}
	for i := 0; i < 40; i++ {
		net.peers = append(net.peers, p2p.PeerID(fmt.Sprintf("p%02d", i)))
	}
	c := newChain(t)
	s, err := New(Config{Network: net, Chain: c, Spec: Spec(1), MaxStatusPeers: 8, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 50; r++ {
		s.pollStatuses(context.Background())
	}
	total := 0
	for _, p := range net.peers {
		if net.asked[p] == 0 {
			t.Errorf("peer %s never polled in 50 rounds", p)
		}
		total += net.asked[p]
	}
	if total != 50*8 {
		t.Fatalf("%d status requests, want %d (8 per round)", total, 50*8)
	}
}
