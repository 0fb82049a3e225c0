package pow

// Method: the level-by-level tree (odd node promoted) is checked against
// RFC 9162's recursive definition, MTH(D[0:n]) = H(0x01 ‖ MTH(D[0:k]) ‖
// MTH(D[k:n])) with k the largest power of two below n; every proof of
// every index verifies and has ProofLen hashes; every single-hash or
// single-bit tamper is refused.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

func refMTH(leaves [][32]byte) [32]byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refMTH(leaves[:k]), refMTH(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func refLeaf(i int, row []int32) [32]byte {
	msg := binary.BigEndian.AppendUint32([]byte{0}, uint32(i))
	for _, v := range row {
		msg = binary.LittleEndian.AppendUint32(msg, uint32(v))
	}
	return sha256.Sum256(msg)
}

func TestTreeMatchesRFC9162(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 70; n++ {
		leaves := make([][32]byte, n)
		for i := range leaves {
			leaves[i] = randSeed(rng)
		}
		tr := newTree(leaves)
		if tr.root() != refMTH(leaves) {
			t.Fatalf("n %d: root differs from RFC 9162", n)
		}
		maxLen := 0
		for i := range n {
			p := tr.proof(i)
			if len(p) != ProofLen(i, n) {
				t.Fatalf("n %d index %d: proof of %d hashes, ProofLen %d", n, i, len(p), ProofLen(i, n))
			}
			maxLen = max(maxLen, len(p))
			if err := VerifyProof(tr.root(), n, i, leaves[i], p); err != nil {
				t.Fatalf("n %d index %d: %v", n, i, err)
			}
			// Every other leaf at this index fails.
			if err := VerifyProof(tr.root(), n, i, leaves[(i+1)%n], p); n > 1 && !errors.Is(err, ErrBadProof) {
				t.Fatalf("n %d index %d: other leaf: %v", n, i, err)
			}
		}
		// The longest proof is ⌈log2 n⌉.
		want := 0
		for 1<<want < n {
			want++
		}
		if maxLen != want {
			t.Fatalf("n %d: longest proof %d, want %d", n, maxLen, want)
		}
	}
	if MaxProofLen != 26 || ProofLen(0, MaxChunks) != 26 {
		t.Fatalf("MaxProofLen %d", MaxProofLen)
	}
}

func TestLeafHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 1022, 1023, 1024, 1025, 5000} {
		row := make([]int32, n)
		for j := range row {
			row[j] = int32(rng.Uint32())
		}
		if LeafHash(7, row) != refLeaf(7, row) {
			t.Fatalf("leaf of %d entries differs", n)
		}
	}
}

// TestGoldenRootsIndependent recomputes a golden root from the reference
// product and the RFC 9162 tree alone.
func TestGoldenRootsIndependent(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	for _, n := range []int{64, 128} {
		c := refProduct(seed, n)
		leaves := make([][32]byte, n*n/64)
		for i := range leaves {
			leaves[i] = refLeaf(i, c[i*64:(i+1)*64])
		}
		p, err := Prove(context.Background(), Workload{Seed: seed, N: n}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if p.Root() != refMTH(leaves) {
			t.Fatalf("n %d: root differs from the reference", n)
		}
	}
}

func TestVerifyProofRefusals(t *testing.T) {
	leaves := make([][32]byte, 11)
	for i := range leaves {
		leaves[i] = [32]byte{byte(i)}
	}
	tr := newTree(leaves)
	root := tr.root()
	p := tr.proof(4)
	for _, tc := range []struct {
		name  string
		n, i  int
		proof [][32]byte
		want  error
	}{
		{"n 0", 0, 4, p, ErrBadWorkload},
		{"n too big", MaxChunks + 1, 4, p, ErrBadWorkload},
		{"index negative", 11, -1, p, ErrIndex},
		{"index n", 11, 11, p, ErrIndex},
		{"truncated", 11, 4, p[:len(p)-1], ErrProofLength},
		{"extra hash", 11, 4, append(append([][32]byte{}, p...), [32]byte{}), ErrProofLength},
		{"no proof", 11, 4, nil, ErrProofLength},
		{"other n, other path", 5, 4, p, ErrProofLength},
		{"other index", 11, 5, tr.proof(5), ErrBadProof},
	} {
		if err := VerifyProof(root, tc.n, tc.i, leaves[4], tc.proof); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for k := range p {
		for bit := range 256 {
			q := append([][32]byte{}, p...)
			q[k][bit/8] ^= 1 << (bit % 8)
			if err := VerifyProof(root, 11, 4, leaves[4], q); !errors.Is(err, ErrBadProof) {
				t.Fatalf("node %d bit %d flipped: %v", k, bit, err)
			}
		}
	}
}
