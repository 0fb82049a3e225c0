package pow

// Method: the fast paths (word-at-a-time generator, 4-row blocked
// multiply, streamed recomputation) are checked against a slow version
// written from doc.go's rules alone: a stateful SplitMix64 stream read byte
// by byte and a triple loop. Golden roots pin the whole derivation.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// refStream is SplitMix64 as published: state += gamma, then mix.
type refStream struct{ state uint64 }

func (s *refStream) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// refMatrix derives matrix m from doc.go's rule.
func refMatrix(seed [32]byte, n int, m byte) [][]int8 {
	out := make([][]int8, n)
	for r := range n {
		msg := []byte("emcd:pow:v1:matrix")
		msg = append(msg, seed[:]...)
		msg = binary.BigEndian.AppendUint32(msg, uint32(n))
		msg = append(msg, m)
		msg = binary.BigEndian.AppendUint32(msg, uint32(r))
		d := sha256.Sum256(msg)
		s := refStream{state: binary.LittleEndian.Uint64(d[:8])}
		var bytes []byte
		for len(bytes) < n {
			bytes = binary.LittleEndian.AppendUint64(bytes, s.next())
		}
		out[r] = make([]int8, n)
		for c := range n {
			out[r][c] = int8(bytes[c])
		}
	}
	return out
}

func refProduct(seed [32]byte, n int) []int32 {
	a, b := refMatrix(seed, n, 'A'), refMatrix(seed, n, 'B')
	c := make([]int32, n*n)
	for i := range n {
		for j := range n {
			var s int64
			for k := range n {
				s += int64(a[i][k]) * int64(b[k][j])
			}
			c[i*n+j] = int32(s)
		}
	}
	return c
}

func randSeed(rng *rand.Rand) [32]byte {
	var s [32]byte
	for i := range s {
		s[i] = byte(rng.Uint32())
	}
	return s
}

func TestComputeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{64, 128, 192} {
		seed := randSeed(rng)
		want := refProduct(seed, n)
		for _, workers := range []int{1, 3} {
			got, err := Compute(context.Background(), Workload{Seed: seed, N: n}, workers)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("n %d workers %d: C[%d] = %d, want %d", n, workers, i, got[i], want[i])
				}
			}
		}
		m := Chunks(n)
		idx := []int{0, m - 1, m / 2, m / 3, n/64 + 1}
		chunks, err := RecomputeChunks(Workload{Seed: seed, N: n}, idx)
		if err != nil {
			t.Fatal(err)
		}
		for r, c := range idx {
			for j := range ChunkEntries {
				if chunks[r][j] != want[c*ChunkEntries+j] {
					t.Fatalf("n %d: recomputed chunk %d differs at %d", n, c, j)
				}
			}
		}
	}
}

// TestExtremeEntries checks the int32 accumulation at its bound: all
// entries −128 give N·2^14 per output entry, exact below 2^31 at MaxN.
func TestExtremeEntries(t *testing.T) {
	n := 8
	a := make([][]int8, 4)
	for i := range a {
		a[i] = make([]int8, n)
		for k := range a[i] {
			a[i][k] = -128
		}
	}
	b := make([]int8, n)
	for k := range b {
		b[k] = -128
	}
	c := make([][]int32, 4)
	for r := range c {
		c[r] = make([]int32, n)
	}
	product(a, c, n, func(k, j0, j1 int) []int8 { return b[j0:j1] })
	for _, v := range slices.Concat(c...) {
		if v != int32(n)*128*128 {
			t.Fatalf("entry %d, want %d", v, n*128*128)
		}
	}
	if int64(MaxN)*128*128 >= 1<<31 {
		t.Fatal("MaxN allows int32 overflow")
	}
}

// TestGoldenRoots pins the derivation: a change to the generator, the
// product, the leaf layout or the tree shape changes these roots. They were
// regenerated when the leaves became 64-entry chunks; n = 64's root kept
// its value, as a chunk is then a whole row at the same leaf index.
func TestGoldenRoots(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	for _, tc := range []struct {
		n    int
		root string
	}{
		{64, "413e86f336cf825c0ea81b4e54a2e87c00e30debce246e5d2234dd00a7a75d92"},
		{128, "21526bc0314fcab1f1f68f52a18c5f867544b6c48e0637bc954c613109823798"},
		{192, "a1bfe34c6cc652bd82fceb005d5ed8235bd8521b61133a37e8cc028b29c70fe9"},
	} {
		p, err := Prove(context.Background(), Workload{Seed: seed, N: tc.n}, 2)
		if err != nil {
			t.Fatal(err)
		}
		root := p.Root()
		if got := hex.EncodeToString(root[:]); got != tc.root {
			t.Errorf("n %d: root %s, want %s", tc.n, got, tc.root)
		}
	}
}

func TestChallengeSeed(t *testing.T) {
	var h [32]byte
	a := ChallengeSeed(h, [20]byte{1})
	if a == ChallengeSeed(h, [20]byte{2}) || a == ChallengeSeed([32]byte{1}, [20]byte{1}) {
		t.Fatal("challenge seeds collide")
	}
	if a != ChallengeSeed(h, [20]byte{1}) {
		t.Fatal("challenge seed not deterministic")
	}
}

func TestWorkloadRefusals(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{0, -1, 32, 100, MaxN + 1} {
		if _, err := Compute(ctx, Workload{N: n}, 1); !errors.Is(err, ErrBadWorkload) {
			t.Errorf("n %d: %v", n, err)
		}
		if _, err := RecomputeChunks(Workload{N: n}, []int{0}); !errors.Is(err, ErrBadWorkload) {
			t.Errorf("recompute n %d: %v", n, err)
		}
	}
	if _, err := Compute(ctx, Workload{N: 64}, 0); !errors.Is(err, ErrBadWorkload) {
		t.Errorf("0 workers: %v", err)
	}
	if _, err := RecomputeChunks(Workload{N: 64}, []int{64}); !errors.Is(err, ErrIndex) {
		t.Errorf("chunk 64 of 64: %v", err)
	}
	if _, err := NewProver(Workload{N: 64}, make([]int32, 15), 1); !errors.Is(err, ErrOutputSize) {
		t.Errorf("15 entries: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Compute(cctx, Workload{N: 64}, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
