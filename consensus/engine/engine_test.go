package engine

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/consensus/wal"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
)

// bus is an in-process broadcast transport between engines (every message
// reaches every engine, including the sender, like gossip with self-delivery
// disabled plus the core's own local delivery).
type bus struct {
	mu      sync.Mutex
	engines []*Engine
	down    map[int]bool
	// hold, when set, keeps back the broadcasts it returns true for until
	// release, and drops the direct sends it returns true for.
	hold func(from int, data []byte) bool
	held []heldMsg
	// defer_, when set while hold is, keeps back the messages from one
	// engine to another it returns true for, until release.
	defer_   func(from, to int, data []byte) bool
	deferred []heldMsg
}

type heldMsg struct {
	from, to int
	data     []byte
}

// deliverLocked hands data from one engine to another, unless the
// receiver is down or the message is deferred. b.mu is held.
func (b *bus) deliverLocked(from, to int, data []byte) {
	if b.down[to] {
		return
	}
	if b.hold != nil && b.defer_ != nil && b.defer_(from, to, data) {
		b.deferred = append(b.deferred, heldMsg{from, to, append([]byte(nil), data...)})
		return
	}
	b.engines[to].Deliver(append([]byte(nil), data...))
}

// heldCount is how many messages are held back.
func (b *bus) heldCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

// release delivers every held message, then every deferred one, and
// stops holding and deferring.
func (b *bus) release() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.held)
	held, deferred := b.held, b.deferred
	b.hold, b.held, b.defer_, b.deferred = nil, nil, nil, nil
	for _, h := range held {
		for i := range b.engines {
			if i != h.from {
				b.deliverLocked(h.from, i, h.data)
			}
		}
	}
	for _, h := range deferred {
		b.deliverLocked(h.from, h.to, h.data)
	}
	return n
}

type busPort struct {
	b    *bus
	self int
}

func (p busPort) Broadcast(_ context.Context, data []byte) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.b.down[p.self] {
		return nil
	}
	if p.b.hold != nil && p.b.hold(p.self, data) {
		p.b.held = append(p.b.held, heldMsg{p.self, -1, append([]byte(nil), data...)})
		return nil
	}
	for i := range p.b.engines {
		if i != p.self {
			p.b.deliverLocked(p.self, i, data)
		}
	}
	return nil
}

func (p busPort) Send(_ context.Context, to common.Address, data []byte) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.b.down[p.self] || (p.b.hold != nil && p.b.hold(p.self, data)) {
		return nil
	}
	for i, e := range p.b.engines {
		if i != p.self && e.Address() == to {
			p.b.deliverLocked(p.self, i, data)
		}
	}
	return nil
}

type emptyPool struct{}

func (emptyPool) Source() state.TxSource             { return nil }
func (emptyPool) Get(common.Hash) *types.Transaction { return nil }

// busCluster is n engines on one bus, each with its own in-memory chain
// and a WAL file, running until the test ends.
type busCluster struct {
	t      *testing.T
	keys   []*ecdsa.PrivateKey // in engine order
	g      *genesis.Genesis
	bus    *bus
	chains []*state.Chain
	errs   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newBusCluster makes n validators from keys derived from seed, ordered by
// address when sorted (engine i is then validator i, so the proposer of
// (h, 0) is engine h mod n), and starts their engines with blocks every
// period. hold, if not nil, is installed on the bus before anything runs.
func newBusCluster(t *testing.T, n int, seed string, sorted bool, period time.Duration, hold func(from int, data []byte) bool) *busCluster {
	t.Helper()
	c := &busCluster{t: t, keys: make([]*ecdsa.PrivateKey, n), g: genesis.Dev(), bus: &bus{down: map[int]bool{}, hold: hold},
		chains: make([]*state.Chain, n), errs: make(chan error, n)}
	for i := range c.keys {
		c.keys[i], _ = crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("%s-%d", seed, i))))
	}
	if sorted {
		slices.SortFunc(c.keys, func(a, b *ecdsa.PrivateKey) int {
			return crypto.PubkeyToAddress(a.PublicKey).Cmp(crypto.PubkeyToAddress(b.PublicKey))
		})
	}
	c.g.Validators = nil
	for _, k := range c.keys {
		c.g.Validators = append(c.g.Validators, crypto.PubkeyToAddress(k.PublicKey))
	}
	c.g.BlockPeriodMs = math.HexOrDecimal64(period / time.Millisecond)
	dir := t.TempDir()
	for i := range n {
		chain, err := state.Open(state.OpenMemoryStore(), c.g, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.chains[i] = chain
		e := New(Config{Key: c.keys[i], BlockPeriod: period, Tick: 10 * time.Millisecond,
			WALPath: filepath.Join(dir, fmt.Sprintf("wal-%d", i))}, chain, emptyPool{}, busPort{c.bus, i})
		c.bus.engines = append(c.bus.engines, e)
	}
	var ctx context.Context
	ctx, c.cancel = context.WithCancel(context.Background())
	for _, e := range c.bus.engines {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := e.Run(ctx); err != nil {
				c.errs <- err
			}
		}()
	}
	t.Cleanup(c.stop)
	return c
}

// stop stops every engine and waits for them.
func (c *busCluster) stop() {
	c.cancel()
	c.wg.Wait()
}

// waitHeight waits until every engine in nodes has stored block target.
func (c *busCluster) waitHeight(target uint64, nodes ...int) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		ok := true
		for _, i := range nodes {
			ok = ok && c.chains[i].Head().Number.Uint64() >= target
		}
		if ok {
			return
		}
		select {
		case err := <-c.errs:
			c.t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	for _, i := range nodes {
		c.t.Logf("node %d at %d", i, c.chains[i].Head().Number)
	}
	c.t.Fatalf("height %d not reached", target)
}

func TestFourValidatorsCommitTheSameChain(t *testing.T) {
	const n = 4
	c := newBusCluster(t, n, "engine-test", false, 100*time.Millisecond, nil)
	b, chains, waitHeight := c.bus, c.chains, c.waitHeight
	waitHeight(5, 0, 1, 2, 3)
	// One validator down (F = 1): the others go on.
	b.mu.Lock()
	b.down[3] = true
	b.mu.Unlock()
	h := chains[0].Head().Number.Uint64()
	waitHeight(h+5, 0, 1, 2)
	c.stop()
	// Same block at every height on every node that has it.
	for num := uint64(1); num <= chains[0].Head().Number.Uint64(); num++ {
		var want common.Hash
		for i := range n {
			blk := chains[i].BlockByNumber(num)
			if blk == nil {
				continue
			}
			if want == (common.Hash{}) {
				want = blk.Hash()
			} else if blk.Hash() != want {
				t.Fatalf("fork at height %d", num)
			}
			ct, err := chains[i].Certificate(num, blk.Hash())
			if err != nil || ct == nil {
				t.Fatalf("node %d block %d: no certificate", i, num)
			}
			vals, _ := chains[i].ValidatorsFor(num)
			if _, err := ct.Verify(blk.Hash(), vals); err != nil {
				t.Fatalf("node %d block %d: %v", i, num, err)
			}
		}
	}
}

// gatePort blocks the first Broadcast until released.
type gatePort struct {
	entered chan struct{}
	release chan struct{}
	once    *sync.Once
}

func (g gatePort) Broadcast(context.Context, []byte) error {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return nil
}

func (gatePort) Send(context.Context, common.Address, []byte) error { return nil }

// Sync inserts blocks while the engine is busy; the chain's head feed then
// blocks sync's InsertBlock (holding the insert lock) until the engine reads
// its head events. The engine, committing the block it decided meanwhile,
// must not wait for that lock while its own head channel is full.
func TestSyncInsertsWhileEngineCommits(t *testing.T) {
	key, _ := crypto.ToECDSA(crypto.Keccak256([]byte("engine-test-sync")))
	g := genesis.Dev()
	g.Validators = []common.Address{crypto.PubkeyToAddress(key.PublicKey)}
	open := func() *state.Chain {
		c, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	chain, other := open(), open()
	// The blocks "sync" will bring: built and certified on another chain.
	const n = 100
	var blocks []*types.Block
	var certs []*cert.Certificate
	for i := range n {
		var parent *cert.Certificate
		if i > 0 {
			parent = certs[i-1]
		}
		b, err := other.BuildBlock(context.Background(), nil, state.BuildParams{Coinbase: g.Validators[0], Time: time.Now(), ParentCommit: parent})
		if err != nil {
			t.Fatal(err)
		}
		seal, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, key) })
		if err != nil {
			t.Fatal(err)
		}
		c := &cert.Certificate{Seals: [][]byte{seal}}
		if err := other.InsertBlock(context.Background(), b, c); err != nil {
			t.Fatal(err)
		}
		blocks, certs = append(blocks, b), append(certs, c)
	}
	gate := gatePort{entered: make(chan struct{}), release: make(chan struct{}), once: new(sync.Once)}
	e := New(Config{Key: key, Tick: 10 * time.Millisecond, WALPath: filepath.Join(t.TempDir(), "wal")}, chain, emptyPool{}, gate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- e.Run(ctx) }()
	select {
	case <-gate.entered: // the engine proposed block 1 and is sending it
	case err := <-runErr:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not propose")
	}
	synced := make(chan error, 1)
	go func() {
		for i, b := range blocks {
			if err := chain.InsertBlock(context.Background(), b, certs[i]); err != nil {
				synced <- err
				return
			}
		}
		synced <- nil
	}()
	// Let sync fill the engine's head channel, then let the engine decide.
	for deadline := time.Now().Add(10 * time.Second); chain.Head().Number.Uint64() < 65 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(gate.release)
	select {
	case err := <-synced:
		// Once released, the engine (the same key) may extend the synced
		// prefix with blocks of its own, after which sync's next block no
		// longer fits: that ends this "sync" without a deadlock.
		if err != nil && !errors.Is(err, state.ErrNotNext) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("sync stuck at head %d: engine and sync deadlocked", chain.Head().Number)
	}
	// The synced blocks were certified by the same (sole) validator key as
	// the engine's own proposal for height 1, so the engine either moves on
	// to the synced head before deciding its own block, or decides it and
	// finds another block stored at that height. The latter is a fork by an
	// equivocating key, and the engine must halt with a safety error rather
	// than go on. Either way it must not hang.
	target := chain.Head().Number.Uint64() + 2
	for deadline := time.Now().Add(10 * time.Second); e.Status().Height < target; {
		select {
		case err := <-runErr:
			if err == nil || !strings.Contains(err.Error(), "SAFETY") {
				t.Fatalf("engine stopped with %v, want progress or a safety halt", err)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine at height %d, want %d", e.Status().Height, target)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}

// A lone validator whose heights take longer than the block period proposes
// again inside the same Ready loop; Run must still stop when ctx ends.
func TestRunStopsWhileCommittingBackToBack(t *testing.T) {
	key, _ := crypto.ToECDSA(crypto.Keccak256([]byte("engine-test-stop")))
	g := genesis.Dev()
	g.Validators = []common.Address{crypto.PubkeyToAddress(key.PublicKey)}
	chain, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Key: key, Tick: 10 * time.Millisecond, WALPath: filepath.Join(t.TempDir(), "wal")}, chain, emptyPool{}, busPort{&bus{down: map[int]bool{}}, 0})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- e.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); chain.Head().Number.Uint64() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("no blocks")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run did not return after cancel (head %d)", chain.Head().Number)
	}
}

// Full certificates: with four validators, one slow to commit (its COMMIT
// for block 1 reaches the others only after they stored block 1 with a
// quorum of three seals), the proposer of block 2 carries all four seals in
// its ParentCommit.
//
// The others' COMMITs and certificates for block 1 reach the slow validator
// only after its own COMMIT went out, so it cannot decide block 1 without
// sending one (on a loaded machine its validation of the block can finish
// after the others decided, and it would then decide from their seals). An
// attempt is inconclusive, and is retried on a fresh cluster, when the slow
// COMMIT goes out so late that the proposer of block 2 may already have
// built it.
func TestSlowValidatorSealReachesNextBlock(t *testing.T) {
	for attempt := range 3 {
		if slowSealAttempt(t, attempt) {
			return
		}
		t.Logf("attempt %d: the slow validator's COMMIT came after half the block period; trying again", attempt)
	}
	t.Fatal("the slow validator's COMMIT came after half the block period in every attempt")
}

// slowSealAttempt runs one cluster for TestSlowValidatorSealReachesNextBlock
// and reports whether the attempt was conclusive.
func slowSealAttempt(t *testing.T, attempt int) bool {
	const n = 4
	// Engine i runs validator i in sorted order: the proposer of (h, 0) is
	// engine h mod 4, so engine 2 proposes block 2 and engine 3 is slow.
	const slow = 3
	// A block period well above one height's latency: the proposer of block
	// 2 waits that long after committing block 1, while the held COMMIT is
	// released at most half of it after block 1.
	const period = 2 * time.Second
	atHeight1 := func(data []byte) bool {
		m, err := ibft.DecodeMessage(data)
		return err == nil && m.Height == 1 && (m.Code == ibft.MsgCommit || m.Code == ibft.MsgCertificate)
	}
	c := newBusCluster(t, n, fmt.Sprintf("engine-test-slow-%d", attempt), true, period, func(from int, data []byte) bool {
		return from == slow && atHeight1(data)
	})
	defer c.stop()
	b, chains, waitHeight, g := c.bus, c.chains, c.waitHeight, c.g
	b.mu.Lock()
	b.defer_ = func(from, to int, data []byte) bool { return to == slow && atHeight1(data) }
	b.mu.Unlock()
	slowAddr := crypto.PubkeyToAddress(c.keys[slow].PublicKey)
	waitHeight(1, 0, 1, 2)
	decided := time.Now()
	for b.heldCount() == 0 {
		if time.Since(decided) > 30*time.Second {
			t.Fatal("the slow validator sent no COMMIT for block 1")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if time.Since(decided) > period/2 {
		return false
	}
	if got := b.release(); got == 0 {
		t.Fatal("the slow validator's COMMIT was not held back")
	}
	block1 := chains[0].BlockByNumber(1)
	stored, err := chains[0].Certificate(1, block1.Hash())
	if err != nil {
		t.Fatal(err)
	}
	signers, err := stored.Verify(block1.Hash(), g.Validators)
	if err != nil || slices.Contains(signers, slowAddr) {
		t.Fatalf("block 1 was decided with the slow validator's seal (%v) or not at all: %v", signers, err)
	}
	waitHeight(2, 0, 1, 2, slow)
	block2 := chains[0].BlockByNumber(2)
	extra, err := cert.DecodeExtra(block2.Header().Extra)
	if err != nil {
		t.Fatal(err)
	}
	signers, err = extra.ParentCommit.Verify(block1.Hash(), g.Validators)
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) != n || !slices.Contains(signers, slowAddr) {
		t.Fatalf("block 2 (proposed by %s) carries seals of %v, want all four including %s", block2.Coinbase(), signers, slowAddr)
	}
	return true
}

// The engine keeps the newest maxEvidence pieces of evidence.
func TestEvidenceBounded(t *testing.T) {
	key, _ := crypto.ToECDSA(crypto.Keccak256([]byte("engine-test-evidence")))
	e := New(Config{Key: key}, nil, nil, nil)
	signer := ibft.NewKeySigner(key)
	var all []ibft.Evidence
	for r := range uint64(maxEvidence + 10) {
		var msgs [2]ibft.Signed
		for i := range msgs {
			msgs[i] = ibft.Signed{Code: ibft.MsgPrepare, Height: 1, Round: r, Digest: common.Hash{byte(i + 1)}}
			d := msgs[i].SigningDigest()
			msgs[i].Signature, _ = signer.Sign(d[:])
		}
		all = append(all, ibft.NewEvidence(msgs[0], msgs[1]))
	}
	e.keepEvidence(all[:7])
	e.keepEvidence(all[7:])
	got := e.Evidence()
	if len(got) != maxEvidence {
		t.Fatalf("kept %d pieces, want %d", len(got), maxEvidence)
	}
	for i := range got {
		if _, _, r := got[i].View(); r != uint64(i+10) {
			t.Fatalf("piece %d is for round %d: not the newest, oldest first", i, r)
		}
		if who, err := got[i].Verify([]common.Address{signer.Address()}); err != nil || who != signer.Address() {
			t.Fatal(who, err)
		}
	}
}

// holdingChain holds BuildBlock for chosen heights until its context ends,
// reporting when a held build starts and when it returns.
type holdingChain struct {
	*state.Chain
	hold     map[uint64]bool
	entered  chan uint64
	returned sync.Map // height -> true once a held build returned
}

func (c *holdingChain) BuildBlock(ctx context.Context, txs state.TxSource, p state.BuildParams) (*types.Block, error) {
	h := c.Head().Number.Uint64() + 1
	if c.hold[h] {
		c.entered <- h
		<-ctx.Done()
		c.returned.Store(h, true)
		return nil, ctx.Err()
	}
	return c.Chain.BuildBlock(ctx, txs, p)
}

// A build runs off the Run goroutine: a new height cancels it and its
// result is dropped; shutdown cancels the running build and Run returns
// only after the worker did.
func TestBuildCancelledByNewHeightAndShutdown(t *testing.T) {
	key, _ := crypto.ToECDSA(crypto.Keccak256([]byte("engine-test-build")))
	g := genesis.Dev()
	g.Validators = []common.Address{crypto.PubkeyToAddress(key.PublicKey)}
	open := func() *state.Chain {
		c, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	chain := &holdingChain{Chain: open(), hold: map[uint64]bool{1: true, 4: true}, entered: make(chan uint64, 1)}
	// Block 1 as sync will bring it, built on another chain.
	other := open()
	b1, err := other.BuildBlock(context.Background(), nil, state.BuildParams{Coinbase: g.Validators[0], Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	seal, err := cert.SignCommit(b1.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, key) })
	if err != nil {
		t.Fatal(err)
	}
	clock := &simClock{now: time.Now().Truncate(time.Second)}
	e := New(Config{Key: key, Tick: 10 * time.Millisecond, WAL: new(wal.Memory), Clock: clock}, chain, emptyPool{},
		busPort{&bus{down: map[int]bool{}}, 0})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- e.Run(ctx) }()
	waitBuild := func(want uint64) {
		t.Helper()
		select {
		case h := <-chain.entered:
			if h != want {
				t.Fatalf("build for %d, want %d", h, want)
			}
		case err := <-runErr:
			t.Fatalf("Run returned %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no build for %d", want)
		}
	}
	waitBuild(1)
	// Sync imports block 1 while our build for it runs.
	if err := chain.InsertBlock(context.Background(), b1, &cert.Certificate{Seals: [][]byte{seal}}); err != nil {
		t.Fatal(err)
	}
	// The engine moves to height 2, cancels the build for 1, drops its
	// result and builds 2 and 3 itself; the build for 4 is held.
	waitBuild(4)
	if _, ok := chain.returned.Load(uint64(1)); !ok {
		t.Fatal("the build for height 1 was not cancelled")
	}
	if got := chain.BlockByNumber(1).Hash(); got != b1.Hash() {
		t.Fatalf("block 1 is %s, want the synced %s", got, b1.Hash())
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, ok := chain.returned.Load(uint64(4)); !ok {
		t.Fatal("Run returned before its build worker")
	}
}
