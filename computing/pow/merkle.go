package pow

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Hash domain prefixes (RFC 9162 §2.1.1).
const (
	leafPrefix  = 0x00
	innerPrefix = 0x01
)

var (
	// ErrIndex is returned for a chunk index out of [0, Chunks(N)), or an
	// opening that is not for the chunk asked.
	ErrIndex = errors.New("pow: chunk index out of range or not the one asked")
	// ErrRowSize is returned for a chunk that does not hold ChunkEntries
	// entries.
	ErrRowSize = errors.New("pow: chunk size is not ChunkEntries")
	// ErrProofLength is returned for a Merkle proof that does not hold
	// exactly ProofLen(index, N) hashes.
	ErrProofLength = errors.New("pow: wrong Merkle proof length")
	// ErrBadProof is returned when a chunk and its proof do not lead to the
	// committed root.
	ErrBadProof = errors.New("pow: Merkle proof does not match the root")
)

// LeafHash is chunk i's leaf: SHA-256(0x00 ‖ u32be(i) ‖ chunk as int32
// little-endian). It hashes any length; the commitment's chunks hold
// ChunkEntries entries.
func LeafHash(i int, row []int32) [32]byte {
	h := sha256.New()
	var buf [4096]byte
	buf[0] = leafPrefix
	binary.BigEndian.PutUint32(buf[1:], uint32(i))
	p := 5
	for _, v := range row {
		if p+4 > len(buf) {
			h.Write(buf[:p])
			p = 0
		}
		binary.LittleEndian.PutUint32(buf[p:], uint32(v))
		p += 4
	}
	h.Write(buf[:p])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// innerHash is SHA-256(0x01 ‖ left ‖ right).
func innerHash(left, right [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = innerPrefix
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// tree holds every level of the Merkle tree over n leaves, leaves first.
// A level's last node, when it has no sibling, moves up unchanged; this is
// the RFC 9162 tree (the left subtree of every node holds the largest
// power of two of leaves smaller than the node's count).
type tree struct {
	levels [][][32]byte
}

// newTree builds the tree over leaves (at least one).
func newTree(leaves [][32]byte) *tree {
	t := &tree{levels: [][][32]byte{leaves}}
	for cur := leaves; len(cur) > 1; {
		next := make([][32]byte, (len(cur)+1)/2)
		for i := range len(cur) / 2 {
			next[i] = innerHash(cur[2*i], cur[2*i+1])
		}
		if len(cur)%2 == 1 {
			next[len(next)-1] = cur[len(cur)-1]
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	return t
}

func (t *tree) root() [32]byte { return t.levels[len(t.levels)-1][0] }

// proof returns leaf i's sibling hashes, bottom up, skipping levels where
// the path node has no sibling.
func (t *tree) proof(i int) [][32]byte {
	var out [][32]byte
	for _, lvl := range t.levels[:len(t.levels)-1] {
		if s := i ^ 1; s < len(lvl) {
			out = append(out, lvl[s])
		}
		i >>= 1
	}
	return out
}

// ProofLen is the number of hashes in leaf index's proof in a tree of n
// leaves (0 for index out of [0, n)); at most MaxProofLen.
func ProofLen(index, n int) int {
	if index < 0 || index >= n {
		return 0
	}
	l := 0
	for size := n; size > 1; size = (size + 1) / 2 {
		if index^1 < size {
			l++
		}
		index >>= 1
	}
	return l
}

// MaxProofLen is the longest proof in a tree of MaxChunks leaves (26).
var MaxProofLen = bits.Len(uint(MaxChunks - 1))

// VerifyProof checks that leaf is leaf index of the n-leaf tree with root
// root, by proof; n is a leaf count in [1, MaxChunks] (Chunks(N) for a
// workload).
func VerifyProof(root [32]byte, n, index int, leaf [32]byte, proof [][32]byte) error {
	if n < 1 || n > MaxChunks {
		return fmt.Errorf("%w: %d leaves", ErrBadWorkload, n)
	}
	if index < 0 || index >= n {
		return fmt.Errorf("%w: leaf %d of %d", ErrIndex, index, n)
	}
	if want := ProofLen(index, n); len(proof) != want {
		return fmt.Errorf("%w: %d hashes, want %d", ErrProofLength, len(proof), want)
	}
	h, p := leaf, 0
	for size := n; size > 1; size = (size + 1) / 2 {
		switch {
		case index&1 == 1:
			h = innerHash(proof[p], h)
			p++
		case index+1 < size:
			h = innerHash(h, proof[p])
			p++
		}
		index >>= 1
	}
	if h != root {
		return ErrBadProof
	}
	return nil
}
