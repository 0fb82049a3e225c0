package pow

// Method: an honest prover passes every sample over random seeds and
// sizes; then each way a node can answer wrongly (a tampered row, a wrong
// index, a bad or truncated proof, a proof for another root, an output it
// did not compute) is built and must be refused with its own error.

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func prove(t testing.TB, seed [32]byte, n int) *Prover {
	t.Helper()
	p, err := Prove(context.Background(), Workload{Seed: seed, N: n}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProverVerifierAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 40 {
		n := 64 * (1 + rng.IntN(3))
		w := Workload{Seed: randSeed(rng), N: n}
		p := prove(t, w.Seed, n)
		k := 1 + rng.IntN(MaxOpenings)
		want, err := SampleChunks(randSeed(rng), p.Root(), [20]byte{byte(rng.Uint32())}, n, k)
		if err != nil {
			t.Fatal(err)
		}
		ops, err := p.Open(want)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(w, p.Root(), want, ops); err != nil {
			t.Fatalf("n %d rows %v: %v", n, want, err)
		}
		// Through the wire encoding.
		enc, err := EncodeOpenings(n, ops)
		if err != nil {
			t.Fatal(err)
		}
		dn, dec, err := DecodeOpenings(enc)
		if err != nil || dn != n {
			t.Fatalf("decode: n %d, %v", dn, err)
		}
		if err := Verify(w, p.Root(), want, dec); err != nil {
			t.Fatalf("decoded: %v", err)
		}
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 64
	w := Workload{Seed: randSeed(rng), N: n}
	p := prove(t, w.Seed, n)
	root := p.Root()
	want := []int{3, 20, 63}
	fresh := func() []Opening {
		ops, err := p.Open(want)
		if err != nil {
			t.Fatal(err)
		}
		return ops
	}
	other := prove(t, randSeed(rng), n)
	otherOps, _ := other.Open(want)

	for _, tc := range []struct {
		name   string
		mutate func([]Opening) []Opening
		want   error
	}{
		{"flipped chunk entry", func(o []Opening) []Opening { o[1].Chunk[5] ^= 1; return o }, ErrBadProof},
		{"flipped high bit", func(o []Opening) []Opening { o[2].Chunk[36] ^= -1 << 31; return o }, ErrBadProof},
		{"short chunk", func(o []Opening) []Opening { o[0].Chunk = o[0].Chunk[:ChunkEntries-1]; return o }, ErrRowSize},
		{"long chunk", func(o []Opening) []Opening { o[0].Chunk = append(o[0].Chunk, 0); return o }, ErrRowSize},
		{"wrong index", func(o []Opening) []Opening { o[1].Index = 21; return o }, ErrIndex},
		{"chunk 3 relabelled as 20", func(o []Opening) []Opening {
			o[1] = Opening{Index: 20, Chunk: o[0].Chunk, Proof: o[0].Proof}
			return o
		}, ErrBadProof},
		{"swapped rows", func(o []Opening) []Opening { o[0], o[1] = o[1], o[0]; return o }, ErrIndex},
		{"wrong proof node", func(o []Opening) []Opening { o[2].Proof[1][0] ^= 0x80; return o }, ErrBadProof},
		{"truncated proof", func(o []Opening) []Opening { o[0].Proof = o[0].Proof[:len(o[0].Proof)-1]; return o }, ErrProofLength},
		{"no proof", func(o []Opening) []Opening { o[0].Proof = nil; return o }, ErrProofLength},
		{"proof for another root", func(o []Opening) []Opening { o[1].Proof = otherOps[1].Proof; return o }, ErrBadProof},
		{"another workload's rows", func([]Opening) []Opening { return otherOps }, ErrBadProof},
		{"missing row", func(o []Opening) []Opening { return o[:2] }, ErrOpenings},
		{"extra row", func(o []Opening) []Opening { return append(o, o[2]) }, ErrOpenings},
		{"no rows", func([]Opening) []Opening { return nil }, ErrOpenings},
	} {
		if err := Verify(w, root, want, tc.mutate(fresh())); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Another workload's answer against its own root is consistent but
	// not this workload's rows.
	if err := Verify(w, other.Root(), want, otherOps); !errors.Is(err, ErrWrongRow) {
		t.Errorf("other seed's root and rows: %v", err)
	}
	// Bad requests.
	for _, bad := range [][]int{nil, {3, 3}, {20, 3}, {-1}, {Chunks(n)}, slices.Repeat([]int{0}, MaxOpenings+1)} {
		if err := Verify(w, root, bad, fresh()); err == nil {
			t.Errorf("request %v accepted", bad)
		}
	}
	if err := Verify(Workload{Seed: w.Seed, N: 0}, root, want, fresh()); !errors.Is(err, ErrBadWorkload) {
		t.Errorf("n 0: %v", err)
	}
	if _, err := p.Open([]int{5, 2}); !errors.Is(err, ErrOpenings) {
		t.Errorf("open unsorted: %v", err)
	}
}

// TestCommittedWrongOutput: a node that commits to a C with one wrong
// entry is caught when, and only when, that chunk is asked; a node that
// computed only some chunks (zeros elsewhere) fails exactly the samples
// that touch a chunk it skipped.
func TestCommittedWrongOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 128 // two chunks a row
	w := Workload{Seed: randSeed(rng), N: n}
	c, err := Compute(context.Background(), w, 2)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(c)
	bad[17*n+94]++ // row 17, entry 94: chunk 35
	p, err := NewProver(w, bad, 2)
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := p.Open([]int{34, 35})
	if err := Verify(w, p.Root(), []int{34, 35}, ops); !errors.Is(err, ErrWrongRow) {
		t.Fatalf("wrong entry: %v", err)
	}
	ops, _ = p.Open([]int{34, 36})
	if err := Verify(w, p.Root(), []int{34, 36}, ops); err != nil {
		t.Fatalf("chunks not touched: %v", err)
	}

	lazy := slices.Clone(c)
	skipped := map[int]bool{}
	for i := range Chunks(n) {
		if rng.IntN(2) == 0 {
			skipped[i] = true
			clear(lazy[i*ChunkEntries : (i+1)*ChunkEntries])
		}
	}
	lp, err := NewProver(w, lazy, 1)
	if err != nil {
		t.Fatal(err)
	}
	sampleSeed := randSeed(rng)
	caught := 0
	for v := range 200 {
		want, err := SampleChunks(sampleSeed, lp.Root(), [20]byte{byte(v), byte(v >> 8)}, n, 4)
		if err != nil {
			t.Fatal(err)
		}
		ops, _ := lp.Open(want)
		err = Verify(w, lp.Root(), want, ops)
		touches := slices.ContainsFunc(want, func(i int) bool { return skipped[i] })
		if touches != errors.Is(err, ErrWrongRow) {
			t.Fatalf("rows %v (skipped %v): %v", want, touches, err)
		}
		if touches {
			caught++
		}
	}
	// Half the chunks skipped, 4 chunks asked: caught with probability ≈ 15/16.
	if caught < 170 {
		t.Fatalf("lazy node caught %d of 200 times", caught)
	}
}
