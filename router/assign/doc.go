// Package assign is the router's assignment loop: on each new head it lists
// the jobs this router may assign (from the jobs module's on-chain open and
// assigned lists, not a scan of every job; a job with no GPUs goes to the
// scheduler as CPU-only), joins its live table with the registry
// records, the on-chain counters and each node's chain score
// (computing/score, through a View that implements [Scores]: the
// scheduler takes it as the node's reliability and gives no job to a node
// below its MinScore) into scheduler nodes, runs the
// scheduler seeded by the head hash, and sends assign(id, node) for each
// placement that the chain's own Fit accepts against the head state.
//
// The node's View (node/assigner.go) is the head state with the jobs
// module's BeginBlock for the next block already run on a copy: a job whose
// seed block is the head is drawn at the start of the next block, before
// its transactions, so the drawn router sees the draw one block early and
// its assign lands in the draw block itself. A job that waits unplaced is
// logged at Info once per reason (Debug on every head).
//
// Start reading at [Join] and [Assignable] (pure, in assign.go), then
// [Service.Step] (service.go), which does the I/O through small interfaces.
//
// A job is sent at most once per (job, attempt): the jobs module counts
// attempts, so a job that comes back (a missed deadline reopens it) has a
// new attempt number and may be sent again; while a tx for an attempt is
// pending or was mined, the same attempt is never sent twice.
package assign
