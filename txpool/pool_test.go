package txpool

// Method: scenario tests on a fake chain and a simulated clock. Every step
// goes through testEnv, which runs checkInternals afterwards, so each
// scenario also checks that the lookup, lists, counters and price heap stay
// consistent through it.

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"
)

func TestNonceGapThenFillPromotes(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := testKey(0)
	addr := env.fund(key, 0, eth(10))
	events := make(chan []*types.Transaction, 16)
	defer env.pool.SubscribeNewTxs(events)()

	env.mustAdd(tipTx(key, 0, 1))
	env.mustAdd(tipTx(key, 2, 1), tipTx(key, 3, 1))
	env.wantStats(1, 2)
	if n := env.pool.Nonce(addr); n != 1 {
		t.Fatalf("pending nonce %d, want 1", n)
	}
	pending, queued := env.pool.ContentFrom(addr)
	if len(pending) != 1 || len(queued) != 2 || queued[0].Nonce() != 2 || queued[1].Nonce() != 3 {
		t.Fatalf("content: pending %d queued %d", len(pending), len(queued))
	}
	env.mustAdd(tipTx(key, 1, 1))
	env.wantStats(4, 0)
	if n := env.pool.Nonce(addr); n != 4 {
		t.Fatalf("pending nonce %d, want 4", n)
	}
	// Events: [0], then [1 2 3] (the filler and what it promoted).
	var got []uint64
	for len(events) > 0 {
		for _, tx := range <-events {
			got = append(got, tx.Nonce())
		}
	}
	if want := []uint64{0, 1, 2, 3}; !equalU64(got, want) {
		t.Fatalf("announced nonces %v, want %v", got, want)
	}
}

func TestBackToBack1000FromOneAccount(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := testKey(0)
	addr := env.fund(key, 0, eth(1000))
	txs := make([]*types.Transaction, 1000)
	for i := range txs {
		txs[i] = tipTx(key, uint64(i), 1)
	}
	for i := range 10 { // ten RPC-sized batches
		env.mustAdd(txs[i*100 : (i+1)*100]...)
	}
	env.wantStats(1000, 0)
	if n := env.pool.Nonce(addr); n != 1000 {
		t.Fatalf("pending nonce %d, want 1000", n)
	}
	if got := len(env.pool.Pending(big.NewInt(testBaseFee))[addr]); got != 1000 {
		t.Fatalf("Pending has %d, want 1000", got)
	}
}

func TestBackToBack1000Shuffled(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := testKey(0)
	env.fund(key, 0, eth(1000))
	txs := make([]*types.Transaction, 1000)
	for i := range txs {
		txs[i] = tipTx(key, uint64(i), 1)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
	errs := env.pool.Add(txs, false)
	checkInternals(t, env.pool)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
	}
	env.wantStats(1000, 0)
}

func TestPoolFullEvictsCheapest(t *testing.T) {
	env := newTestEnv(t, Config{GlobalSlots: 4})
	for i := range 6 {
		env.fund(testKey(i), 0, eth(10))
	}
	// Four accounts, tips 2..5 gwei: full.
	for i := range 4 {
		env.mustAdd(tipTx(testKey(i), 0, uint64(i+2)))
	}
	env.wantStats(4, 0)
	cheapest := tipTx(testKey(0), 0, 2)

	// Cheaper than everything: refused, nothing changes.
	if err := env.add(false, tipTx(testKey(4), 0, 1))[0]; !errors.Is(err, ErrPoolFull) {
		t.Fatalf("have %v, want ErrPoolFull", err)
	}
	// Pays more than the cheapest: the cheapest goes.
	better := tipTx(testKey(4), 0, 3)
	env.mustAdd(better)
	if env.pool.Has(cheapest.Hash()) || !env.pool.Has(better.Hash()) {
		t.Fatal("cheapest not evicted for the better tx")
	}
	env.wantStats(4, 0)

	// A local tx gets in even when cheaper, by evicting the cheapest remote.
	local := tipTx(testKey(5), 0, 1)
	if err := env.add(true, local)[0]; err != nil {
		t.Fatal(err)
	}
	if !env.pool.Has(local.Hash()) {
		t.Fatal("local tx not admitted")
	}
	if env.pool.Has(better.Hash()) {
		t.Fatal("of two equal-priced txs the newer should go first")
	}
	env.wantStats(4, 0)
}

func TestPoolFullOfLocalsRejectsRemote(t *testing.T) {
	env := newTestEnv(t, Config{GlobalSlots: 2})
	for i := range 3 {
		env.fund(testKey(i), 0, eth(10))
	}
	for i := range 2 {
		if err := env.add(true, tipTx(testKey(i), 0, 1))[0]; err != nil {
			t.Fatal(err)
		}
	}
	if err := env.add(false, tipTx(testKey(2), 0, 50))[0]; !errors.Is(err, ErrPoolFull) {
		t.Fatalf("have %v, want ErrPoolFull", err)
	}
}

func TestEvictingPendingDemotesSuccessors(t *testing.T) {
	env := newTestEnv(t, Config{GlobalSlots: 3})
	a, b := testKey(0), testKey(1)
	env.fund(a, 0, eth(10))
	env.fund(b, 0, eth(10))
	// a: nonce 0 cheap, 1 and 2 expensive.
	env.mustAdd(tipTx(a, 0, 1), tipTx(a, 1, 9), tipTx(a, 2, 9))
	env.wantStats(3, 0)
	env.mustAdd(tipTx(b, 0, 5))
	// a's nonce 0 was evicted; 1 and 2 can no longer execute.
	env.wantStats(1, 2)
	if n := env.pool.Nonce(crypto.PubkeyToAddress(a.PublicKey)); n != 0 {
		t.Fatalf("pending nonce %d, want 0", n)
	}
	// Refilling the gap (the sender's own txs are never evicted to make room
	// for it, so it needs a cheaper victim elsewhere: none) is refused...
	if err := env.add(false, tipTx(a, 0, 2))[0]; !errors.Is(err, ErrPoolFull) {
		t.Fatalf("have %v, want ErrPoolFull", err)
	}
	// ...until b's tx is mined.
	env.chain.set(crypto.PubkeyToAddress(b.PublicKey), 1, eth(9))
	env.block(testBaseFee)
	env.mustAdd(tipTx(a, 0, 2))
	env.wantStats(3, 0)
}

func TestQueueGlobalLimitDropsIdlest(t *testing.T) {
	env := newTestEnv(t, Config{GlobalQueue: 2})
	for i := range 3 {
		env.fund(testKey(i), 0, eth(10))
	}
	env.mustAdd(tipTx(testKey(0), 5, 1))
	env.clock.Run(time.Second)
	env.mustAdd(tipTx(testKey(1), 5, 1))
	env.clock.Run(time.Second)
	env.mustAdd(tipTx(testKey(2), 5, 1))
	env.wantStats(0, 2)
	if env.pool.Has(tipTx(testKey(0), 5, 1).Hash()) {
		t.Fatal("the idlest account's queued tx should have been dropped")
	}
}

func TestResetAfterMinedBlock(t *testing.T) {
	env := newTestEnv(t, Config{})
	key, other := testKey(0), testKey(1)
	addr := env.fund(key, 0, eth(10))
	otherAddr := env.fund(other, 0, eth(10))
	events := make(chan []*types.Transaction, 16)
	defer env.pool.SubscribeNewTxs(events)()

	for n := range uint64(5) {
		env.mustAdd(tipTx(key, n, 1))
	}
	env.mustAdd(tipTx(key, 7, 1))              // queued behind a gap at 5, 6
	env.mustAdd(tipTx(other, 1, 1))            // queued behind other's nonce 0
	env.mustAdd(dynTx(other, 3, 3*gwei, gwei)) // queued, fee cap low
	env.wantStats(5, 3)
	for len(events) > 0 {
		<-events
	}

	// A block mines key's 0..2 and, from elsewhere, other's nonce 0.
	env.chain.set(addr, 3, eth(9))
	env.chain.set(otherAddr, 1, eth(9))
	env.block(testBaseFee)
	env.wantStats(3, 2) // key: 3,4 pending, 7 queued; other: 1 promoted, 3 queued
	if n := env.pool.Nonce(addr); n != 5 {
		t.Fatalf("key pending nonce %d, want 5", n)
	}
	if n := env.pool.Nonce(otherAddr); n != 2 {
		t.Fatalf("other pending nonce %d, want 2", n)
	}
	got := <-events
	if len(got) != 1 || got[0].Nonce() != 1 {
		t.Fatalf("announced %v, want other's nonce 1", got)
	}
	if len(events) != 0 {
		t.Fatal("already-pending txs announced again")
	}

	// The balance drops so that one tx (cost 2.1e15) no longer fits: key's
	// pending txs are each unaffordable now and all go.
	env.chain.set(addr, 3, uint256.NewInt(1e15))
	env.block(testBaseFee)
	if p, _ := env.pool.ContentFrom(addr); len(p) != 0 {
		t.Fatalf("key still has %d pending", len(p))
	}

	// The base fee rises over other's queued fee cap; pending txs stay but
	// the builder skips what cannot pay.
	env.chain.set(otherAddr, 1, eth(9))
	env.block(50 * gwei)
	if p, _ := env.pool.ContentFrom(otherAddr); len(p) != 1 {
		t.Fatalf("other has %d pending, want 1 (kept under high base fee)", len(p))
	}
	if n := len(env.pool.Pending(big.NewInt(200 * gwei))); n != 0 {
		t.Fatalf("Pending(200 gwei) has %d accounts, want 0", n)
	}
	if err := env.add(false, dynTx(other, 2, 49*gwei, gwei))[0]; !errors.Is(err, ErrFeeCapTooLow) {
		t.Fatalf("have %v, want ErrFeeCapTooLow", err)
	}
	env.mustAdd(tipTx(other, 2, 1)) // fills the gap: 3 (fee cap 3 gwei) becomes pending, unselectable
	if p, _ := env.pool.ContentFrom(otherAddr); len(p) != 3 {
		t.Fatalf("other has %d pending, want 3", len(p))
	}
	if got := len(env.pool.Pending(big.NewInt(50 * gwei))[otherAddr]); got != 2 {
		t.Fatalf("Pending(50 gwei) lists %d of other's txs, want 2", got)
	}
}

func TestResetDropsUnaffordableMiddleAndDemotes(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := testKey(0)
	addr := env.fund(key, 0, eth(10))
	env.mustAdd(tipTx(key, 0, 1))
	big := types.MustSignNewTx(key, testSigner, &types.DynamicFeeTx{ChainID: big.NewInt(testChainID), Nonce: 1,
		GasFeeCap: big.NewInt(100 * gwei), GasTipCap: big.NewInt(gwei), Gas: transferGas, To: &recipient, Value: eth(5).ToBig()})
	env.mustAdd(big, tipTx(key, 2, 1))
	env.wantStats(3, 0)
	env.chain.set(addr, 0, eth(4))
	env.block(testBaseFee)
	env.wantStats(1, 1) // 1 dropped, 2 demoted behind the new gap
}

func TestStaleQueuedEviction(t *testing.T) {
	env := newTestEnv(t, Config{Lifetime: time.Hour, EvictionInterval: time.Minute})
	remote, local := testKey(0), testKey(1)
	env.fund(remote, 0, eth(10))
	env.fund(local, 0, eth(10))
	env.mustAdd(tipTx(remote, 0, 1), tipTx(remote, 5, 1))
	if err := env.add(true, tipTx(local, 5, 1))[0]; err != nil {
		t.Fatal(err)
	}
	env.wantStats(1, 2)
	env.advance(59 * time.Minute)
	env.wantStats(1, 2)
	env.advance(2 * time.Minute)
	env.wantStats(1, 1) // remote queued gone; pending and local queued kept
	if env.pool.Has(tipTx(remote, 5, 1).Hash()) || !env.pool.Has(tipTx(local, 5, 1).Hash()) {
		t.Fatal("wrong tx evicted")
	}
}

func TestStaleEvictionActivityResets(t *testing.T) {
	env := newTestEnv(t, Config{Lifetime: time.Hour, EvictionInterval: time.Minute})
	key := testKey(0)
	env.fund(key, 0, eth(10))
	env.mustAdd(tipTx(key, 5, 1))
	env.advance(50 * time.Minute)
	env.mustAdd(tipTx(key, 7, 1)) // activity: the account's clock restarts
	env.advance(50 * time.Minute)
	env.wantStats(0, 2)
	env.advance(11 * time.Minute)
	env.wantStats(0, 0)
}

func TestCloseStopsAdd(t *testing.T) {
	env := newTestEnv(t, Config{})
	env.fund(testKey(0), 0, eth(1))
	env.pool.Close()
	if err := env.pool.Add([]*types.Transaction{tipTx(testKey(0), 0, 1)}, false)[0]; !errors.Is(err, ErrClosed) {
		t.Fatalf("have %v, want ErrClosed", err)
	}
	env.clock.Run(time.Hour) // no tick after close
}

func TestContentAndGet(t *testing.T) {
	env := newTestEnv(t, Config{})
	a, b := testKey(0), testKey(1)
	addrA, addrB := env.fund(a, 0, eth(1)), env.fund(b, 0, eth(1))
	tx := tipTx(a, 0, 1)
	env.mustAdd(tx, tipTx(a, 1, 1), tipTx(b, 3, 1), tipTx(b, 2, 1))
	pending, queued := env.pool.Content()
	if len(pending[addrA]) != 2 || len(queued[addrB]) != 2 || queued[addrB][0].Nonce() != 2 || len(pending[addrB]) != 0 {
		t.Fatalf("content: %v %v", pending, queued)
	}
	if env.pool.Get(tx.Hash()) != tx || env.pool.Get(common.Hash{1}) != nil {
		t.Fatal("Get")
	}
	if n := env.pool.Nonce(common.Address{9}); n != 0 {
		t.Fatalf("Nonce of unknown account %d", n)
	}
}

func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	env := newTestEnv(t, Config{Metrics: m})
	env.fund(testKey(0), 0, eth(1))
	env.mustAdd(tipTx(testKey(0), 0, 1))
	env.add(false, tipTx(testKey(0), 0, 1))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) == 0 {
		t.Fatalf("gather: %v (%d families)", err, len(mfs))
	}
}

func TestSubscriberNeverBlocks(t *testing.T) {
	env := newTestEnv(t, Config{})
	env.fund(testKey(0), 0, eth(1))
	ch := make(chan []*types.Transaction) // unbuffered, never read
	unsub := env.pool.SubscribeNewTxs(ch)
	env.mustAdd(tipTx(testKey(0), 0, 1))
	unsub()
	unsub()
}

// TestConcurrent runs writers, readers and resets together for -race.
func TestConcurrent(t *testing.T) {
	env := newTestEnv(t, Config{})
	const accounts, perAccount = 8, 50
	for i := range accounts {
		env.fund(testKey(i), 0, eth(10))
	}
	txs := make([][]*types.Transaction, accounts)
	for i := range txs {
		for n := range uint64(perAccount) {
			txs[i] = append(txs[i], tipTx(testKey(i), n, uint64(1+i)))
		}
	}
	var wg sync.WaitGroup
	for i := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tx := range txs[i] {
				env.pool.Add([]*types.Transaction{tx}, i%2 == 0)
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			env.pool.Stats()
			env.pool.Content()
			it := env.pool.Ordered(nil)
			for tx, _ := it.Peek(); tx != nil; tx, _ = it.Peek() {
				it.Shift()
			}
			_ = env.pool.Reset(env.chain.Head())
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	checkInternals(t, env.pool)
	env.wantStats(accounts*perAccount, 0)
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A pool whose head state cannot be opened is an error for the caller to
// report, not a panic.
func TestNewFailsWithoutHeadState(t *testing.T) {
	chain := newFakeChain()
	chain.head.Root = common.HexToHash("0xdead")
	p, err := New(Config{}, chain, testSigner, new(mclock.Simulated), nil)
	if err == nil || p != nil {
		t.Fatalf("New on a chain without head state: %v, %v; want an error", p, err)
	}
}

// Reset opens the new head's state outside the pool's lock, so two resets
// can finish out of order; the older head must not win (under BFT finality
// heads only grow).
func TestResetToAnOlderHeadIsIgnored(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := testKey(0)
	addr := env.fund(key, 0, eth(10))
	old := env.chain.Head()
	env.chain.set(addr, 5, eth(10)) // five txs of this account mined
	env.block(testBaseFee)
	if err := env.pool.Reset(old); err != nil {
		t.Fatal(err)
	}
	checkInternals(t, env.pool)
	if n := env.pool.Nonce(addr); n != 5 {
		t.Fatalf("pending nonce %d after a stale reset, want 5 (the newer head's)", n)
	}
}
