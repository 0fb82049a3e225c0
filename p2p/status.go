package p2p

import (
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"
)

// Encode returns the RLP encoding of s, the handshake payload.
func (s Status) Encode() []byte {
	b, err := rlp.EncodeToBytes(&s)
	if err != nil {
		panic(fmt.Sprintf("p2p: encode status: %v", err)) // fixed-size fields cannot fail
	}
	return b
}

// DecodeStatus parses a handshake payload of at most MaxHandshake bytes.
func DecodeStatus(data []byte) (Status, error) {
	var s Status
	if len(data) > MaxHandshake {
		return s, fmt.Errorf("%w: status of %d bytes", ErrTooLarge, len(data))
	}
	if err := rlp.DecodeBytes(data, &s); err != nil {
		return s, fmt.Errorf("%w: status: %w", ErrMalformed, err)
	}
	return s, nil
}
