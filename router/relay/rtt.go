package relay

import (
	"sync"
	"time"

	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/heartbeat"
)

// Snapshotter is the live table's read side (*heartbeat.Tracker).
type Snapshotter interface {
	Snapshot() []heartbeat.Node
}

var _ Snapshotter = (*heartbeat.Tracker)(nil)

// TableRTTs reads round-trip times from the router's live table
// (router/heartbeat, measured by its pings), copying the table at most
// once per MaxAge (default 1 s) rather than on every call. It is safe for
// concurrent use.
type TableRTTs struct {
	Table  Snapshotter
	MaxAge time.Duration
	Now    func() time.Time

	mu   sync.Mutex
	at   time.Time
	rtts map[p2p.PeerID]time.Duration
}

var _ RTTs = (*TableRTTs)(nil)

// RTT implements RTTs: the live table's estimate, if it has a sample.
func (t *TableRTTs) RTT(peer p2p.PeerID) (time.Duration, bool) {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	age := t.MaxAge
	if age <= 0 {
		age = time.Second
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rtts == nil || now.Sub(t.at) >= age || now.Before(t.at) {
		nodes := t.Table.Snapshot()
		t.rtts = make(map[p2p.PeerID]time.Duration, len(nodes))
		for _, n := range nodes {
			if n.RTTSamples > 0 && n.RTT > 0 {
				t.rtts[n.Peer] = n.RTT
			}
		}
		t.at = now
	}
	d, ok := t.rtts[peer]
	return d, ok
}
