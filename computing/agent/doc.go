// Package agent is the compute node's job agent: it watches the chain for
// the jobs the router assigned to this node, accepts those that fit, runs
// them with the node's executor, stores each result record, and reports it
// with submitResult (submitResultDigest for a deterministic job), all
// through the node wallet; it also re-executes the jobs the chain draws it
// for and sends their digests (submitReexec).
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
// Deterministic jobs (jobs.Spec.Deterministic): the result goes out as
// submitResultDigest with the record's output digest
// (computing/job.Result.OutputDigest), with the module's declared gas
// (jobs.ResultDigestGas) as the limit; submitResult reverts for them. A
// held job whose result the chain puts in re-execution (reexecuting,
// disputed) is done for this node: the decision is the chain's.
//
// Re-executions (core_reexec.go): the jobs module draws nodes to re-run
// other nodes' deterministic jobs (sampled or disputed) and its hooks emit
// no logs, so at each head the driver reads this node's reexecsOf list
// (at most MaxReexecScan) and each job's re-execution record (its
// deadline) and job record. The core takes a re-execution whose image the
// node holds and whose deadline leaves the job's timeout, when GPUs and a
// slot are free (else it waits, looked at each head, or declines for
// good), as an entry with Attempt 0 in phase reexecuting: the spec (and
// inputs) are fetched as for its own jobs and run with the same executor
// (RunID ReexecRunID, emc-<chain>-<job>-reexec). The run's output digest
// goes out as submitReexec (gas jobs.SubmitReexecGas), phase
// reexec-reporting, retried like a result; the entry is forgotten when
// the job leaves the list (digest taken, or timed out). A re-execution
// that could not run sends nothing (the chain times it out: a digest of a
// run that did not happen would accuse an honest provider). Both phases
// are journaled: a restart runs a re-execution still reexecuting again if
// its deadline leaves the timeout, and sends a known digest again without
// running it (the module refuses a second).
//
// Fault injection (TEST ONLY): Config.Fault FaultWrongOutput (the hidden
// `--compute.fault wrong-output` flag of emcd node) replaces every output
// of the node's deterministic runs, results and re-executions alike, with
// a fixed wrong file (stored, so it can be downloaded) and seals the
// record again, so the node reports wrong digests and gets caught. It
// never applies unless set.
//
// Not done here: serving outputs to the submitter (issue 11, item 8).
package agent
