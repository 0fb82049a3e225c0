package heartbeat

// Gossip tests run the real validator on p2p/memnet (and, in
// TestLibp2pHosts, on two libp2p hosts): a compute node publishes, a router
// keeps the table, and an attacker neighbour replays, forges and oversizes
// heartbeats. Penalties are read from the router's scoreboard.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/p2p/memnet"
	"github.com/emc-network/emcd/p2p/p2ptest"
)

// capture remembers what was published on a topic.
type capture struct {
	p2p.Topic
	mu   sync.Mutex
	sent [][]byte
}

func (c *capture) Publish(ctx context.Context, data []byte) error {
	c.mu.Lock()
	c.sent = append(c.sent, data)
	c.mu.Unlock()
	return c.Topic.Publish(ctx, data)
}

func (c *capture) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[len(c.sent)-1]
}

func staticStatus(context.Context) (Status, error) {
	return Status{FreeGPUs: 3, GPUUtil: []uint32{0, 50, 100}, QueueLen: 2, Images: []common.Hash{{9}}}, nil
}

func TestGossipMemnet(t *testing.T) {
	names := p2p.Names{ChainID: testChain}
	topicOpts := func(v p2p.Validator) p2p.TopicOptions {
		return p2p.TopicOptions{MaxSize: MaxSize, Validate: v}
	}
	hub := memnet.NewHub(1, nil)
	st := func() p2p.Status { return p2ptest.Status(1) }
	computeKey := testKey(t, 1)
	compute := hub.NewNode(peerOf(t, computeKey), st, nil)
	router := hub.NewNode("router", st, nil)
	attacker := hub.NewNode("attacker", st, nil)
	for _, n := range []*memnet.Node{compute, router, attacker} {
		t.Cleanup(func() { n.Close() })
	}
	for _, pair := range [][2]p2p.PeerID{{compute.Self(), router.Self()}, {attacker.Self(), router.Self()}} {
		if err := hub.Connect(pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := ServePing(compute, PingSpec(names)); err != nil {
		t.Fatal(err)
	}
	metrics := NopMetrics()
	tracker := NewTracker(TrackerConfig{ChainID: testChain, Requester: router, PingSpec: PingSpec(names), Metrics: metrics})
	rt, err := router.Join(names.HeartbeatTopic(), topicOpts(tracker.Validate))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := compute.Join(names.HeartbeatTopic(), topicOpts(NewTracker(TrackerConfig{ChainID: testChain}).Validate))
	if err != nil {
		t.Fatal(err)
	}
	at, err := attacker.Join(names.HeartbeatTopic(), topicOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	out := &capture{Topic: ct}
	pub, err := NewPublisher(PublisherConfig{ChainID: testChain, Key: computeKey, Owner: common.Address{0xaa}, Topic: out, Source: staticStatus})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := pub.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 5*time.Second, "router sees the compute node", func() bool { return len(tracker.Snapshot()) == 1 })
	n := tracker.Snapshot()[0]
	if n.Peer != compute.Self() || n.Latest.FreeGPUs != 3 || n.Latest.QueueLen != 2 || len(n.Latest.GPUUtil) != 3 || n.Latest.Owner != (common.Address{0xaa}) {
		t.Fatalf("table entry %+v", n)
	}
	<-rt.Messages() // delivered after validation, as Run would drain it

	tracker.PingAll(ctx)
	if n := tracker.Snapshot()[0]; n.RTT <= 0 || n.RTTSamples != 1 {
		t.Fatalf("rtt %v after one ping (%d samples)", n.RTT, n.RTTSamples)
	}

	// The attacker replays the compute node's heartbeat, byte for byte.
	good := out.last()
	if err := at.Publish(ctx, good); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 5*time.Second, "replay penalised", func() bool { return router.Score(attacker.Self()) > 0 })
	if s := router.Score(attacker.Self()); s > float64(p2p.PenaltyMinor) {
		t.Fatalf("replay cost %.2f, want PenaltyMinor", s)
	}
	// It forges one: the compute node's heartbeat with more free GPUs.
	h, err := Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	h.Seq++
	h.TimeMs += 5000
	h.FreeGPUs = 64
	forged, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := at.Publish(ctx, forged); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 5*time.Second, "forgery penalised", func() bool {
		return router.Score(attacker.Self()) > float64(p2p.PenaltyInvalid)
	})
	// And sends garbage.
	if err := at.Publish(ctx, []byte("not a heartbeat")); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 5*time.Second, "malformed penalised", func() bool {
		return router.Score(attacker.Self()) > float64(p2p.PenaltyInvalid+p2p.PenaltyMalformed)
	})

	if got := tracker.Snapshot()[0]; got.Latest.Seq != n.Latest.Seq || got.Latest.FreeGPUs != 3 {
		t.Fatalf("refused heartbeats changed the table: %+v", got)
	}
	for reason, want := range map[string]float64{"replay": 1, "forged": 1, "malformed": 1} {
		if got := counterValue(t, metrics.Dropped.WithLabelValues(reason)); got != want {
			t.Errorf("dropped{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := counterValue(t, metrics.Received); got != 1 {
		t.Errorf("received = %v, want 1", got)
	}
	select {
	case m := <-rt.Messages():
		t.Fatalf("refused heartbeat delivered: %x", m.Data)
	default:
	}
}

// TestLibp2pHosts: two real hosts; the compute host publishes, the router's
// table sees it and measures a positive round-trip time.
func TestLibp2pHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("real hosts")
	}
	names := p2p.Names{ChainID: testChain}
	st := p2ptest.Status(1)
	st.ChainID = testChain
	newHost := func(seed byte) *libp2p.Host {
		h, err := libp2p.New(libp2p.Config{
			ChainID: testChain, Status: func() p2p.Status { return st }, Key: testKey(t, seed),
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true, HandshakeTimeout: 3 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	compute, router := newHost(1), newHost(2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := router.Connect(ctx, compute.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	if err := ServePing(compute, PingSpec(names)); err != nil {
		t.Fatal(err)
	}
	tracker := NewTracker(TrackerConfig{ChainID: testChain, Requester: router, PingSpec: PingSpec(names), Table: Config{Interval: 2 * time.Second}})
	rt, err := router.Join(names.HeartbeatTopic(), p2p.TopicOptions{MaxSize: MaxSize, Validate: tracker.Validate})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := compute.Join(names.HeartbeatTopic(), p2p.TopicOptions{MaxSize: MaxSize, Validate: NewTracker(TrackerConfig{ChainID: testChain}).Validate})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(PublisherConfig{ChainID: testChain, Key: testKey(t, 1), Topic: ct, Source: staticStatus, Interval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = pub.Run(runCtx) }()
	go func() { defer wg.Done(); _ = tracker.Run(runCtx, rt) }()
	defer func() { stop(); wg.Wait() }()
	p2ptest.Eventually(t, 20*time.Second, "router's table holds the compute node with an RTT", func() bool {
		snap := tracker.Snapshot()
		return len(snap) == 1 && snap[0].Peer == compute.Self() && snap[0].RTT > 0
	})
	first := tracker.Snapshot()[0].Latest.Seq
	p2ptest.Eventually(t, 20*time.Second, "a second heartbeat", func() bool { return tracker.Snapshot()[0].Latest.Seq > first })
	n := tracker.Snapshot()[0]
	t.Logf("compute node %s: seq %d, rtt %v over %d samples", n.Peer.ShortString(), n.Latest.Seq, n.RTT, n.RTTSamples)
	if router.Score(compute.Self()) != 0 {
		t.Fatalf("honest compute node penalised: %.2f", router.Score(compute.Self()))
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
