package state

import (
	"math/big"
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
