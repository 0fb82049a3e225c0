// Package job defines what a compute node is asked to run (Spec) and what it
// reports back (Result), and their canonical encodings.
//
// Both travel between parties that must agree on bytes: a Spec is hashed by
// the requester and the node, a Result's RecordSHA256 is the sha256 of its
// RFC 8785 (JSON Canonicalization Scheme) encoding with that field left out.
// Canonicalize implements RFC 8785 for the JSON shapes of this package, whose
// numbers are all integers of at most 2^53-1 in magnitude; it rejects
// fractions and exponents rather than format them.
//
// OutputDigest (digest.go) is what re-executions of a deterministic job
// compare on chain: a sha256 over the sorted (path, sha256) output pairs and
// the exit code, leaving times, sizes and logs out.
//
// Start reading at Spec, then Result, then Canonicalize.
package job
