package wallet

// Method: a real dev chain in this process (state.Chain on a memory store,
// txpool.Pool, the devseal sealer) with the Wallet sending from a funded dev
// account. The test seals blocks itself, one at a time, and waits after each
// until the wallet has handled that head (Wallet.headDone), so the wallet's
// decisions happen at the same heights on every run. Faults are injected at
// the seams a real node has: the send path loses one transaction after the
// pool would have taken it (as an eviction would), the sealer refuses one
// nonce below a tip floor (a validator's minimum price), and transactions
// from the same key are put in the pool behind the wallet's back (the
// operator using the key elsewhere).

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/consensus/devseal"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/txpool"
)

// devChain is a dev chain, its pool and a sealer driven by the test.
type devChain struct {
	t      *testing.T
	chain  *state.Chain
	pool   *txpool.Pool
	sealer *devseal.Sealer
	filter *tipFloor
	keys   []*ecdsa.PrivateKey
}

func newDevChain(t *testing.T) *devChain {
	t.Helper()
	g := genesis.Dev()
	chain, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := txpool.DefaultConfig()
	cfg.ChainConfig = chain.Config()
	cfg.NextBaseFee = chain.NextBaseFee
	pool, err := txpool.New(cfg, poolChain{chain}, types.LatestSigner(chain.Config()), mclock.System{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	keys, err := genesis.DevAccountKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	d := &devChain{t: t, chain: chain, pool: pool, filter: &tipFloor{}, keys: keys}
	d.sealer = devseal.New(devseal.Config{Key: genesis.DevSignerKey()}, chain, sealPool{pool, d.filter}, slog.New(slog.DiscardHandler))
	return d
}

// seal seals one block and returns its number.
func (d *devChain) seal(ctx context.Context) uint64 {
	d.t.Helper()
	b, err := d.sealer.SealOne(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	return b.NumberU64()
}

// poolChain shows the chain to the pool.
type poolChain struct{ c *state.Chain }

func (p poolChain) Head() *types.Header { return p.c.Head() }
func (p poolChain) StateAt(root common.Hash) (txpool.State, error) {
	st, err := p.c.StateAt(root)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// tipFloor is a validator's price floor for one nonce of one sender.
type tipFloor struct {
	mu     sync.Mutex
	from   common.Address
	nonce  uint64
	minTip *big.Int // nil: no floor
}

func (f *tipFloor) refuses(from common.Address, tx *types.Transaction) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minTip != nil && from == f.from && tx.Nonce() == f.nonce && tx.GasTipCapIntCmp(f.minTip) < 0
}

// sealPool is what the sealer builds from: the pool's ordered pending
// transactions minus those under the floor (and, the nonces being in
// order, the sender's later ones).
type sealPool struct {
	p      *txpool.Pool
	filter *tipFloor
}

func (s sealPool) Source() state.TxSource { return &floorSource{o: s.p.Ordered(nil), f: s.filter} }
func (s sealPool) PendingCount() int {
	n, _ := s.p.Stats()
	return n
}
func (s sealPool) Reset(head *types.Header) error { return s.p.Reset(head) }

// Notify is for Sealer.Run; the test drives SealOne and never calls it.
func (s sealPool) Notify() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

type floorSource struct {
	o *txpool.Ordered
	f *tipFloor
}

func (s *floorSource) Peek() *types.Transaction {
	for {
		tx, from := s.o.Peek()
		if tx == nil || !s.f.refuses(from, tx) {
			return tx
		}
		s.o.Pop()
	}
}
func (s *floorSource) Shift() { s.o.Shift() }
func (s *floorSource) Pop()   { s.o.Pop() }

// lossySend is the node's send path (local pool add) that loses the first
// send of one nonce after reporting success, as if the pool evicted it at
// once.
type lossySend struct {
	pool *txpool.Pool
	mu   sync.Mutex
	lose map[uint64]bool // nonce -> still to lose
	lost []common.Hash
}

func (s *lossySend) send(_ context.Context, tx *types.Transaction) error {
	s.mu.Lock()
	if s.lose[tx.Nonce()] {
		s.lose[tx.Nonce()] = false
		s.lost = append(s.lost, tx.Hash())
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.pool.Add([]*types.Transaction{tx}, true)[0]
}

func noEstimate(context.Context, common.Address, Request) (uint64, error) {
	return 0, errors.New("test: estimate called for a request with gas set")
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// runWallet starts w.Run with a headDone channel and returns it and a stop
// function that waits for Run to return.
func runWallet(t *testing.T, w *Wallet) (<-chan uint64, func()) {
	t.Helper()
	done := make(chan uint64)
	w.headDone = done
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- w.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { stopOnce(t, cancel, exited) }) }
	t.Cleanup(stop)
	return done, stop
}

func stopOnce(t *testing.T, cancel context.CancelFunc, exited <-chan error) {
	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

// sealAndWait seals a block and waits until the wallet handled it.
func sealAndWait(ctx context.Context, t *testing.T, d *devChain, headDone <-chan uint64) uint64 {
	t.Helper()
	n := d.seal(ctx)
	for {
		select {
		case got := <-headDone:
			if got >= n {
				return n
			}
		case <-ctx.Done():
			t.Fatalf("wallet did not handle head %d: %v", n, ctx.Err())
		}
	}
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestWalletOnDevChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := newDevChain(t)
	key := d.keys[0]
	addr := crypto.PubkeyToAddress(key.PublicKey)
	signer := types.LatestSigner(d.chain.Config())
	const (
		lostNonce   = 27 // batch 2: lost on its first send
		cheapNonce  = 35 // batch 2: refused below the floor
		replacedNon = 5  // batch 1: replaced by a transaction not the wallet's
	)
	send := &lossySend{pool: d.pool, lose: map[uint64]bool{lostNonce: true}}
	policy := DefaultPolicy()
	policy.StuckBlocks = 2
	m := NopMetrics()
	w, err := New(Config{Key: key, Chain: d.chain, Pool: d.pool, Send: send.send, Estimate: noEstimate,
		Policy: policy, Metrics: m}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	headDone, _ := runWallet(t, w)
	// The floor is 1.25 gwei: the first send (1 gwei) and two bumps (1.1,
	// 1.21) are refused, the third (1.331) is mined.
	d.filter.mu.Lock()
	d.filter.from, d.filter.nonce, d.filter.minTip = addr, cheapNonce, big.NewInt(1_250_000_000)
	d.filter.mu.Unlock()

	var (
		mu      sync.Mutex
		handles []*Handle
	)
	// submitBatch submits n transfers from 4 goroutines at once.
	submitBatch := func(first, n int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := first + g; i < first+n; i += 4 {
					to := common.BigToAddress(big.NewInt(int64(0x1000 + i)))
					h, err := w.Submit(ctx, Request{To: &to, Value: big.NewInt(int64(i + 1)), Gas: params.TxGas, Label: fmt.Sprintf("transfer-%d", i)})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					handles = append(handles, h)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("submit: %v", err)
		}
	}
	// sealUntil seals until the wallet has nothing in flight.
	sealUntil := func(maxBlocks int) {
		for i := 0; w.InFlight() > 0; i++ {
			if i == maxBlocks {
				t.Fatalf("still %d in flight after %d blocks", w.InFlight(), maxBlocks)
			}
			sealAndWait(ctx, t, d, headDone)
		}
	}
	externalTx := func(nonce uint64, tip int64) *types.Transaction {
		head := d.chain.Head()
		feeCap := new(big.Int).Mul(d.chain.NextBaseFee(head), big.NewInt(4))
		feeCap.Add(feeCap, big.NewInt(tip))
		tx, err := types.SignNewTx(key, signer, &types.DynamicFeeTx{ChainID: d.chain.Config().ChainID, Nonce: nonce,
			GasTipCap: big.NewInt(tip), GasFeeCap: feeCap, Gas: params.TxGas, To: &addr, Value: new(big.Int)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.pool.Add([]*types.Transaction{tx}, true)[0]; err != nil {
			t.Fatalf("external tx at nonce %d: %v", nonce, err)
		}
		return tx
	}

	// Batch 1: 20 transfers, then another sender of the key replaces
	// nonce 5 in the pool with a higher-paying transaction.
	submitBatch(0, 20)
	external := []*types.Transaction{externalTx(replacedNon, 5_000_000_000)}
	sealUntil(20)

	// Batch 2: 25 transfers, one lost, one under the floor.
	submitBatch(20, 25)
	sealUntil(40)

	// The key sends at the pool's next nonce; the next batch must skip it.
	external = append(external, externalTx(d.pool.Nonce(addr), 2_000_000_000))
	submitBatch(45, 5)
	sealUntil(20)

	// Every request is mined, successfully.
	if len(handles) != 50 {
		t.Fatalf("%d handles, want 50", len(handles))
	}
	mined := make(map[common.Hash]bool)
	for _, h := range handles {
		r, err := h.Wait(ctx)
		if err != nil {
			t.Fatalf("%s: %v", h.Label(), err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("%s: status %d", h.Label(), r.Status)
		}
		if mined[r.TxHash] {
			t.Fatalf("%s: receipt %v given twice", h.Label(), r.TxHash)
		}
		mined[r.TxHash] = true
	}
	for _, tx := range external {
		mined[tx.Hash()] = true
	}
	// The account's transactions on chain: nonces 0..51, each once, each
	// one the wallet or the test knows.
	nonces := make(map[uint64]bool)
	head := d.chain.Head().Number.Uint64()
	for n := uint64(1); n <= head; n++ {
		for _, tx := range d.chain.BlockByNumber(n).Transactions() {
			from, err := types.Sender(signer, tx)
			if err != nil {
				t.Fatal(err)
			}
			if from != addr {
				continue
			}
			if nonces[tx.Nonce()] {
				t.Fatalf("nonce %d mined twice", tx.Nonce())
			}
			nonces[tx.Nonce()] = true
			if !mined[tx.Hash()] {
				t.Fatalf("mined tx %v (nonce %d) is neither a wallet receipt nor an external tx", tx.Hash(), tx.Nonce())
			}
		}
	}
	if len(nonces) != 52 {
		t.Fatalf("%d nonces mined, want 52", len(nonces))
	}
	for n := uint64(0); n < 52; n++ {
		if !nonces[n] {
			t.Fatalf("nonce %d not mined", n)
		}
	}
	st, err := d.chain.StateAt(d.chain.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.GetNonce(addr); got != 52 {
		t.Fatalf("account nonce %d, want 52", got)
	}
	if len(send.lost) != 1 {
		t.Fatalf("lost %d sends, want 1", len(send.lost))
	}
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"sent (50 + 1 reassigned)", m.Sent, 51},
		{"mined", m.Mined, 50},
		{"replaced (three bumps over the floor)", m.Replaced, 3},
		{"resubmitted", m.Resubmitted, 1},
		{"failed", m.Failed, 0},
		{"in flight", m.InFlight, 0},
	} {
		if got := counter(t, c.c); got != c.want {
			t.Errorf("metric %s = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestWalletErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := newDevChain(t)
	to := common.HexToAddress("0x1234")
	send := func(_ context.Context, tx *types.Transaction) error {
		return d.pool.Add([]*types.Transaction{tx}, true)[0]
	}
	newWallet := func(key *ecdsa.PrivateKey, maxInFlight int, est EstimateFunc) *Wallet {
		w, err := New(Config{Key: key, Chain: d.chain, Pool: d.pool, Send: send, Estimate: est, Policy: DefaultPolicy(),
			MaxInFlight: maxInFlight}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	t.Run("full", func(t *testing.T) {
		w := newWallet(d.keys[0], 2, noEstimate)
		for i := 0; i < 2; i++ {
			if _, err := w.Submit(ctx, Request{To: &to, Gas: params.TxGas, Label: "fill"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Submit(ctx, Request{To: &to, Gas: params.TxGas, Label: "over"}); !errors.Is(err, ErrWalletFull) {
			t.Fatalf("third submit: %v, want ErrWalletFull", err)
		}
	})
	t.Run("insufficient funds passed up", func(t *testing.T) {
		poor, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		w := newWallet(poor, 0, noEstimate)
		_, err = w.Submit(ctx, Request{To: &to, Gas: params.TxGas, Label: "poor"})
		if !errors.Is(err, txpool.ErrInsufficientFunds) {
			t.Fatalf("submit from an empty account: %v, want txpool.ErrInsufficientFunds", err)
		}
		if w.InFlight() != 0 {
			t.Fatal("a refused send is tracked")
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		w := newWallet(d.keys[1], 0, noEstimate)
		if _, err := w.Submit(ctx, Request{To: &to, Value: big.NewInt(-1), Gas: params.TxGas}); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("negative value: %v, want ErrBadRequest", err)
		}
	})
	t.Run("estimate used and its error wrapped", func(t *testing.T) {
		boom := errors.New("boom")
		var asked []Request
		w := newWallet(d.keys[1], 0, func(_ context.Context, from common.Address, req Request) (uint64, error) {
			asked = append(asked, req)
			if req.Label == "fails" {
				return 0, boom
			}
			return params.TxGas + 7, nil
		})
		if _, err := w.Submit(ctx, Request{To: &to, Label: "fails"}); !errors.Is(err, boom) {
			t.Fatalf("estimate failure: %v, want it wrapped", err)
		}
		if _, err := w.Submit(ctx, Request{To: &to, Label: "estimated"}); err != nil {
			t.Fatal(err)
		}
		pending, _ := d.pool.ContentFrom(w.Address())
		if len(asked) != 2 || len(pending) == 0 || pending[len(pending)-1].Gas() != params.TxGas+7 {
			t.Fatalf("estimate not used: asked %d, pending %d", len(asked), len(pending))
		}
	})
	t.Run("stop resolves handles", func(t *testing.T) {
		w := newWallet(d.keys[1], 0, noEstimate)
		_, stop := runWallet(t, w)
		h, err := w.Submit(ctx, Request{To: &to, Gas: params.TxGas, Label: "orphan"})
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if _, err := h.Wait(ctx); !errors.Is(err, ErrStopped) {
			t.Fatalf("wait after stop: %v, want ErrStopped", err)
		}
		if _, err := w.Submit(ctx, Request{To: &to, Gas: params.TxGas}); !errors.Is(err, ErrStopped) {
			t.Fatalf("submit after stop: %v, want ErrStopped", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		p := DefaultPolicy()
		p.StuckBlocks = 0
		if _, err := New(Config{Key: d.keys[0], Chain: d.chain, Pool: d.pool, Send: send, Estimate: noEstimate, Policy: p}, nil); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("zero stuck blocks: %v, want ErrBadConfig", err)
		}
		if _, err := New(Config{Chain: d.chain}, nil); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("no key: %v, want ErrBadConfig", err)
		}
	})
}

// The head forwarder never makes the chain wait: with the wallet's loop
// busy (a test holding its lock), the chain still commits many blocks.
func TestHeadFeedNeverBlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := newDevChain(t)
	to := common.HexToAddress("0x1234")
	w, err := New(Config{Key: d.keys[0], Chain: d.chain, Pool: d.pool, Estimate: noEstimate, Policy: DefaultPolicy(),
		Send: func(_ context.Context, tx *types.Transaction) error {
			return d.pool.Add([]*types.Transaction{tx}, true)[0]
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	headDone := make(chan uint64)
	w.headDone = headDone
	runCtx, stopRun := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- w.Run(runCtx) }()
	if _, err := w.Submit(ctx, Request{To: &to, Gas: params.TxGas, Label: "t"}); err != nil {
		t.Fatal(err)
	}
	// One head handled: the wallet is subscribed.
	sealAndWait(ctx, t, d, headDone)
	if _, err := w.Submit(ctx, Request{To: &to, Gas: params.TxGas, Label: "t2"}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	for i := 0; i < 100; i++ { // far more than any channel buffer
		d.seal(ctx)
	}
	w.mu.Unlock()
	stopRun()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return")
	}
}
