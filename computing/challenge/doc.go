// Package challenge is the node side of the proof-of-work challenges of
// verifiable compute (issue 12, computing/pow and computing/verify): what a
// compute node does to answer its challenge, and what a validator drawn
// as a verifier does to check it. It holds the pure decision cores, the
// wire protocol between the two and the services that drive them; the
// chain module (computing/verify) decides.
//
// Start reading at [DecideNode] and [DecideVerifier] (what to do at a
// head, given the chain state), then [Request], [Server] and
// [CheckOpenings].
//
// # Compute node
//
// At every head of epoch e, for a node registered at the epoch's first
// block with an unchanged listing ([DecideNode]):
//
//  1. once the epoch's seed is on chain and no root is, compute the
//     workload of the node's class (a [pow.Prover], cancellable, on a
//     bounded worker pool) while the head is before the class's commit
//     deadline block D;
//  2. send commitRoot(e, root) while head < D (the transaction lands in a
//     later block, at most D), again if no root is on chain
//     [CommitResendBlocks] later (a dropped or refused transaction);
//  3. keep the Prover until the challenge's window closes (a node
//     restarted after its commit computes it again: the output is
//     deterministic, so an honest node gets its committed root back), and serve
//     openings ([Server]): a verifier asks for its chunks of (e, node) with
//     a [Request] signed by its validator signer key; the node answers
//     [pow.EncodeOpenings] of exactly [pow.SampleChunks](hash(D), root,
//     verifier, N, k) to a signer that is one of the challenge's drawn
//     verifiers, and refuses anyone else;
//  4. rebut: post a verifier's chunks itself when that verifier attested a
//     fail (at any head in the window), or has not attested RebutMargin
//     blocks before the window ends. This protects an honest node from a
//     lying or absent validator.
//
// Step 1 runs in process (pow.Prove, the default) or through the node's
// executor ([SandboxProver], a [ProveFunc]): a prover program (`emcd pow
// prove`, or a GPU image with the same command line) in the jobs' sandbox
// writes a leaf file (computing/pow, "Leaf file"); the node checks it
// (size, header, root from the leaves, [DefaultSpotChecks] chunks
// recomputed on the CPU) and keeps a Prover over the leaves that
// recomputes each chunk it serves. A failed or wrong prover is
// [ErrProver]: nothing is committed.
//
// # Verifier
//
// For each committed challenge where its signer is drawn and its slot
// pending, once the sample seed is on chain (head > D) and before the
// window's end ([DecideVerifier]): fetch the openings from the node,
// check them locally ([CheckOpenings]: the same pow.Verify the chain
// runs) and send attest(e, node, openings) on a pass. After MaxAttempts
// failed fetches or bad answers, or FailMargin blocks before the window
// ends, send attestFail(e, node). FailMargin is below the node's
// RebutMargin, so an honest node that the verifier could not reach has
// already proven its slot when the fail would land (the fail then
// reverts), and a node can always rebut an early fail.
//
// # Wire protocol
//
// One request and one response per stream. The request is fixed-size
// binary (see [Request.Encode]): version 1 ‖ u64be epoch ‖ node (20) ‖
// u64be expiry ‖ signature (65), the signature over [Digest] (chain id,
// epoch, node, expiry) by the verifier's signer key; it is valid at most
// [MaxValidity] ahead. The response is u8 code ‖ payload: with [CodeOK]
// the openings encoding, otherwise a UTF-8 reason of at most
// [MaxMessage] bytes ([Response]).
package challenge
