// Package score is a compute node's reliability score: a deterministic
// integer function, in [0, Max] (parts per million), of what the chain
// records about the node. The router's scheduler takes it as its
// reliability input (router/scheduler: Node.Score, Params.MinScore) and
// emc_computeNodes reports it with the node's recent history.
//
// Start reading at [Of] (the formula) and [Gather] (its inputs, the one
// place that reads them from the chain).
//
// # Inputs
//
//   - the verify module's node counters (computing/verify FaultsOf):
//     challenges passed, failed and missed;
//   - the jobs module's provider counters (computing/jobs StatsOf,
//     providerStats): jobs succeeded, failed and timed out (the
//     no-shows: an accept or result deadline missed, and a re-execution
//     not answered in time, which the jobs module counts there too);
//   - the verify module's history (computing/verify HistoryOf): the
//     node's last verify.HistoryLen challenge outcomes, newest first;
//   - Slashes and Jails: the jobs module's slash and jail counters
//     (computing/jobs FaultsOf: a node in the minority of a re-execution
//     or a lost dispute is slashed and jailed);
//   - Unresolved: the jobs module's unresolved disagreements the node
//     answered in, as provider or re-executor (computing/jobs FaultsOf,
//     faultsOf's unresolved): no quorum, nobody slashed, the job
//     refunded.
//
// # Formula
//
// Every count is capped at MaxCount (2^40), so no product overflows;
// every division rounds down.
//
//	good     = passed + succeeded
//	bad      = 4·(failed + missed) + jobFailed + timedOut + unresolved
//	lifetime = Max·(good + 2) / (good + bad + 4)
//	recent   = Max·(g + 2) / (g + b + 4)     over the history, the entry at
//	           position i (0 newest) weighing w = HistoryLen − i: g the sum
//	           of w over verified outcomes, b of 3·w over failed and missed
//	score    = (lifetime + recent) / 2 / (1 + slashes + jails)
//
// A failed or missed challenge weighs four times a failed job in the
// lifetime term and three times a pass in the recent one: the chain proved
// the node did not compute, while a job can fail on its input. So a new
// node whose first challenge fails drops to 144,230 (below the scheduler's
// default minimum, 250,000) and one pass after it brings it back to
// 305,128; a node with 10 passes and 10 jobs whose last 3 of 13 challenges
// failed scores below Neutral. An unresolved disagreement weighs as a
// failed job, mildly: it takes a cheater to make one, but an honest node
// framed by a colluding pair, or the honest side of a two-node dispute,
// counts one as well (the jobs module slashes nobody for it; an unresolved
// job pays its provider nothing, so it adds no succeeded job either). A
// new node's first unresolved disagreement, or first no-show, takes it to
// 450,000; 20 succeeded jobs and 2 unresolved score 673,076. The prior
// (2 good, 2 bad in both terms) gives a new node [Neutral], half of Max,
// and keeps one outcome from deciding a young node's score. The recent
// term lets a node that failed long ago recover, and a node that starts
// failing drop fast, whatever its lifetime record.
//
// Properties (property_test.go): the score is in [0, Max]; a new node
// scores Neutral; one more failure, miss, failed or timed-out job,
// unresolved disagreement, slash or jail never raises it, one more pass or
// succeeded job never lowers it;
// replacing a verified outcome of the history by a failed or missed one
// never raises it. The score is computed from one state, so every node
// of the chain computes the same score at the same block.
package score
