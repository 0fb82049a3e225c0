package libp2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"

	"github.com/emc-network/emcd/p2p"
)

// Handle serves spec: one request frame in, one response frame out, each
// bounded by the spec, the whole exchange bounded by its timeout, at most
// MaxInflight at once (more are reset).
func (h *Host) Handle(spec p2p.Spec, handler p2p.Handler) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	h.mu.Lock()
	if h.handlers[spec.ID] {
		h.mu.Unlock()
		return fmt.Errorf("%w: %s", p2p.ErrAlreadyRegistered, spec.ID)
	}
	h.handlers[spec.ID] = true
	h.mu.Unlock()
	sem := make(chan struct{}, h.cfg.MaxInflight)
	timeout := spec.TimeoutOrDefault()
	h.host.SetStreamHandler(protocol.ID(spec.ID), func(s network.Stream) {
		from := s.Conn().RemotePeer()
		if !h.isVerified(from) && !h.awaitVerified(from, min(timeout, h.cfg.HandshakeTimeout)) {
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
		pid := p2p.PeerID(from.String())
		_ = s.SetDeadline(time.Now().Add(timeout))
		req, err := p2p.ReadFrame(bufio.NewReader(s), spec.MaxRequest)
		if err != nil {
			s.Reset()
			if errors.Is(err, p2p.ErrTooLarge) || errors.Is(err, p2p.ErrMalformed) {
				h.Penalize(pid, p2p.PenaltyMalformed, fmt.Sprintf("%s request: %v", spec.ID, err))
			} else {
				h.Penalize(pid, p2p.PenaltyMinor, fmt.Sprintf("%s request: %v", spec.ID, err))
			}
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, timeout)
		resp, herr := handler(ctx, pid, req)
		cancel()
		if errors.Is(herr, p2p.ErrMalformed) {
			h.Penalize(pid, p2p.PenaltyMalformed, herr.Error())
		}
		if herr == nil && len(resp) > spec.MaxResponse {
			h.log.Error("handler response over its limit", "protocol", spec.ID, "size", len(resp))
			herr = fmt.Errorf("%w: response over limit", p2p.ErrTooLarge)
		}
		if err := p2p.WriteResponse(s, resp, herr); err != nil {
			s.Reset()
			return
		}
		_ = s.Close()
	})
	return nil
}

// Request opens a stream to peer, sends req and reads the response. A peer
// that answers with an oversized or malformed frame is penalised.
func (h *Host) Request(ctx context.Context, id p2p.PeerID, spec p2p.Spec, req []byte) ([]byte, error) {
	if len(req) > spec.MaxRequest {
		return nil, fmt.Errorf("%w: request of %d bytes, limit %d", p2p.ErrTooLarge, len(req), spec.MaxRequest)
	}
	pid, err := peer.Decode(string(id))
	if err != nil {
		return nil, fmt.Errorf("%w: bad peer id %q", p2p.ErrNotConnected, id)
	}
	if !h.isVerified(pid) {
		return nil, fmt.Errorf("%w: %s", p2p.ErrNotConnected, id)
	}
	timeout := spec.TimeoutOrDefault()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := h.host.NewStream(ctx, pid, protocol.ID(spec.ID))
	if err != nil {
		var ns multistream.ErrNotSupported[protocol.ID]
		if errors.As(err, &ns) {
			return nil, fmt.Errorf("%w: %s: %s", p2p.ErrUnknownProtocol, id, spec.ID)
		}
		return nil, fmt.Errorf("libp2p: open %s to %s: %w", spec.ID, id, err)
	}
	deadline, _ := ctx.Deadline()
	_ = s.SetDeadline(deadline)
	// Reset the stream if ctx ends first, to unblock reads and writes.
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := p2p.WriteFrame(s, req); err != nil {
		s.Reset()
		return nil, fmt.Errorf("libp2p: %s to %s: write: %w", spec.ID, id, err)
	}
	_ = s.CloseWrite()
	resp, err := p2p.ReadResponse(bufio.NewReader(s), spec.MaxResponse)
	if err != nil {
		s.Reset()
		if errors.Is(err, p2p.ErrTooLarge) || errors.Is(err, p2p.ErrMalformed) {
			h.Penalize(id, p2p.PenaltyMalformed, fmt.Sprintf("%s response: %v", spec.ID, err))
		}
		return nil, fmt.Errorf("libp2p: %s to %s: %w", spec.ID, id, err)
	}
	_ = s.Close()
	return resp, nil
}
