package heartbeat

// Table tests drive the pure state machine with explicit receiver times
// (unix ms); nothing sleeps. Interval 3 s, MinInterval 1 s, MaxMissed 3,
// MaxSkew 30 s unless a test says otherwise.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/p2p"
)

const t0 = int64(1_700_000_000_000) // a receiver time, unix ms

func testTable(reg Registry) *Table {
	return NewTable(Config{Interval: 3 * time.Second, MinInterval: time.Second, MaxMissed: 3, MaxSkew: 30 * time.Second, Registry: reg})
}

// registry is a fake Registry: peer → owner.
type registry map[p2p.PeerID]common.Address

func (r registry) Registered(id p2p.PeerID) (common.Address, bool) {
	o, ok := r[id]
	return o, ok
}

func TestTableSequenceAndTimeRules(t *testing.T) {
	key := testKey(t, 1)
	type step struct {
		seq    uint64
		timeMs int64 // sender's timestamp
		nowMs  int64 // receiver's clock
		want   error
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"increasing accepted", []step{{1, t0, t0, nil}, {2, t0 + 3000, t0 + 3000, nil}, {10, t0 + 6000, t0 + 6000, nil}}},
		{"exact replay refused", []step{{5, t0, t0, nil}, {5, t0, t0 + 100, ErrReplay}}},
		{"older sequence refused", []step{{5, t0, t0, nil}, {4, t0 + 3000, t0 + 3000, ErrReplay}}},
		{"too soon refused", []step{{5, t0, t0, nil}, {6, t0 + 999, t0 + 999, ErrTooFrequent}, {6, t0 + 1000, t0 + 1000, nil}}},
		{"earlier timestamp refused", []step{{5, t0, t0, nil}, {6, t0 - 5000, t0, ErrTooFrequent}}},
		{"future beyond skew refused", []step{{1, t0 + 30_001, t0, ErrSkew}, {1, t0 + 30_000, t0, nil}}},
		{"past beyond skew refused", []step{{1, t0 - 30_001, t0, ErrSkew}, {1, t0 - 30_000, t0, nil}}},
		{"refusal leaves state", []step{{5, t0, t0, nil}, {9, t0 + 100, t0 + 100, ErrTooFrequent}, {6, t0 + 3000, t0 + 3000, nil}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab := testTable(nil)
			for i, s := range c.steps {
				err := tab.Receive(signed(t, key, s.seq, uint64(s.timeMs)), s.nowMs)
				if !errors.Is(err, c.steps[i].want) || (err == nil) != (s.want == nil) {
					t.Fatalf("step %d (seq %d): %v, want %v", i, s.seq, err, s.want)
				}
			}
		})
	}
}

// TestTableRefusalPenalties pins which refusals penalise the relaying
// neighbour, and how much.
func TestTableRefusalPenalties(t *testing.T) {
	for _, err := range []error{ErrReplay, ErrTooFrequent, ErrSkew} {
		if !errors.Is(err, p2p.ErrStale) || p2p.GossipPenalty(err) != p2p.PenaltyMinor {
			t.Errorf("%v: want a PenaltyMinor stale refusal", err)
		}
	}
	for _, err := range []error{ErrUnregistered, ErrOwnerMismatch, ErrTableFull} {
		if !errors.Is(err, p2p.ErrIgnore) {
			t.Errorf("%v: want an ignored refusal", err)
		}
	}
	if p2p.GossipPenalty(ErrMalformed) != p2p.PenaltyMalformed || p2p.GossipPenalty(ErrTooLarge) != p2p.PenaltyMalformed {
		t.Error("malformed and oversized heartbeats: want PenaltyMalformed")
	}
}

func TestTableDropAfterMissedBeats(t *testing.T) {
	key := testKey(t, 1)
	id := peerOf(t, key)
	tab := testTable(nil)
	last := signed(t, key, 5, uint64(t0))
	if err := tab.Receive(last, t0); err != nil {
		t.Fatal(err)
	}
	if d := tab.Tick(t0 + 8_999); len(d) != 0 {
		t.Fatalf("dropped %v after 2 missed intervals", d)
	}
	if got := tab.Snapshot()[0].Missed; got != 2 {
		t.Fatalf("missed %d, want 2", got)
	}
	if d := tab.Tick(t0 + 9_000); len(d) != 1 || d[0] != id {
		t.Fatalf("dropped %v after 3 missed intervals, want [%s]", d, id)
	}
	if tab.Len() != 0 {
		t.Fatal("node still live")
	}
	// Its last heartbeat, replayed while still inside the skew window,
	// does not bring it back.
	if err := tab.Receive(last, t0+9_500); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay after drop: %v, want ErrReplay", err)
	}
	// A fresh heartbeat does.
	if err := tab.Receive(signed(t, key, 6, uint64(t0+10_000)), t0+10_000); err != nil {
		t.Fatalf("fresh heartbeat after drop: %v", err)
	}
	if tab.Len() != 1 || tab.Snapshot()[0].Missed != 0 {
		t.Fatalf("node not back: %+v", tab.Snapshot())
	}
}

// TestTableTombstoneExpires: once a dropped node's last heartbeat is older
// than the skew window the table forgets it, and the skew check alone keeps
// refusing the replay.
func TestTableTombstoneExpires(t *testing.T) {
	key := testKey(t, 1)
	tab := testTable(nil)
	last := signed(t, key, 5, uint64(t0))
	if err := tab.Receive(last, t0); err != nil {
		t.Fatal(err)
	}
	tab.Tick(t0 + 9_000)
	if len(tab.gone) != 1 {
		t.Fatalf("tombstones %d, want 1", len(tab.gone))
	}
	tab.Tick(t0 + 30_001)
	if len(tab.gone) != 0 {
		t.Fatalf("tombstones %d after the skew window, want 0", len(tab.gone))
	}
	if err := tab.Receive(last, t0+30_001); !errors.Is(err, ErrSkew) {
		t.Fatalf("late replay: %v, want ErrSkew", err)
	}
}

func TestTableRTTEWMA(t *testing.T) {
	key := testKey(t, 1)
	id := peerOf(t, key)
	tab := testTable(nil)
	if err := tab.RTT(id, time.Millisecond); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("rtt of unknown node: %v", err)
	}
	if err := tab.Receive(signed(t, key, 1, uint64(t0)), t0); err != nil {
		t.Fatal(err)
	}
	for _, s := range []time.Duration{0, -time.Millisecond} {
		if err := tab.RTT(id, s); !errors.Is(err, ErrBadSample) {
			t.Fatalf("sample %v: %v", s, err)
		}
	}
	steps := []struct{ sample, want time.Duration }{
		{80 * time.Millisecond, 80 * time.Millisecond},   // first sample sets it
		{160 * time.Millisecond, 90 * time.Millisecond},  // 80 + 80/8
		{10 * time.Millisecond, 80 * time.Millisecond},   // 90 − 80/8
		{87 * time.Nanosecond, 70*time.Millisecond + 11}, // 80ms − 9_999_989.125ns, the step truncated toward zero
	}
	for i, s := range steps {
		if err := tab.RTT(id, s.sample); err != nil {
			t.Fatal(err)
		}
		n := tab.Snapshot()[0]
		if n.RTT != s.want || n.RTTSamples != uint64(i+1) {
			t.Fatalf("after sample %d (%v): rtt %v (%d samples), want %v", i, s.sample, n.RTT, n.RTTSamples, s.want)
		}
	}
}

func TestTableRegistry(t *testing.T) {
	a, b, c := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	owner := common.Address{0xaa} // signed() uses this owner
	reg := registry{peerOf(t, a): owner, peerOf(t, b): {0xbb}, peerOf(t, c): {}}
	tab := testTable(reg)
	if err := tab.Receive(signed(t, a, 1, uint64(t0)), t0); err != nil {
		t.Fatalf("registered peer: %v", err)
	}
	if err := tab.Receive(signed(t, b, 1, uint64(t0)), t0); !errors.Is(err, ErrOwnerMismatch) {
		t.Fatalf("other owner: %v", err)
	}
	if err := tab.Receive(signed(t, c, 1, uint64(t0)), t0); err != nil {
		t.Fatalf("registered, owner unknown: %v", err)
	}
	stranger := testKey(t, 4)
	if err := tab.Receive(signed(t, stranger, 1, uint64(t0)), t0); !errors.Is(err, ErrUnregistered) {
		t.Fatalf("unregistered: %v", err)
	}
	if tab.Len() != 2 {
		t.Fatalf("table has %d nodes, want 2 (a, c)", tab.Len())
	}
	// A deregistered node leaves at the next tick, however fresh.
	delete(reg, peerOf(t, c))
	if d := tab.Tick(t0 + 1); len(d) != 1 || d[0] != peerOf(t, c) {
		t.Fatalf("dropped %v, want c", d)
	}
}

func TestTableFull(t *testing.T) {
	tab := NewTable(Config{MaxNodes: 2})
	for i := range 3 {
		err := tab.Receive(signed(t, testKey(t, byte(i+1)), 1, uint64(t0)), t0)
		if want := i == 2; errors.Is(err, ErrTableFull) != want {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	// Known nodes still update when the table is full.
	if err := tab.Receive(signed(t, testKey(t, 1), 2, uint64(t0+3000)), t0+3000); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	tab := testTable(nil)
	for _, seed := range []byte{3, 1, 2} {
		if err := tab.Receive(signed(t, testKey(t, seed), 1, uint64(t0)), t0); err != nil {
			t.Fatal(err)
		}
	}
	snap := tab.Snapshot()
	for i := 1; i < len(snap); i++ {
		if snap[i-1].Peer >= snap[i].Peer {
			t.Fatal("snapshot not sorted by peer")
		}
	}
	snap[0].Latest.GPUUtil[0] = 99
	snap[0].Latest.Images[0] = common.Hash{0xff}
	if again := tab.Snapshot(); again[0].Latest.GPUUtil[0] == 99 || again[0].Latest.Images[0] == (common.Hash{0xff}) {
		t.Fatal("snapshot aliases the table")
	}
}

// TestTableRandomEvents drives the table with seeded random heartbeats
// (fresh, replayed, early, skewed), ticks and RTT samples, and checks the
// invariants after every step: accepted sequences of a node strictly
// increase, the table stays within MaxNodes, no node stays past MaxMissed,
// and the same seed gives the same table.
func TestTableRandomEvents(t *testing.T) {
	const seed = 42
	run := func() string {
		rng := rand.New(rand.NewPCG(seed, 0))
		keys := make([]p2pKey, 6)
		for i := range keys {
			keys[i].key = testKey(t, byte(i+1))
			keys[i].id = peerOf(t, keys[i].key)
		}
		tab := NewTable(Config{Interval: 3 * time.Second, MaxNodes: 4})
		accepted := make(map[p2p.PeerID]uint64)
		counts := make(map[string]int)
		now := t0
		for step := range 400 {
			now += int64(rng.IntN(2500))
			k := &keys[rng.IntN(len(keys))]
			switch rng.IntN(4) {
			case 0, 1: // a heartbeat: usually fresh, sometimes a replay of an old one
				h := signed(t, k.key, k.seq+1, uint64(now+int64(rng.IntN(4000))-2000))
				if rng.IntN(4) == 0 && len(k.sent) > 0 {
					h = k.sent[rng.IntN(len(k.sent))]
				} else {
					k.seq++
					k.sent = append(k.sent, h)
				}
				err := tab.Receive(h, now)
				if err == nil {
					counts["accepted"]++
				} else {
					counts[DropReason(err)]++
				}
				if err == nil {
					if h.Seq <= accepted[k.id] {
						t.Fatalf("SEED=%d step %d: accepted seq %d after %d", seed, step, h.Seq, accepted[k.id])
					}
					accepted[k.id] = h.Seq
				}
			case 2:
				counts["dropped"] += len(tab.Tick(now))
				for _, n := range tab.Snapshot() {
					if n.Missed >= 3 {
						t.Fatalf("SEED=%d step %d: %s kept after %d missed intervals", seed, step, n.Peer, n.Missed)
					}
				}
			case 3:
				_ = tab.RTT(k.id, time.Duration(1+rng.IntN(1e8)))
			}
			if tab.Len() > 4 {
				t.Fatalf("SEED=%d step %d: %d nodes, limit 4", seed, step, tab.Len())
			}
		}
		// The run must have met every rule, or it proves little.
		for _, what := range []string{"accepted", "replay", "skew", "too_frequent", "table_full", "dropped"} {
			if counts[what] == 0 {
				t.Fatalf("SEED=%d: no %q event in the run: %v", seed, what, counts)
			}
		}
		t.Logf("events: %v", counts)
		return fmt.Sprintf("%+v", tab.Snapshot())
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("SEED=%d: two runs differ", seed)
	}
}

type p2pKey struct {
	key  crypto.PrivKey
	id   p2p.PeerID
	seq  uint64
	sent []*Heartbeat
}
