// Package jobs is the compute jobs module: a chain-native module (see
// state/native) at native.JobsAddress where a submitter escrows EMC for a
// job, a router assigns it to a registered compute node, the node accepts,
// runs it and reports its usage, and the chain settles the payment.
//
// Start reading at [Module] (the method table, the rules in the handlers,
// and the two block hooks), then spec.go (the canonical job spec),
// state.go (storage layout, [Job], the Go accessors [JobOf], [JobsOf],
// [StatsOf], [EscrowTotal]) and reexec.go (re-execution and disputes,
// [ReexecOf], [ReexecsOf], [FaultsOf], [Jailed]).
//
// Solidity interface:
//
//	function submitJob(bytes spec, uint256 maxPriceWeiPerGpuSecond) payable returns (uint256 id);
//	function submitJobCredits(bytes spec, uint256 maxPriceWeiPerGpuSecond, uint256 credits) returns (uint256 id);
//	function submitJobInputs(bytes spec, uint256 maxPriceWeiPerGpuSecond, bytes inputs) payable returns (uint256 id);
//	function submitJobCreditsInputs(bytes spec, uint256 maxPriceWeiPerGpuSecond, uint256 credits, bytes inputs) returns (uint256 id);
//	function cancel(uint256 id);
//	function assign(uint256 id, address node);
//	function accept(uint256 id);
//	function submitResult(uint256 id, bytes32 recordSHA256, uint64 gpuMillis, int32 exit);
//	function settle(uint256 id);
//	function getJob(uint256 id) view returns (bool found, address submitter, uint8 state, ...);
//	function jobsOf(address owner, uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function jobCount() view returns (uint256);
//	function openJobs(uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function assignedJobs(uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function providerStats(address node) view returns (uint64 succeeded, uint64 failed, uint64 timedOut);
//	function submitResultDigest(uint256 id, bytes32 recordSHA256, uint64 gpuMillis, int32 exit, bytes32 outputDigest);
//	function dispute(uint256 id) payable;
//	function submitReexec(uint256 id, bytes32 outputDigest);
//	function getReexec(uint256 id) view returns (bool found, bool disputed, uint256 bondWei, uint8 prior,
//	    uint8 outcome, address current, uint64 deadline, address[] executors, bytes32[] digests);
//	function reexecsOf(address node, uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function faultsOf(address node) view returns (uint64 slashes, uint256 slashedWei, uint64 jails,
//	    uint64 jailedUntil, uint64 passed, uint64 failed, uint64 timedOut, uint64 reexecs,
//	    uint64 unresolved);
//	events JobSubmitted, JobCreditsEscrowed, JobCancelled, JobAssigned, JobAccepted, JobResult, JobSettled,
//	       JobOutputDigest, JobDisputed, ReexecResult, JobVerified, NodeSlashed
//
// Inputs (inputs.go): a job may carry files, an input bundle of at most
// MaxInputsBytes, given to it read-only as /job/in/NAME (Docker) or
// $EMC_INPUT_DIR/NAME (process executor). The bundle travels in the
// calldata of submitJobInputs or submitJobCreditsInputs, so it is on chain
// with the block, and is neither stored nor logged; the spec commits to it
// with InputsSHA256, so the spec hash covers it. The module refuses a
// bundle whose sha256 is not the spec's, that does not decode canonically
// or breaks a naming rule, a bundle with a spec that names none, and a
// spec that names inputs through submitJob or submitJobCredits. Cost: the
// calldata (16 gas a non-zero byte, 4 a zero byte, plus
// native.GasPerInputWord a word) and InputsGasBase + InputsGasPerWord a
// word for hashing and checking: a full bundle adds under 820,000 gas to
// the submission (about 1.7 million gas in all, TestSubmitInputsGas).
//
// getJob ends with escrowKind (0 EMC, 1 Credits), escrowCredits,
// costCredits and refundCredits, then deterministic, outputDigest, verify
// (the Verify* status) and feesWei.
//
// Lifecycle (one transition per handler or hook; Params name the numbers):
//
//	submitJob (value = escrow > 0)  -> submitted, queued for its router draw
//	submitJobCredits (credits > 0)  the same with the caller's Credits locked (credits module
//	                                Lock) instead of EMC; too few Credits revert
//	BeginBlock of s+offerDelay+1    submitted: the router is drawn, stake-weighted, seeded by
//	                                keccak256(hash of block s+offerDelay ‖ id); the drawn router alone
//	                                may assign through offerWindow blocks, any active router after
//	                                (at once when no router was active)
//	EndBlock at the assign deadline submitted (drawn or reopened) for assignBlocks with no
//	                                assignment -> expired, escrow refunded (nothing fits it)
//	cancel (submitter)              submitted -> cancelled, escrow refunded
//	assign (router, node)           submitted -> assigned: node registered and live (its last
//	                                on-chain update, registry.LastSeen, within LivenessBlocks),
//	                                image, ≥ GPUs, model, memory, its price for its model ≤ cap
//	                                (a CPU-only job, 0 GPUs: a CPU-only price ≤ cap); attempts+1
//	accept (node owner)             assigned -> running, by block assign+acceptBlocks
//	submitResult (node owner)       running -> completed (exit 0) or failed, before block time
//	                                accept time + timeout + resultGrace; gpuMillis ≤ timeout×GPUs×1000
//	                                (CPU-only: ≤ timeout×1000 milliseconds)
//	settle (anyone) / EndBlock      completed|failed -> settled once disputeBlocks passed:
//	                                cost = min(gpuMillis × price / 1000 (down), escrow);
//	                                80 % to the node's owner (down), the rest burned (BurnRent),
//	                                escrow − cost refunded. Credits escrow (escrow.go): cost in
//	                                Credits = that wei cost ÷ credit price rounded UP (the node
//	                                is never paid below its price; at most the escrow), spent
//	                                through credits.Module.Spend (its provider share to the
//	                                node, the rest burned), the rest of the Credits returned
//	EndBlock at a missed deadline   assigned|running -> submitted (open to any router, a fresh
//	                                assign deadline), the node's timed-out counter +1; after
//	                                MaxAttempts -> expired, refunded
//
// Deterministic jobs (spec.Deterministic; reexec.go) add:
//
//	submitResultDigest (node owner) running -> completed|failed as submitResult, with the output
//	                                digest (computing/job.OutputDigest); submitResult reverts
//	                                for them, and they are escrowed in EMC only
//	EndBlock of result block + 1    the sampling check (settle waits for it): sampled with
//	                                sampleBps (newNodeSampleBps while the node has fewer than
//	                                newNodeJobs settled jobs), seeded by the result block's hash
//	                                -> reexecuting, a re-executor drawn; else on to settlement
//	dispute (submitter, bond)       completed|failed, before the settlement block, not yet
//	                                re-executed -> disputed, a re-executor drawn next block
//	submitReexec (drawn node)       its digest before its deadline; decides (below)
//	EndBlock at a re-executor's     it times out (timed-out counters +1) and another is drawn
//	deadline                        (at most MaxReexecDraws per job)
//	decision                        passed|inconclusive -> completed|failed, settles as usual;
//	                                failed -> refunded (escrow, and bond, to the submitter);
//	                                unresolved -> refunded (less the re-executors' fees)
//
// The node is named by its owner account (the registry's key): that account
// accepts and reports, and is paid. Deadlines are kept in a per-block due
// list written (and paid for) by the call that sets them, so EndBlock does
// only prepaid work; the record's DueBlock names the live entry, so stale
// ones are skipped. Result deadlines are in block time: the check is
// scheduled at the block the target period predicts, and moved on if block
// time is behind. Hooks emit no logs (the framework's rule): draws,
// timeouts, expiries and hook settlements are visible through getJob, and
// a settle call by anyone in the settlement block emits JobSettled.
//
// Open jobs: every job in StateSubmitted (waiting for its draw, offered,
// or reopened) is listed in an on-chain index, and every job in
// StateAssigned in another, each kept O(1) per transition (append, and
// swap-remove of the last entry into the hole); openJobs and assignedJobs
// page them, so routers (router/assign) read those lists instead of every
// job.
//
// Market rewards (trade.go): with [WithRewards], accept reports the
// router's work and the settlement of a completed, undisputed job between
// two accounts reports the node's work and the trade (credits and trade
// rewards, staking/rewards trade.go).
//
// Re-execution (reexec.go). A re-executor is drawn from a seeded index of
// the registry's nodes: the first of MaxReexecProbes consecutive entries
// that is live, not jailed, fits the job's hardware and image (its price
// is not checked), and is neither the provider, the submitter nor a node
// already drawn for the job (nodes are keyed by owner, so never the same
// owner). It has the accept window's time, the job's timeout and the
// grace to submit its digest. The decision, over the provider's digest
// and the re-executors' (three answers at most, MaxReexecDraws draws):
//
//   - the first answer equals the provider's: passed;
//   - it differs: two more nodes are drawn, one after the other (each
//     from the hash of the previous answer's block). A side is slashed
//     only when the other digest has ReexecQuorum (3) equal digests of
//     the 4, the provider's counted: the provider's digest with 3,
//     passed (the one re-executor that differed is slashed); another
//     digest with 3 (all three answers), failed (the provider is).
//     Outputs are deterministic, so honest nodes never disagree; a
//     colluding pair gives at most 2 equal wrong digests, so an honest
//     node never faces 3 (issue 12: under two of three, a colluder's
//     partner drawn third got the honest node slashed);
//   - unresolved (VerifyUnresolved) as soon as no digest can still reach
//     3 with the answers left (2-2, three different digests, answers
//     missing when the draws run out or no node is left to draw), once
//     two answers or more came: nobody is slashed, the job is refunded;
//   - no answer in MaxReexecDraws draws, or no node to draw, or a single
//     answer that differs and nobody left to draw (a tie): inconclusive
//     (the result stands), with one exception, the tiny-network tie: a
//     dispute whose one answer contradicts the provider and whose draw
//     looked at every registered node (at most MaxReexecProbes) and found
//     none. It is unresolved (nobody slashed, the job refunded) unless
//     the genesis param disputeTieBreak (Params.DisputeTieBreak, off by
//     default) is on; then it is failed: the submitter's bond is the
//     second voice against the provider. A trust trade-off: on, a
//     dispute in a two-node network is decided by the one other node, so
//     a submitter and one lying node can get an honest provider slashed;
//     off, a cheater in such a network is refunded away (unpaid) but never
//     slashed. A sampled re-execution left at such a tie may be disputed.
//
// Who pays: a node in the minority is slashed ComputeSlashBps of its
// compute stake and unbonding entries (staking.SlashCompute) and jailed
// for JailBlocks (no assignment, no draw, and a re-execution it was drawn
// for before cannot take its digest: it times out; registering and
// updating its registry record are not blocked). When the provider loses, its slash
// pays each answering re-executor up to the job's cost (the provider's
// usage at its price, capped by the escrow) and the rest is burned
// (BurnSlash); the submitter gets the escrow and the bond back. A losing
// re-executor's slash is burned whole. When the result passes, each
// agreeing re-executor is paid up to the job's cost at settlement: for a
// dispute from the bond, the bond's rest going to the provider; for a
// sampled job from the escrow left after the cost (FeesWei: a submitter
// of deterministic jobs should escrow about twice the expected cost),
// as far as it goes. An inconclusive dispute's bond goes back to the
// submitter; nobody is paid for re-executing. Unresolved: nobody is
// slashed and the provider is not paid; each re-executor that answered is
// paid up to the job's cost from a dispute's bond or, for a sampled job,
// from the escrow above the job's cost (FeesWei); the submitter gets the
// rest of the escrow (RefundWei: the job's cost in full) and of the bond,
// so every wei of escrow and bond is paid out (supply exact). Counters
// per node ([FaultsOf], faultsOf): slashes, slashed wei, jails, jailed
// until, passes, failures, re-execution timeouts, digests given, and
// unresolved: the unresolved disagreements the node answered in, as
// provider or re-executor (computing/score reads it). faultsOf's ninth
// output, unresolved, came last so a caller that decodes the first eight
// still reads them. A node learns of its draws from reexecsOf (hooks emit
// no logs) and getReexec.
//
// Gas: submitResultDigest prepays the sampling check and every round the
// hooks may make (MaxReexecDraws draws or timeouts, the decision; the
// fourth draw raised it from 3 rounds to 4):
// ResultDigestGas, about 6.3 million; dispute likewise (DisputeGas, about
// 7.3 million, with a slash); submitReexec pays its decision, a slash and
// a settlement (SubmitReexecGas, about 4.7 million). TestReexecGas pins
// that each call costs what it declares.
//
// Limits: the reported usage is trusted within its cap (re-execution
// compares outputs, not usage). The router draw's seed is fixed after
// submission, but the proposer of the seed block could grind it, and a
// submitter may cancel and submit again (paying gas and waiting each time)
// for another draw; likewise the proposer of a result's block could grind
// its hash against the sampling check.
//
// Costs: a block with draws reads every registered router's stake once
// (≤ registry.MaxRouters); the draws, timeouts and settlements the hooks
// make were paid for by the calls that scheduled them.
//
// Invariants (checked after every step of the property tests): the module's
// balance equals EscrowTotal, the sum of the EMC escrows and dispute bonds
// of the jobs that have not ended (a slash passes through the balance
// within the call or hook that takes it, all paid out or burned); the module's Credits (held by the credits module as
// native.JobsAddress's balance) equal CreditsEscrowTotal, the sum of the
// Credits escrows of the jobs that have not ended; the open and assigned
// lists hold exactly the jobs in StateSubmitted and StateAssigned.
package jobs
