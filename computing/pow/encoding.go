package pow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// encodingVersion is the first byte of an encoded response (2: chunk
// leaves; 1 was whole rows).
const encodingVersion = 2

// openingBytes is the encoded size of chunk index's opening for n.
func openingBytes(index, n int) int { return 4 + 4*ChunkEntries + 32*ProofLen(index, Chunks(n)) }

// MaxEncodedBytes bounds an encoded response: MaxOpenings chunks with the
// longest proofs (17,478 bytes). A reader stops at this many bytes.
var MaxEncodedBytes = 1 + 4 + 1 + MaxOpenings*(4+4*ChunkEntries+32*MaxProofLen)

// ErrMalformed is returned by DecodeOpenings for bytes that are not a
// canonical encoding.
var ErrMalformed = errors.New("pow: malformed response")

// EncodeOpenings encodes a response for an n×n workload (layout in
// doc.go). The openings must be well formed: 1 to MaxOpenings, indices
// strictly increasing in [0, Chunks(n)), chunks of ChunkEntries entries,
// proofs of ProofLen(index, Chunks(n)) hashes.
func EncodeOpenings(n int, ops []Opening) ([]byte, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	m := Chunks(n)
	idx := make([]int, len(ops))
	for k, op := range ops {
		idx[k] = op.Index
	}
	if err := checkIndices(idx, m); err != nil {
		return nil, err
	}
	size := 6
	for _, op := range ops {
		size += openingBytes(op.Index, n)
	}
	out := make([]byte, 0, size)
	out = append(out, encodingVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = append(out, byte(len(ops)))
	for _, op := range ops {
		if len(op.Chunk) != ChunkEntries {
			return nil, fmt.Errorf("%w: chunk %d has %d entries", ErrRowSize, op.Index, len(op.Chunk))
		}
		if want := ProofLen(op.Index, m); len(op.Proof) != want {
			return nil, fmt.Errorf("%w: chunk %d: %d hashes, want %d", ErrProofLength, op.Index, len(op.Proof), want)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(op.Index))
		for _, v := range op.Chunk {
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
	if n64 > MaxN || checkN(int(n64)) != nil {
		return 0, nil, fmt.Errorf("%w: n %d", ErrMalformed, n64)
	}
	n := int(n64)
	m := Chunks(n)
	if count == 0 || count > MaxOpenings {
		return 0, nil, fmt.Errorf("%w: %d chunks (1 to %d)", ErrMalformed, count, MaxOpenings)
	}
	rest := b[6:]
	ops := make([]Opening, count)
	for k := range ops {
		if len(rest) < 4 {
			return 0, nil, fmt.Errorf("%w: truncated at opening %d", ErrMalformed, k)
		}
		i64 := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if i64 >= uint32(m) || (k > 0 && int(i64) <= ops[k-1].Index) {
			return 0, nil, fmt.Errorf("%w: chunk index %d (%d chunks, previous not below)", ErrMalformed, i64, m)
		}
		i := int(i64)
		pl := ProofLen(i, m)
		if len(rest) < 4*ChunkEntries+32*pl {
			return 0, nil, fmt.Errorf("%w: truncated in chunk %d", ErrMalformed, i)
		}
		chunk := make([]int32, ChunkEntries)
		for j := range chunk {
			chunk[j] = int32(binary.LittleEndian.Uint32(rest[4*j:]))
		}
		rest = rest[4*ChunkEntries:]
		proof := make([][32]byte, pl)
		for j := range proof {
			copy(proof[j][:], rest[32*j:])
		}
		rest = rest[32*pl:]
		ops[k] = Opening{Index: i, Chunk: chunk, Proof: proof}
	}
	if len(rest) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return n, ops, nil
}
