package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Response status bytes: the first byte of every response frame.
const (
	respOK    byte = 0
	respError byte = 1
)

// maxErrorReply bounds the text of an error reply.
const maxErrorReply = 256

// WriteFrame writes data as one frame: a uvarint length, then the bytes.
func WriteFrame(w io.Writer, data []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(data)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// ReadFrame reads one frame of at most limit bytes. The length is checked
// before anything is allocated, so a peer cannot make us allocate more than
// limit.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	size, err := readUvarint(r)
	if err != nil {
		return nil, err
	}
	if size > uint64(limit) {
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, size, limit)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("p2p: read frame body: %w", err)
	}
	return buf, nil
}

// WriteResponse writes a response frame: status byte then payload, or the
// error text for an error reply.
func WriteResponse(w io.Writer, payload []byte, herr error) error {
	if herr != nil {
		msg := herr.Error()
		if len(msg) > maxErrorReply {
			msg = msg[:maxErrorReply]
		}
		return WriteFrame(w, append([]byte{respError}, msg...))
	}
	buf := make([]byte, 1+len(payload))
	buf[0] = respOK
	copy(buf[1:], payload)
	return WriteFrame(w, buf)
}

// ReadResponse reads a response frame written by WriteResponse; an error
// reply comes back wrapped in ErrRemote.
func ReadResponse(r io.Reader, limit int) ([]byte, error) {
	buf, err := ReadFrame(r, limit+1)
	if err != nil {
		return nil, err
	}
	return ParseResponse(buf)
}

// ParseResponse splits a response frame's body into payload or remote error.
func ParseResponse(buf []byte) ([]byte, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: empty response", ErrMalformed)
	}
	switch buf[0] {
	case respOK:
		return buf[1:], nil
	case respError:
		return nil, fmt.Errorf("%w: %s", ErrRemote, buf[1:min(len(buf), 1+maxErrorReply)])
	default:
		return nil, fmt.Errorf("%w: response status %d", ErrMalformed, buf[0])
	}
}

// EncodeResponse returns the frame body WriteResponse would write.
func EncodeResponse(payload []byte, herr error) []byte {
	if herr != nil {
		msg := herr.Error()
		if len(msg) > maxErrorReply {
			msg = msg[:maxErrorReply]
		}
		return append([]byte{respError}, msg...)
	}
	return append([]byte{respOK}, payload...)
}

var errVarint = errors.New("p2p: bad frame length")

func readUvarint(r io.Reader) (uint64, error) {
	var (
		x uint64
		s uint
		b [1]byte
	)
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if b[0] < 0x80 {
			if i == binary.MaxVarintLen64-1 && b[0] > 1 {
				return 0, fmt.Errorf("%w: %w", ErrMalformed, errVarint)
			}
			return x | uint64(b[0])<<s, nil
		}
		x |= uint64(b[0]&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("%w: %w", ErrMalformed, errVarint)
}
