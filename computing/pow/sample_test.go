package pow

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSampleRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 500 {
		n := 1 + rng.IntN(300)
		k := 1 + rng.IntN(min(n, MaxOpenings))
		seed, root := randSeed(rng), randSeed(rng)
		v := [20]byte{byte(rng.Uint32())}
		rows, err := SampleRows(seed, root, v, n, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != k {
			t.Fatalf("n %d k %d: %d rows", n, k, len(rows))
		}
		for j, i := range rows {
			if i < 0 || i >= n || (j > 0 && i <= rows[j-1]) {
				t.Fatalf("n %d k %d: rows %v not distinct, sorted, in range", n, k, rows)
			}
		}
		again, _ := SampleRows(seed, root, v, n, k)
		if !slices.Equal(rows, again) {
			t.Fatal("sampling not deterministic")
		}
	}
	all, err := SampleRows([32]byte{}, [32]byte{}, [20]byte{}, MaxOpenings, MaxOpenings)
	if err != nil || len(all) != MaxOpenings || all[0] != 0 || all[MaxOpenings-1] != MaxOpenings-1 {
		t.Fatalf("k = n: %v %v", all, err)
	}
}

func TestSampleRowsInputsMatter(t *testing.T) {
	base, _ := SampleRows([32]byte{1}, [32]byte{2}, [20]byte{3}, 1<<16, 8)
	for name, f := range map[string]func() ([]int, error){
		"seed":      func() ([]int, error) { return SampleRows([32]byte{9}, [32]byte{2}, [20]byte{3}, 1<<16, 8) },
		"root":      func() ([]int, error) { return SampleRows([32]byte{1}, [32]byte{9}, [20]byte{3}, 1<<16, 8) },
		"validator": func() ([]int, error) { return SampleRows([32]byte{1}, [32]byte{2}, [20]byte{9}, 1<<16, 8) },
	} {
		got, _ := f()
		if slices.Equal(got, base) {
			t.Errorf("changing the %s keeps the sample", name)
		}
	}
}

// TestSampleRowsUniform: each of 10 rows is drawn about a tenth of the
// time (bounds at about 5 standard deviations).
func TestSampleRowsUniform(t *testing.T) {
	var counts [10]int
	for v := range 20000 {
		rows, err := SampleRows([32]byte{7}, [32]byte{}, [20]byte{byte(v), byte(v >> 8)}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		counts[rows[0]]++
	}
	for i, c := range counts {
		if c < 1800 || c > 2200 {
			t.Fatalf("row %d drawn %d of 20000 times: %v", i, c, counts)
		}
	}
}

func TestSampleRowsRefusals(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want error
	}{
		{0, 1, ErrBadWorkload}, {MaxN + 1, 1, ErrBadWorkload},
		{10, 0, ErrOpenings}, {3, 4, ErrOpenings}, {100, MaxOpenings + 1, ErrOpenings}, {10, -1, ErrOpenings},
	} {
		if _, err := SampleRows([32]byte{}, [32]byte{}, [20]byte{}, tc.n, tc.k); !errors.Is(err, tc.want) {
			t.Errorf("n %d k %d: %v, want %v", tc.n, tc.k, err, tc.want)
		}
	}
}

// TestSampleRowsGolden pins the derivation: nodes, validators and the
// chain module must draw the same rows.
func TestSampleRowsGolden(t *testing.T) {
	var seed, root [32]byte
	for i := range seed {
		seed[i], root[i] = byte(i), byte(255-i)
	}
	got, err := SampleRows(seed, root, [20]byte{0xaa}, 1000, 6)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{73, 189, 602, 624, 826, 967}; !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}
