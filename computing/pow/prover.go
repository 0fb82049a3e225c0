package pow

import (
	"context"
	"errors"
	"fmt"
)

// MaxOpenings bounds the rows one request may ask for and one response
// may carry.
const MaxOpenings = 16

var (
	// ErrWrongRow is returned when an opened row differs from the row
	// recomputed from the seed.
	ErrWrongRow = errors.New("pow: row differs from the recomputed one")
	// ErrOpenings is returned for a request or response with no rows, more
	// than MaxOpenings, or indices not strictly increasing.
	ErrOpenings = errors.New("pow: bad set of rows")
)

// Opening is one row of C with its Merkle proof: what a node answers a
// validator that asked for row Index.
type Opening struct {
	Index int
	Row   []int32
	Proof [][32]byte
}

// Prover holds a computed output C and its Merkle tree: what a compute
// node keeps from committing its root until the challenge is settled.
// Its methods are safe for concurrent use (it is read-only once built).
type Prover struct {
	w    Workload
	c    []int32
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
// elsewhere, e.g. by a GPU in the node's sandbox, hashing rows on workers
// goroutines. It does not check c: a wrong output fails at the validators.
// The Prover keeps c.
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
	leaves := make([][32]byte, n)
	parallelRows(n, workers, func(i int) { leaves[i] = LeafHash(i, c[i*n:(i+1)*n]) })
	return &Prover{w: w, c: c, tree: newTree(leaves)}, nil
}

// Workload returns the prover's workload.
func (p *Prover) Workload() Workload { return p.w }

// Root is the commitment the node posts.
func (p *Prover) Root() [32]byte { return p.tree.root() }

// Open returns the openings of rows indices (strictly increasing, 1 to
// MaxOpenings of them, each in [0, N)). The rows are copies.
func (p *Prover) Open(indices []int) ([]Opening, error) {
	if err := checkIndices(indices, p.w.N); err != nil {
		return nil, err
	}
	n := p.w.N
	out := make([]Opening, len(indices))
	for k, i := range indices {
		out[k] = Opening{Index: i, Row: append([]int32(nil), p.c[i*n:(i+1)*n]...), Proof: p.tree.proof(i)}
	}
	return out, nil
}

// Verify checks a node's answer to a request for rows want (as returned by
// SampleRows) against its committed root for workload w: one opening per
// asked row, in order, each of N entries with a proof leading to root,
// and each row equal to the one recomputed from the seed. The Merkle
// checks run first, so a malformed answer costs no recomputation; the
// recomputation takes one pass over B for all rows (see RecomputeRows).
func Verify(w Workload, root [32]byte, want []int, ops []Opening) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := checkIndices(want, w.N); err != nil {
		return err
	}
	if len(ops) != len(want) {
		return fmt.Errorf("%w: %d rows answered, %d asked", ErrOpenings, len(ops), len(want))
	}
	for k, op := range ops {
		if op.Index != want[k] {
			return fmt.Errorf("%w: answer %d is row %d, asked %d", ErrIndex, k, op.Index, want[k])
		}
		if len(op.Row) != w.N {
			return fmt.Errorf("%w: row %d has %d entries, n %d", ErrRowSize, op.Index, len(op.Row), w.N)
		}
		if err := VerifyProof(root, w.N, op.Index, LeafHash(op.Index, op.Row), op.Proof); err != nil {
			return fmt.Errorf("row %d: %w", op.Index, err)
		}
	}
	rows, err := RecomputeRows(w, want)
	if err != nil {
		return err
	}
	for k, op := range ops {
		for j, v := range rows[k] {
			if op.Row[j] != v {
				return fmt.Errorf("%w: row %d entry %d", ErrWrongRow, op.Index, j)
			}
		}
	}
	return nil
}

// checkIndices accepts 1 to MaxOpenings strictly increasing indices in
// [0, n).
func checkIndices(indices []int, n int) error {
	if len(indices) == 0 || len(indices) > MaxOpenings {
		return fmt.Errorf("%w: %d rows (1 to %d)", ErrOpenings, len(indices), MaxOpenings)
	}
	for k, i := range indices {
		if i < 0 || i >= n {
			return fmt.Errorf("%w: row %d of %d", ErrIndex, i, n)
		}
		if k > 0 && i <= indices[k-1] {
			return fmt.Errorf("%w: rows not strictly increasing", ErrOpenings)
		}
	}
	return nil
}
