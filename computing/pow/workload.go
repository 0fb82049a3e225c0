package pow

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Bounds on a workload.
const (
	// ChunkEntries is the number of entries of C in one Merkle leaf (a
	// chunk): 64 int32, 256 bytes. N is a multiple of it, so every row
	// splits into N/ChunkEntries whole chunks.
	ChunkEntries = 64
	// MinN is the smallest problem size: one chunk per row.
	MinN = ChunkEntries
	// MaxN bounds the problem size: A and B take N² bytes each and C 4·N²
	// (16 GiB at MaxN). It also keeps every sum exact: |C[i][j]| ≤
	// N·128·128 = 2^30 < 2^31, so the int32 wrap-around never happens.
	MaxN = 1 << 16
)

// Domain tags of the SHA-256 derivations (see doc.go).
const (
	tagChallenge = "emcd:pow:v1:challenge"
	tagMatrix    = "emcd:pow:v1:matrix"
	tagSample    = "emcd:pow:v1:sample"
)

// Matrix names in the row-key derivation.
const (
	matrixA byte = 'A'
	matrixB byte = 'B'
)

var (
	// ErrBadWorkload is returned for a problem size outside [MinN, MaxN]
	// or not a multiple of ChunkEntries, or a non-positive worker count.
	ErrBadWorkload = errors.New("pow: invalid workload")
	// ErrOutputSize is returned by NewProver for an output that is not
	// N·N entries.
	ErrOutputSize = errors.New("pow: output is not N×N")
)

// Workload is one challenge's problem: C = A·B for the N×N int8 matrices
// A and B derived from Seed (see doc.go for the exact derivation).
type Workload struct {
	Seed [32]byte
	N    int
}

// Validate checks the problem size: in [MinN, MaxN] and a multiple of
// ChunkEntries.
func (w Workload) Validate() error { return checkN(w.N) }

func checkN(n int) error {
	if n < MinN || n > MaxN || n%ChunkEntries != 0 {
		return fmt.Errorf("%w: n %d (%d to %d, a multiple of %d)", ErrBadWorkload, n, MinN, MaxN, ChunkEntries)
	}
	return nil
}

// Chunks is the number of leaves of an n×n output: n·n/ChunkEntries.
// Chunk c is entries [j0, j0+ChunkEntries) of row c / (n/ChunkEntries),
// with j0 = (c mod (n/ChunkEntries))·ChunkEntries.
func Chunks(n int) int { return n * (n / ChunkEntries) }

// MaxChunks is Chunks(MaxN), 2^26.
const MaxChunks = MaxN * (MaxN / ChunkEntries)

// ChallengeSeed is the workload seed of one node's challenge:
// SHA-256(tagChallenge ‖ blockHash ‖ node). Every node gets its own
// matrices from the same block hash, so no two nodes can share one answer.
func ChallengeSeed(blockHash [32]byte, node [20]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagChallenge))
	h.Write(blockHash[:])
	h.Write(node[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Compute returns C = A·B row-major (N·N entries), computed by workers
// goroutines, each taking rows in blocks. It is the CPU reference a
// CPU-only or simulated node runs; a GPU node computes the same C in its
// sandbox. It returns ctx's error if ctx ends first.
func Compute(ctx context.Context, w Workload, workers int) ([]int32, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if workers < 1 {
		return nil, fmt.Errorf("%w: %d workers", ErrBadWorkload, workers)
	}
	n := w.N
	b := make([]int8, n*n)
	parallelRows(n, workers, func(k int) { fillRow(b[k*n:(k+1)*n], rowKey(w.Seed, n, matrixB, k)) })
	c := make([]int32, n*n)
	var (
		next atomic.Int64 // first row of the next block
		wg   sync.WaitGroup
	)
	for range min(workers, (n+rowBlock-1)/rowBlock) {
		wg.Go(func() {
			a := make([][]int8, rowBlock)
			for i := range a {
				a[i] = make([]int8, n)
			}
			for ctx.Err() == nil {
				lo := int(next.Add(rowBlock)) - rowBlock
				if lo >= n {
					return
				}
				hi := min(lo+rowBlock, n)
				for i := lo; i < hi; i++ {
					fillRow(a[i-lo], rowKey(w.Seed, n, matrixA, i))
				}
				cr := make([][]int32, hi-lo)
				for i := range cr {
					cr[i] = c[(lo+i)*n : (lo+i+1)*n]
				}
				product(a[:hi-lo], cr, n, func(k, j0, j1 int) []int8 { return b[k*n+j0 : k*n+j1] })
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// RecomputeChunks returns chunks indices of C (each ChunkEntries
// entries, see Chunks) without building A, B or C: per chunk, the row of A
// and the chunk's column segment of every row of B, generated straight
// from the row keys (the stream is counter-based). The n row keys of B
// are hashed once for all chunks. Time O(N·(1 + ChunkEntries·len(indices)))
// (ChunkEntries·N multiply-adds a chunk), memory O(N·len(indices)).
// Indices must be in [0, Chunks(N)).
func RecomputeChunks(w Workload, indices []int) ([][]int32, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	n := w.N
	per := n / ChunkEntries
	for _, c := range indices {
		if c < 0 || c >= Chunks(n) {
			return nil, fmt.Errorf("%w: chunk %d of %d", ErrIndex, c, Chunks(n))
		}
	}
	keys := make([]uint64, n)
	for k := range keys {
		keys[k] = rowKey(w.Seed, n, matrixB, k)
	}
	a := make([][]int8, 1)
	a[0] = make([]int8, n)
	bk := make([]int8, ChunkEntries)
	out := make([][]int32, len(indices))
	for r, c := range indices {
		i, j0 := c/per, (c%per)*ChunkEntries
		fillRow(a[0], rowKey(w.Seed, n, matrixA, i))
		out[r] = make([]int32, ChunkEntries)
		cr := [][]int32{out[r]}
		for k := range n {
			fillRowFrom(bk, keys[k], uint64(j0/8))
			accumulate(a, k, cr, bk)
		}
	}
	return out, nil
}

// rowBlock is how many rows of A a prover worker multiplies per pass over
// B: each entry of B loaded feeds rowBlock multiply-adds.
const rowBlock = 16

// tileEntries bounds the accumulator entries a column tile keeps live
// (16 KiB, inside a core's L1 data cache).
const tileEntries = 4096

// product accumulates c[r][j] += Σ_k a[r][k]·B[k][j] for every row r of a
// (c zero on entry, each c[r] and a[r] of n entries), column tile by
// column tile so the accumulators stay in L1. bSeg(k, j0, j1) returns
// B[k][j0:j1], valid until the next call; j0 is a multiple of 8.
func product(a [][]int8, c [][]int32, n int, bSeg func(k, j0, j1 int) []int8) {
	if len(a) == 0 {
		return
	}
	tile := max(64, tileEntries/len(a)) &^ 7
	ct := make([][]int32, len(c))
	for j0 := 0; j0 < n; j0 += tile {
		j1 := min(j0+tile, n)
		for r := range c {
			ct[r] = c[r][j0:j1]
		}
		for k := range n {
			accumulate(a, k, ct, bSeg(k, j0, j1))
		}
	}
}

// accumulate adds a[r][k]·bk[j] to c[r][j] for every r and j < len(bk).
func accumulate(a [][]int8, k int, c [][]int32, bk []int8) {
	r := 0
	for ; r+4 <= len(a); r += 4 {
		a0, a1, a2, a3 := int32(a[r][k]), int32(a[r+1][k]), int32(a[r+2][k]), int32(a[r+3][k])
		c0, c1, c2, c3 := c[r][:len(bk)], c[r+1][:len(bk)], c[r+2][:len(bk)], c[r+3][:len(bk)]
		for j, v := range bk {
			x := int32(v)
			c0[j] += a0 * x
			c1[j] += a1 * x
			c2[j] += a2 * x
			c3[j] += a3 * x
		}
	}
	for ; r < len(a); r++ {
		ar := int32(a[r][k])
		if ar == 0 {
			continue
		}
		cr := c[r][:len(bk)]
		for j, v := range bk {
			cr[j] += ar * int32(v)
		}
	}
}

// rowKey is the stream key of row `row` of matrix m: the first 8 bytes
// (little-endian) of SHA-256(tagMatrix ‖ seed ‖ u32be(n) ‖ m ‖ u32be(row)).
func rowKey(seed [32]byte, n int, m byte, row int) uint64 {
	var buf [len(tagMatrix) + 32 + 4 + 1 + 4]byte
	p := copy(buf[:], tagMatrix)
	p += copy(buf[p:], seed[:])
	binary.BigEndian.PutUint32(buf[p:], uint32(n))
	buf[p+4] = m
	binary.BigEndian.PutUint32(buf[p+5:], uint32(row))
	d := sha256.Sum256(buf[:])
	return binary.LittleEndian.Uint64(d[:8])
}

// splitmix64 constants (Steele, Lea, Flood 2014).
const (
	gamma = 0x9e3779b97f4a7c15
	mix1  = 0xbf58476d1ce4e5b9
	mix2  = 0x94d049bb133111eb
)

// word is word w of the stream keyed by key: SplitMix64's output for the
// state key + (w+1)·gamma.
func word(key uint64, w uint64) uint64 {
	z := key + (w+1)*gamma
	z = (z ^ (z >> 30)) * mix1
	z = (z ^ (z >> 27)) * mix2
	return z ^ (z >> 31)
}

// fillRow writes the row's entries: entry j is byte j%8 (little-endian) of
// word j/8, read as two's-complement int8.
func fillRow(dst []int8, key uint64) { fillRowFrom(dst, key, 0) }

// fillRowFrom writes entries 8·w0 … 8·w0+len(dst)−1 of the row.
func fillRowFrom(dst []int8, key uint64, w0 uint64) {
	j, w := 0, w0
	for ; j+8 <= len(dst); j, w = j+8, w+1 {
		v := word(key, w)
		d := dst[j : j+8 : j+8]
		d[0], d[1], d[2], d[3] = int8(v), int8(v>>8), int8(v>>16), int8(v>>24)
		d[4], d[5], d[6], d[7] = int8(v>>32), int8(v>>40), int8(v>>48), int8(v>>56)
	}
	if j < len(dst) {
		v := word(key, w)
		for ; j < len(dst); j, v = j+1, v>>8 {
			dst[j] = int8(v)
		}
	}
}

// parallelRows runs f(k) for k in [0, n) on up to workers goroutines.
func parallelRows(n, workers int, f func(k int)) {
	var wg sync.WaitGroup
	workers = min(workers, n)
	for g := range workers {
		wg.Go(func() {
			for k := g; k < n; k += workers {
				f(k)
			}
		})
	}
	wg.Wait()
}
