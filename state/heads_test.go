package state

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
)

type testFeed struct{ event.Feed }

func (f *testFeed) SubscribeHead(ch chan<- HeadEvent) event.Subscription { return f.Subscribe(ch) }

func headEvent(n int64) HeadEvent {
	return HeadEvent{Block: types.NewBlockWithHeader(&types.Header{Number: big.NewInt(n)})}
}

// The chain's sends never wait on a consumer that does not read, and the
// consumer then sees the newest head.
func TestHeadFollowerNeverBlocksTheChain(t *testing.T) {
	var feed testFeed
	f := FollowHeads(&feed)
	defer f.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := int64(1); n <= 1000; n++ {
			feed.Send(headEvent(n))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the chain's head sends blocked on a consumer that does not read")
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case h := <-f.C:
			if h.Number.Int64() == 1000 {
				return
			}
		case <-deadline:
			t.Fatal("the newest head never arrived")
		}
	}
}

// After Stop, sends do not block either (the subscription is gone).
func TestHeadFollowerStop(t *testing.T) {
	var feed testFeed
	f := FollowHeads(&feed)
	f.Stop()
	if n := feed.Send(headEvent(1)); n != 0 {
		t.Fatalf("a stopped follower still received %d sends", n)
	}
}

type testSource struct {
	testFeed
	mu   sync.Mutex
	head *types.Header
}

func (s *testSource) Head() *types.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head
}

// PassOnHeads passes the current head at start, each new head, the current
// head on a wake, ends on ctx with nil and on a pass error with it.
func TestPassOnHeads(t *testing.T) {
	src := &testSource{head: headEvent(5).Block.Header()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint64, 16)
	wake := make(chan struct{})
	boom := errors.New("boom")
	done := make(chan error, 1)
	go func() {
		done <- PassOnHeads(ctx, src, 0, wake, func(_ context.Context, h *types.Header) error {
			got <- h.Number.Uint64()
			if h.Number.Uint64() == 99 {
				return boom
			}
			return nil
		})
	}()
	next := func() uint64 {
		t.Helper()
		select {
		case n := <-got:
			return n
		case <-time.After(30 * time.Second):
			t.Fatal("no pass")
			return 0
		}
	}
	if n := next(); n != 5 {
		t.Fatalf("first pass on %d, want the current head 5", n)
	}
	// The follower subscribes before the first pass: a head sent now arrives.
	src.Send(headEvent(6))
	if n := next(); n != 6 {
		t.Fatalf("pass on %d, want the new head 6", n)
	}
	src.mu.Lock()
	src.head = headEvent(7).Block.Header()
	src.mu.Unlock()
	wake <- struct{}{}
	if n := next(); n != 7 {
		t.Fatalf("pass on %d after a wake, want the current head 7", n)
	}
	src.Send(headEvent(99))
	if n := next(); n != 99 {
		t.Fatalf("pass on %d, want 99", n)
	}
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("returned %v, want the pass error", err)
	}
	// Cancelled: nil, even if a pass then fails.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := PassOnHeads(ctx2, src, time.Millisecond, nil, func(context.Context, *types.Header) error { return boom }); err != nil {
		t.Fatalf("after cancel: %v, want nil", err)
	}
}
