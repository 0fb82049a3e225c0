package txpool

// Test scaffolding: a fake chain whose blocks are state snapshots, a
// simulated clock, deterministic keys, transaction builders, and
// checkInternals, which every test calls after each step (geth's
// validatePoolInternals, extended to the price heap and counters).

import (
	"container/heap"
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"
	"maps"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

const (
	gwei           = 1_000_000_000
	testGasLimit   = 30_000_000
	testBaseFee    = 1 * gwei
	testChainID    = 1337
	transferGas    = 21_000
	richBalanceEth = 1_000_000
)

var (
	testSigner = types.LatestSignerForChainID(big.NewInt(testChainID))
	recipient  = common.HexToAddress("0x00000000000000000000000000000000000000aa")
)

// fakeState is one block's account state.
type fakeState struct {
	nonces   map[common.Address]uint64
	balances map[common.Address]*uint256.Int
}

func (s *fakeState) GetNonce(a common.Address) uint64 { return s.nonces[a] }
func (s *fakeState) GetBalance(a common.Address) *uint256.Int {
	if b := s.balances[a]; b != nil {
		return new(uint256.Int).Set(b)
	}
	return new(uint256.Int)
}

func (s *fakeState) copy() *fakeState {
	c := &fakeState{nonces: maps.Clone(s.nonces), balances: make(map[common.Address]*uint256.Int)}
	for a, b := range s.balances {
		c.balances[a] = new(uint256.Int).Set(b)
	}
	return c
}

// fakeChain keeps every block's state by root.
type fakeChain struct {
	mu     sync.Mutex
	head   *types.Header
	states map[common.Hash]*fakeState
	cur    *fakeState // state being edited for the next block
}

func newFakeChain() *fakeChain {
	c := &fakeChain{states: make(map[common.Hash]*fakeState)}
	c.cur = &fakeState{nonces: map[common.Address]uint64{}, balances: map[common.Address]*uint256.Int{}}
	c.commit(testBaseFee)
	return c
}

func (c *fakeChain) Head() *types.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return types.CopyHeader(c.head)
}

func (c *fakeChain) StateAt(root common.Hash) (State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.states[root]
	if s == nil {
		return nil, fmt.Errorf("no state %v", root)
	}
	return s, nil
}

// set edits the pending state.
func (c *fakeChain) set(a common.Address, nonce uint64, balance *uint256.Int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur.nonces[a] = nonce
	c.cur.balances[a] = new(uint256.Int).Set(balance)
}

// commit seals the edited state as a new head whose next base fee is
// nextBaseFee (gas used is at target, so EIP-1559 keeps it unchanged).
func (c *fakeChain) commit(nextBaseFee uint64) *types.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	num := int64(0)
	if c.head != nil {
		num = c.head.Number.Int64() + 1
	}
	var root common.Hash
	binary.BigEndian.PutUint64(root[24:], uint64(num)+1)
	c.states[root] = c.cur
	c.cur = c.cur.copy()
	c.head = &types.Header{
		Number:     big.NewInt(num),
		Root:       root,
		GasLimit:   testGasLimit,
		GasUsed:    testGasLimit / 2,
		BaseFee:    new(big.Int).SetUint64(nextBaseFee),
		Difficulty: new(big.Int),
		Time:       uint64(num),
	}
	return types.CopyHeader(c.head)
}

type testEnv struct {
	t     testing.TB
	pool  *Pool
	chain *fakeChain
	clock *mclock.Simulated
}

func newTestEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	chain := newFakeChain()
	clock := new(mclock.Simulated)
	p, err := New(cfg, chain, testSigner, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &testEnv{t: t, pool: p, chain: chain, clock: clock}
}

// fund gives key's account a balance (and nonce) in a new block.
func (e *testEnv) fund(key *ecdsa.PrivateKey, nonce uint64, balance *uint256.Int) common.Address {
	e.t.Helper()
	addr := crypto.PubkeyToAddress(key.PublicKey)
	e.chain.set(addr, nonce, balance)
	e.block(testBaseFee)
	return addr
}

// block commits the chain's edited state and resets the pool onto it.
func (e *testEnv) block(nextBaseFee uint64) {
	e.t.Helper()
	h := e.chain.commit(nextBaseFee)
	if err := e.pool.Reset(h); err != nil {
		e.t.Fatal(err)
	}
	checkInternals(e.t, e.pool)
}

// add adds txs as remote and checks internals.
func (e *testEnv) add(local bool, txs ...*types.Transaction) []error {
	e.t.Helper()
	errs := e.pool.Add(txs, local)
	checkInternals(e.t, e.pool)
	return errs
}

// mustAdd adds txs and fails on any error.
func (e *testEnv) mustAdd(txs ...*types.Transaction) {
	e.t.Helper()
	for i, err := range e.add(false, txs...) {
		if err != nil {
			e.t.Fatalf("tx %d (nonce %d): %v", i, txs[i].Nonce(), err)
		}
	}
}

func (e *testEnv) wantStats(pending, queued int) {
	e.t.Helper()
	if p, q := e.pool.Stats(); p != pending || q != queued {
		e.t.Fatalf("stats: have pending %d queued %d, want %d %d", p, q, pending, queued)
	}
}

// testKey returns a deterministic key.
func testKey(i int) *ecdsa.PrivateKey {
	seed := crypto.Keccak256([]byte(fmt.Sprintf("txpool test key %d", i)))
	k, err := crypto.ToECDSA(seed)
	if err != nil {
		panic(err)
	}
	return k
}

func eth(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1e18))
}

// dynTx is a signed EIP-1559 transfer with caps in wei.
func dynTx(key *ecdsa.PrivateKey, nonce uint64, feeCap, tip uint64) *types.Transaction {
	return types.MustSignNewTx(key, testSigner, &types.DynamicFeeTx{
		ChainID: big.NewInt(testChainID), Nonce: nonce, GasFeeCap: new(big.Int).SetUint64(feeCap),
		GasTipCap: new(big.Int).SetUint64(tip), Gas: transferGas, To: &recipient, Value: big.NewInt(1),
	})
}

// tipTx is a transfer paying tip gwei above a generous fee cap.
func tipTx(key *ecdsa.PrivateKey, nonce uint64, tipGwei uint64) *types.Transaction {
	return dynTx(key, nonce, 100*gwei, tipGwei*gwei)
}

// legacyTx is a signed EIP-155 legacy transfer.
func legacyTx(key *ecdsa.PrivateKey, nonce uint64, gasPrice uint64) *types.Transaction {
	return types.MustSignNewTx(key, testSigner, &types.LegacyTx{
		Nonce: nonce, GasPrice: new(big.Int).SetUint64(gasPrice), Gas: transferGas, To: &recipient, Value: big.NewInt(1),
	})
}

// checkInternals asserts that every index of the pool agrees with every
// other: the lookup holds exactly the listed transactions, pending runs are
// contiguous from the state nonce, a gap precedes every queued list,
// counters, spent sums and slots add up, and the price heap holds exactly
// the remote transactions in heap order.
func checkInternals(t testing.TB, p *Pool) {
	t.Helper()
	p.mu.RLock()
	defer p.mu.RUnlock()
	var pending, queued, slots, remote int
	seen := make(map[common.Hash]bool)
	for addr, a := range p.accounts {
		if a.empty() {
			t.Fatalf("account %v is empty but kept", addr)
		}
		if sn := p.stateNonce(addr); a.nonce != sn {
			t.Fatalf("account %v nonce %d, state nonce %d", addr, a.nonce, sn)
		}
		spent := new(big.Int)
		check := func(e *txEntry, wantPending bool) {
			if e.from != addr {
				t.Fatalf("tx %v listed under %v, from %v", e.hash, addr, e.from)
			}
			if e.pending != wantPending {
				t.Fatalf("tx %v pending flag %v, listed pending=%v", e.hash, e.pending, wantPending)
			}
			if p.all[e.hash] != e {
				t.Fatalf("tx %v listed but not in lookup", e.hash)
			}
			if seen[e.hash] {
				t.Fatalf("tx %v listed twice", e.hash)
			}
			seen[e.hash] = true
			if e.local != (e.heapIdx < 0) {
				t.Fatalf("tx %v local=%v heapIdx=%d", e.hash, e.local, e.heapIdx)
			}
			if !e.local {
				remote++
				if e.heapIdx >= len(p.prices.items) || p.prices.items[e.heapIdx] != e {
					t.Fatalf("tx %v heap index %d wrong", e.hash, e.heapIdx)
				}
			}
			spent.Add(spent, e.cost)
			slots += e.slots
		}
		for i, e := range a.pending {
			if e.nonce != a.nonce+uint64(i) {
				t.Fatalf("account %v pending[%d] has nonce %d, want %d", addr, i, e.nonce, a.nonce+uint64(i))
			}
			check(e, true)
			pending++
		}
		if len(a.pending) > p.cfg.AccountSlots {
			t.Fatalf("account %v has %d pending, limit %d", addr, len(a.pending), p.cfg.AccountSlots)
		}
		for n, e := range a.queued {
			if n != e.nonce || n < a.next() {
				t.Fatalf("account %v queued key %d holds nonce %d (next %d)", addr, n, e.nonce, a.next())
			}
			check(e, false)
			queued++
		}
		if a.queued[a.next()] != nil && len(a.pending) < p.cfg.AccountSlots {
			t.Fatalf("account %v: queued nonce %d is executable but not promoted", addr, a.next())
		}
		if len(a.queued) > p.cfg.AccountQueue {
			t.Fatalf("account %v has %d queued, limit %d", addr, len(a.queued), p.cfg.AccountQueue)
		}
		if spent.Cmp(a.spent) != 0 {
			t.Fatalf("account %v spent %v, sum of costs %v", addr, a.spent, spent)
		}
	}
	if len(seen) != len(p.all) {
		t.Fatalf("lookup holds %d txs, lists hold %d", len(p.all), len(seen))
	}
	if pending != p.numPending || queued != p.numQueued || pending+queued != len(p.all) {
		t.Fatalf("counts: lists %d+%d, counters %d+%d, lookup %d", pending, queued, p.numPending, p.numQueued, len(p.all))
	}
	if slots != p.numSlots {
		t.Fatalf("slots: sum %d, counter %d", slots, p.numSlots)
	}
	if slots > p.cfg.GlobalSlots {
		t.Fatalf("slots %d over capacity %d", slots, p.cfg.GlobalSlots)
	}
	if remote != len(p.prices.items) {
		t.Fatalf("price heap holds %d, remote txs %d", len(p.prices.items), remote)
	}
	for i := 1; i < len(p.prices.items); i++ {
		if p.prices.Less(i, (i-1)/2) {
			t.Fatalf("price heap order broken at %d", i)
		}
	}
	var _ heap.Interface = &p.prices
}

// advance moves the simulated clock in eviction-interval steps so each
// tick fires (a Simulated.Run only fires timers scheduled before it).
func (e *testEnv) advance(d time.Duration) {
	step := e.pool.cfg.EvictionInterval
	for ; d > 0; d -= step {
		e.clock.Run(min(step, d))
	}
	checkInternals(e.t, e.pool)
}

func cryptoAddr(key *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(key.PublicKey) }
