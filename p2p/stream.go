package p2p

import (
	"context"
	"io"
	"time"
)

// Stream is one open, full-duplex byte stream to a peer, for protocols
// that move more than one bounded request and response (the app relay's
// streamed bodies, computing/instance). Writes go out as they are made;
// nothing is buffered whole.
type Stream interface {
	io.Reader
	io.Writer
	// CloseWrite half-closes: the remote reads EOF, this side may still
	// read.
	CloseWrite() error
	// Close closes both directions gracefully.
	Close() error
	// Reset aborts the stream in both directions; the remote's reads and
	// writes fail (not EOF), which is how a broken exchange is told apart
	// from a finished one.
	Reset() error
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// StreamHandler serves one inbound stream of a protocol from a handshaked
// peer. It owns s and must Close or Reset it; ctx ends when the network
// closes.
type StreamHandler func(ctx context.Context, from PeerID, s Stream)

// Streamer is an optional capability of a Network: raw streams for
// protocols that frame their own exchanges (see frame.go). The
// implementation only bounds how many inbound streams of one protocol run
// at once (more are reset) and refuses peers that have not handshaked;
// size limits, deadlines and rate limits are the protocol's.
type Streamer interface {
	// HandleStream registers h for protocol id (ErrAlreadyRegistered if
	// the id has a handler).
	HandleStream(id string, h StreamHandler) error
	// OpenStream opens a stream of protocol id to a handshaked peer
	// (ErrNotConnected otherwise, ErrUnknownProtocol if the peer does not
	// serve id). ctx bounds only the opening.
	OpenStream(ctx context.Context, peer PeerID, id string) (Stream, error)
}
