package pow

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// SampleChunks picks k distinct chunks (leaves, see Chunks) of an n×n
// output for one validator, returned in increasing order: draw d (d = 0, 1, …) is the first 8 bytes
// (big-endian) of SHA-256(tagSample ‖ sampleSeed ‖ root ‖ validator ‖
// u32be(d)); with m = Chunks(n), a draw v ≥ L = 2^64−1 − ((2^64−1) mod m)
// is skipped (L is a multiple of m, so no modulo bias), otherwise chunk
// v mod m is taken unless already taken. k must be in [1, MaxOpenings]
// (m ≥ 64 > MaxOpenings).
//
// sampleSeed must be unknown to the node when it commits root (doc.go):
// with a seed it could predict, a node computes only the chunks it will
// be asked.
func SampleChunks(sampleSeed, root [32]byte, validator [20]byte, n, k int) ([]int, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	if k < 1 || k > MaxOpenings {
		return nil, fmt.Errorf("%w: %d chunks (1 to %d)", ErrOpenings, k, MaxOpenings)
	}
	m := Chunks(n)
	var buf [len(tagSample) + 32 + 32 + 20 + 4]byte
	p := copy(buf[:], tagSample)
	p += copy(buf[p:], sampleSeed[:])
	p += copy(buf[p:], root[:])
	p += copy(buf[p:], validator[:])
	limit := ^uint64(0) - ^uint64(0)%uint64(m) // values below limit map uniformly
	out := make([]int, 0, k)
	// k ≤ 16 distinct of m ≥ 64: the expected draws are below 16·H(16) ≈ 55;
	// the counter space (2^32) is never exhausted in practice, and the
	// loop stops there regardless.
	for d := uint64(0); len(out) < k && d <= 0xffffffff; d++ {
		binary.BigEndian.PutUint32(buf[p:], uint32(d))
		h := sha256.Sum256(buf[:])
		v := binary.BigEndian.Uint64(h[:8])
		if v >= limit {
			continue
		}
		i := int(v % uint64(m))
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}
