// Package sim is the market simulator of issue 12 (item 5): it runs the
// real chain-native modules (node.LoadModules on a genesis built for the
// run: registry, staking, jobs, verify, rewards) on an in-memory chain
// (state.OpenMemoryStore, BuildBlock and InsertBlock with certificates
// sealed by the simulated validators), block by block, with scripted
// actors that sign real transactions. Nothing of the modules is modelled:
// who is caught, slashed, who earns credits and wei is read back from the
// modules' own views (verify's ChallengeOf and FaultsOf, jobs' JobOf,
// ReexecOf and FaultsOf, rewards' LedgerOf and RewardsOf) and balances.
//
// Start reading at [Run], then [Config] (the knobs and their checks) and
// [Report] (what is measured).
//
// # Actors
//
//   - Validators (Config.Validators, genesis validators with signer keys
//     and gas money). Honest ones act as verifiers: for every challenge
//     that drew them, DelayBlocks after the sample seed is known, they ask
//     the node for their chunks (in memory, no network), check the answer
//     with pow.Verify and send attest (with the evidence) or attestFail;
//     an answer that would come when the nodes already rebut (the window's
//     last two blocks) is given up, and the nodes prove those slots.
//     Colluding ones (Config.Colluders, fewer than a third) attest pass
//     with their partner cheaters' answers, which the module must refuse,
//     and attestFail every honest node, which the node must rebut. Down
//     ones (Config.DownValidators) neither attest nor seal.
//   - Compute nodes (simulated GPUs, class "simulated", a compute-role
//     stake so node rewards reach them). Honest: pow.Prove at the class's
//     n, commitRoot, answer every verifier, and in the window's last two
//     blocks rebut every slot that is failed or still pending (the second
//     block is slack for a full first one). Cheaters, cycling
//     through the kinds: fake-class (even ones commit a correct root after
//     the deadline, a GPU too slow for the class it claims; odd ones
//     commit on time the root of the smaller CPU-class workload), wrong
//     result (even ones: a root over an output whose WrongFraction of
//     chunks is wrong, answering and rebutting from it; odd ones replay an
//     honest node's root and answers, valid proofs of another workload),
//     no-show (never commits),
//     colluding (a wrong-result node paired with the colluding validators,
//     and, for jobs, paired with another colluding node in turn: the odd
//     one out lies alone).
//   - A keeper (any funded account) sends recordMiss for every missed
//     challenge in the window's last two blocks.
//
// # Jobs
//
// Jobs run with the jobs module's genesis defaults (sampleBps 500,
// newNodeSampleBps 5,000 for a node's first 20 settled jobs: in a short
// run every node is new, so half the results are re-executed). A block
// holds up to a billion gas (simGasLimit): a deterministic result prepays
// its re-execution rounds, about 5.2 million gas.
//
//   - Submitters (Submitters accounts) post Config.JobsPerEpoch
//     deterministic jobs (EMC escrow, twice the most a run may cost) in
//     each challenged epoch's second block; the output of job id is known
//     to all honest parties (rightDigest, from the id).
//   - One router, staked for the router role in epoch 0 and registered in
//     epoch 1, assigns each job once the module's draw offered it to the
//     router (or the offer window passed), to the next node round the
//     nodes that jobs.Module.Fit accepts (live, fits, not jailed).
//   - Nodes accept and report with submitResultDigest (10 GPU-seconds
//     at their 1 gwei price): honest, fake-class (a fake GPU class still
//     runs jobs right) the right digest; wrong-result nodes a wrong digest
//     of their own; colluding nodes their pair's wrong digest; no-shows
//     never accept. Drawn re-executors answer submitReexec the same way,
//     except that a colluder backs its partner's lie with the pair's
//     digest; no-shows never answer (they time out and another is drawn).
//   - A submitter disputes, with the default bond, every result whose
//     digest is wrong while the module takes a dispute (not sampled, or
//     left at a one-answer tie, before the settlement block).
//
// Every job actor acts DelayBlocks (at most maxJobDelay) after it sees
// the state that calls for it. After the last epoch the chain runs on
// (at most drainBlocks blocks) until every job ended; Run then fails
// unless the jobs module holds nothing and every account's balance plus
// what was burned equals the genesis supply, to the wei
// (Report.SupplyExact).
//
// # Measures
//
// A node is punished in epoch e when its challenge of e ends failed or
// missed (verify's ChallengeOf), or when its first slash (jobs.FaultsOf)
// is seen at e's last block (slashes of the last epoch's jobs decided
// after it count for the last epoch). A cheater is caught at its first
// punished epoch. HonestSlashed counts honest nodes the jobs module
// slashed; HonestPunished lists honest nodes with a failed or missed
// challenge. CheatersSlashed, CheatersJailed and CheaterSlashedWei are
// read from jobs.FaultsOf. Credits are the credits of the rewards ledger
// of each epoch (verified challenges, and compute credits of settled
// jobs); rewards are the node rewards accrued (rewards.RewardsOf) once the
// last epoch is settled; CheaterJobWei and HonestJobWei are what jobs
// paid nodes: balance change plus gas spent since registration (provider
// shares, re-execution fees, shares of slashes). HonestSlashedJobs names
// each re-execution that put an honest node in the minority.
//
// Issue 12, found by the sim and fixed in the jobs module: under the old
// rule (two of three answers decide a re-execution) a colluder's sampled
// result going to an honest re-executor, with the colluder's partner drawn
// third, got the honest node slashed (seeds 35, 45 and 69 of 1…84 at the
// acceptance's size; seed 4 of the small market in
// TestColludingPairFramesHonest). The module now slashes a side only when
// 3 of 4 digests agree against it, so a colluding pair ends 2-2,
// unresolved (refunded, nobody slashed); TestColludingPairFramesHonest
// checks that seed slashes no honest node.
//
// Report.Refused counts an assignment refused because a decision earlier
// in the same block jailed its node (the router checked it with Fit on
// the block before) as "assign(node jailed in the block)", not as an
// honest actor's refusal.
//
// Report.SpilledTxs counts transactions mined after the block they were
// sent for (full blocks: none at 100 nodes, many attestations at 500);
// the registrations of epoch 0 are left out, and must all be mined before
// epoch 1 (Run fails otherwise).
//
// The run is deterministic from Config.Seed: keys, the cheaters' places
// and kinds, and the wrong chunks come from it; block times are fixed.
// Job ids are drawn by the modules from block hashes, themselves fixed by
// the seed.
package sim
