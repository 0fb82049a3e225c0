package pow

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkProve: compute C and its tree on all cores (the CPU reference
// a CPU-only node runs). cpu-s/op is CPU time summed over cores;
// mac/cpu-s counts n³ multiply-adds per CPU-second (one core's rate).
func BenchmarkProve(b *testing.B) {
	for _, n := range []int{256, 1024} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			w := Workload{Seed: [32]byte{1}, N: n}
			cpu0 := cpuSeconds()
			for b.Loop() {
				if _, err := Prove(context.Background(), w, runtime.GOMAXPROCS(0)); err != nil {
					b.Fatal(err)
				}
			}
			cpu := (cpuSeconds() - cpu0) / float64(b.N)
			b.ReportMetric(cpu, "cpu-s/op")
			b.ReportMetric(float64(n)*float64(n)*float64(n)/cpu, "mac/cpu-s")
		})
	}
}

// BenchmarkCommit: hashing an output into its tree (what a GPU node does
// on the host after the GEMM), all cores.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			c := make([]int32, n*n)
			b.SetBytes(int64(4 * n * n))
			cpu0 := cpuSeconds()
			for b.Loop() {
				if _, err := NewProver(Workload{N: n}, c, runtime.GOMAXPROCS(0)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*n*n)*float64(b.N)/(cpuSeconds()-cpu0)/1e6, "MB/cpu-s")
		})
	}
}

// BenchmarkVerify: a validator's (or the chain's) check of chunks sampled
// from one answer, one core (recomputation from the seed dominates).
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct{ n, chunks int }{{256, 4}, {1024, 1}, {4096, 1}, {8192, 4}, {32768, 4}} {
		b.Run(fmt.Sprintf("n=%d/chunks=%d", tc.n, tc.chunks), func(b *testing.B) {
			b.ReportAllocs()
			w := Workload{Seed: [32]byte{2}, N: tc.n}
			want := make([]int, tc.chunks)
			for i := range want {
				want[i] = i * (Chunks(tc.n) / tc.chunks)
			}
			rows, err := RecomputeChunks(w, want)
			if err != nil {
				b.Fatal(err)
			}
			// A tree whose other leaves are arbitrary: Verify only walks
			// the asked chunks' paths.
			leaves := make([][32]byte, Chunks(tc.n))
			for k, i := range want {
				leaves[i] = LeafHash(i, rows[k])
			}
			tr := newTree(leaves)
			ops := make([]Opening, tc.chunks)
			for k, i := range want {
				ops[k] = Opening{Index: i, Chunk: rows[k], Proof: tr.proof(i)}
			}
			cpu0 := cpuSeconds()
			for b.Loop() {
				if err := Verify(w, tr.root(), want, ops); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkGenerate: the input stream, bytes of A or B per second.
func BenchmarkGenerate(b *testing.B) {
	row := make([]int8, 4096)
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		fillRow(row, 12345)
	}
}
