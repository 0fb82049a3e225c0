package devseal

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
)

// idlePool never has a transaction.
type idlePool struct{}

type noTxs struct{}

func (noTxs) Peek() *types.Transaction { return nil }
func (noTxs) Shift()                   {}
func (noTxs) Pop()                     {}

func (idlePool) Source() state.TxSource            { return noTxs{} }
func (idlePool) PendingCount() int                 { return 0 }
func (idlePool) Reset(*types.Header) error         { return nil }
func (idlePool) Notify() (<-chan struct{}, func()) { return nil, func() {} }

// Without a period the sealer seals empty blocks only while Busy says so,
// one per BusyPeriod at most.
func TestBusySealing(t *testing.T) {
	chain, err := state.Open(state.OpenMemoryStore(), genesis.Dev(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	var busy atomic.Bool
	var asked atomic.Int64
	s := New(Config{Key: genesis.DevSignerKey(), BusyPeriod: 10 * time.Millisecond,
		Busy: func() bool { asked.Add(1); return busy.Load() }}, chain, idlePool{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	head := func() uint64 { return chain.Head().Number.Uint64() }
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (head %d)", what, head())
			}
		}
	}
	wait("Busy asked", func() bool { return asked.Load() >= 5 })
	if h := head(); h != 0 {
		t.Fatalf("idle and not busy: %d blocks sealed", h)
	}
	busy.Store(true)
	start := time.Now()
	wait("busy blocks", func() bool { return head() >= 3 })
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("3 blocks in %v: faster than one per busy period", el)
	}
	busy.Store(false)
	time.Sleep(30 * time.Millisecond) // a tick in flight may still seal one
	h := head()
	n := asked.Load()
	wait("Busy asked again", func() bool { return asked.Load() >= n+5 })
	if head() != h {
		t.Fatalf("not busy: blocks %d → %d", h, head())
	}
}
