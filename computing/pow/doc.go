// Package pow is the deterministic core of the proof-of-work challenges of
// verifiable compute (issue 12): the workload a compute node runs, the
// Merkle commitment to its output, the chunks each validator samples, the
// CPU check of a sampled chunk, the wire encoding of a node's answer, and
// the genesis class table that sizes a challenge by the GPU a node claims.
// It holds no state, reads no clock and starts no goroutine beyond the
// worker pool of [Compute] and [NewProver]; the chain module and the
// agent (next slices) drive it.
//
// Start reading at [Workload] and [Prove] (the node's side), then
// [SampleChunks] and [Verify] (the validator's side), then [Params].
//
// # Protocol
//
//  1. A challenge for node X in a block with hash h has the workload
//     seed s = [ChallengeSeed](h, X) and n = the N of X's class
//     ([Params.ClassFor] on X's registry listing).
//  2. X computes C = A·B for Workload{s, n} and commits root =
//     [Prover.Root] on chain within the class's DeadlineSeconds.
//  3. The sample seed is a value X cannot know when it commits: the hash
//     of a block after the one that recorded the root. A seed known
//     before the commitment (h itself, or anything derived from h and the
//     validators) lets X compute only the chunks it will be asked. Hashing
//     the root into the sample as well does not replace this: a node can
//     grind roots over junk chunks until the sample misses them.
//  4. Each chosen validator V asks X for chunks [SampleChunks](sampleSeed,
//     root, V, n, ChunksPerValidator), receives an [EncodeOpenings]
//     response, decodes it with [DecodeOpenings] and checks it with
//     [Verify]; it attests pass or fail on chain (the chain module checks
//     the same openings natively).
//
// A node that computed a fraction f of the chunks passes one validator
// with probability f^k (k chunks asked); every skipped chunk it is asked
// about fails [Verify] with [ErrWrongRow].
//
// # Workload
//
// A and B are n×n matrices of int8, n in [MinN, MaxN] = [64, 65536] and
// a multiple of [ChunkEntries] = 64 (so rows split into whole chunks, and
// a validator never needs a partial one). Row r of matrix M
// (M the byte 'A' or 'B') has the key
//
//	key(M, r) = first 8 bytes, little-endian, of
//	            SHA-256("emcd:pow:v1:matrix" ‖ seed ‖ u32be(n) ‖ M ‖ u32be(r))
//
// and its entries are the bytes of a SplitMix64 stream seeded with the
// key: word w (w = 0, 1, …) is mix(key + (w+1)·0x9e3779b97f4a7c15) with
// mix(z) = z ^= z>>30; z *= 0xbf58476d1ce4e5b9; z ^= z>>27;
// z *= 0x94d049bb133111eb; z ^= z>>31 (all mod 2^64); entry j of the row
// is byte j mod 8 (little-endian) of word ⌊j/8⌋, read as two's-complement
// int8. The stream needs no secrecy, only to be unknown before the seed
// and cheap on every device: the row keys and the counter-based words make
// any segment of any row of A or B computable alone, so a validator never
// holds a whole matrix and a GPU generates the inputs in parallel.
//
// C = A·B with int32 entries: C[i][j] = Σ_k A[i][k]·B[k][j]. With |entry|
// ≤ 128 and n ≤ 2^16 every sum is below 2^30 in magnitude, so the int32
// result is exact (no wrap-around). This is the int8 GEMM with int32
// accumulation that GPU tensor cores run natively (cuBLAS GemmEx
// CUDA_R_8I → CUDA_R_32I); a GPU node computes C in its sandbox and passes
// it to [NewProver]; [Compute] is the CPU reference.
//
// # Chunks
//
// The unit of the commitment is a chunk: 64 consecutive entries of a row
// of C, int32 little-endian (256 bytes). Chunk c (c in [0, n²/64),
// [Chunks]) is row ⌊c/(n/64)⌋, entries 64·(c mod (n/64)) onwards: chunks
// are numbered row-major, so chunk c holds C's entries 64c … 64c+63 in
// row-major order. Recomputing one chunk costs 64·n multiply-adds (one row
// of A against a 64-column strip of B, generated alone since the stream
// is counter-based) plus the n row keys of B, shared by all chunks of a
// check ([RecomputeChunks]); a whole row would cost n² and 4n bytes, too
// much for a chain to check (docs/verification.md, "Sizing the
// evidence").
//
// # Commitment
//
// leaf(c) = SHA-256(0x00 ‖ u32be(c) ‖ chunk c encoded), and the root is
// the RFC 9162 Merkle tree hash over leaf(0) … leaf(n²/64−1), inner nodes
// SHA-256(0x01 ‖ left ‖ right). Built level by level: each level hashes
// pairs (2j, 2j+1); a level's odd last node moves up unchanged; the root is
// the single node of the top level (for one leaf, the leaf). This is the
// same tree as RFC 9162's recursive split at the largest power of two
// below the leaf count. A proof lists, bottom up, the sibling of the path
// node at every level where it has one: [ProofLen](c, n²/64) hashes, at
// most ⌈log2(n²/64)⌉ ≤ [MaxProofLen] = 26. The leaf index binds the
// chunk's position; n is bound by the tree shape and by the workload the
// verifier derives (the root is only ever checked against one n).
//
// # Response encoding
//
//	u8 version = 2 ‖ u32be n ‖ u8 count (1 … MaxOpenings)
//	count × ( u32be index ‖ chunk: 64 × int32 LE ‖ ProofLen(index, n²/64) × 32-byte hash )
//
// with n a valid problem size, indices strictly increasing and below
// n²/64, and nothing after the last opening; at most [MaxEncodedBytes]
// (17,478 bytes; 4 chunks of n = 8192 are 3,606). Version 1 carried whole
// rows and is refused. Every field is determined, so
// the encoding is canonical: [DecodeOpenings] accepts exactly what
// [EncodeOpenings] produces.
//
// # Leaf file
//
// A prover program running in the node's sandbox ([ProveToDir], `emcd pow
// prove`, or a GPU image implementing the same) hands the node the Merkle
// leaves, not C (4·N² bytes, 4 GiB at N = 32768):
//
//	"EMCDPOWL" ‖ u8 version = 1 ‖ seed (32) ‖ u32be n ‖ root (32) ‖ Chunks(n) × leaf (32)
//
// exactly [LeafFileSize](n) bytes, written to [LeafFileName].
// [ReadLeafFile] accepts exactly what [WriteLeafFile] produces for the
// workload asked (size checked before allocating, seed and n equal to the
// workload's, the stated root the tree root of the leaves). The node keeps
// the leaves and their tree ([NewProverFromLeaves]) and recomputes a
// chunk when it opens it (ChunkEntries·N multiply-adds, see
// [RecomputeChunks]); it serves no opening whose recomputed chunk is not
// the committed leaf.
//
// # Sampling
//
// See [SampleChunks]: SHA-256 counter mode over (sample seed, root,
// validator), uniform over the n²/64 chunks (rejection of the biased top
// range), duplicates skipped, returned sorted.
//
// # Classes
//
// [Params] map registry GPU model strings to classes (N, deadline), with
// named classes for unknown models, CPU-only nodes and simulated
// inventories. The default sizes are reasoned from published int8 peaks,
// not measured yet; see [DefaultParams].
package pow
