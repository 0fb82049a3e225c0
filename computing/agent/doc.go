// Package agent is the compute node's job agent: it watches the chain for
// the jobs the router assigned to this node, accepts those that fit, runs
// them with the node's executor, stores each result record, and reports it
// with submitResult, all through the node wallet.
//
// Start reading at [Core] (core.go): a state machine with no I/O, clock or
// goroutine. Its inputs are [Core.Step] (a new head: the head's number and
// block time, the agent's clock, and the chain's records of the jobs
// assigned to this node and of every job it holds), [Core.RunDone] (a run
// ended, with its record) and [Core.TxDone] (an accept or result
// transaction was mined or failed). Its output is a list of [Action]s
// (accept, run, submit, kill) and a dirty flag for the journal. Then read
// [Service] (agent.go), the thin driver: on each head it collects
// transaction outcomes, scans the jobs module, steps the core, saves the
// journal when the core says it changed, and only then acts, so a crash
// never leaves a sent accept or result the journal does not know.
//
// A job's life on this node (phases, journaled):
//
//	assigned here, fits       accepting: accept sent (retried after RetryBlocks,
//	(GPUs free, image held)   at most MaxTxTries sends)
//	running on chain          running: the executor runs the attempt
//	                          (RunID = emc-<chain>-<job>-<attempt>)
//	run ended with a record   reporting: record saved in the results store,
//	                          submitResult(id, record, gpuMillis, exit) sent;
//	                          gpuMillis = wall time × GPUs, capped at
//	                          timeout × GPUs × 1000 (the module's limit)
//	result on chain           done: forgotten
//
// An assignment that fits the node but not its GPUs free right now (held
// by running jobs: the router's heartbeat view trails the node) waits,
// looked at again each head, until its accept deadline; it is declined
// (counted once) only if the deadline passes first, or at once when it can
// never fit (more GPUs than the node has, image not held).
//
// A job is dropped (its run killed) when the chain shows it reassigned,
// reopened, cancelled or expired, when its accept or result deadline has
// passed, or when its transaction failed MaxTxTries times; the chain's
// deadline then gives it to another node. A job that could not run at all
// (spec unreadable, image or program missing, GPUs refused) is reported as
// failed with exit -1 and no usage, so the submitter is refunded at once.
//
// Restart: the journal (journal.go, DATADIR/compute/agent/journal.json,
// replaced atomically) holds every job's phase, attempt, transactions and
// result. On start, what is left of the journaled runs is killed
// (containers with the run's label, processes with its EMC_JOB_ID); a job
// that was accepted but not finished is run again if its result deadline
// leaves it its whole timeout, and dropped otherwise; a job whose record
// was stored is reported again, never run again. The jobs module refuses a
// second result, so nothing is paid twice.
//
// Inputs: a job whose spec names an input bundle (jobs.Spec.InputsSHA256)
// gets it from the calldata of its submit transaction (the JobSubmitted
// log's TxHash, looked up in the submission block: [InputsFromTxs]). The
// agent checks its sha256 and canonical encoding, puts its files in the
// node's blob store, and the executor writes them read-only into the job's
// input dir: /job/in/NAME in a container, $EMC_INPUT_DIR/NAME for the
// process executor. A bundle that cannot be read or does not match fails
// the job like any job that could not run (exit -1, no usage).
//
// Executors: Docker by default (the on-chain image digest is the Docker
// image ID, sha256:<hex>); the process executor only when the node's
// config asks for it, running the program stored under the digest in
// [Programs] (DATADIR/compute/programs/<sha256-hex>, the file's own hash,
// checked before each run).
//
// Not done here: serving outputs to the submitter (issue 11, item 8).
package agent
