package engine

// Four real engines on p2p/memnet with in-memory WALs that crash, driven by
// a simulated clock.
//
// Method: the test owns time. It moves the simulated clock one tick at a
// time, and only once the cluster is quiet: no gossip or direct message in
// flight on memnet (counted by the test's transport and its pumps), and no
// engine holding an accepted message or an unhandled worker result
// (Engine.busy). A tick is delivered synchronously, so an engine has
// finished handling tick t before it takes tick t+1. Real time therefore
// never decides a round timeout: rounds time out only where the scenario
// silences a proposer. A WAL that crashes (wal.Crashing) ends that engine's
// Run with wal.ErrCrashed, like the process dying; the test restarts it on
// the same chain and the WAL's surviving bytes (wal.Memory.Records, as
// consensus/sim does). Engines that fall behind are caught up by copying
// blocks and certificates from the longest chain, as block sync would.
// Goroutine scheduling is not deterministic; the seed fixes the scenario
// (which validators crash, on which append, how much of the torn write
// survives) and memnet's random source.

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/consensus/wal"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/memnet"
	"github.com/emc-network/emcd/state"
)

var (
	clusterSeed = flag.Uint64("engine.seed", 0, "TestClusterCrashingWALs: run this seed only (default: seeds 1-4)")
	clusterLog  = flag.Bool("engine.log", false, "TestClusterCrashingWALs: engines log at debug level to stderr")
)

// simClock is a Clock that moves only when the test advances it. Advance
// hands each due ticker its tick synchronously: it returns once every
// running engine took the tick.
type simClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*simTicker
}

type simTicker struct {
	clock  *simClock
	period time.Duration
	next   time.Time
	ch     chan time.Time
	done   chan struct{}
	once   sync.Once
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &simTicker{clock: c, period: d, next: c.now.Add(d), ch: make(chan time.Time), done: make(chan struct{})}
	c.tickers = append(c.tickers, t)
	return t
}

func (t *simTicker) C() <-chan time.Time { return t.ch }

func (t *simTicker) Stop() {
	t.once.Do(func() {
		close(t.done)
		t.clock.mu.Lock()
		t.clock.tickers = slices.DeleteFunc(t.clock.tickers, func(x *simTicker) bool { return x == t })
		t.clock.mu.Unlock()
	})
}

// Advance moves the clock by d and delivers one tick to every ticker that
// came due (a slow receiver misses the extra ones, as with time.Ticker).
func (c *simClock) Advance(d, limit time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []*simTicker
	for _, t := range c.tickers {
		if !t.next.After(now) {
			for !t.next.After(now) {
				t.next = t.next.Add(t.period)
			}
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for _, t := range due {
		select {
		case t.ch <- now:
		case <-t.done:
		case <-timeout.C:
			return errors.New("a ticker's receiver is stuck")
		}
	}
	return nil
}

// cluster is n engines, each with its own chain, WAL and memnet node.
type cluster struct {
	t     *testing.T
	seed  uint64
	clock *simClock
	hub   *memnet.Hub
	spec  p2p.Spec
	ctx   context.Context
	log   *slog.Logger
	nodes []*clusterNode
	// inflight counts messages put on memnet and not yet handed to an
	// engine (or dropped) by the receiving side.
	inflight atomic.Int64
	muted    atomic.Int64 // 1 + index of a node cut off from consensus traffic; 0: none
	wg       sync.WaitGroup
}

type clusterNode struct {
	i       int
	key     *ecdsa.PrivateKey
	addr    common.Address
	id      p2p.PeerID
	net     *memnet.Node
	topic   p2p.Topic
	chain   *state.Chain
	mem     *wal.Memory
	metrics *Metrics
	behind  atomic.Bool

	crashIn, torn int // how the next incarnation's WAL crashes (0: never)
	crashes       int

	mu     sync.Mutex
	engine *Engine // nil while down
	log    *wal.Crashing
	done   chan error
}

func (n *clusterNode) current() *Engine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.engine
}

// clusterTransport is one engine's link to memnet: Broadcast publishes on
// the consensus topic, Send is a request on the direct protocol.
type clusterTransport struct {
	c *cluster
	n *clusterNode
}

func (tr clusterTransport) Broadcast(ctx context.Context, data []byte) error {
	others := int64(len(tr.c.nodes) - 1)
	tr.c.inflight.Add(others)
	if err := tr.n.topic.Publish(ctx, data); err != nil {
		tr.c.inflight.Add(-others)
		return err
	}
	return nil
}

func (tr clusterTransport) Send(_ context.Context, to common.Address, data []byte) error {
	for _, dst := range tr.c.nodes {
		if dst.addr != to {
			continue
		}
		tr.c.inflight.Add(1)
		tr.c.wg.Add(1)
		go func() {
			defer tr.c.wg.Done()
			defer tr.c.inflight.Add(-1) // the handler has run when Request returns
			_, _ = tr.n.net.Request(context.Background(), dst.id, tr.c.spec, data)
		}()
		return nil
	}
	return fmt.Errorf("no validator %s", to)
}

// deliver hands data that origin sent to node n's running engine, unless
// one of them is muted or n is down.
func (c *cluster) deliver(n *clusterNode, origin p2p.PeerID, data []byte) {
	if m := c.muted.Load(); m > 0 && (c.nodes[m-1].id == origin || int(m-1) == n.i) {
		return
	}
	if e := n.current(); e != nil {
		e.Deliver(data)
	}
}

func newCluster(t *testing.T, ctx context.Context, seed uint64, n int) *cluster {
	g := genesis.Dev()
	g.Validators = nil
	g.BlockPeriodMs = 100
	c := &cluster{
		t: t, seed: seed, ctx: ctx,
		clock: &simClock{now: time.Now().Truncate(time.Second)},
		hub:   memnet.NewHub(seed, nil),
		spec:  p2p.Spec{ID: "/emcd/test/direct/1", MaxRequest: ibft.MaxMessageSize, MaxResponse: 16},
		log:   slog.New(slog.DiscardHandler),
	}
	if *clusterLog {
		c.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for i := range n {
		key, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("engine-cluster-%d", i))))
		if err != nil {
			t.Fatal(err)
		}
		cn := &clusterNode{i: i, key: key, addr: crypto.PubkeyToAddress(key.PublicKey), id: p2p.PeerID(fmt.Sprintf("node-%d", i)),
			mem: new(wal.Memory), metrics: NewMetrics(prometheus.NewRegistry())}
		g.Validators = append(g.Validators, cn.addr)
		c.nodes = append(c.nodes, cn)
	}
	for _, cn := range c.nodes {
		chain, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cn.chain = chain
		status := func() p2p.Status {
			h := chain.Head()
			return p2p.Status{ChainID: 1, Genesis: chain.GenesisBlock().Hash(), HeadNumber: h.Number.Uint64(), HeadHash: h.Hash()}
		}
		cn.net = c.hub.NewNode(cn.id, status, nil)
		if cn.topic, err = cn.net.Join("/emcd/test/consensus/1", p2p.TopicOptions{MaxSize: p2p.MaxGossipSize, Buffer: 4096}); err != nil {
			t.Fatal(err)
		}
		if err := cn.net.Handle(c.spec, func(_ context.Context, from p2p.PeerID, req []byte) ([]byte, error) {
			c.deliver(cn, from, req)
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		c.wg.Add(1)
		go func() { // the pump: gossip to the engine
			defer c.wg.Done()
			for m := range cn.topic.Messages() {
				c.deliver(cn, m.Origin, m.Data)
				c.inflight.Add(-1)
			}
		}()
	}
	for i, a := range c.nodes {
		for _, b := range c.nodes[i+1:] {
			if err := c.hub.Connect(a.id, b.id); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// start runs a new incarnation of node n's engine on its chain and the
// surviving contents of its WAL.
func (c *cluster) start(n *clusterNode) {
	records := n.mem.Records()
	log := &wal.Crashing{Log: n.mem, CrashIn: n.crashIn, Torn: n.torn}
	n.crashIn = 0
	e := New(Config{
		Key: n.key, BlockPeriod: 100 * time.Millisecond, Tick: 10 * time.Millisecond,
		WAL: log, WALRecords: records, Clock: c.clock, Metrics: n.metrics,
		OnBehind: func() { n.behind.Store(true) },
		Logger:   c.log.With("node", n.i),
	}, n.chain, emptyPool{}, clusterTransport{c, n})
	done := make(chan error, 1)
	n.mu.Lock()
	n.engine, n.log, n.done = e, log, done
	n.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		done <- e.Run(c.ctx)
	}()
}

// reap restarts engines whose WAL crashed; any other end of Run fails.
func (c *cluster) reap() {
	for _, n := range c.nodes {
		var err error
		select {
		case err = <-n.done:
		default:
			continue
		}
		if !errors.Is(err, wal.ErrCrashed) || !n.log.Crashed() {
			c.fatalf("node %d: Run returned %v, want a WAL crash", n.i, err)
		}
		n.crashes++
		n.mu.Lock()
		n.engine = nil
		n.mu.Unlock()
		c.t.Logf("node %d crashed at head %d (crash %d); restarting from %d WAL bytes (%d intact records)",
			n.i, n.chain.Head().Number.Uint64(), n.crashes, len(n.mem.Bytes()), len(n.mem.Records()))
		c.start(n)
	}
}

func (c *cluster) heads() []uint64 {
	hs := make([]uint64, len(c.nodes))
	for i, n := range c.nodes {
		hs[i] = n.chain.Head().Number.Uint64()
	}
	return hs
}

// catchUp copies blocks from the longest chain to a node that asked for
// sync (OnBehind) or lags by two blocks or more.
func (c *cluster) catchUp() {
	best := c.nodes[0]
	for _, n := range c.nodes {
		if n.chain.Head().Number.Uint64() > best.chain.Head().Number.Uint64() {
			best = n
		}
	}
	top := best.chain.Head().Number.Uint64()
	for _, n := range c.nodes {
		asked := n.behind.Swap(false)
		head := n.chain.Head().Number.Uint64()
		if !asked && head+2 > top {
			continue
		}
		for num := head + 1; num <= top; num++ {
			b := best.chain.BlockByNumber(num)
			cert, err := best.chain.Certificate(num, b.Hash())
			if err != nil || cert == nil {
				c.fatalf("node %d: no certificate for block %d: %v", best.i, num, err)
			}
			if err := n.chain.InsertBlock(context.Background(), b, cert); err != nil {
				if errors.Is(err, state.ErrNotNext) {
					break // its engine committed meanwhile
				}
				c.fatalf("node %d: sync block %d: %v", n.i, num, err)
			}
		}
	}
}

func (c *cluster) quiet() bool {
	if c.inflight.Load() != 0 {
		return false
	}
	for _, n := range c.nodes {
		if e := n.current(); e != nil && e.busy.Load() != 0 {
			return false
		}
	}
	return true
}

// settle waits until the cluster is quiet, restarting crashed engines and
// catching up lagging ones meanwhile.
func (c *cluster) settle() {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.reap()
		if c.quiet() {
			c.catchUp()
			if c.quiet() {
				return
			}
		}
		if time.Now().After(deadline) {
			c.fatalf("cluster did not settle: inflight %d", c.inflight.Load())
		}
		time.Sleep(100 * time.Microsecond) // waiting for a condition, not for time to pass
	}
}

func (c *cluster) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("SEED=%d (rerun with -engine.seed=%d) heads %v: %s", c.seed, c.seed, c.heads(), fmt.Sprintf(format, args...))
}

// TestClusterCrashingWALs: four engines commit one chain while two of them
// lose their process (WAL crash with a torn write) and restart, and while
// one proposer is cut off long enough for the others to change rounds.
func TestClusterCrashingWALs(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if *clusterSeed != 0 {
		seeds = []uint64{*clusterSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { testClusterCrashingWALs(t, seed) })
	}
}

func testClusterCrashingWALs(t *testing.T, seed uint64) {
	t.Logf("SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ctx, cancel := context.WithCancel(context.Background())
	c := newCluster(t, ctx, seed, 4)
	defer func() {
		cancel()
		for _, n := range c.nodes {
			n.net.Close() // closes the topics: the pumps end
		}
		c.wg.Wait()
	}()

	// Two validators crash: one early, one later; each tears its crashing
	// append, keeping a drawn number of its unsynced bytes.
	perm := rng.Perm(len(c.nodes))
	early, late := c.nodes[perm[0]], c.nodes[perm[1]]
	early.crashIn, early.torn = 1+rng.IntN(6), rng.IntN(64)
	late.crashIn, late.torn = 10+rng.IntN(10), rng.IntN(64)
	t.Logf("node %d crashes on append %d (torn %d), node %d on append %d (torn %d)",
		early.i, early.crashIn, early.torn, late.i, late.crashIn, late.torn)
	for _, n := range c.nodes {
		c.start(n)
	}

	const target = 16
	muteAt := uint64(6 + rng.IntN(4))
	var muteUntil time.Time
	muted := -1
	wallDeadline := time.Now().Add(2 * time.Minute)
	for step := 0; ; step++ {
		c.settle()
		hs := c.heads()
		if slices.Min(hs) >= target {
			break
		}
		if step > 20000 || time.Now().After(wallDeadline) {
			c.fatalf("no progress after %d ticks", step)
		}
		// Cut the next proposer off for longer than a round-0 timeout.
		if top := slices.Max(hs); muted < 0 && top >= muteAt {
			vals, err := c.nodes[0].chain.ValidatorsFor(top + 1)
			if err != nil {
				t.Fatal(err)
			}
			sorted := slices.Clone(vals)
			slices.SortFunc(sorted, func(a, b common.Address) int { return a.Cmp(b) })
			prop := ibft.Proposer(sorted, top+1, 0)
			for _, n := range c.nodes {
				if n.addr == prop {
					muted = n.i
				}
			}
			c.muted.Store(int64(muted + 1))
			muteUntil = c.clock.Now().Add(4 * time.Second)
			t.Logf("muting node %d, proposer of height %d, at heads %v", muted, top+1, hs)
		}
		if muted >= 0 && c.muted.Load() != 0 && !c.clock.Now().Before(muteUntil) {
			c.muted.Store(0)
			t.Logf("unmuting node %d at heads %v", muted, hs)
		}
		if err := c.clock.Advance(10*time.Millisecond, 30*time.Second); err != nil {
			c.fatalf("tick %d: %v", step, err)
		}
	}

	// Agreement: one block per height on every node, each with a valid
	// certificate.
	for num := uint64(1); num <= target; num++ {
		want := c.nodes[0].chain.BlockByNumber(num).Hash()
		for _, n := range c.nodes {
			b := n.chain.BlockByNumber(num)
			if b.Hash() != want {
				c.fatalf("fork at height %d: node %d has %s, node 0 %s", num, n.i, b.Hash(), want)
			}
			cert, err := n.chain.Certificate(num, want)
			if err != nil || cert == nil {
				c.fatalf("node %d block %d: no certificate (%v)", n.i, num, err)
			}
			vals, err := n.chain.ValidatorsFor(num)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Verify(want, vals); err != nil {
				c.fatalf("node %d block %d: %v", n.i, num, err)
			}
		}
	}
	if early.crashes == 0 || late.crashes == 0 {
		c.fatalf("crashes: node %d %d, node %d %d; want both", early.i, early.crashes, late.i, late.crashes)
	}

	// The metrics moved.
	var sum struct {
		walSyncs, validations, builds, commits uint64
		roundChanges                           float64
		in, out                                map[string]float64
	}
	sum.in, sum.out = map[string]float64{}, map[string]float64{}
	for _, n := range c.nodes {
		m := n.metrics
		sum.walSyncs += histCount(t, m.WALSync)
		sum.validations += histCount(t, m.Validation)
		sum.builds += histCount(t, m.Build)
		sum.commits += histCount(t, m.Commit)
		sum.roundChanges += counterValue(t, m.RoundChanges)
		for _, typ := range []string{"preprepare", "prepare", "commit", "roundchange"} {
			sum.in[typ] += counterValue(t, m.MessagesIn.WithLabelValues(typ))
			sum.out[typ] += counterValue(t, m.MessagesOut.WithLabelValues(typ))
		}
	}
	t.Logf("metrics: wal syncs %d, validations %d, builds %d, commits %d, round changes %.0f, in %v, out %v",
		sum.walSyncs, sum.validations, sum.builds, sum.commits, sum.roundChanges, sum.in, sum.out)
	if sum.walSyncs == 0 || sum.validations == 0 || sum.builds == 0 || sum.commits == 0 || sum.roundChanges == 0 {
		t.Errorf("a metric did not move")
	}
	for typ := range sum.in {
		if sum.in[typ] == 0 || sum.out[typ] == 0 {
			t.Errorf("messages of type %s: in %.0f, out %.0f", typ, sum.in[typ], sum.out[typ])
		}
	}
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
