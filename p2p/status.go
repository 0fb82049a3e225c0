package p2p

import (
	"bytes"
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"
)

// Encode returns the RLP encoding of s, the handshake payload: the list
// [ChainID, Genesis, HeadNumber, HeadHash] then, when s has an identity, the
// list [Address, Signature], then any fields of a later version (Rest).
func (s Status) Encode() []byte {
	b, err := rlp.EncodeToBytes(&s)
	if err != nil {
		panic(fmt.Sprintf("p2p: encode status: %v", err)) // fixed-shape fields cannot fail
	}
	return b
}

// DecodeStatus parses a handshake payload of at most MaxHandshake bytes.
//
// A status of the four original fields (a node without a consensus key, or
// one older than the identity) decodes with a nil Identity. Fields after the
// identity are kept in Rest and ignored. The encoding must be canonical
// (decoding then encoding gives the input back): this refuses an empty or
// zero identity, which would mean nothing, and keeps one status one byte
// string. An identity's signature must be 65 bytes; whether it verifies is
// the handshake's business (Status.VerifyIdentity), as it needs the peer id.
func DecodeStatus(data []byte) (Status, error) {
	var s Status
	if len(data) > MaxHandshake {
		return s, fmt.Errorf("%w: status of %d bytes", ErrTooLarge, len(data))
	}
	if err := rlp.DecodeBytes(data, &s); err != nil {
		return Status{}, fmt.Errorf("%w: status: %w", ErrMalformed, err)
	}
	if id := s.Identity; id != nil && len(id.Signature) != signatureLength {
		return Status{}, fmt.Errorf("%w: status identity signature of %d bytes", ErrMalformed, len(id.Signature))
	}
	if !bytes.Equal(s.Encode(), data) {
		return Status{}, fmt.Errorf("%w: status not canonically encoded", ErrMalformed)
	}
	return s, nil
}
