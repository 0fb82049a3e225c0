// Package sim is the market simulator of issue 12 (item 5): it runs the
// real chain-native modules (node.LoadModules on a genesis built for the
// run: registry, staking, jobs, verify, rewards) on an in-memory chain
// (state.OpenMemoryStore, BuildBlock and InsertBlock with certificates
// sealed by the simulated validators), block by block, with scripted
// actors that sign real transactions. Nothing of the modules is modelled:
// who is caught, who earns credits and wei is read back from the modules'
// own views (verify's ChallengeOf and FaultsOf, rewards' LedgerOf and
// RewardsOf).
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
//     colluding (a wrong-result node paired with the colluding validators).
//   - A keeper (any funded account) sends recordMiss for every missed
//     challenge in the window's last two blocks.
//
// # Measures
//
// A node is punished in epoch e when its challenge of e ends failed or
// missed (verify's ChallengeOf). A cheater is caught at its first
// punished epoch. Slashing and jailing (re-execution, disputes) are not
// in the modules yet, so HonestSlashed counts honest nodes with a failed
// or missed challenge: what a slash would follow from. Credits are the
// verified-task credits of the rewards ledger of each epoch; rewards are
// the node rewards accrued (rewards.RewardsOf) once the last epoch is
// settled.
//
// Report.SpilledTxs counts transactions mined after the block they were
// sent for (full blocks: none at 100 nodes, many attestations at 500);
// the registrations of epoch 0 are left out, and must all be mined before
// epoch 1 (Run fails otherwise).
//
// The run is deterministic from Config.Seed: keys, the cheaters' places
// and kinds, and the wrong chunks come from it; block times are fixed.
// Jobs are not submitted yet (the jobs module is loaded but idle).
package sim
