package pow

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSampleChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 500 {
		n := 64 * (1 + rng.IntN(5))
		k := 1 + rng.IntN(MaxOpenings)
		seed, root := randSeed(rng), randSeed(rng)
		v := [20]byte{byte(rng.Uint32())}
		rows, err := SampleChunks(seed, root, v, n, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != k {
			t.Fatalf("n %d k %d: %d rows", n, k, len(rows))
		}
		for j, i := range rows {
			if i < 0 || i >= Chunks(n) || (j > 0 && i <= rows[j-1]) {
				t.Fatalf("n %d k %d: rows %v not distinct, sorted, in range", n, k, rows)
			}
		}
		again, _ := SampleChunks(seed, root, v, n, k)
		if !slices.Equal(rows, again) {
			t.Fatal("sampling not deterministic")
		}
	}
}

func TestSampleChunksInputsMatter(t *testing.T) {
	base, _ := SampleChunks([32]byte{1}, [32]byte{2}, [20]byte{3}, 1<<16, 8)
	for name, f := range map[string]func() ([]int, error){
		"seed":      func() ([]int, error) { return SampleChunks([32]byte{9}, [32]byte{2}, [20]byte{3}, 1<<16, 8) },
		"root":      func() ([]int, error) { return SampleChunks([32]byte{1}, [32]byte{9}, [20]byte{3}, 1<<16, 8) },
		"validator": func() ([]int, error) { return SampleChunks([32]byte{1}, [32]byte{2}, [20]byte{9}, 1<<16, 8) },
	} {
		got, _ := f()
		if slices.Equal(got, base) {
			t.Errorf("changing the %s keeps the sample", name)
		}
	}
}

// TestSampleChunksUniform: each of the 64 chunks of n = 64 is drawn about
// 1/64 of the time (bounds at about 5 standard deviations).
func TestSampleChunksUniform(t *testing.T) {
	var counts [64]int
	for v := range 64000 {
		rows, err := SampleChunks([32]byte{7}, [32]byte{}, [20]byte{byte(v), byte(v >> 8)}, 64, 1)
		if err != nil {
			t.Fatal(err)
		}
		counts[rows[0]]++
	}
	for i, c := range counts {
		if c < 845 || c > 1155 {
			t.Fatalf("chunk %d drawn %d of 64000 times: %v", i, c, counts)
		}
	}
}

func TestSampleChunksRefusals(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want error
	}{
		{0, 1, ErrBadWorkload}, {MaxN + 1, 1, ErrBadWorkload}, {100, 1, ErrBadWorkload}, {32, 1, ErrBadWorkload},
		{64, 0, ErrOpenings}, {128, MaxOpenings + 1, ErrOpenings}, {64, -1, ErrOpenings},
	} {
		if _, err := SampleChunks([32]byte{}, [32]byte{}, [20]byte{}, tc.n, tc.k); !errors.Is(err, tc.want) {
			t.Errorf("n %d k %d: %v, want %v", tc.n, tc.k, err, tc.want)
		}
	}
}

// TestSampleChunksGolden pins the derivation: nodes, validators and the
// chain module must draw the same rows.
func TestSampleChunksGolden(t *testing.T) {
	var seed, root [32]byte
	for i := range seed {
		seed[i], root[i] = byte(i), byte(255-i)
	}
	got, err := SampleChunks(seed, root, [20]byte{0xaa}, 1024, 6)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3536, 7957, 8794, 10695, 13377, 15386}; !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}
