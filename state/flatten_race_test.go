package state

// Readers against a chain whose state layers are flattened on every block:
// with 2 diff layers and a 1 MB write buffer, each new block merges the
// bottom layer into the disk layer (state history written and indexed in
// go-ethereum's background writer) and the buffer flushes to pebble once
// new accounts have filled it (at block 62 of 80), while RPC-like readers open random historical states and the
// head throughout. Every read must return the exact balance of its block,
// and the whole run must finish: a deadlock between readers, the
// inserter and the history writer fails with every goroutine's stack. Run
// under -race in CI's race leg (state is a core package).

import (
	"bytes"
	"fmt"
	"math/big"
	"math/rand/v2"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
)

func TestReadsWhileLayersFlatten(t *testing.T) {
	defer SetDiffLayers(SetDiffLayers(2))
	// 80 blocks also under -short: the buffer's flush comes at block 62.
	blocks, perBlock, fresh, readers := 80, 4, 150, 4
	tc, db := openChainAt(t, t.TempDir(), StorageConfig{WriteBufferMB: 1})
	defer closeClean(t, tc, db)
	sink := common.Address{7}
	// go-ethereum's history indexer finishes its first pass after an open
	// at once or at its 15 s heartbeat (whichever sees its sync state
	// first); only then are states below the layers readable.
	waitHistoryReady(t, tc.Chain)

	var (
		wg       sync.WaitGroup
		done     = make(chan struct{})
		reads    atomic.Int64
		historic atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				head := tc.Head().Number.Uint64()
				if head == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				n := head
				if rng.IntN(2) == 0 {
					n = 1 + rng.Uint64N(head)
				}
				h := tc.HeaderByNumber(n)
				st, err := tc.StateAt(h.Root)
				if err != nil {
					fail(fmt.Errorf("state of block %d (head %d): %w", n, head, err))
					return
				}
				if got, want := st.GetBalance(sink).Uint64(), uint64(5*perBlock)*n; got != want {
					fail(fmt.Errorf("balance at block %d (head %d) = %d, want %d", n, head, got, want))
					return
				}
				reads.Add(1)
				if n+uint64(DiffLayers()) < head {
					historic.Add(1)
				}
				time.Sleep(200 * time.Microsecond) // leave the inserter a core
			}
		}()
	}

	// The watchdog: the run takes seconds; a hang prints every stack.
	watchdog := time.AfterFunc(3*time.Minute, func() {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
		panic(fmt.Sprintf("TestReadsWhileLayersFlatten: no progress in 3 minutes (head %d)\n%s", tc.Head().Number, buf.String()))
	})
	defer watchdog.Stop()

	nonce := uint64(0)
	for i := range blocks {
		txs := make([]*types.Transaction, 0, perBlock+fresh)
		for range perBlock {
			txs = append(txs, tc.transfer(0, nonce, sink, big.NewInt(5)))
			nonce++
		}
		// New accounts grow the trie so the 1 MB buffer flushes.
		for j := range fresh {
			to := common.BytesToAddress([]byte{0xfe, byte(i >> 8), byte(i), byte(j)})
			txs = append(txs, tc.transfer(0, nonce, to, big.NewInt(1)))
			nonce++
		}
		tc.mine(txs...)
		errMu.Lock()
		err := firstErr
		errMu.Unlock()
		if err != nil {
			break
		}
	}
	time.Sleep(100 * time.Millisecond) // reads of the last states too
	close(done)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	t.Logf("%d blocks; %d reads, %d of them below the layers", tc.Head().Number, reads.Load(), historic.Load())
	if historic.Load() == 0 {
		t.Fatal("no read went below the layers")
	}
	// The write buffer flushed to pebble during the run.
	if id := rawdb.ReadPersistentStateID(db); id == 0 {
		t.Fatal("the write buffer never flushed")
	} else {
		t.Logf("persisted state id %d", id)
	}
}
