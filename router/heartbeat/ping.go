package heartbeat

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/emc-network/emcd/p2p"
)

// pingNonce is the size of a ping request; the response echoes it.
const pingNonce = 16

// PingTimeout bounds one ping exchange.
const PingTimeout = 5 * time.Second

// PingSpec is the Spec of the ping protocol (p2p.Names.Ping): a 16-byte
// nonce, echoed back.
func PingSpec(names p2p.Names) p2p.Spec {
	return p2p.Spec{ID: names.Ping(), MaxRequest: pingNonce, MaxResponse: pingNonce, Timeout: PingTimeout}
}

// ServePing registers the ping handler on srv: compute nodes serve it so
// routers can measure their round-trip time.
func ServePing(srv p2p.Server, spec p2p.Spec) error {
	return srv.Handle(spec, func(_ context.Context, _ p2p.PeerID, req []byte) ([]byte, error) {
		if len(req) != pingNonce {
			return nil, fmt.Errorf("%w: ping of %d bytes, want %d", p2p.ErrMalformed, len(req), pingNonce)
		}
		return req, nil
	})
}

// Ping measures one round trip to peer with now as the clock (the
// monotonic reading of time.Now makes the difference immune to wall-clock
// jumps).
func Ping(ctx context.Context, req p2p.Requester, spec p2p.Spec, peer p2p.PeerID, now func() time.Time) (time.Duration, error) {
	nonce := make([]byte, pingNonce)
	if _, err := rand.Read(nonce); err != nil {
		return 0, fmt.Errorf("heartbeat: ping nonce: %w", err)
	}
	start := now()
	resp, err := req.Request(ctx, peer, spec, nonce)
	rtt := now().Sub(start)
	if err != nil {
		return 0, fmt.Errorf("heartbeat: ping %s: %w", peer.ShortString(), err)
	}
	if !bytes.Equal(resp, nonce) {
		return 0, fmt.Errorf("heartbeat: ping %s: %w: answer does not echo the nonce", peer.ShortString(), p2p.ErrMalformed)
	}
	// A clock too coarse to see the exchange still yields a positive sample.
	return max(rtt, time.Nanosecond), nil
}
