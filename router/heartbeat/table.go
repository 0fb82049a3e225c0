package heartbeat

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/p2p"
)

// Table defaults.
const (
	// DefaultInterval is how often a compute node publishes.
	DefaultInterval = 3 * time.Second
	// DefaultMinInterval is the shortest spacing the table accepts between
	// two heartbeats of one node (by their own timestamps).
	DefaultMinInterval = time.Second
	// DefaultMaxMissed is how many intervals without a heartbeat drop a node.
	DefaultMaxMissed = 3
	// DefaultMaxSkew is how far a heartbeat's timestamp may be from the
	// receiver's clock, either way.
	DefaultMaxSkew = 30 * time.Second
	// DefaultMaxNodes bounds the table.
	DefaultMaxNodes = 20_000
	// rttWeightShift makes the RTT estimate an EWMA with weight 1/8 for each
	// new sample (TCP's SRTT gain, RFC 6298).
	rttWeightShift = 3
	// maxTombstones bounds the dropped nodes remembered, in MaxNodes. Past
	// it the oldest are forgotten, and a replay of one of their last
	// heartbeats inside the skew window would be taken once: churn of twice
	// the table within 30 s is what that takes.
	maxTombstones = 2
)

// Errors of Table events. Each wraps the p2p error that decides what
// happens to the sender of the gossip message (p2p.GossipPenalty):
// ErrIgnore drops without penalty, ErrStale penalises lightly.
var (
	// ErrUnregistered is returned by Receive for a peer the Registry does
	// not count. Registrations reach nodes at different times, so it is not
	// held against whoever relayed it.
	ErrUnregistered = fmt.Errorf("heartbeat: peer not registered: %w", p2p.ErrIgnore)
	// ErrOwnerMismatch is returned by Receive when the heartbeat names
	// another owner than the registry holds for its peer.
	ErrOwnerMismatch = fmt.Errorf("heartbeat: owner differs from the registered one: %w", p2p.ErrIgnore)
	// ErrTableFull is returned by Receive for a new node when the table
	// holds MaxNodes.
	ErrTableFull = fmt.Errorf("heartbeat: live table full: %w", p2p.ErrIgnore)
	// ErrReplay is returned by Receive for a sequence number not above the
	// last one accepted from that node (a replay, or one delivered out of
	// order).
	ErrReplay = fmt.Errorf("heartbeat: sequence not increasing: %w", p2p.ErrStale)
	// ErrTooFrequent is returned by Receive for a heartbeat less than
	// MinInterval after the node's previous one.
	ErrTooFrequent = fmt.Errorf("heartbeat: sent too soon after the previous one: %w", p2p.ErrStale)
	// ErrSkew is returned by Receive for a timestamp more than MaxSkew from
	// the receiver's clock.
	ErrSkew = fmt.Errorf("heartbeat: timestamp outside the accepted window: %w", p2p.ErrStale)
	// ErrUnknownNode is returned by RTT for a peer the table does not hold.
	ErrUnknownNode = errors.New("heartbeat: node not in the live table")
	// ErrBadSample is returned by RTT for a sample that is not positive.
	ErrBadSample = errors.New("heartbeat: round-trip sample must be positive")
)

// Registry decides which peers count: those registered as compute nodes,
// with the owner each is registered to. The on-chain registry module backs
// it; AcceptAll counts everyone.
type Registry interface {
	// Registered returns the owner of peer's registration. ok=false leaves
	// the peer out of the table. A zero owner with ok=true means "counts,
	// owner unknown": the heartbeat's owner is then not checked.
	Registered(peer p2p.PeerID) (owner common.Address, ok bool)
}

// AcceptAll is the Registry of a node that does not (yet) read the chain's
// registry: every peer counts and no owner is checked.
type AcceptAll struct{}

// Registered returns (zero address, true) for every peer.
func (AcceptAll) Registered(p2p.PeerID) (common.Address, bool) { return common.Address{}, true }

// Config bounds a Table. Zero fields take the defaults.
type Config struct {
	// Interval is the heartbeat period compute nodes use; missed beats are
	// counted in it.
	Interval time.Duration
	// MinInterval is the shortest accepted spacing between two heartbeats
	// of one node.
	MinInterval time.Duration
	// MaxMissed intervals without a heartbeat drop a node.
	MaxMissed int
	// MaxSkew bounds |heartbeat time − receiver time|.
	MaxSkew  time.Duration
	MaxNodes int
	// Registry decides which peers count; nil is AcceptAll.
	Registry Registry
}

func (c *Config) fill() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.MinInterval <= 0 {
		c.MinInterval = min(DefaultMinInterval, c.Interval)
	}
	if c.MaxMissed <= 0 {
		c.MaxMissed = DefaultMaxMissed
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.MaxNodes <= 0 {
		c.MaxNodes = DefaultMaxNodes
	}
	if c.Registry == nil {
		c.Registry = AcceptAll{}
	}
}

// Node is one live compute node as the table sees it.
type Node struct {
	Peer p2p.PeerID `json:"peer"`
	// Latest is the node's last accepted heartbeat.
	Latest Heartbeat `json:"latest"`
	// LastSeenMs is the receiver's unix-ms time when Latest arrived.
	LastSeenMs int64 `json:"lastSeenMs"`
	// Missed is how many whole intervals have passed since LastSeenMs, as
	// of the last Tick.
	Missed int `json:"missed"`
	// RTT is the round-trip time estimate (EWMA, gain 1/8); zero until the
	// first sample.
	RTT        time.Duration `json:"rttNs"`
	RTTSamples uint64        `json:"rttSamples"`
}

// tombstone remembers a dropped node's last heartbeat until its timestamp
// leaves the skew window, so a replay cannot bring it back meanwhile.
type tombstone struct {
	seq    uint64
	timeMs uint64
}

// Table is the router's live table: a deterministic state machine with no
// goroutine, clock or I/O. Every event carries the receiver's unix-ms time.
// It is not safe for concurrent use (Tracker serialises it).
type Table struct {
	cfg   Config
	nodes map[p2p.PeerID]*Node
	gone  map[p2p.PeerID]tombstone
}

// NewTable returns an empty table.
func NewTable(cfg Config) *Table {
	cfg.fill()
	return &Table{cfg: cfg, nodes: make(map[p2p.PeerID]*Node), gone: make(map[p2p.PeerID]tombstone)}
}

// Config returns the table's configuration with defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Receive applies a heartbeat whose signature the caller verified
// (Heartbeat.Verify), received at nowMs. It refuses, leaving the table
// unchanged: an unregistered peer or another owner (ErrUnregistered,
// ErrOwnerMismatch), a timestamp outside ±MaxSkew (ErrSkew), a sequence not
// above the node's last (ErrReplay; a dropped node's last sequence is kept
// while it could still be replayed), a heartbeat less than MinInterval after
// the previous one (ErrTooFrequent), and a new node when the table is full
// (ErrTableFull).
func (t *Table) Receive(h *Heartbeat, nowMs int64) error {
	id := h.PeerID()
	if id == "" {
		return fmt.Errorf("%w: bad peer id", ErrMalformed)
	}
	owner, ok := t.cfg.Registry.Registered(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnregistered, id.ShortString())
	}
	if owner != (common.Address{}) && owner != h.Owner {
		return fmt.Errorf("%w: %s claims %s, registered to %s", ErrOwnerMismatch, id.ShortString(), h.Owner, owner)
	}
	skew := t.cfg.MaxSkew.Milliseconds()
	if d := int64(h.TimeMs) - nowMs; h.TimeMs > 1<<62 || d > skew || d < -skew {
		return fmt.Errorf("%w: %s at %d, now %d", ErrSkew, id.ShortString(), h.TimeMs, nowMs)
	}
	prevSeq, prevTime, known := t.last(id)
	if known && h.Seq <= prevSeq {
		return fmt.Errorf("%w: %s seq %d, last %d", ErrReplay, id.ShortString(), h.Seq, prevSeq)
	}
	if known && int64(h.TimeMs)-int64(prevTime) < t.cfg.MinInterval.Milliseconds() {
		return fmt.Errorf("%w: %s %d ms after its last", ErrTooFrequent, id.ShortString(), int64(h.TimeMs)-int64(prevTime))
	}
	n := t.nodes[id]
	if n == nil {
		if len(t.nodes) >= t.cfg.MaxNodes {
			return fmt.Errorf("%w: %d nodes", ErrTableFull, len(t.nodes))
		}
		n = &Node{Peer: id}
		t.nodes[id] = n
		delete(t.gone, id)
	}
	n.Latest = cloneHeartbeat(h)
	n.LastSeenMs = nowMs
	n.Missed = 0
	return nil
}

// last returns the sequence and timestamp of id's last accepted heartbeat,
// live or dropped.
func (t *Table) last(id p2p.PeerID) (seq, timeMs uint64, ok bool) {
	if n := t.nodes[id]; n != nil {
		return n.Latest.Seq, n.Latest.TimeMs, true
	}
	if g, ok := t.gone[id]; ok {
		return g.seq, g.timeMs, true
	}
	return 0, 0, false
}

// Tick updates every node's missed-interval count at nowMs and drops those
// that missed MaxMissed intervals or whose registration the Registry no
// longer holds. It returns the dropped peers, sorted. It also forgets
// tombstones whose heartbeat has left the skew window (a replay of it would
// now fail with ErrSkew).
func (t *Table) Tick(nowMs int64) []p2p.PeerID {
	var dropped []p2p.PeerID
	interval := t.cfg.Interval.Milliseconds()
	for id, n := range t.nodes {
		if nowMs > n.LastSeenMs {
			n.Missed = int((nowMs - n.LastSeenMs) / interval) // rounds down: a partial interval is not missed
		}
		_, registered := t.cfg.Registry.Registered(id)
		if n.Missed >= t.cfg.MaxMissed || !registered {
			dropped = append(dropped, id)
		}
	}
	slices.Sort(dropped)
	for _, id := range dropped {
		n := t.nodes[id]
		t.gone[id] = tombstone{seq: n.Latest.Seq, timeMs: n.Latest.TimeMs}
		delete(t.nodes, id)
	}
	skew := t.cfg.MaxSkew.Milliseconds()
	for id, g := range t.gone {
		if nowMs-int64(g.timeMs) > skew {
			delete(t.gone, id)
		}
	}
	if over := len(t.gone) - maxTombstones*t.cfg.MaxNodes; over > 0 {
		t.forgetOldest(over)
	}
	return dropped
}

// forgetOldest drops the k oldest tombstones (ties by peer id), keeping the
// memory of dropped nodes bounded and the choice deterministic.
func (t *Table) forgetOldest(k int) {
	ids := make([]p2p.PeerID, 0, len(t.gone))
	for id := range t.gone {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b p2p.PeerID) int {
		if c := cmp.Compare(t.gone[a].timeMs, t.gone[b].timeMs); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, id := range ids[:k] {
		delete(t.gone, id)
	}
}

// RTT folds one round-trip sample into peer's estimate: the first sample
// sets it, each later one moves it 1/8 of the way (integer nanoseconds, the
// step truncated toward zero).
func (t *Table) RTT(peer p2p.PeerID, sample time.Duration) error {
	if sample <= 0 {
		return fmt.Errorf("%w: %v", ErrBadSample, sample)
	}
	n := t.nodes[peer]
	if n == nil {
		return fmt.Errorf("%w: %s", ErrUnknownNode, peer.ShortString())
	}
	if n.RTTSamples == 0 {
		n.RTT = sample
	} else {
		n.RTT += (sample - n.RTT) / (1 << rttWeightShift)
	}
	n.RTTSamples++
	return nil
}

// Len returns how many nodes are live.
func (t *Table) Len() int { return len(t.nodes) }

// Peers returns the live nodes' peer ids, sorted.
func (t *Table) Peers() []p2p.PeerID {
	out := make([]p2p.PeerID, 0, len(t.nodes))
	for id := range t.nodes {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Snapshot returns a copy of every live node, sorted by peer id: what the
// scheduler reads. Nothing in it aliases the table.
func (t *Table) Snapshot() []Node {
	out := make([]Node, 0, len(t.nodes))
	for _, id := range t.Peers() {
		n := *t.nodes[id]
		n.Latest = cloneHeartbeat(&n.Latest)
		out = append(out, n)
	}
	return out
}

func cloneHeartbeat(h *Heartbeat) Heartbeat {
	c := *h
	c.Peer = slices.Clone(h.Peer)
	c.GPUUtil = slices.Clone(h.GPUUtil)
	c.Images = slices.Clone(h.Images)
	c.Sig = slices.Clone(h.Sig)
	return c
}
