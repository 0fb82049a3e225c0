package txpool

// Method: the pool's State is go-ethereum's *state.StateDB in the node, and a
// StateDB is not safe for concurrent use even by readers (loading an account
// writes its object map). exclusiveState imitates exactly that: every read
// writes a map and counts calls that overlap another call. Many goroutines
// ask Nonce (eth_getTransactionCount "pending") for accounts the pool does
// not know, which is the path that reads the head state under the read lock,
// while another goroutine adds transactions and moves the head. The test
// fails on any overlap, and under -race on the map write itself.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
)

// exclusiveState is a State that must never be entered by two goroutines
// at once.
type exclusiveState struct {
	inner    *fakeState
	loaded   map[common.Address]bool // written on every read, like StateDB.stateObjects
	busy     atomic.Int32
	overlaps *atomic.Int64
}

func (s *exclusiveState) enter() {
	if s.busy.Add(1) != 1 {
		s.overlaps.Add(1)
	}
	runtime.Gosched() // widen the window in which a second caller would overlap
}

func (s *exclusiveState) leave() { s.busy.Add(-1) }

func (s *exclusiveState) GetNonce(a common.Address) uint64 {
	s.enter()
	defer s.leave()
	s.loaded[a] = true
	return s.inner.GetNonce(a)
}

func (s *exclusiveState) GetBalance(a common.Address) *uint256.Int {
	s.enter()
	defer s.leave()
	s.loaded[a] = true
	return s.inner.GetBalance(a)
}

// exclusiveChain opens a fresh exclusiveState per StateAt, as state.Chain
// opens a fresh StateDB.
type exclusiveChain struct {
	*fakeChain
	overlaps atomic.Int64
}

func (c *exclusiveChain) StateAt(root common.Hash) (State, error) {
	st, err := c.fakeChain.StateAt(root)
	if err != nil {
		return nil, err
	}
	return &exclusiveState{inner: st.(*fakeState), loaded: make(map[common.Address]bool), overlaps: &c.overlaps}, nil
}

func TestConcurrentNonceNeverSharesState(t *testing.T) {
	const (
		accounts = 64
		readers  = 16
		blocks   = 20
	)
	chain := &exclusiveChain{fakeChain: newFakeChain()}
	keys := make([]common.Address, accounts)
	for i := range accounts {
		keys[i] = cryptoAddr(testKey(i))
		// Account i starts at nonce i, so a reader can check what it gets.
		chain.set(keys[i], uint64(i), eth(100))
	}
	chain.commit(testBaseFee)
	p, err := New(Config{}, chain, testSigner, new(mclock.Simulated), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Senders are the first 8 accounts; the others are only ever read, so
	// Nonce must go to the state for them and must return their fixed nonce.
	const senders = 8
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a := senders + (r+i)%(accounts-senders)
				if got := p.Nonce(keys[a]); got != uint64(a) {
					wrong.Add(1)
				}
			}
		}()
	}

	deadline := time.After(30 * time.Second)
	next := make([]uint64, senders)
	for s := range senders {
		next[s] = uint64(s)
	}
	for b := 0; b < blocks; b++ {
		for s := range senders {
			var txs []*types.Transaction
			for n := range uint64(4) {
				txs = append(txs, tipTx(testKey(s), next[s]+n, 1))
			}
			for i, err := range p.Add(txs, true) {
				if err != nil {
					t.Fatalf("block %d sender %d tx %d: %v", b, s, i, err)
				}
			}
			next[s] += 4
		}
		// Mine everything: the senders' nonces move in the state.
		for s := range senders {
			chain.set(keys[s], next[s], eth(100))
		}
		if err := p.Reset(chain.commit(testBaseFee)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-deadline:
			t.Fatal("test ran out of time")
		default:
		}
	}
	close(stop)
	wg.Wait()
	if n := chain.overlaps.Load(); n > 0 {
		t.Fatalf("the pool called its State from two goroutines at once %d times", n)
	}
	if n := wrong.Load(); n > 0 {
		t.Fatalf("Nonce returned a wrong nonce %d times", n)
	}
	checkInternals(t, p)
}
