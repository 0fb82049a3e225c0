package libp2p

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"

	"github.com/emc-network/emcd/p2p"
)

var _ p2p.Streamer = (*Host)(nil)

// HandleStream serves protocol id with raw streams (p2p.Streamer): only
// handshaked peers, at most MaxInflight streams at once (more are reset).
func (h *Host) HandleStream(id string, handler p2p.StreamHandler) error {
	if id == "" || handler == nil {
		return errors.New("libp2p: HandleStream needs a protocol id and a handler")
	}
	h.mu.Lock()
	if h.handlers[id] {
		h.mu.Unlock()
		return fmt.Errorf("%w: %s", p2p.ErrAlreadyRegistered, id)
	}
	h.handlers[id] = true
	h.mu.Unlock()
	sem := make(chan struct{}, h.cfg.MaxInflight)
	h.host.SetStreamHandler(protocol.ID(id), func(s network.Stream) {
		from := s.Conn().RemotePeer()
		if !h.isVerified(from) && !h.awaitVerified(from, h.cfg.HandshakeTimeout) {
			s.Reset()
			return
		}
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		default:
			s.Reset()
			return
		}
		handler(h.ctx, p2p.PeerID(from.String()), s)
	})
	return nil
}

// OpenStream opens a raw stream of protocol id to a handshaked peer
// (p2p.Streamer).
func (h *Host) OpenStream(ctx context.Context, id p2p.PeerID, proto string) (p2p.Stream, error) {
	pid, err := peer.Decode(string(id))
	if err != nil {
		return nil, fmt.Errorf("%w: bad peer id %q", p2p.ErrNotConnected, id)
	}
	if !h.isVerified(pid) {
		return nil, fmt.Errorf("%w: %s", p2p.ErrNotConnected, id)
	}
	s, err := h.host.NewStream(ctx, pid, protocol.ID(proto))
	if err != nil {
		var ns multistream.ErrNotSupported[protocol.ID]
		if errors.As(err, &ns) {
			return nil, fmt.Errorf("%w: %s: %s", p2p.ErrUnknownProtocol, id, proto)
		}
		return nil, fmt.Errorf("libp2p: open %s to %s: %w", proto, id, err)
	}
	return s, nil
}
