// Package jobs is the compute jobs module: a chain-native module (see
// state/native) at native.JobsAddress where a submitter escrows EMC for a
// job, a router assigns it to a registered compute node, the node accepts,
// runs it and reports its usage, and the chain settles the payment.
//
// Start reading at [Module] (the method table, the rules in the handlers,
// and the two block hooks), then spec.go (the canonical job spec) and
// state.go (storage layout, [Job], the Go accessors [JobOf], [JobsOf],
// [StatsOf], [EscrowTotal]).
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
//	events JobSubmitted, JobCreditsEscrowed, JobCancelled, JobAssigned, JobAccepted, JobResult, JobSettled
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
// costCredits and refundCredits.
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
// Not implemented here: disputes (StateDisputed is reserved, no job enters
// it; the reported usage is trusted within its cap). The seed is fixed
// after submission, but the proposer
// of the seed block could grind it, and a submitter may cancel and submit
// again (paying gas and waiting each time) for another draw.
//
// Costs: a block with draws reads every registered router's stake once
// (≤ registry.MaxRouters); the draws, timeouts and settlements the hooks
// make were paid for by the calls that scheduled them.
//
// Invariants (checked after every step of the property test): the module's
// balance equals EscrowTotal, the sum of the EMC escrows of the jobs that
// have not ended; the module's Credits (held by the credits module as
// native.JobsAddress's balance) equal CreditsEscrowTotal, the sum of the
// Credits escrows of the jobs that have not ended; the open and assigned
// lists hold exactly the jobs in StateSubmitted and StateAssigned.
package jobs
