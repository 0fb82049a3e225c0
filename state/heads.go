package state

import (
	"context"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
)

// HeadFeed is what FollowHeads needs: a chain's head subscription.
type HeadFeed interface {
	SubscribeHead(ch chan<- HeadEvent) event.Subscription
}

// HeadFollower delivers a chain's newest head to a consumer that may be
// slower than the chain, or that itself inserts blocks. The chain sends
// head events while it holds its insert lock, so a consumer that read them
// directly and then called InsertBlock (or waited on anything that does)
// could deadlock with it once the channel filled. A forwarder that never
// waits on the consumer keeps only the newest head instead: consumers must
// handle jumps of more than one block.
type HeadFollower struct {
	// C delivers the newest head not yet taken; older ones are dropped.
	C <-chan *types.Header

	sub     event.Subscription
	stop    chan struct{}
	stopped chan struct{}
}

// FollowHeads subscribes to feed's heads; Stop ends it.
func FollowHeads(feed HeadFeed) *HeadFollower {
	heads := make(chan HeadEvent, 64)
	latest := make(chan *types.Header, 1)
	f := &HeadFollower{C: latest, sub: feed.SubscribeHead(heads), stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(f.stopped)
		for {
			select {
			case <-f.stop:
				return
			case ev := <-heads:
				select {
				case <-latest: // superseded
				default:
				}
				latest <- ev.Block.Header() // the only sender: never blocks
			}
		}
	}()
	return f
}

// Err is the subscription's error channel (closed by Stop).
func (f *HeadFollower) Err() <-chan error { return f.sub.Err() }

// Stop unsubscribes first, so that no head is sent to a channel the
// forwarder no longer drains, then stops the forwarder and waits for it.
func (f *HeadFollower) Stop() {
	f.sub.Unsubscribe()
	close(f.stop)
	<-f.stopped
}

// HeadSource is a chain's head subscription and its current head.
type HeadSource interface {
	HeadFeed
	Head() *types.Header
}

// PassOnHeads runs pass on the current head at once, then on every new head
// (through a HeadFollower: heads a slow pass missed are skipped), and on the
// current head each time wake fires or every tick (a dev chain may not move
// while retries are due; tick 0: no tick, wake nil: no wake). It returns
// nil when ctx ends, the subscription's error, or the first error of pass
// while ctx is live.
func PassOnHeads(ctx context.Context, src HeadSource, tick time.Duration, wake <-chan struct{}, pass func(context.Context, *types.Header) error) error {
	heads := FollowHeads(src)
	defer heads.Stop()
	var tickC <-chan time.Time
	if tick > 0 {
		t := time.NewTicker(tick)
		defer t.Stop()
		tickC = t.C
	}
	head := src.Head()
	for {
		if err := pass(ctx, head); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-heads.Err():
			return err
		case head = <-heads.C:
		case <-wake:
			head = src.Head()
		case <-tickC:
			head = src.Head()
		}
	}
}
