// Package scheduler is the smart router's choice of a compute node for each
// open job: a pure, deterministic function from (open jobs, a snapshot of
// the router's live table, a 32-byte seed) to assignments. It reads no
// clock, no global random source and does no I/O; the same inputs give the
// same assignments on every machine, whatever the order of the nodes.
//
// Start reading at [Schedule] (schedule.go); the inputs [Job], [Node] and
// [Params] are in types.go, the index in table.go.
//
// # Fit (hard constraints)
//
// A node can take a job when, in this order:
//
//  1. model: it offers GPUs (a price per GPU-second) of Job.GPUModel, if
//     set, with at least Job.MinMemMiB per GPU; for a CPU-only job, it has
//     a CPU-only price;
//  2. live: its last heartbeat is at most Params.MaxLastSeen old;
//     then score: a scored node (Node.Scored, the chain's computing/score)
//     scores at least Params.MinScore (default 250,000 of 1e6; 0: off).
//     This check's [Reason], LowScore, has the last value of the list, so
//     that the older values never change, but ranks right after NotLive;
//  3. image: it holds Job.ImageDigest, unless the job says the image is
//     pullable (it ships with the job);
//  4. price: its price (per GPU-second, or per second CPU-only) ≤ the job's cap;
//  5. self-dealing: its owner is not the job's submitter (unless
//     Params.AllowSelfDealing);
//  6. capacity: its free GPUs, less what earlier jobs of the batch took,
//     cover Job.GPUs, and its queue, plus earlier assignments of the batch,
//     is below Params.MaxQueue (0: no limit).
//
// A job no node fits gets the [Reason] of the check that the furthest-going
// node failed, so "no free capacity" means the job would fit a live node
// that holds the image at its price, once it frees up.
//
// # Score
//
// Among fitting nodes the highest score wins. Every term is an integer in
// [0, 1e6], every division rounds down, and the score is
//
//	score = WCapacity·capacity + WRTT·rtt + WReliability·reliability
//	      + WStake·stake + WPrice·price + WImage·image
//
//	capacity    = (2·free + idle) / 3 / (1 + queue)
//	              free = 1e6·(free GPUs − Job.GPUs) / total GPUs   (CPU-only: free GPUs / total; 1e6 without GPUs)
//	              idle = 1e6·(100 − utilisation %) / 100
//	              queue = reported queue + this batch's assignments to the node
//	rtt         = 1e6·R / (R + RTT)                         R = Params.RTTRef; unmeasured (0): 1e6/2
//	reliability = 1e6·(s + a) / (s + f + t + a + b)         s, f, t: succeeded, failed, timed out;
//	                                                        a, b: Params.PriorSucceeded, PriorFailed;
//	              a scored node: Node.Score                 (computing/score: challenges, jobs, history)
//	stake       = 1e6·stake / (stake + Params.StakeRefWei)
//	price       = 1e6·(cap − price) / cap                   cap = 0: 1e6
//	image       = 1e6 if the node holds the image, else 0
//
// Capacity spreads load (the emptier node wins, and each assignment lowers
// the node's capacity for the rest of the batch); rtt is the white paper's
// "shortest call path"; the reliability prior (4 successes, 1 failure by
// default) lets a new node score 0.8, above a node that fails often, so new
// nodes are not starved (a scored new node has computing/score's neutral
// 0.5, above the minimum); WReliability is the score's weight; stake and
// price saturate, so neither a whale nor a near-zero price buys every job. Integers, not floats, so that no
// platform's fused multiply-add changes a choice.
//
// # Tie-break
//
// Equal scores are broken by the higher mix(H(seed, job ID) ⊕ H(node ID)),
// H a domain-separated SHA-256 cut to 64 bits and mix the splitmix64
// finaliser, then by the lower node ID. Equal nodes therefore share the load
// across seeds (a new block hash, a new winner), while one seed replays
// exactly. The seed should come from the chain (a block hash), never from a
// local random source, so that a router's choices can be replayed from its
// logged snapshot and cannot be steered by re-rolling a seed.
//
// # Cost
//
// [NewTable] validates and indexes a snapshot once, O(n log n): the
// node-only terms (rtt, reliability, stake) are computed in advance, and so
// is each node's bound, an upper limit of everything but the price term
// (capacity at the reported free GPUs and queue, which a batch only lowers;
// image as if held when the node holds any). Live nodes are grouped by
// (GPU model, memory per GPU), each group split into buckets by reported
// free GPUs, each bucket sorted by bound. A pick visits only the groups the
// job can use and the buckets with enough free GPUs, best bound first, and
// leaves a bucket as soon as bound + WPrice·price(group's lowest price) is
// below the best score found. The choice is still the exact maximum: the
// tests compare every assignment with a brute-force reference. Only a job
// that fits nowhere scans every candidate, to name its reason.
//
// BenchmarkPick10k times single picks among 10,000 nodes and reports
// p50-ns and p99-ns; BenchmarkSchedule10k a batch of 256 jobs.
//
// # Limits
//
// MaxNodes nodes per table, MaxJobs jobs per batch, and bounds on every
// string and list (types.go). A malformed node fails NewTable with
// [ErrInvalidNode]; a malformed job is answered with [InvalidJob] and the
// rest of the batch is scheduled.
package scheduler
