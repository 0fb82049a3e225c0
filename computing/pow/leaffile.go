package pow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// LeafFileName is the file a prover program leaves in its output dir.
const LeafFileName = "pow-leaves.bin"

// leafMagic opens a leaf file; leafFileVersion follows it.
const (
	leafMagic       = "EMCDPOWL"
	leafFileVersion = 1
	// LeafFileHeader is the size of a leaf file's header: magic, version,
	// seed, u32be n, root.
	LeafFileHeader = len(leafMagic) + 1 + 32 + 4 + 32
)

// ErrLeafFile is returned by ReadLeafFile for a file that is not the
// canonical leaf file of the workload asked, or whose leaves do not lead
// to the root it states.
var ErrLeafFile = errors.New("pow: bad leaf file")

// LeafFileSize is the exact size of the leaf file of an n×n workload:
// LeafFileHeader + 32·Chunks(n) bytes (512 MiB + 77 at n = 32768).
func LeafFileSize(n int) int64 { return int64(LeafFileHeader) + 32*int64(Chunks(n)) }

// Leaves returns the prover's Merkle leaves, leaf(0) … leaf(Chunks(N)−1)
// (shared, do not modify).
func (p *Prover) Leaves() [][32]byte { return p.tree.levels[0] }

// WriteLeafFile writes p's leaf file (layout in doc.go, "Leaf file"):
// what a prover program running in the node's sandbox hands back instead
// of the output itself (4·N² bytes).
func WriteLeafFile(w io.Writer, p *Prover) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var hdr [LeafFileHeader]byte
	k := copy(hdr[:], leafMagic)
	hdr[k] = leafFileVersion
	k++
	k += copy(hdr[k:], p.w.Seed[:])
	binary.BigEndian.PutUint32(hdr[k:], uint32(p.w.N))
	k += 4
	root := p.Root()
	copy(hdr[k:], root[:])
	if _, err := bw.Write(hdr[:]); err != nil {
		return fmt.Errorf("pow: write leaf file: %w", err)
	}
	for _, l := range p.Leaves() {
		if _, err := bw.Write(l[:]); err != nil {
			return fmt.Errorf("pow: write leaf file: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("pow: write leaf file: %w", err)
	}
	return nil
}

// ProveToDir is the prover program: it computes w on workers goroutines
// ([Prove], the CPU reference) and writes its leaf file to
// dir/LeafFileName (through a temporary file renamed into place, so a
// killed prover leaves no partial file under that name). It returns the
// root.
func ProveToDir(ctx context.Context, w Workload, workers int, dir string) ([32]byte, error) {
	p, err := Prove(ctx, w, workers)
	if err != nil {
		return [32]byte{}, err
	}
	tmp, err := os.CreateTemp(dir, "."+LeafFileName+"-*")
	if err != nil {
		return [32]byte{}, fmt.Errorf("pow: leaf file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	// Readable by the node when the sandbox runs the prover as another
	// user (CreateTemp makes it 0600).
	err = tmp.Chmod(0o644)
	if err == nil {
		err = WriteLeafFile(tmp, p)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, LeafFileName))
	}
	if err != nil {
		return [32]byte{}, fmt.Errorf("pow: leaf file: %w", err)
	}
	return p.Root(), nil
}

// ReadLeafFile reads the leaf file of workload w from r, which holds size
// bytes, and returns a Prover over its leaves (see [NewProverFromLeaves]).
// It refuses, with [ErrLeafFile], a file of the wrong size (checked before
// anything is allocated), another magic or version, another seed or n than
// w's, bytes after the last leaf, and leaves whose tree root is not the
// root the file states. It does not recompute any chunk: the caller
// spot-checks with [Prover.Open], which does.
func ReadLeafFile(r io.Reader, size int64, w Workload) (*Prover, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if want := LeafFileSize(w.N); size != want {
		return nil, fmt.Errorf("%w: %d bytes, want %d for n %d", ErrLeafFile, size, want, w.N)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [LeafFileHeader]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrLeafFile, err)
	}
	k := len(leafMagic)
	if !bytes.Equal(hdr[:k], []byte(leafMagic)) {
		return nil, fmt.Errorf("%w: not a leaf file (magic %q)", ErrLeafFile, hdr[:k])
	}
	if hdr[k] != leafFileVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrLeafFile, hdr[k], leafFileVersion)
	}
	k++
	if !bytes.Equal(hdr[k:k+32], w.Seed[:]) {
		return nil, fmt.Errorf("%w: seed %x, want %x", ErrLeafFile, hdr[k:k+32], w.Seed)
	}
	k += 32
	if n := binary.BigEndian.Uint32(hdr[k:]); int64(n) != int64(w.N) {
		return nil, fmt.Errorf("%w: n %d, want %d", ErrLeafFile, n, w.N)
	}
	k += 4
	var root [32]byte
	copy(root[:], hdr[k:])
	leaves := make([][32]byte, Chunks(w.N))
	for i := range leaves {
		if _, err := io.ReadFull(br, leaves[i][:]); err != nil {
			return nil, fmt.Errorf("%w: leaf %d: %w", ErrLeafFile, i, err)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the last leaf", ErrLeafFile)
	}
	p, err := NewProverFromLeaves(w, leaves)
	if err != nil {
		return nil, err
	}
	if got := p.Root(); got != root {
		return nil, fmt.Errorf("%w: leaves hash to root %x, file states %x", ErrLeafFile, got, root)
	}
	return p, nil
}

// NewProverFromLeaves commits to the Chunks(w.N) leaves computed
// elsewhere (a prover program's leaf file) without the output itself. Its
// Open recomputes each asked chunk from the seed ([RecomputeChunks]:
// ChunkEntries·N multiply-adds a chunk plus N row-key hashes a call) and
// returns [ErrWrongRow] when the leaf there is not that chunk's: a node
// never serves an opening that does not lead to its root. The Prover
// keeps leaves.
func NewProverFromLeaves(w Workload, leaves [][32]byte) (*Prover, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if len(leaves) != Chunks(w.N) {
		return nil, fmt.Errorf("%w: %d leaves for n %d", ErrOutputSize, len(leaves), w.N)
	}
	return &Prover{w: w, tree: newTree(leaves)}, nil
}
