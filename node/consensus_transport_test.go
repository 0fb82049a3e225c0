package node

// Method: the consensus transport and the direct handler run, unchanged, on
// memnet nodes that prove their addresses in the handshake. A hub filter
// (called synchronously wherever a message enters the network) records every
// gossip and request leg, so "exactly one validator" is checked on what was
// sent, not on what happened to arrive within a timeout.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/memnet"
	"github.com/emc-network/emcd/p2p/outbox"
	"github.com/emc-network/emcd/p2p/p2ptest"
)

const testWait = 10 * time.Second

var testNames = p2p.Names{ChainID: 1337}

// fakeValChain is a chain whose head and validator set the test sets.
type fakeValChain struct {
	mu    sync.Mutex
	head  *types.Header
	vals  []common.Address
	err   error
	loads int
}

func (c *fakeValChain) Head() *types.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.head
}

func (c *fakeValChain) ValidatorsFor(uint64) ([]common.Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loads++
	return c.vals, c.err
}

func (c *fakeValChain) setHead(n int64) {
	c.mu.Lock()
	c.head = &types.Header{Number: big.NewInt(n)}
	c.mu.Unlock()
}

type leg struct {
	from, to p2p.PeerID
	kind     memnet.Kind
}

// recorder is the hub filter: it records every leg and drops nothing.
type recorder struct {
	mu   sync.Mutex
	legs []leg
}

func (r *recorder) filter(from, to p2p.PeerID, kind memnet.Kind, _ []byte) memnet.Verdict {
	r.mu.Lock()
	r.legs = append(r.legs, leg{from, to, kind})
	r.mu.Unlock()
	return memnet.Verdict{}
}

// from returns the legs of kind that from sent, by recipient.
func (r *recorder) from(from p2p.PeerID, kind memnet.Kind) []p2p.PeerID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []p2p.PeerID
	for _, l := range r.legs {
		if l.from == from && l.kind == kind {
			out = append(out, l.to)
		}
	}
	slices.Sort(out)
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.legs = nil
	r.mu.Unlock()
}

type tnode struct {
	net   *memnet.Node
	topic p2p.Topic
	got   chan []byte // what the direct handler delivered to the "engine"
}

// cluster: validators v0..v3, a follower without a key and an outsider that
// proves an address outside the validator set, all linked to each other.
type cluster struct {
	hub   *memnet.Hub
	rec   *recorder
	chain *fakeValChain
	nodes map[string]*tnode
	addrs map[string]common.Address
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{hub: memnet.NewHub(7, nil), rec: new(recorder), chain: new(fakeValChain),
		nodes: make(map[string]*tnode), addrs: make(map[string]common.Address)}
	c.chain.setHead(10)
	st := p2ptest.Status(1)
	names := []string{"v0", "v1", "v2", "v3", "follower", "outsider"}
	for i, name := range names {
		var signer p2p.Signer
		if name != "follower" {
			s := p2ptest.KeySigner{Key: p2ptest.Key(byte(i + 1))}
			signer = s
			c.addrs[name] = s.Address()
			if strings.HasPrefix(name, "v") {
				c.chain.vals = append(c.chain.vals, s.Address())
			}
		}
		n := c.hub.NewSignedNode(p2p.PeerID(name), func() p2p.Status { return st }, nil, signer)
		t.Cleanup(func() { n.Close() })
		topic, err := n.Join(testNames.ConsensusTopic(), p2p.TopicOptions{MaxSize: p2p.MaxConsensusMessage})
		if err != nil {
			t.Fatal(err)
		}
		tn := &tnode{net: n, topic: topic, got: make(chan []byte, 64)}
		// No refill (rate 0): a peer gets exactly the burst, whatever the
		// machine's speed.
		h := &directHandler{book: n, vals: newValidatorSet(c.chain, discardLog()), limits: newPeerLimiter(0, directBurst),
			deliver: func(b []byte) bool {
				select {
				case tn.got <- b:
					return true
				default:
					return false
				}
			}}
		if err := n.Handle(testNames.DirectSpec(), h.handle); err != nil {
			t.Fatal(err)
		}
		c.nodes[name] = tn
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			if err := c.hub.Connect(p2p.PeerID(a), p2p.PeerID(b)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.hub.SetFilter(c.rec.filter)
	return c
}

// transport returns the consensus transport of node name and its outbox's
// metrics.
func (c *cluster) transport(t *testing.T, name string) (*consensusTransport, *outbox.Metrics) {
	t.Helper()
	m := outbox.NopMetrics()
	n := c.nodes[name]
	out, err := outbox.New(outbox.Config{Requester: n.net, Spec: testNames.DirectSpec(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	return &consensusTransport{self: c.addrs[name], topic: n.topic, peers: n.net, out: out, vals: newValidatorSet(c.chain, discardLog())}, m
}

func consensusMsg(t *testing.T, code ibft.Code, proposalBytes int) []byte {
	t.Helper()
	m := &ibft.Message{Signed: ibft.Signed{Code: code, Height: 11, Digest: common.Hash{1}}, Proposal: make([]byte, proposalBytes)}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func receive(t *testing.T, ch <-chan []byte, what string) []byte {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	p2ptest.Eventually(t, testWait, what, cond)
}

func assertNothing(t *testing.T, c *cluster, names ...string) {
	t.Helper()
	for _, name := range names {
		select {
		case b := <-c.nodes[name].got:
			t.Fatalf("%s's engine got a direct message of %d bytes", name, len(b))
		default:
		}
	}
}

// Send reaches exactly the validator it names, over the direct protocol,
// small message or not; nothing is gossiped.
func TestTransportSendReachesOneValidator(t *testing.T) {
	c := newCluster(t)
	tr, m := c.transport(t, "v0")
	for i, size := range []int{0, p2p.MaxConsensusMessage + 1} {
		c.rec.reset()
		msg := consensusMsg(t, ibft.MsgCertificate, size)
		if err := tr.Send(context.Background(), c.addrs["v2"], msg); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, c.nodes["v2"].got, "v2's direct message"); !bytes.Equal(got, msg) {
			t.Fatal("v2 got another message")
		}
		waitFor(t, "the send counted", func() bool { return counter(m.Sent) == float64(i+1) })
		if got := c.rec.from("v0", memnet.KindRequest); !slices.Equal(got, []p2p.PeerID{"v2"}) {
			t.Fatalf("v0 sent direct messages to %v, want only v2", got)
		}
		if got := c.rec.from("v0", memnet.KindGossip); len(got) != 0 {
			t.Fatalf("v0 gossiped to %v", got)
		}
		assertNothing(t, c, "v1", "v3", "follower", "outsider")
	}
	if counter(m.Failed) != 0 {
		t.Fatalf("%v sends failed", counter(m.Failed))
	}
}

// A node that is not a current validator sends nothing direct: the
// recipients would refuse it.
func TestTransportSendFromNonValidator(t *testing.T) {
	c := newCluster(t)
	for _, name := range []string{"follower", "outsider"} {
		tr, _ := c.transport(t, name)
		if err := tr.Send(context.Background(), c.addrs["v1"], consensusMsg(t, ibft.MsgCertificate, 10)); !errors.Is(err, errSelfNotValidator) {
			t.Fatalf("Send from %s: %v, want errSelfNotValidator", name, err)
		}
		if err := tr.Broadcast(context.Background(), consensusMsg(t, ibft.MsgPrePrepare, p2p.MaxConsensusMessage)); !errors.Is(err, errSelfNotValidator) {
			t.Fatalf("oversized Broadcast from %s: %v, want errSelfNotValidator", name, err)
		}
		if legs := len(c.rec.from(p2p.PeerID(name), memnet.KindRequest)) + len(c.rec.from(p2p.PeerID(name), memnet.KindGossip)); legs != 0 {
			t.Fatalf("%s sent %d messages", name, legs)
		}
	}
}

// Without a connection to the validator, Send falls back to broadcasting:
// gossip carries the message to it through the others.
func TestTransportSendFallsBackToGossip(t *testing.T) {
	c := newCluster(t)
	tr, _ := c.transport(t, "v0")
	c.hub.Disconnect("v0", "v3")
	msg := consensusMsg(t, ibft.MsgCertificate, 10)
	if err := tr.Send(context.Background(), c.addrs["v3"], msg); err != nil {
		t.Fatal(err)
	}
	if len(c.rec.from("v0", memnet.KindGossip)) == 0 || len(c.rec.from("v0", memnet.KindRequest)) != 0 {
		t.Fatalf("fallback sent gossip %v, requests %v", c.rec.from("v0", memnet.KindGossip), c.rec.from("v0", memnet.KindRequest))
	}
	for {
		select {
		case m, ok := <-c.nodes["v3"].topic.Messages():
			if !ok {
				t.Fatal("topic closed")
			}
			if bytes.Equal(m.Data, msg) {
				return
			}
		case <-time.After(testWait):
			t.Fatal("v3 never heard the message")
		}
	}
}

// Broadcast gossips what fits gossip and sends what does not to validator
// peers only.
func TestTransportBroadcastOversizedToValidatorsOnly(t *testing.T) {
	c := newCluster(t)
	tr, m := c.transport(t, "v0")
	small := consensusMsg(t, ibft.MsgPrepare, 0)
	if err := tr.Broadcast(context.Background(), small); err != nil {
		t.Fatal(err)
	}
	if len(c.rec.from("v0", memnet.KindGossip)) == 0 || len(c.rec.from("v0", memnet.KindRequest)) != 0 {
		t.Fatal("a small broadcast did not go by gossip alone")
	}
	c.rec.reset()
	big := consensusMsg(t, ibft.MsgPrePrepare, p2p.MaxConsensusMessage)
	if err := tr.Broadcast(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		if got := receive(t, c.nodes[v].got, v+"'s proposal"); !bytes.Equal(got, big) {
			t.Fatalf("%s got another message", v)
		}
	}
	waitFor(t, "three sends counted", func() bool { return counter(m.Sent) == 3 })
	if got := c.rec.from("v0", memnet.KindRequest); !slices.Equal(got, []p2p.PeerID{"v1", "v2", "v3"}) {
		t.Fatalf("oversized broadcast went to %v", got)
	}
	if got := c.rec.from("v0", memnet.KindGossip); len(got) != 0 {
		t.Fatalf("oversized broadcast gossiped to %v", got)
	}
	assertNothing(t, c, "v1", "v2", "v3", "follower", "outsider")

	// With no validator peer left, an oversized broadcast says so.
	for _, v := range []string{"v1", "v2", "v3"} {
		c.hub.Disconnect("v0", p2p.PeerID(v))
	}
	if err := tr.Broadcast(context.Background(), big); !errors.Is(err, errNoValidatorPeer) {
		t.Fatalf("broadcast without validator peers: %v", err)
	}
}

// The direct handler accepts current validators only, within their budget,
// and penalises malformed messages.
func TestDirectHandlerAcceptsValidatorsOnly(t *testing.T) {
	c := newCluster(t)
	spec := testNames.DirectSpec()
	msg := consensusMsg(t, ibft.MsgCertificate, 5)
	ctx := context.Background()
	for _, from := range []string{"follower", "outsider"} {
		_, err := c.nodes[from].net.Request(ctx, "v1", spec, msg)
		if !errors.Is(err, p2p.ErrRemote) || !strings.Contains(err.Error(), "current validators") {
			t.Fatalf("direct message from %s: %v, want a refusal", from, err)
		}
	}
	assertNothing(t, c, "v1")
	if s := c.nodes["v1"].net.Score("outsider"); s != 0 {
		t.Fatalf("refusing a non-validator penalised it (%v)", s)
	}
	for i := 0; i < directBurst; i++ {
		if _, err := c.nodes["v2"].net.Request(ctx, "v1", spec, msg); err != nil {
			t.Fatalf("validator's direct message %d: %v", i, err)
		}
		receive(t, c.nodes["v1"].got, "the validator's message")
	}
	if _, err := c.nodes["v2"].net.Request(ctx, "v1", spec, msg); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("message over the burst: %v, want the rate refusal", err)
	}
	if _, err := c.nodes["v3"].net.Request(ctx, "v1", spec, []byte{0xff}); !errors.Is(err, p2p.ErrRemote) {
		t.Fatalf("malformed message: %v", err)
	}
	if c.nodes["v1"].net.Score("v3") == 0 {
		t.Fatal("malformed direct message not penalised")
	}
	// The set follows the chain: once the outsider is a validator of the
	// next block, it is accepted.
	c.chain.mu.Lock()
	c.chain.vals = append(c.chain.vals, c.addrs["outsider"])
	c.chain.mu.Unlock()
	c.chain.setHead(11)
	if _, err := c.nodes["outsider"].net.Request(ctx, "v1", spec, msg); err != nil {
		t.Fatalf("new validator refused: %v", err)
	}
	receive(t, c.nodes["v1"].got, "the new validator's message")
}

func TestValidatorSetLoadsOncePerHead(t *testing.T) {
	a, b := common.Address{1}, common.Address{2}
	chain := &fakeValChain{vals: []common.Address{a}}
	chain.setHead(5)
	v := newValidatorSet(chain, discardLog())
	for i := 0; i < 100; i++ {
		if !v.Contains(a) || v.Contains(b) {
			t.Fatal("wrong membership")
		}
	}
	if chain.loads != 1 {
		t.Fatalf("%d loads for one head", chain.loads)
	}
	chain.setHead(6)
	chain.err = fmt.Errorf("epoch header missing")
	if v.Contains(a) {
		t.Fatal("a set that failed to load still admits")
	}
	_ = v.Contains(a)
	if chain.loads != 2 {
		t.Fatalf("%d loads after one new head", chain.loads)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
