package pow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// encodingVersion is the first byte of an encoded response.
const encodingVersion = 1

// MaxEncodedBytes bounds an encoded response: MaxOpenings rows of MaxN
// entries with the longest proofs. A reader stops at this many bytes.
var MaxEncodedBytes = 1 + 4 + 1 + MaxOpenings*(4+4*MaxN+32*MaxProofLen)

// ErrMalformed is returned by DecodeOpenings for bytes that are not a
// canonical encoding.
var ErrMalformed = errors.New("pow: malformed response")

// EncodeOpenings encodes a response for an n-row workload (layout in
// doc.go). The openings must be well formed: 1 to MaxOpenings, indices
// strictly increasing in [0, n), rows of n entries, proofs of
// ProofLen(index, n) hashes.
func EncodeOpenings(n int, ops []Opening) ([]byte, error) {
	if n < MinN || n > MaxN {
		return nil, fmt.Errorf("%w: n %d", ErrBadWorkload, n)
	}
	idx := make([]int, len(ops))
	size := 6
	for k, op := range ops {
		idx[k] = op.Index
		if k < MaxOpenings && op.Index >= 0 && op.Index < n {
			size += 4 + 4*n + 32*ProofLen(op.Index, n)
		}
	}
	if err := checkIndices(idx, n); err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	out = append(out, encodingVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = append(out, byte(len(ops)))
	for _, op := range ops {
		if len(op.Row) != n {
			return nil, fmt.Errorf("%w: row %d has %d entries, n %d", ErrRowSize, op.Index, len(op.Row), n)
		}
		if want := ProofLen(op.Index, n); len(op.Proof) != want {
			return nil, fmt.Errorf("%w: row %d: %d hashes, want %d", ErrProofLength, op.Index, len(op.Proof), want)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(op.Index))
		for _, v := range op.Row {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
		for _, h := range op.Proof {
			out = append(out, h[:]...)
		}
	}
	return out, nil
}

// DecodeOpenings decodes a response, returning its n and openings. It
// accepts only what EncodeOpenings produces (so decode then encode gives
// the input back) and allocates no more than len(b) allows.
func DecodeOpenings(b []byte) (int, []Opening, error) {
	if len(b) > MaxEncodedBytes {
		return 0, nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformed, len(b), MaxEncodedBytes)
	}
	if len(b) < 6 {
		return 0, nil, fmt.Errorf("%w: %d bytes, short header", ErrMalformed, len(b))
	}
	if b[0] != encodingVersion {
		return 0, nil, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	n64 := binary.BigEndian.Uint32(b[1:])
	count := int(b[5])
	if n64 < MinN || n64 > MaxN {
		return 0, nil, fmt.Errorf("%w: n %d", ErrMalformed, n64)
	}
	n := int(n64)
	if count == 0 || count > MaxOpenings {
		return 0, nil, fmt.Errorf("%w: %d rows (1 to %d)", ErrMalformed, count, MaxOpenings)
	}
	rest := b[6:]
	ops := make([]Opening, count)
	for k := range ops {
		if len(rest) < 4 {
			return 0, nil, fmt.Errorf("%w: truncated at row %d", ErrMalformed, k)
		}
		i := int(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if i >= n || (k > 0 && i <= ops[k-1].Index) {
			return 0, nil, fmt.Errorf("%w: row index %d (n %d, previous not below)", ErrMalformed, i, n)
		}
		pl := ProofLen(i, n)
		if len(rest) < 4*n+32*pl {
			return 0, nil, fmt.Errorf("%w: truncated in row %d", ErrMalformed, i)
		}
		row := make([]int32, n)
		for j := range row {
			row[j] = int32(binary.LittleEndian.Uint32(rest[4*j:]))
		}
		rest = rest[4*n:]
		proof := make([][32]byte, pl)
		for j := range proof {
			copy(proof[j][:], rest[32*j:])
		}
		rest = rest[32*pl:]
		ops[k] = Opening{Index: i, Row: row, Proof: proof}
	}
	if len(rest) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return n, ops, nil
}
