package pow

// Method: a leaf file written by WriteLeafFile reads back as a Prover with
// the same root and the same openings as the Prover that computed the
// output; every way a prover program can hand back a wrong file (size,
// magic, version, seed, n, a stated root its leaves do not lead to,
// trailing bytes, a leaf of a chunk it did not compute) is refused; the
// decoder never panics on arbitrary bytes and accepts only the canonical
// encoding.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func leafFile(t testing.TB, p *Prover) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteLeafFile(&buf, p); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != LeafFileSize(p.Workload().N) {
		t.Fatalf("leaf file %d bytes, LeafFileSize %d", buf.Len(), LeafFileSize(p.Workload().N))
	}
	return buf.Bytes()
}

func readLeaf(b []byte, w Workload) (*Prover, error) {
	return ReadLeafFile(bytes.NewReader(b), int64(len(b)), w)
}

func TestLeafFileRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{64, 128, 192, 320} {
		w := Workload{Seed: randSeed(rng), N: n}
		p := prove(t, w.Seed, n)
		q, err := readLeaf(leafFile(t, p), w)
		if err != nil {
			t.Fatalf("n %d: %v", n, err)
		}
		if q.Root() != p.Root() {
			t.Fatalf("n %d: root %x, want %x", n, q.Root(), p.Root())
		}
		for range 5 {
			want, err := SampleChunks(randSeed(rng), p.Root(), [20]byte{1}, n, 1+rng.IntN(MaxOpenings))
			if err != nil {
				t.Fatal(err)
			}
			a, err := p.Open(want)
			if err != nil {
				t.Fatal(err)
			}
			b, err := q.Open(want)
			if err != nil {
				t.Fatalf("n %d open %v: %v", n, want, err)
			}
			for k := range a {
				if a[k].Index != b[k].Index || !slices.Equal(a[k].Chunk, b[k].Chunk) || !slices.Equal(a[k].Proof, b[k].Proof) {
					t.Fatalf("n %d chunk %d: openings differ", n, a[k].Index)
				}
			}
			if err := Verify(w, q.Root(), want, b); err != nil {
				t.Fatalf("n %d: %v", n, err)
			}
		}
	}
}

func TestProveToDir(t *testing.T) {
	w := Workload{Seed: [32]byte{5}, N: 128}
	dir := t.TempDir()
	root, err := ProveToDir(context.Background(), w, 2, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, LeafFileName))
	if err != nil {
		t.Fatal(err)
	}
	p, err := readLeaf(b, w)
	if err != nil || p.Root() != root || root != prove(t, w.Seed, w.N).Root() {
		t.Fatalf("root %x, err %v", root, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files left in the dir, want the leaf file alone", len(ents))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ProveToDir(ctx, Workload{Seed: [32]byte{6}, N: 512}, 2, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestReadLeafFileRefuses(t *testing.T) {
	w := Workload{Seed: [32]byte{1, 2, 3}, N: 128}
	p := prove(t, w.Seed, w.N)
	good := leafFile(t, p)
	rootAt := LeafFileHeader - 32
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// restate sets the stated root to the tree root of the file's leaves.
	restate := func(b []byte) []byte {
		leaves := make([][32]byte, Chunks(w.N))
		for i := range leaves {
			copy(leaves[i][:], b[LeafFileHeader+32*i:])
		}
		r := newTree(leaves).root()
		copy(b[rootAt:], r[:])
		return b
	}
	cases := []struct {
		name string
		b    []byte
		w    Workload
	}{
		{"empty", nil, w},
		{"truncated", good[:len(good)-1], w},
		{"header only", good[:LeafFileHeader], w},
		{"trailing byte", append(bytes.Clone(good), 0), w},
		{"magic", mut(func(b []byte) []byte { b[0] ^= 1; return b }), w},
		{"version", mut(func(b []byte) []byte { b[len(leafMagic)] = 2; return b }), w},
		{"seed", mut(func(b []byte) []byte { b[len(leafMagic)+1] ^= 1; return b }), w},
		{"n", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[len(leafMagic)+33:], 64); return b }), w},
		{"stated root", mut(func(b []byte) []byte { b[rootAt] ^= 1; return b }), w},
		{"leaf", mut(func(b []byte) []byte { b[LeafFileHeader+32*7] ^= 1; return b }), w},
		{"another workload's", good, Workload{Seed: [32]byte{9}, N: 128}},
		{"another size's", good, Workload{Seed: w.Seed, N: 192}},
	}
	for _, c := range cases {
		if _, err := readLeaf(c.b, c.w); !errors.Is(err, ErrLeafFile) {
			t.Errorf("%s: %v, want ErrLeafFile", c.name, err)
		}
	}
	// The size given must be the size read.
	if _, err := ReadLeafFile(bytes.NewReader(good[:len(good)-32]), int64(len(good)), w); !errors.Is(err, ErrLeafFile) {
		t.Errorf("short reader: %v", err)
	}
	if _, err := readLeaf(good, Workload{Seed: w.Seed, N: 100}); !errors.Is(err, ErrBadWorkload) {
		t.Errorf("bad workload: %v", err)
	}

	// A consistent file (root restated) over a leaf that is not its chunk's
	// reads, and Open refuses to serve that chunk; the others still serve.
	q, err := readLeaf(mut(func(b []byte) []byte { b[LeafFileHeader+32*7] ^= 1; return restate(b) }), w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Open([]int{3, 7}); !errors.Is(err, ErrWrongRow) {
		t.Fatalf("open of a wrong leaf: %v, want ErrWrongRow", err)
	}
	if _, err := q.Open([]int{3, 8}); err != nil {
		t.Fatalf("open of good leaves: %v", err)
	}
}

func FuzzReadLeafFile(f *testing.F) {
	w := Workload{Seed: [32]byte{7}, N: 64}
	p := prove(f, w.Seed, w.N)
	good := leafFile(f, p)
	f.Add(good)
	f.Add(good[:LeafFileHeader])
	f.Add([]byte(leafMagic))
	f.Add(append(bytes.Clone(good), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := readLeaf(b, w)
		if err != nil {
			if !errors.Is(err, ErrLeafFile) {
				t.Fatalf("error not ErrLeafFile: %v", err)
			}
			return
		}
		// Accepted: canonical (it re-encodes to the same bytes), and its
		// root is the one its leaves lead to.
		var out bytes.Buffer
		if err := WriteLeafFile(&out, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatal("accepted a non-canonical leaf file")
		}
	})
}
