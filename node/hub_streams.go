package node

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/emc-network/emcd/p2p"
)

// devStreams is the dev node's in-process p2p.Streamer between its router
// side (the app relay) and its compute side (the app server): the dev node
// has no libp2p host. Each stream is a TCP connection over 127.0.0.1
// (half-close and deadlines as a libp2p stream has them; Reset closes
// with linger 0, so the other side reads an error, not EOF). It knows one
// peer, the compute node itself, and every stream comes from the router's
// peer.
type devStreams struct {
	self, from p2p.PeerID
	ctx        context.Context

	mu       sync.Mutex
	handlers map[string]p2p.StreamHandler
}

var _ p2p.Streamer = (*devStreams)(nil)

func newDevStreams(ctx context.Context, self, from p2p.PeerID) *devStreams {
	return &devStreams{self: self, from: from, ctx: ctx, handlers: make(map[string]p2p.StreamHandler)}
}

// HandleStream implements p2p.Streamer.
func (d *devStreams) HandleStream(id string, h p2p.StreamHandler) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.handlers[id]; ok {
		return fmt.Errorf("%w: %s", p2p.ErrAlreadyRegistered, id)
	}
	d.handlers[id] = h
	return nil
}

// OpenStream implements p2p.Streamer.
func (d *devStreams) OpenStream(ctx context.Context, peer p2p.PeerID, id string) (p2p.Stream, error) {
	if peer != d.self {
		return nil, fmt.Errorf("%w: %s (the dev node knows only itself)", p2p.ErrNotConnected, peer)
	}
	d.mu.Lock()
	h, ok := d.handlers[id]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", p2p.ErrUnknownProtocol, id)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("node: dev stream: %w", err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() { c, err := ln.Accept(); acc <- accepted{c, err} }()
	var dialer net.Dialer
	client, err := dialer.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("node: dev stream: %w", err)
	}
	a := <-acc // the dial succeeded: the accept completes
	if a.err != nil {
		client.Close()
		return nil, fmt.Errorf("node: dev stream: %w", a.err)
	}
	go h(d.ctx, d.from, tcpStream{a.c.(*net.TCPConn)})
	return tcpStream{client.(*net.TCPConn)}, nil
}

// tcpStream is a p2p.Stream over a TCP connection.
type tcpStream struct{ *net.TCPConn }

// Reset aborts the connection (RST): the remote's reads fail.
func (s tcpStream) Reset() error {
	_ = s.SetLinger(0)
	return s.Close()
}
