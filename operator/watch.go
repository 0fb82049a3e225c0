package operator

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

// WatchHeads streams heads from the backend to one client. Two goroutines
// split the work so a slow client can never stall the node:
//
//   - the pump (pumpHeads) receives from the backend subscription and moves
//     each head into a queue of Config.HeadBuffer without blocking; a full
//     queue ends the pump with ErrSlowConsumer and unsubscribes at once;
//   - the handler goroutine sends queued heads to the client. gRPC allows
//     only one sender per stream, and Send may block on flow control, so it
//     checks before each send whether the pump has ended and, if so,
//     returns the pump's reason instead of draining the queue.
//
// The handler returns only after the pump has returned, so no subscription
// outlives its stream.
func (v *service) WatchHeads(_ *pb.WatchHeadsRequest, stream grpc.ServerStreamingServer[pb.WatchHeadsResponse]) error {
	s := v.s
	select {
	case s.watchers <- struct{}{}:
	default:
		return fmt.Errorf("%w (limit %d)", ErrTooManyWatchers, s.cfg.MaxWatchers)
	}
	defer func() { <-s.watchers }()

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	in := make(chan Head, s.cfg.HeadBuffer)
	queue := make(chan Head, s.cfg.HeadBuffer)
	sub := s.b.SubscribeHeads(in)
	pumped := make(chan error, 1)
	go func() { pumped <- pumpHeads(ctx, s.quit, sub, in, queue) }()

	for {
		// Prefer the pump's end over queued heads: a dropped client gets
		// no more, a cancelled one needs no more.
		select {
		case err := <-pumped:
			return s.watchEnded(ctx, err)
		default:
		}
		select {
		case err := <-pumped:
			return s.watchEnded(ctx, err)
		case h := <-queue:
			if err := stream.Send(&pb.WatchHeadsResponse{Head: headPB(h)}); err != nil {
				cancel()
				<-pumped
				return err
			}
		}
	}
}

// pumpHeads moves heads from in to out until ctx is done, quit is closed,
// the subscription ends or out is full. It never blocks on out, and it
// unsubscribes before returning.
func pumpHeads(ctx context.Context, quit <-chan struct{}, sub Subscription, in <-chan Head, out chan<- Head) error {
	defer sub.Unsubscribe()
	for {
		select {
		case h := <-in:
			select {
			case out <- h:
			default:
				return fmt.Errorf("%w: %d heads behind at head %d", ErrSlowConsumer, cap(out), h.Number)
			}
		case err, ok := <-sub.Err():
			if ok && err != nil {
				return fmt.Errorf("%w: %w", ErrSubscriptionEnded, err)
			}
			return ErrSubscriptionEnded
		case <-quit:
			return ErrStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchEnded logs why a watch stream ended and returns the handler's error.
func (s *Server) watchEnded(ctx context.Context, err error) error {
	client := "unknown"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		client = p.Addr.String()
	}
	switch {
	case ctx.Err() != nil:
		// The client went away; nothing to report.
		return ctx.Err()
	case errors.Is(err, ErrStopped):
		s.log.Debug("head watcher ended", "client", client, "err", err)
	default:
		s.log.Warn("head watcher ended", "client", client, "err", err)
	}
	return err
}
