package memnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/emc-network/emcd/p2p"
)

var (
	_ p2p.Network     = (*Node)(nil)
	_ p2p.Scorer      = (*Node)(nil)
	_ p2p.AddressBook = (*Node)(nil)
)

// Kind says what a message is, for filters.
type Kind int

const (
	KindGossip Kind = iota
	KindRequest
	KindResponse
)

// Verdict is a filter's decision about one message.
type Verdict struct {
	Drop  bool
	Delay time.Duration
}

// Filter decides the fate of one message from → to. It runs under the hub's
// lock and must not call back into the hub.
type Filter func(from, to p2p.PeerID, kind Kind, data []byte) Verdict

// Fault is random loss and delay applied to every message.
type Fault struct {
	DropRate float64       // probability in [0,1] that a message is lost
	MaxDelay time.Duration // each message is delayed uniformly in [0, MaxDelay]
}

// seenCap bounds each node's duplicate-suppression memory.
const seenCap = 8192

// Hub is the in-memory network all Nodes of one test share.
type Hub struct {
	log *slog.Logger

	mu    sync.Mutex
	rng   *rand.Rand
	nodes map[p2p.PeerID]*Node
	links map[[2]p2p.PeerID]bool
	// proven is the consensus address each node proved in its last
	// successful handshake (a node's identity never changes).
	proven    map[p2p.PeerID]common.Address
	partition map[p2p.PeerID]int
	fault     Fault
	filter    Filter
	msgSeq    uint64
}

// NewHub returns an empty network whose random decisions derive from seed.
func NewHub(seed uint64, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		log:    log.With("component", "memnet"),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:  make(map[p2p.PeerID]*Node),
		links:  make(map[[2]p2p.PeerID]bool),
		proven: make(map[p2p.PeerID]common.Address),
	}
}

// NewNode adds a node with id whose handshake status comes from status. The
// clock drives its scoreboard (nil: system clock).
func (h *Hub) NewNode(id p2p.PeerID, status p2p.StatusFunc, clock mclock.Clock) *Node {
	return h.NewSignedNode(id, status, clock, nil)
}

// NewSignedNode is NewNode for a node that proves signer's address in its
// handshakes, as a libp2p host with Config.Signer does. A signer that signs
// something else than what it is asked to (a forger, a replayer) is how tests
// fake a bad identity.
func (h *Hub) NewSignedNode(id p2p.PeerID, status p2p.StatusFunc, clock mclock.Clock, signer p2p.Signer) *Node {
	n := &Node{
		hub:      h,
		id:       id,
		status:   status,
		signer:   signer,
		scores:   p2p.NewScoreboard(clock, 0, 0),
		topics:   make(map[string]*topic),
		handlers: make(map[string]handler),
		seen:     make(map[uint64]bool),
	}
	h.mu.Lock()
	h.nodes[id] = n
	h.mu.Unlock()
	return n
}

// Connect links a and b after a handshake: nodes of different networks, or a
// banned pair, are refused.
func (h *Hub) Connect(a, b p2p.PeerID) error {
	h.mu.Lock()
	na, nb := h.nodes[a], h.nodes[b]
	h.mu.Unlock()
	if na == nil || nb == nil || a == b {
		return fmt.Errorf("memnet: connect %s-%s: %w", a, b, p2p.ErrNotConnected)
	}
	if na.closed.Load() || nb.closed.Load() {
		return p2p.ErrClosed
	}
	if na.scores.Banned(b) || nb.scores.Banned(a) {
		return p2p.ErrBanned
	}
	sa, err := na.localStatus()
	if err != nil {
		return err
	}
	sb, err := nb.localStatus()
	if err != nil {
		return err
	}
	if err := sa.Compatible(sb); err != nil {
		na.scores.Penalize(b, p2p.PenaltyBan)
		nb.scores.Penalize(a, p2p.PenaltyBan)
		return err
	}
	// Each side checks the other's identity against the id it connected to.
	addrA, okA, errA := sa.VerifyIdentity(a)
	addrB, okB, errB := sb.VerifyIdentity(b)
	if errB != nil {
		na.Penalize(b, p2p.PenaltyInvalid, errB.Error())
	}
	if errA != nil {
		nb.Penalize(a, p2p.PenaltyInvalid, errA.Error())
	}
	if err := errors.Join(errA, errB); err != nil {
		return fmt.Errorf("memnet: connect %s-%s: %w", a, b, err)
	}
	h.mu.Lock()
	h.links[key(a, b)] = true
	h.setProvenLocked(a, addrA, okA)
	h.setProvenLocked(b, addrB, okB)
	h.mu.Unlock()
	return nil
}

func (h *Hub) setProvenLocked(id p2p.PeerID, addr common.Address, ok bool) {
	if ok {
		h.proven[id] = addr
	} else {
		delete(h.proven, id)
	}
}

// Disconnect removes the link between a and b.
func (h *Hub) Disconnect(a, b p2p.PeerID) {
	h.mu.Lock()
	delete(h.links, key(a, b))
	h.mu.Unlock()
}

// Partition splits nodes into groups; messages cross no group boundary.
// Nodes not named form one more group together. Links stay up.
func (h *Hub) Partition(groups ...[]p2p.PeerID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.partition = make(map[p2p.PeerID]int)
	for i, g := range groups {
		for _, id := range g {
			h.partition[id] = i + 1
		}
	}
}

// Heal removes any partition.
func (h *Hub) Heal() {
	h.mu.Lock()
	h.partition = nil
	h.mu.Unlock()
}

// SetFault sets random loss and delay for all messages.
func (h *Hub) SetFault(f Fault) {
	h.mu.Lock()
	h.fault = f
	h.mu.Unlock()
}

// SetFilter installs (or with nil removes) a per-message filter.
func (h *Hub) SetFilter(f Filter) {
	h.mu.Lock()
	h.filter = f
	h.mu.Unlock()
}

func key(a, b p2p.PeerID) [2]p2p.PeerID {
	if a > b {
		a, b = b, a
	}
	return [2]p2p.PeerID{a, b}
}

// route decides whether and when a message from → to is delivered. ok is
// false when the message is lost.
func (h *Hub) route(from, to p2p.PeerID, kind Kind, data []byte) (delay time.Duration, dst *Node, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dst = h.nodes[to]
	if dst == nil || dst.closed.Load() || !h.links[key(from, to)] {
		return 0, nil, false
	}
	if h.partition != nil && h.partition[from] != h.partition[to] {
		return 0, nil, false
	}
	if h.fault.DropRate > 0 && h.rng.Float64() < h.fault.DropRate {
		return 0, nil, false
	}
	if h.fault.MaxDelay > 0 {
		delay = time.Duration(h.rng.Int64N(int64(h.fault.MaxDelay) + 1))
	}
	if h.filter != nil {
		v := h.filter(from, to, kind, data)
		if v.Drop {
			return 0, nil, false
		}
		delay += v.Delay
	}
	return delay, dst, true
}

func (h *Hub) neighbours(id p2p.PeerID) []p2p.PeerID {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []p2p.PeerID
	for k := range h.links {
		switch id {
		case k[0]:
			out = append(out, k[1])
		case k[1]:
			out = append(out, k[0])
		}
	}
	slices.Sort(out)
	return out
}

func (h *Hub) nextMsgID() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgSeq++
	return h.msgSeq
}

// Node is one member of a Hub.
type Node struct {
	hub    *Hub
	id     p2p.PeerID
	status p2p.StatusFunc
	signer p2p.Signer
	scores *p2p.Scoreboard
	closed atomic.Bool

	mu       sync.Mutex
	topics   map[string]*topic
	handlers map[string]handler
	seen     map[uint64]bool
	seenRing []uint64
}

type handler struct {
	spec p2p.Spec
	h    p2p.Handler
}

// Self returns the node's id.
func (n *Node) Self() p2p.PeerID { return n.id }

// Peers returns the linked neighbours.
func (n *Node) Peers() []p2p.PeerID {
	if n.closed.Load() {
		return nil
	}
	return n.hub.neighbours(n.id)
}

// PeerCount returns len(Peers()).
func (n *Node) PeerCount() int { return len(n.Peers()) }

// localStatus is the node's handshake status, with its identity when it has
// a signer.
func (n *Node) localStatus() (p2p.Status, error) {
	st := n.status()
	if n.signer != nil {
		id, err := p2p.SignIdentity(n.signer, st.ChainID, st.Genesis, n.id)
		if err != nil {
			return p2p.Status{}, fmt.Errorf("memnet: %s: %w", n.id, err)
		}
		st.Identity = id
	}
	return st, nil
}

// PeerAddress returns the address a linked neighbour proved.
func (n *Node) PeerAddress(peer p2p.PeerID) (common.Address, bool) {
	if n.closed.Load() || !slices.Contains(n.hub.neighbours(n.id), peer) {
		return common.Address{}, false
	}
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	addr, ok := n.hub.proven[peer]
	return addr, ok
}

// PeerByAddress returns the smallest-id linked neighbour that proved addr.
func (n *Node) PeerByAddress(addr common.Address) (p2p.PeerID, bool) {
	if n.closed.Load() {
		return "", false
	}
	peers := n.hub.neighbours(n.id) // sorted
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	for _, p := range peers {
		if a, ok := n.hub.proven[p]; ok && a == addr {
			return p, true
		}
	}
	return "", false
}

// Penalize records misbehaviour; a ban cuts the link.
func (n *Node) Penalize(peer p2p.PeerID, p p2p.Penalty, reason string) {
	if n.scores.Penalize(peer, p) {
		n.hub.log.Debug("peer banned", "node", n.id, "peer", peer, "reason", reason)
		n.hub.Disconnect(n.id, peer)
	}
}

// Score returns peer's penalty score.
func (n *Node) Score(peer p2p.PeerID) float64 { return n.scores.Score(peer) }

// Banned reports whether peer is banned by this node.
func (n *Node) Banned(peer p2p.PeerID) bool { return n.scores.Banned(peer) }

// Close detaches the node (its links go, as a closed host's connections
// do) and closes its topics.
func (n *Node) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	n.hub.mu.Lock()
	for k := range n.hub.links {
		if k[0] == n.id || k[1] == n.id {
			delete(n.hub.links, k)
		}
	}
	delete(n.hub.proven, n.id)
	n.hub.mu.Unlock()
	n.mu.Lock()
	ts := make([]*topic, 0, len(n.topics))
	for _, t := range n.topics {
		ts = append(ts, t)
	}
	n.mu.Unlock()
	for _, t := range ts {
		t.Close()
	}
	return nil
}

// Join joins a gossip topic.
func (n *Node) Join(name string, opts p2p.TopicOptions) (p2p.Topic, error) {
	if n.closed.Load() {
		return nil, p2p.ErrClosed
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = p2p.MaxGossipSize
	}
	if opts.MaxSize < 0 || opts.MaxSize > p2p.MaxGossipSize {
		return nil, fmt.Errorf("memnet: topic %s max size %d out of range", name, opts.MaxSize)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.topics[name]; ok {
		return nil, fmt.Errorf("%w: %s", p2p.ErrAlreadyJoined, name)
	}
	t := &topic{node: n, name: name, opts: opts, ch: make(chan p2p.Message, opts.Buffer)}
	n.topics[name] = t
	return t, nil
}

func (n *Node) topic(name string) *topic {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.topics[name]
}

// markSeen records id and reports whether it was new.
func (n *Node) markSeen(id uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen[id] {
		return false
	}
	n.seen[id] = true
	n.seenRing = append(n.seenRing, id)
	if len(n.seenRing) > seenCap {
		delete(n.seen, n.seenRing[0])
		n.seenRing = n.seenRing[1:]
	}
	return true
}

type gossipMsg struct {
	id     uint64
	topic  string
	origin p2p.PeerID
	data   []byte
}

// forward sends m to every neighbour except skip.
func (n *Node) forward(m gossipMsg, skip p2p.PeerID) {
	for _, peer := range n.hub.neighbours(n.id) {
		if peer == skip || peer == m.origin {
			continue
		}
		delay, dst, ok := n.hub.route(n.id, peer, KindGossip, m.data)
		if !ok {
			continue
		}
		from := n.id
		if delay > 0 {
			time.AfterFunc(delay, func() { dst.receiveGossip(from, m) })
		} else {
			go dst.receiveGossip(from, m)
		}
	}
}

// receiveGossip validates m from neighbour from, delivers it and forwards it
// (gossipsub semantics: only validated messages propagate).
func (n *Node) receiveGossip(from p2p.PeerID, m gossipMsg) {
	if n.closed.Load() || n.scores.Banned(from) {
		return
	}
	t := n.topic(m.topic)
	if t == nil || !n.markSeen(m.id) {
		return
	}
	if len(m.data) > t.opts.MaxSize {
		n.Penalize(from, p2p.PenaltyMalformed, "oversized gossip")
		return
	}
	if v := t.opts.Validate; v != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := v(ctx, from, m.data)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, p2p.ErrIgnore):
			return
		default:
			n.Penalize(from, p2p.GossipPenalty(err), err.Error())
			return
		}
	}
	t.deliver(p2p.Message{Topic: m.topic, From: from, Origin: m.origin, Data: m.data})
	n.forward(m, from)
}

type topic struct {
	node    *Node
	name    string
	opts    p2p.TopicOptions
	dropped atomic.Uint64

	mu     sync.Mutex
	closed bool
	ch     chan p2p.Message
}

func (t *topic) Publish(ctx context.Context, data []byte) error {
	if t.node.closed.Load() || t.isClosed() {
		return p2p.ErrClosed
	}
	if len(data) > t.opts.MaxSize {
		return fmt.Errorf("%w: %d bytes on %s, limit %d", p2p.ErrTooLarge, len(data), t.name, t.opts.MaxSize)
	}
	m := gossipMsg{id: t.node.hub.nextMsgID(), topic: t.name, origin: t.node.id, data: slices.Clone(data)}
	t.node.markSeen(m.id)
	t.node.forward(m, "")
	return nil
}

func (t *topic) deliver(m p2p.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	select {
	case t.ch <- m:
	default:
		t.dropped.Add(1)
	}
}

func (t *topic) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *topic) Messages() <-chan p2p.Message { return t.ch }
func (t *topic) Dropped() uint64              { return t.dropped.Load() }

func (t *topic) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.ch)
		t.node.mu.Lock()
		delete(t.node.topics, t.name)
		t.node.mu.Unlock()
	}
	return nil
}

// Handle registers a request handler.
func (n *Node) Handle(spec p2p.Spec, h p2p.Handler) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.handlers[spec.ID]; ok {
		return fmt.Errorf("%w: %s", p2p.ErrAlreadyRegistered, spec.ID)
	}
	n.handlers[spec.ID] = handler{spec: spec, h: h}
	return nil
}

// Request sends req to peer and waits for the response, with the same
// limits and penalties as the libp2p implementation.
func (n *Node) Request(ctx context.Context, peer p2p.PeerID, spec p2p.Spec, req []byte) ([]byte, error) {
	if n.closed.Load() {
		return nil, p2p.ErrClosed
	}
	if len(req) > spec.MaxRequest {
		return nil, fmt.Errorf("%w: request of %d bytes, limit %d", p2p.ErrTooLarge, len(req), spec.MaxRequest)
	}
	if !slices.Contains(n.hub.neighbours(n.id), peer) {
		return nil, fmt.Errorf("%w: %s", p2p.ErrNotConnected, peer)
	}
	ctx, cancel := context.WithTimeout(ctx, spec.TimeoutOrDefault())
	defer cancel()

	type result struct {
		body []byte
		ok   bool
	}
	done := make(chan result, 1)
	delay, dst, ok := n.hub.route(n.id, peer, KindRequest, req)
	if ok {
		req := slices.Clone(req)
		go func() {
			if !sleep(ctx, delay) {
				return
			}
			body, answered := dst.serve(ctx, n.id, spec, req)
			if !answered {
				done <- result{} // the server reset the stream
				return
			}
			d, _, ok := n.hub.route(peer, n.id, KindResponse, body)
			if !ok || !sleep(ctx, d) {
				return
			}
			done <- result{body: body, ok: true}
		}()
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("memnet: request %s to %s: %w", spec.ID, peer, ctx.Err())
	case r := <-done:
		if !r.ok {
			return nil, fmt.Errorf("memnet: request %s to %s: stream reset", spec.ID, peer)
		}
		if len(r.body) > spec.MaxResponse+1 {
			n.Penalize(peer, p2p.PenaltyMalformed, "oversized response")
			return nil, fmt.Errorf("%w: response of %d bytes, limit %d", p2p.ErrTooLarge, len(r.body)-1, spec.MaxResponse)
		}
		return p2p.ParseResponse(r.body)
	}
}

// serve runs the handler for a request from peer; it returns the encoded
// response frame body, or answered=false when the stream would be reset.
func (n *Node) serve(ctx context.Context, from p2p.PeerID, spec p2p.Spec, req []byte) (body []byte, answered bool) {
	if n.closed.Load() || n.scores.Banned(from) {
		return nil, false
	}
	n.mu.Lock()
	hd, ok := n.handlers[spec.ID]
	n.mu.Unlock()
	if !ok {
		return p2p.EncodeResponse(nil, p2p.ErrUnknownProtocol), true
	}
	if len(req) > hd.spec.MaxRequest {
		n.Penalize(from, p2p.PenaltyMalformed, "oversized request")
		return nil, false
	}
	resp, err := hd.h(ctx, from, req)
	if errors.Is(err, p2p.ErrMalformed) {
		n.Penalize(from, p2p.PenaltyMalformed, err.Error())
	}
	if err == nil && len(resp) > hd.spec.MaxResponse {
		err = fmt.Errorf("%w: handler response over limit", p2p.ErrTooLarge)
	}
	return p2p.EncodeResponse(resp, err), true
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
