package pow

import (
	"context"
	"errors"
	"fmt"
)

// MaxOpenings bounds the chunks one request may ask for and one response
// may carry.
const MaxOpenings = 16

var (
	// ErrWrongRow is returned when an opened chunk differs from the chunk
	// recomputed from the seed.
	ErrWrongRow = errors.New("pow: chunk differs from the recomputed one")
	// ErrOpenings is returned for a request or response with no chunks,
	// more than MaxOpenings, or indices not strictly increasing.
	ErrOpenings = errors.New("pow: bad set of chunks")
)

// Opening is one chunk of C (ChunkEntries entries) with its Merkle proof:
// what a node answers a validator that asked for chunk Index.
type Opening struct {
	Index int
	Chunk []int32
	Proof [][32]byte
}

// Prover holds a computed output C and its Merkle tree, or the tree alone
// ([NewProverFromLeaves]): what a compute node keeps from committing its
// root until the challenge is settled.
// Its methods are safe for concurrent use (it is read-only once built).
type Prover struct {
	w    Workload
	c    []int32 // nil when built from leaves: Open recomputes
	tree *tree
}

// Prove computes w's output on workers goroutines and commits to it.
func Prove(ctx context.Context, w Workload, workers int) (*Prover, error) {
	c, err := Compute(ctx, w, workers)
	if err != nil {
		return nil, err
	}
	return NewProver(w, c, workers)
}

// NewProver commits to an output c (N·N entries, row-major) computed
// elsewhere, e.g. by a GPU in the node's sandbox, hashing its chunks
// (chunk k of row i is leaf i·N/ChunkEntries + k) on workers goroutines.
// It does not check c: a wrong output fails at the validators. The Prover
// keeps c.
func NewProver(w Workload, c []int32, workers int) (*Prover, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if workers < 1 {
		return nil, fmt.Errorf("%w: %d workers", ErrBadWorkload, workers)
	}
	n := w.N
	if len(c) != n*n {
		return nil, fmt.Errorf("%w: %d entries for n %d", ErrOutputSize, len(c), n)
	}
	per := n / ChunkEntries
	leaves := make([][32]byte, Chunks(n))
	parallelRows(n, workers, func(i int) {
		for k := range per {
			leaf := i*per + k
			leaves[leaf] = LeafHash(leaf, c[leaf*ChunkEntries:(leaf+1)*ChunkEntries])
		}
	})
	return &Prover{w: w, c: c, tree: newTree(leaves)}, nil
}

// Workload returns the prover's workload.
func (p *Prover) Workload() Workload { return p.w }

// Root is the commitment the node posts.
func (p *Prover) Root() [32]byte { return p.tree.root() }

// Open returns the openings of chunks indices (strictly increasing, 1 to
// MaxOpenings of them, each in [0, Chunks(N))). The chunks are copies. A
// Prover built from leaves recomputes the chunks and returns ErrWrongRow
// for one whose leaf is not the committed one.
func (p *Prover) Open(indices []int) ([]Opening, error) {
	if err := checkIndices(indices, Chunks(p.w.N)); err != nil {
		return nil, err
	}
	out := make([]Opening, len(indices))
	if p.c == nil {
		// Built from leaves: recompute the chunks, and serve them only
		// where they are the committed leaves.
		chunks, err := RecomputeChunks(p.w, indices)
		if err != nil {
			return nil, err
		}
		leaves := p.Leaves()
		for k, i := range indices {
			if LeafHash(i, chunks[k]) != leaves[i] {
				return nil, fmt.Errorf("%w: committed leaf %d is not the recomputed chunk's", ErrWrongRow, i)
			}
			out[k] = Opening{Index: i, Chunk: chunks[k], Proof: p.tree.proof(i)}
		}
		return out, nil
	}
	for k, i := range indices {
		out[k] = Opening{Index: i, Chunk: append([]int32(nil), p.c[i*ChunkEntries:(i+1)*ChunkEntries]...), Proof: p.tree.proof(i)}
	}
	return out, nil
}

// Verify checks a node's answer to a request for chunks want (as returned
// by SampleChunks) against its committed root for workload w: one
// opening per asked chunk, in order, each of ChunkEntries entries with a
// proof leading to root, and each chunk equal to the one recomputed from
// the seed. The Merkle checks run first, so a malformed answer costs no
// recomputation; the recomputation costs ChunkEntries·N multiply-adds a
// chunk plus N row-key hashes (see RecomputeChunks).
func Verify(w Workload, root [32]byte, want []int, ops []Opening) error {
	if err := w.Validate(); err != nil {
		return err
	}
	m := Chunks(w.N)
	if err := checkIndices(want, m); err != nil {
		return err
	}
	if len(ops) != len(want) {
		return fmt.Errorf("%w: %d chunks answered, %d asked", ErrOpenings, len(ops), len(want))
	}
	for k, op := range ops {
		if op.Index != want[k] {
			return fmt.Errorf("%w: answer %d is chunk %d, asked %d", ErrIndex, k, op.Index, want[k])
		}
		if len(op.Chunk) != ChunkEntries {
			return fmt.Errorf("%w: chunk %d has %d entries", ErrRowSize, op.Index, len(op.Chunk))
		}
		if err := VerifyProof(root, m, op.Index, LeafHash(op.Index, op.Chunk), op.Proof); err != nil {
			return fmt.Errorf("chunk %d: %w", op.Index, err)
		}
	}
	chunks, err := RecomputeChunks(w, want)
	if err != nil {
		return err
	}
	for k, op := range ops {
		for j, v := range chunks[k] {
			if op.Chunk[j] != v {
				return fmt.Errorf("%w: chunk %d entry %d", ErrWrongRow, op.Index, j)
			}
		}
	}
	return nil
}

// checkIndices accepts 1 to MaxOpenings strictly increasing indices in
// [0, m).
func checkIndices(indices []int, m int) error {
	if len(indices) == 0 || len(indices) > MaxOpenings {
		return fmt.Errorf("%w: %d chunks (1 to %d)", ErrOpenings, len(indices), MaxOpenings)
	}
	for k, i := range indices {
		if i < 0 || i >= m {
			return fmt.Errorf("%w: chunk %d of %d", ErrIndex, i, m)
		}
		if k > 0 && i <= indices[k-1] {
			return fmt.Errorf("%w: chunks not strictly increasing", ErrOpenings)
		}
	}
	return nil
}
