package heartbeat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emc-network/emcd/p2p"
)

// TestTrackerOnFakeClock drives a Tracker's validator and ticks on a fake
// wall clock: accept, refuse a replay and a forgery (with the p2p errors
// that set the penalty), drop after missed beats, count it all in metrics.
func TestTrackerOnFakeClock(t *testing.T) {
	clk := &fakeClock{ms: t0}
	m := NopMetrics()
	tr := NewTracker(TrackerConfig{ChainID: testChain, Now: clk.now, Metrics: m})
	key := testKey(t, 1)
	good := encode(t, signed(t, key, 1, uint64(t0)))
	ctx := context.Background()
	if err := tr.Validate(ctx, "relay", good); err != nil {
		t.Fatal(err)
	}
	if err := tr.Validate(ctx, "relay", good); !errors.Is(err, ErrReplay) || p2p.GossipPenalty(err) != p2p.PenaltyMinor {
		t.Fatalf("replay: %v", err)
	}
	forged := signed(t, key, 2, uint64(t0+3000))
	forged.QueueLen = 0
	if err := tr.Validate(ctx, "relay", encode(t, forged)); !errors.Is(err, ErrForged) || p2p.GossipPenalty(err) != p2p.PenaltyInvalid {
		t.Fatalf("forgery: %v", err)
	}
	if err := tr.Validate(ctx, "relay", make([]byte, MaxSize+1)); !errors.Is(err, ErrTooLarge) || p2p.GossipPenalty(err) != p2p.PenaltyMalformed {
		t.Fatalf("oversized: %v", err)
	}
	clk.ms += 8_999
	if d := tr.Tick(); len(d) != 0 {
		t.Fatalf("dropped %v early", d)
	}
	clk.ms++
	if d := tr.Tick(); len(d) != 1 {
		t.Fatalf("dropped %v, want the node after 3 missed intervals", d)
	}
	for name, c := range map[string]struct{ got, want float64 }{
		"received":          {counterValue(t, m.Received), 1},
		"dropped replay":    {counterValue(t, m.Dropped.WithLabelValues("replay")), 1},
		"dropped forged":    {counterValue(t, m.Dropped.WithLabelValues("forged")), 1},
		"dropped too_large": {counterValue(t, m.Dropped.WithLabelValues("too_large")), 1},
		"expired":           {counterValue(t, m.Expired), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	if len(tr.Snapshot()) != 0 {
		t.Fatal("table not empty")
	}
}

// TestPingRefusesBadEcho: a node that answers a ping with something else
// than the nonce gives no RTT sample.
func TestPingRefusesBadEcho(t *testing.T) {
	spec := PingSpec(p2p.Names{ChainID: testChain})
	_, err := Ping(context.Background(), echoFunc(func(req []byte) []byte { return make([]byte, len(req)) }), spec, "peer", time.Now)
	if !errors.Is(err, p2p.ErrMalformed) {
		t.Fatalf("bad echo: %v", err)
	}
	rtt, err := Ping(context.Background(), echoFunc(func(req []byte) []byte { return req }), spec, "peer", time.Now)
	if err != nil || rtt <= 0 {
		t.Fatalf("good echo: %v, %v", rtt, err)
	}
}

type echoFunc func([]byte) []byte

func (f echoFunc) Request(_ context.Context, _ p2p.PeerID, _ p2p.Spec, req []byte) ([]byte, error) {
	return f(req), nil
}
