package libp2p

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/emc-network/emcd/p2p"
)

// connected starts the handshake on a new connection. The dialer opens the
// handshake stream; the listener answers it and drops peers that never do.
func (h *Host) connected(_ network.Network, c network.Conn) {
	id := c.RemotePeer()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	st := h.peers[id]
	if st == nil {
		st = &peerState{done: make(chan struct{})}
		h.peers[id] = st
	}
	h.mu.Unlock()
	if c.Stat().Direction == network.DirOutbound {
		go h.dialHandshake(id, st)
		return
	}
	go func() {
		t := time.NewTimer(h.cfg.HandshakeTimeout)
		defer t.Stop()
		select {
		case <-st.done:
		case <-h.ctx.Done():
		case <-t.C:
			if !h.isVerified(id) {
				h.log.Debug("no handshake, dropping peer", "peer", id)
				_ = h.host.Network().ClosePeer(id)
			}
		}
	}()
}

func (h *Host) disconnected(n network.Network, c network.Conn) {
	id := c.RemotePeer()
	if n.Connectedness(id) == network.Connected {
		return
	}
	h.mu.Lock()
	st := h.peers[id]
	delete(h.peers, id)
	h.mu.Unlock()
	if st != nil {
		h.finish(st, fmt.Errorf("%w: %s disconnected", p2p.ErrNotConnected, id), p2p.Status{})
	}
}

// maxFailed bounds Host.failed; past it the map starts over.
const maxFailed = 1024

// finish records the handshake result once.
func (h *Host) finish(st *peerState, err error, remote p2p.Status) {
	h.finishPeer("", st, err, remote)
}

// finishPeer is finish that also remembers id's failure for ConnectPeer.
func (h *Host) finishPeer(id peer.ID, st *peerState, err error, remote p2p.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-st.done:
		return
	default:
	}
	if err != nil && id != "" {
		if len(h.failed) >= maxFailed {
			clear(h.failed)
		}
		h.failed[id] = err
	}
	st.err = err
	if err == nil {
		st.verified = true
		st.status = remote
	}
	close(st.done)
}

func (h *Host) dialHandshake(id peer.ID, st *peerState) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.HandshakeTimeout)
	defer cancel()
	s, err := h.host.NewStream(ctx, id, protocol.ID(h.names.Handshake()))
	if err != nil {
		h.finishPeer(id, st, fmt.Errorf("libp2p: handshake with %s: %w", id, err), p2p.Status{})
		_ = h.host.Network().ClosePeer(id)
		return
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(h.cfg.HandshakeTimeout))
	local := h.localStatus()
	if err := p2p.WriteFrame(s, local.Encode()); err != nil {
		s.Reset()
		h.finishPeer(id, st, fmt.Errorf("libp2p: handshake with %s: %w", id, err), p2p.Status{})
		return
	}
	// No CloseWrite: the listener waits for our Close to know we have read
	// its answer before it drops a mismatched connection.
	remote, err := readStatus(s)
	if err != nil {
		s.Reset()
		h.Penalize(p2p.PeerID(id.String()), p2p.PenaltyMalformed, "bad handshake")
		h.finishPeer(id, st, fmt.Errorf("libp2p: handshake with %s: %w", id, err), p2p.Status{})
		_ = h.host.Network().ClosePeer(id)
		return
	}
	_ = s.Close()
	h.accept(id, st, local, remote)
}

func (h *Host) handleHandshake(s network.Stream) {
	id := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(h.cfg.HandshakeTimeout))
	remote, err := readStatus(s)
	if err != nil {
		s.Reset()
		h.Penalize(p2p.PeerID(id.String()), p2p.PenaltyMalformed, "bad handshake")
		_ = h.host.Network().ClosePeer(id)
		return
	}
	local := h.localStatus()
	// Always answer with our status, so the dialer learns the mismatch from
	// the status itself rather than from a reset.
	if err := p2p.WriteFrame(s, local.Encode()); err != nil {
		s.Reset()
		return
	}
	_ = s.CloseWrite()
	h.mu.Lock()
	st := h.peers[id]
	if st == nil {
		st = &peerState{done: make(chan struct{})}
		h.peers[id] = st
	}
	h.mu.Unlock()
	if err := local.Compatible(remote); err != nil {
		// Let the dialer read our answer before the connection goes.
		var b [1]byte
		_, _ = s.Read(b[:])
	}
	_ = s.Close()
	h.accept(id, st, local, remote)
}

// accept completes a handshake: a compatible peer becomes a peer, with the
// consensus address it proved, if any; one of another network is banned and
// disconnected; one whose identity does not verify for its own peer id
// (forged, or replayed from another peer) is penalised and disconnected.
func (h *Host) accept(id peer.ID, st *peerState, local, remote p2p.Status) {
	pid := p2p.PeerID(id.String())
	if err := local.Compatible(remote); err != nil {
		h.log.Info("rejecting peer of another network", "peer", id, "err", err)
		h.finishPeer(id, st, err, remote) // before the ban's disconnect reports ErrNotConnected
		h.Penalize(pid, p2p.PenaltyBan, err.Error())
		_ = h.host.Network().ClosePeer(id)
		return
	}
	addr, hasAddr, err := remote.VerifyIdentity(pid)
	if err != nil {
		h.log.Info("rejecting peer with a bad identity", "peer", id, "err", err)
		h.finishPeer(id, st, err, remote)
		h.Penalize(pid, p2p.PenaltyInvalid, err.Error())
		_ = h.host.Network().ClosePeer(id)
		return
	}
	h.host.ConnManager().TagPeer(id, "emcd-handshake", 10)
	h.mu.Lock()
	st.address, st.hasAddress = addr, hasAddr
	h.mu.Unlock()
	h.finishPeer(id, st, nil, remote)
	if hasAddr {
		h.log.Debug("peer connected", "peer", id, "head", remote.HeadNumber, "address", addr)
	} else {
		h.log.Debug("peer connected", "peer", id, "head", remote.HeadNumber)
	}
}

func readStatus(s network.Stream) (p2p.Status, error) {
	b, err := p2p.ReadFrame(bufio.NewReaderSize(s, 64), p2p.MaxHandshake)
	if err != nil {
		return p2p.Status{}, err
	}
	return p2p.DecodeStatus(b)
}
