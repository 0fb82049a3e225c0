package sync

import (
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/p2p"
)

// Limits of the sync protocol.
const (
	// MaxBlocksPerRequest bounds GetBlocks' count.
	MaxBlocksPerRequest = 128
	// MaxResponseBytes bounds one response; the server stops adding blocks
	// before passing it. It leaves room for one maximal block (the IBFT
	// proposal limit is 8 MiB) plus its certificate.
	MaxResponseBytes = 16 << 20
	// maxRequestBytes bounds a request (three small integers).
	maxRequestBytes = 64
)

// Request kinds.
const (
	KindGetStatus uint8 = 0
	KindGetBlocks uint8 = 1
)

// ErrBadMessage wraps every decoding failure of a sync message; it also
// wraps p2p.ErrMalformed so the transport penalises the sender.
var ErrBadMessage = fmt.Errorf("sync: bad message: %w", p2p.ErrMalformed)

// Spec returns the sync protocol's p2p.Spec for a chain.
func Spec(chainID uint64) p2p.Spec {
	return p2p.Spec{
		ID:          p2p.Names{ChainID: chainID}.Sync(),
		MaxRequest:  maxRequestBytes,
		MaxResponse: MaxResponseBytes,
		Timeout:     20 * time.Second,
	}
}

// Request is a sync request: GetStatus, or GetBlocks(From, Count).
type Request struct {
	Kind  uint8
	From  uint64
	Count uint64
}

// Encode returns the RLP encoding of r.
func (r Request) Encode() []byte {
	b, _ := rlp.EncodeToBytes(&r)
	return b
}

// DecodeRequest parses a request, bounding size and count.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if len(data) > maxRequestBytes {
		return r, fmt.Errorf("%w: request of %d bytes", ErrBadMessage, len(data))
	}
	if err := rlp.DecodeBytes(data, &r); err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	switch r.Kind {
	case KindGetStatus:
	case KindGetBlocks:
		if r.Count == 0 || r.Count > MaxBlocksPerRequest {
			return r, fmt.Errorf("%w: count %d", ErrBadMessage, r.Count)
		}
	default:
		return r, fmt.Errorf("%w: request kind %d", ErrBadMessage, r.Kind)
	}
	return r, nil
}

// Status is a peer's head.
type Status struct {
	Number uint64
	Hash   common.Hash
}

// Encode returns the RLP encoding of s.
func (s Status) Encode() []byte {
	b, _ := rlp.EncodeToBytes(&s)
	return b
}

// DecodeStatus parses a status response.
func DecodeStatus(data []byte) (Status, error) {
	var s Status
	if len(data) > maxRequestBytes {
		return s, fmt.Errorf("%w: status of %d bytes", ErrBadMessage, len(data))
	}
	if err := rlp.DecodeBytes(data, &s); err != nil {
		return s, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return s, nil
}

// Entry is one block with its commit certificate.
type Entry struct {
	Block *types.Block
	Cert  *cert.Certificate
}

// EncodeEntry returns the RLP encoding of one entry.
func EncodeEntry(e Entry) ([]byte, error) { return rlp.EncodeToBytes(&e) }

// EncodeBlocks encodes pre-encoded entries as a GetBlocks response.
func EncodeBlocks(entries []rlp.RawValue) ([]byte, error) { return rlp.EncodeToBytes(entries) }

// DecodeBlocks parses a GetBlocks response of at most maxCount entries.
func DecodeBlocks(data []byte, maxCount int) ([]Entry, error) {
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("%w: response of %d bytes", ErrBadMessage, len(data))
	}
	// Count the list elements before decoding them, so a response cannot
	// make us decode more than maxCount blocks.
	content, rest, err := rlp.SplitList(data)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a single list", ErrBadMessage)
	}
	n, err := rlp.CountValues(content)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if n > maxCount {
		return nil, fmt.Errorf("%w: %d blocks, asked for at most %d", ErrBadMessage, n, maxCount)
	}
	var entries []Entry
	if err := rlp.DecodeBytes(data, &entries); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	for i, e := range entries {
		if e.Block == nil || e.Cert == nil {
			return nil, fmt.Errorf("%w: entry %d incomplete", ErrBadMessage, i)
		}
		if len(e.Cert.Seals) > cert.MaxSeals {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadMessage, i, cert.ErrTooManySeals)
		}
	}
	return entries, nil
}

var errNoCert = errors.New("sync: no certificate for block")
