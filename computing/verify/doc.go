// Package verify is the verification module: a chain-native module (see
// state/native) at native.VerifyAddress that challenges every registered
// compute node once per staking epoch with the proof-of-work workload of
// computing/pow and decides each challenge from evidence the chain checks
// itself (docs/verification.md, "evidence on chain, not votes").
//
// Start reading at [Module.Methods] (the method table and each method's
// gas), then the timeline below, then state.go (storage layout and the Go
// accessors: [EpochSeed], [SampleSeed], [FaultsOf], [Module.ChallengeOf]).
//
// Solidity interface:
//
//	function commitRoot(uint64 epoch, bytes32 root);               // the node's owner
//	function attest(uint64 epoch, address node, bytes openings);   // a drawn verifier: a pass, with evidence
//	function attestFail(uint64 epoch, address node);               // a drawn verifier: a fail
//	function rebut(uint64 epoch, address verifier, bytes openings); // the node's owner: that verifier's evidence
//	function recordMiss(uint64 epoch, address node);               // anyone, after the epoch's deadlines
//	function challengeOf(uint64 epoch, address node) view returns (uint8 status, bytes32 root, uint32 n,
//	    uint64 commitBlock, uint64 deadlineBlock, uint64 windowEndBlock, address[] verifiers,
//	    uint8[] slots, uint8 passesNeeded);
//	function faultsOf(address account) view returns (uint64 passed, uint64 failed, uint64 missed,
//	    uint64 missedDuties, uint64 falseFails);
//	function epochSeed(uint64 epoch) view returns (bool set, bytes32 seed, uint64 startTime, uint256 validators);
//	function missRecorded(uint64 epoch, address node) view returns (bool recorded);
//	function historyOf(address node) view returns (uint8[] outcomes); // newest first, at most HistoryLen
//	function probeFail(uint64 epoch, address router);              // a drawn prober: the router's relay failed it
//	function probeOf(uint64 epoch, address router) view returns (address[] probers, bool[] failed,
//	    uint8 failsNeeded, bool routerFailed);
//	function routerProbesOf(address router) view returns (uint64 failReports, uint64 failedEpochs);
//	event RootCommitted(uint64 indexed epoch, address indexed node, bytes32 root, uint32 n, address[] verifiers);
//	event Attested(uint64 indexed epoch, address indexed node, address indexed verifier, bool pass);
//	event Rebutted(uint64 indexed epoch, address indexed node, address indexed verifier, bool falseFail);
//	event MissRecorded(uint64 indexed epoch, address indexed node);
//	event ProbeFailed(uint64 indexed epoch, address indexed router, address indexed prober, bool routerFailed);
//
// openings is the computing/pow response encoding ([pow.EncodeOpenings]).
//
// # Timeline of epoch e (L the staking epoch length, b = e·L)
//
//  1. BeginBlock of b+1 stores seed_e = hash of block b (the parent hash),
//     the block's time T and the epoch's validators (BlockEnv.Validators).
//     Nobody knows seed_e before block b is sealed; b's proposer can
//     grind it, which only chooses among random workloads.
//  2. A node is challenged if its owner's registry listing existed at
//     block b (RegisteredBlock ≤ b). Its workload is
//     Workload{[pow.ChallengeSeed](seed_e, owner), N of its class}; the
//     class comes from the listing ([pow.Params.ClassFor]). A listing
//     updated after b is refused at commitRoot ([ErrListingChanged]): its
//     class may have changed, and a node must not pick a smaller one mid
//     epoch; that epoch's challenge is missed.
//  3. commitRoot(e, root) by the owner, once, in a block x with
//     b+1 ≤ x ≤ D and time ≤ T + deadlineSeconds, where
//     D = b+1+⌈deadlineSeconds·1000/blockPeriodMs⌉ is the class's
//     deadline block (the target period converts seconds to blocks, as
//     the jobs module does; the time check holds when blocks run slow).
//     It draws the verifiers and schedules the decision (prepaid).
//  4. Verifiers: up to Verifiers distinct validators of the stored set
//     (it lists signers), never the owner nor a signer the owner claimed
//     in the staking module ([Module.DrawVerifiers]: a Fisher–Yates
//     shuffle of the set's indices keyed by the challenge seed, run as
//     far as needed). A verifier attests from its signer account (which
//     needs gas money), and its counters are kept under that address.
//     With fewer validators besides the owner the challenge has fewer
//     slots and needs ⌈passesNeeded·slots/verifiers⌉ passes; with none it
//     is void (neither a task nor a fault).
//  5. BeginBlock of D+1 stores hash(D), the sample seed of every
//     challenge of that class: it exists only once no root of the class
//     can be committed any more. Verifier V is due
//     [pow.SampleChunks](hash(D), root, V, N, chunksPerValidator).
//  6. Window: blocks D+1 … D+attestBlocks. attest carries V's chunks
//     with their proofs; the module checks them natively
//     ([pow.Verify]: Merkle proofs to the root, then the chunks
//     recomputed from the seed). attestFail records a fail without
//     evidence. rebut lets the owner post the chunks of a verifier that
//     attested a fail (the slot passes; the verifier gets a false fail)
//     or has not attested (the slot passes; nothing against the verifier,
//     since the node may post first).
//     Each slot takes one attestation or proof; nothing is accepted after
//     the window.
//  7. EndBlock of D+attestBlocks decides: passing slots (passed,
//     rebutted, proven by the node) ≥ needed makes a verified task (the
//     node's passed counter, and compute credits through the rewards
//     module's ComputeJobDone: the same per-epoch count and cap as
//     settled jobs); otherwise the challenge fails (failed counter) and
//     the node's compute credits of the epoch are forfeited (see Forfeit).
//     Every slot still pending counts a missed duty of its verifier.
//  8. A node that never commits is missed: challengeOf reports it lazily
//     once every class's deadline of the epoch passed, and recordMiss
//     (anyone, once) records it in the node's counters and forfeits its
//     compute credits (see Forfeit). A node that deregisters before
//     recordMiss is not recorded. challengeOf cannot tell a lazy miss
//     from a recorded one (its encoding is kept); missRecorded, and
//     [Challenge].Recorded in Go, can. Validators send recordMiss
//     (node/challenges_miss.go): the verifiers the challenge would have
//     drawn, one after the other, so that usually one pays the gas.
//  9. History: each decision (verified or failed, not void) and each
//     recorded miss pushes its status onto the node's history, the last
//     [HistoryLen] outcomes newest first ([HistoryOf], historyOf), the
//     recent record computing/score weighs next to the counters.
//
// Every window closes inside its epoch: [Params.CheckTimeline] requires
// 1 + max blocks to a deadline + attestBlocks < L, checked when the
// module is built.
//
// # Why votes cannot decide
//
// A pass needs evidence the chain recomputes, so validators, colluding
// or not, cannot pass a node that did not compute the sampled chunks; a
// fail can be rebutted by the node with the same evidence, so they
// cannot fail a node that computed them. Validators only spare the node
// the transactions and spread the work.
//
// # Gas
//
// Fixed costs are documented with each constant and function (CommitGas,
// AttestGas, …); attest and rebut add [EvidenceGas] for the n and chunk
// count their openings declare: n SHA-256 row keys of B, 64·n
// multiply-adds a chunk, and the proof hashes, priced from a benchmark at
// about 8 ns a gas. At the simulated class (n = 256) 4 chunks were 2,326
// bytes of evidence and about 0.2 ms of CPU (29,824 gas); the default is
// now 8 chunks (pow.DefaultChunksPerValidator), about twice that: 56,576
// gas of check by the formula.
//
// # Storage
//
// Per epoch the module keeps the seed, the validator set (one word per
// signer, bounded by the staking module's MaxValidators) and one block hash
// per distinct class deadline; per challenge a root, a meta word and one
// word per verifier; per node two counter words and one history word:
// about (3 + validators + classes) words an epoch plus (2 + verifiers) a
// challenge. From the verifyPrune fork (params.ForkVerifyPrune,
// [WithPruneFrom]) on, each epoch that begins at or after the fork's
// block also keeps an index of the accounts with a challenge or a probe
// word in it (one word each, [IndexGas] charged to commitRoot,
// recordMiss and probeFail), and BeginBlock of epoch e's second block
// deletes all of epoch e−KeepEpochs: seed, info, validator set, sample
// seeds, challenges, probe words, index. Every view and method naming a
// deleted epoch then reverts with [ErrPruned]. The counters and
// histories are not per epoch and stay. Without the fork nothing is
// deleted. The deletion runs in that one block: BenchmarkPruneEpoch
// measured 22 ms for 1,000 indexed accounts and 0.33 s for 10,000, trie
// hashing included, on a 2-core build machine.
//
// # Forfeit
//
// A failed challenge, and a miss recorded inside its epoch, forfeit the
// node's compute credits of the epoch (rewards.ForfeitComputeCredits: the
// credits its settled jobs earned so far are taken back from its ledger
// entry, and it earns none more in that reward epoch). The ledger is
// settled only after the epoch ends, and every window closes inside it,
// so this equals holding the credits until the challenge is decided. Two
// gaps: a job settled in the epoch's first block counts in the previous
// reward epoch (rewards.RewardEpoch), and a miss recorded after the epoch
// ended is counted but forfeits nothing (call recordMiss in the epoch).
//
// # Router probes
//
// Each epoch a router that earned its router credits (an accepted
// assignment: rewards.RouterCredited) is probed through its result relay
// by the validators [Module.DrawProbers] picks: DrawVerifiers keyed by
// [ProbeSeed](seed_e, router), never the router's owner account nor a
// signer it claimed. A prober fetches a result record through the relay
// with a probe signature (computing/results/fetch, SignProbe) and stays
// silent when the record arrives and hashes to the chain's record hash;
// otherwise it sends probeFail(e, router) (node/probes.go). probeFail is
// refused from anyone not drawn ([ErrNotProber]), twice from one prober
// ([ErrProbeDone]), for an epoch other than the current one
// ([ErrWrongEpoch]) or before its seed ([ErrNoSeed]), and for a router
// without router credits in the epoch ([ErrNothingToProbe]). When the
// reports reach ⌈passesNeeded·probers/verifiers⌉ (2 of 3 with the
// defaults) the router fails the epoch: its router credits of the epoch
// are taken back and blocked (rewards.ForfeitRouterCredits). A silence
// cannot be proven, so this is a vote: it only withholds credits, never
// stake. A pass is silence too (no transaction), so the chain counts
// failure reports and failed epochs per router ([RouterProbesOf]), not
// passes. Gas: [ProbeFailGas], prepaid by the prober like every method.
//
// Re-execution and disputes of jobs' results live in the jobs module
// (computing/jobs/reexec.go).
package verify
