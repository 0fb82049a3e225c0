package agent

import (
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/jobs"
)

// Limits of the core.
const (
	// MaxJobs bounds the jobs the agent holds at once (accepted, running
	// or reporting); assignments beyond it wait for a free slot until
	// their accept deadline.
	MaxJobs = 64
	// RetryBlocks is how long a job whose transaction failed waits before
	// the transaction is sent again.
	RetryBlocks = 3
	// MaxTxTries bounds the sends of one transaction; a job whose accept
	// or result fails that often is dropped (the chain's deadline reopens
	// it for another node).
	MaxTxTries = 5
	// maxDeclined bounds the remembered declined assignments.
	maxDeclined = 256
)

// Phase is where the agent is with one job. The values are journaled:
// never renumber them.
type Phase uint8

const (
	// PhaseAccepting: assigned to this node; accept sent (or to send).
	PhaseAccepting Phase = 1
	// PhaseRunning: accepted on chain; the executor runs the job.
	PhaseRunning Phase = 2
	// PhaseReporting: the result record is stored; submitResult sent (or
	// to send).
	PhaseReporting Phase = 3
	// PhaseReexec: drawn to re-execute the job (its id in the node's
	// reexecsOf list); the executor runs it.
	PhaseReexec Phase = 4
	// PhaseReexecReporting: the re-execution's digest is known;
	// submitReexec sent (or to send).
	PhaseReexecReporting Phase = 5
)

func (p Phase) String() string {
	switch p {
	case PhaseAccepting:
		return "accepting"
	case PhaseRunning:
		return "running"
	case PhaseReporting:
		return "reporting"
	case PhaseReexec:
		return "reexecuting"
	case PhaseReexecReporting:
		return "reexec-reporting"
	}
	return fmt.Sprintf("phase%d", uint8(p))
}

// reexec reports whether the phase is a re-execution's.
func (p Phase) reexec() bool { return p == PhaseReexec || p == PhaseReexecReporting }

// Entry is what the agent remembers of one job: the journal record. A job
// this node re-executes (PhaseReexec, PhaseReexecReporting) has Attempt 0:
// the re-executor is never the job's provider, so one node holds a job in
// one role only.
type Entry struct {
	ID      uint64 `json:"id"`
	Attempt uint8  `json:"attempt"`
	Phase   Phase  `json:"phase"`
	GPUs    uint32 `json:"gpus"`
	// TimeoutSeconds is the spec's run limit (it caps the usage).
	TimeoutSeconds uint64 `json:"timeout_s"`
	// AcceptTx and ResultTx are the last transactions sent (zero: none).
	AcceptTx common.Hash `json:"accept_tx"`
	ResultTx common.Hash `json:"result_tx"`
	// Record, GPUMillis and Exit are the result (PhaseReporting).
	Record    common.Hash `json:"record"`
	GPUMillis uint64      `json:"gpu_ms"`
	Exit      int32       `json:"exit"`
	// Digest is the run's output digest (computing/job.OutputDigest): for a
	// deterministic job's result (submitResultDigest) and for a
	// re-execution (submitReexec). Zero for other jobs.
	Digest common.Hash `json:"digest,omitempty"`
	// StartedMs is when the run started (unix ms, the agent's clock).
	StartedMs int64 `json:"started_ms"`

	// Not journaled: a transaction or run in flight does not survive a
	// restart.
	txBusy   bool
	tries    int
	retryAt  uint64
	runBusy  bool
	runToken uint64
	mined    bool // the last transaction succeeded
}

// ChainJob is the chain's record of a job at one head, as the core needs
// it; ImageHeld says whether the node holds the job's image.
type ChainJob struct {
	ID             uint64
	State          jobs.State
	Node           common.Address
	Attempts       uint8
	Deadline       uint64
	GPUs           uint32
	TimeoutSeconds uint64
	ResultHash     common.Hash
	ImageHeld      bool
}

// FromJob is the ChainJob of a chain record.
func FromJob(j *jobs.Job, imageHeld bool) ChainJob {
	return ChainJob{
		ID: j.ID, State: j.State, Node: j.Node, Attempts: j.Attempts, Deadline: j.Deadline,
		GPUs: j.GPUs, TimeoutSeconds: j.TimeoutSeconds, ResultHash: j.ResultHash, ImageHeld: imageHeld,
	}
}

// Head is one new chain head: its number and time, the agent's clock, and
// the jobs assigned to (or running on, or reported by) this node plus
// every job the core holds, as the chain has them at this head. A held
// job missing from Jobs is taken as gone from this node.
type Head struct {
	Number uint64
	// Time is the head's block time (unix seconds).
	Time uint64
	// NowMs is the agent's clock (unix ms): it stamps run starts. The
	// deadlines are in block time and are checked against Time.
	NowMs int64
	Jobs  []ChainJob
	// Reexecs are the re-executions waiting for this node's digest (the
	// reexecsOf list) at this head. A held re-execution missing from it
	// was answered or timed out.
	Reexecs []ChainReexec
}

// ChainReexec is one re-execution waiting for this node's digest: the job,
// the block time the digest must come before, and what the run needs.
type ChainReexec struct {
	ID             uint64
	Deadline       uint64
	GPUs           uint32
	TimeoutSeconds uint64
	ImageHeld      bool
}

// ActionKind says what an Action asks the driver to do.
type ActionKind uint8

const (
	// ActAccept: send accept(ID).
	ActAccept ActionKind = iota + 1
	// ActRun: run the job (its attempt, GPUs and timeout in Entry); report
	// with Core.RunDone carrying Token.
	ActRun
	// ActSubmit: send submitResult(ID, Record, GPUMillis, Exit).
	ActSubmit
	// ActKill: stop the job's run (the job is gone from this node, or its
	// result deadline passed).
	ActKill
	// ActReexec: re-execute the job (Entry.Phase PhaseReexec); report with
	// Core.RunDone carrying Token.
	ActReexec
	// ActSubmitReexec: send submitReexec(ID, Digest).
	ActSubmitReexec
)

func (k ActionKind) String() string {
	switch k {
	case ActAccept:
		return "accept"
	case ActRun:
		return "run"
	case ActSubmit:
		return "submit"
	case ActKill:
		return "kill"
	case ActReexec:
		return "reexec"
	case ActSubmitReexec:
		return "submitReexec"
	}
	return fmt.Sprintf("action%d", uint8(k))
}

// Action is one thing for the driver to do. Entry is a copy of the job's
// entry when the action was made.
type Action struct {
	Kind  ActionKind
	Entry Entry
	// Token names a run (ActRun, ActKill): RunDone must carry it.
	Token uint64
}

// TxKind names the transaction a TxDone reports.
type TxKind uint8

const (
	TxAccept TxKind = 1
	TxResult TxKind = 2
	TxReexec TxKind = 3
)

// RunOutcome is how a run ended: a sealed record (whatever its exit), or
// Err when the job could not be run at all.
type RunOutcome struct {
	Record     common.Hash
	WallMillis int64
	Exit       int32
	// Digest is the output digest of a deterministic job's run (zero for
	// others); a re-execution needs one.
	Digest common.Hash
	Err    error
}

// Event counts, for metrics and tests.
type Counts struct {
	Accepted, Completed, Failed, Abandoned, Declined uint64
	// Reexecuted counts re-execution digests taken by the chain;
	// ReexecAbandoned re-executions dropped (declined, run failed, past
	// their deadline).
	Reexecuted, ReexecAbandoned uint64
}

// CoreConfig configures the core.
type CoreConfig struct {
	// Owner is the node's owner account (the wallet's address).
	Owner common.Address
	// GPUs is how many GPUs the node has to give jobs.
	GPUs uint32
}

// Core is the agent's state machine: heads, run outcomes and transaction
// outcomes in; actions out. It does no I/O, reads no clock (the clock comes
// with each Head) and starts no goroutine; it is for one goroutine.
type Core struct {
	cfg      CoreConfig
	entries  map[uint64]*Entry
	declined map[attemptKey]bool
	// waiting are assignments that fit the node but not its free GPUs
	// (or job slots) yet, with the reason; they are looked at each head.
	waiting map[attemptKey]string
	head    uint64
	token   uint64
	dirty   bool
	counts  Counts
	// dropped names, per call, the jobs dropped and why (for logs).
	dropped []Drop
}

type attemptKey struct {
	id      uint64
	attempt uint8
}

// Drop says why a job left the core.
type Drop struct {
	ID      uint64
	Attempt uint8
	Phase   Phase
	Reason  string
}

// NewCore returns a core holding the journaled entries (a restart), whose
// runs and transactions are taken as lost: a job that was running is run
// again or dropped at the first head, a reported one is reported again.
func NewCore(cfg CoreConfig, journal []Entry) *Core {
	c := &Core{cfg: cfg, entries: map[uint64]*Entry{}, declined: map[attemptKey]bool{}, waiting: map[attemptKey]string{}}
	for _, e := range journal {
		e.txBusy, e.runBusy, e.tries, e.retryAt, e.runToken, e.mined = false, false, 0, 0, 0, false
		if len(c.entries) < MaxJobs {
			ec := e
			c.entries[e.ID] = &ec
		}
	}
	return c
}

// Entries returns the journal: every held entry, by id.
func (c *Core) Entries() []Entry {
	out := make([]Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmpU64(a.ID, b.ID) })
	return out
}

// Dirty reports whether the journal changed since the last call, and
// clears the flag. The driver saves the journal before it acts on the
// actions of the same call.
func (c *Core) Dirty() bool {
	d := c.dirty
	c.dirty = false
	return d
}

// Counts returns the event counts so far.
func (c *Core) Counts() Counts { return c.counts }

// Drops returns and clears the jobs dropped since the last call.
func (c *Core) Drops() []Drop {
	d := c.dropped
	c.dropped = nil
	return d
}

// UsedGPUs is the GPUs promised to held jobs that are still to run or
// running. A job in PhaseReporting has run (its GPUs went back to the
// allocator when the executor returned) and waits only for its result on
// chain, so its GPUs are free for the next job: the heartbeat shows them
// and the next assignment is accepted at once.
func (c *Core) UsedGPUs() uint32 {
	var n uint32
	for _, e := range c.entries {
		if e.Phase != PhaseReporting && e.Phase != PhaseReexecReporting {
			n += e.GPUs
		}
	}
	return n
}

// Step handles a new head.
func (c *Core) Step(h Head) []Action {
	c.head = h.Number
	var out []Action
	seen := make(map[uint64]bool, len(h.Jobs))
	keep := make(map[attemptKey]bool)
	for i := range h.Jobs {
		j := &h.Jobs[i]
		seen[j.ID] = true
		if j.Node == c.cfg.Owner && j.State == jobs.StateAssigned {
			keep[attemptKey{j.ID, j.Attempts}] = true
		}
		if e, ok := c.entries[j.ID]; ok {
			if !e.Phase.reexec() {
				out = append(out, c.follow(h, e, j)...)
			}
			continue
		}
		if j.Node != c.cfg.Owner || j.State != jobs.StateAssigned {
			continue
		}
		k := attemptKey{j.ID, j.Attempts}
		if c.declined[k] {
			continue
		}
		reason, wait := c.fit(h, j)
		if wait {
			// Busy now (GPUs held by running jobs, a full table): asked
			// again at the next head, until the accept deadline. The
			// router's view of free GPUs trails the node's by up to a
			// heartbeat, so this is the common case under load.
			if _, ok := c.waiting[k]; ok || len(c.waiting) < maxDeclined {
				c.waiting[k] = reason
			}
			continue
		}
		delete(c.waiting, k)
		if reason != "" {
			if len(c.declined) < maxDeclined {
				c.declined[k] = true
			}
			c.counts.Declined++
			c.dropped = append(c.dropped, Drop{ID: j.ID, Attempt: j.Attempts, Reason: "declined: " + reason})
			continue
		}
		e := &Entry{ID: j.ID, Attempt: j.Attempts, Phase: PhaseAccepting, GPUs: j.GPUs, TimeoutSeconds: j.TimeoutSeconds}
		c.entries[j.ID] = e
		c.dirty = true
		out = append(out, c.sendTx(e, ActAccept)...)
	}
	// Jobs gone from this node free their GPUs before the re-executions
	// are looked at.
	for _, id := range c.sortedIDs() {
		if e := c.entries[id]; !e.Phase.reexec() && !seen[id] {
			out = append(out, c.drop(e, "no longer on this node")...)
		}
	}
	rxOut, seenRx := c.stepReexecs(h, keep)
	out = append(out, rxOut...)
	for k := range c.declined {
		if !keep[k] {
			delete(c.declined, k)
		}
	}
	for _, k := range sortedKeys(c.waiting) {
		if keep[k] {
			continue
		}
		// No longer assigned here: taken (an entry of that attempt), or
		// reopened by the chain at the accept deadline while still busy.
		if e, ok := c.entries[k.id]; !ok || e.Attempt != k.attempt {
			c.counts.Declined++
			c.dropped = append(c.dropped, Drop{ID: k.id, Attempt: k.attempt, Reason: "declined: " + c.waiting[k] + " through the accept window"})
		}
		delete(c.waiting, k)
	}
	for _, id := range c.sortedIDs() {
		if e := c.entries[id]; e.Phase.reexec() && !seenRx[id] {
			out = append(out, c.reexecGone(e)...)
		}
	}
	return out
}

// RunDone handles the end of the run named by token.
func (c *Core) RunDone(id uint64, token uint64, o RunOutcome) []Action {
	e, ok := c.entries[id]
	if !ok || !e.runBusy || e.runToken != token {
		return nil // a run killed after its job was dropped or rerun
	}
	e.runBusy = false
	if e.Phase == PhaseReexec {
		return c.reexecDone(e, o)
	}
	if o.Err != nil || o.Record == (common.Hash{}) {
		// Nothing ran (image missing, GPUs refused, ...): the driver
		// reports such a run with a failure record; without one the job
		// is left to its deadline.
		return c.drop(e, fmt.Sprintf("run failed without a record: %v", o.Err))
	}
	e.Phase, e.Record, e.Exit, e.Digest = PhaseReporting, o.Record, o.Exit, o.Digest
	e.GPUMillis = GPUMillis(o.WallMillis, e.GPUs, e.TimeoutSeconds)
	e.tries = 0
	c.dirty = true
	return c.sendTx(e, ActSubmit)
}

// TxDone handles the outcome of the job's accept or result transaction:
// err nil when it was mined and succeeded. A failed transaction is sent
// again after RetryBlocks, at most MaxTxTries times, if the chain still
// wants it (the next heads decide).
func (c *Core) TxDone(id uint64, kind TxKind, tx common.Hash, err error) []Action {
	e, ok := c.entries[id]
	if !ok || !e.txBusy {
		return nil
	}
	if txKindOf(e.Phase) != kind {
		return nil // an outcome of an earlier phase's transaction
	}
	e.txBusy = false
	if kind == TxAccept {
		e.AcceptTx = tx
	} else {
		e.ResultTx = tx
	}
	c.dirty = true
	if err != nil {
		if e.tries >= MaxTxTries {
			reason := fmt.Sprintf("%s failed %d times: %v", kindName(kind), e.tries, err)
			if kind == TxReexec {
				return c.dropReexec(e, reason)
			}
			return c.drop(e, reason)
		}
		e.retryAt = c.head + RetryBlocks
		return nil
	}
	e.mined = true
	if kind == TxAccept {
		c.counts.Accepted++
	}
	return nil // the next head shows the chain's new state
}

// follow moves a held job on by the chain's record of it.
func (c *Core) follow(h Head, e *Entry, j *ChainJob) []Action {
	ours := j.Node == c.cfg.Owner && j.Attempts == e.Attempt
	switch {
	case !ours:
		return c.drop(e, "reassigned")
	case j.State.Ended() || j.State == jobs.StateSubmitted:
		return c.drop(e, "job "+j.State.String()+" on chain")
	case j.State == jobs.StateCompleted || j.State == jobs.StateFailed ||
		j.State == jobs.StateReexec || j.State == jobs.StateDisputed:
		// A deterministic job's result may be in re-execution: its
		// outcome is the chain's now, not this node's.
		if e.Phase == PhaseReporting && j.ResultHash == e.Record {
			c.finish(e)
			return nil
		}
		return c.drop(e, "another result on chain")
	}
	switch e.Phase {
	case PhaseAccepting:
		if j.State == jobs.StateRunning {
			if e.txBusy {
				// Mined, but the handle has not said so yet: it will.
				e.txBusy = false
				c.counts.Accepted++
			}
			return c.start(h, e, j)
		}
		// Assigned: the accept must be in by block Deadline.
		if h.Number+1 > j.Deadline {
			return c.drop(e, "accept deadline passed")
		}
		return c.retry(h, e, ActAccept)
	case PhaseRunning:
		if j.State != jobs.StateRunning {
			return nil // assigned with our attempt: cannot be, the chain runs it first
		}
		if h.Time >= j.Deadline {
			return c.drop(e, "result deadline passed while running")
		}
		if !e.runBusy {
			return c.start(h, e, j) // after a restart
		}
	case PhaseReporting:
		if j.State != jobs.StateRunning {
			return nil
		}
		if h.Time >= j.Deadline {
			return c.drop(e, "result deadline passed before the result was mined")
		}
		return c.retry(h, e, ActSubmit)
	}
	return nil
}

// start runs the job if its result deadline leaves time for its timeout;
// otherwise it is dropped (the chain reopens it at the deadline).
func (c *Core) start(h Head, e *Entry, j *ChainJob) []Action {
	if h.Time+j.TimeoutSeconds >= j.Deadline {
		return c.drop(e, "too little time left before the result deadline")
	}
	c.token++
	e.Phase, e.runBusy, e.runToken, e.StartedMs, e.tries = PhaseRunning, true, c.token, h.NowMs, 0
	c.dirty = true
	return []Action{{Kind: ActRun, Entry: *e, Token: e.runToken}}
}

// retry sends the phase's transaction unless one is in flight or waiting.
func (c *Core) retry(h Head, e *Entry, kind ActionKind) []Action {
	if e.txBusy || h.Number < e.retryAt {
		return nil
	}
	return c.sendTx(e, kind)
}

func (c *Core) sendTx(e *Entry, kind ActionKind) []Action {
	e.txBusy, e.mined = true, false
	e.tries++
	return []Action{{Kind: kind, Entry: *e}}
}

func (c *Core) finish(e *Entry) {
	if e.Exit == 0 {
		c.counts.Completed++
	} else {
		c.counts.Failed++
	}
	delete(c.entries, e.ID)
	c.dirty = true
}

func (c *Core) drop(e *Entry, reason string) []Action {
	var out []Action
	if e.runBusy {
		out = append(out, Action{Kind: ActKill, Entry: *e, Token: e.runToken})
	}
	c.counts.Abandoned++
	c.dropped = append(c.dropped, Drop{ID: e.ID, Attempt: e.Attempt, Phase: e.Phase, Reason: reason})
	// Never take the same attempt up again (while the chain still shows
	// it assigned here, until its deadline reopens it).
	if len(c.declined) < maxDeclined {
		c.declined[attemptKey{e.ID, e.Attempt}] = true
	}
	delete(c.entries, e.ID)
	c.dirty = true
	return out
}

// fit says why the node cannot take the assignment ("" when it can).
// fit says why the node cannot take job j at head h ("" when it can).
// wait is true when the reason may pass by itself before the accept
// deadline (GPUs or job slots busy now): the assignment is not declined
// but looked at again at the next head.
func (c *Core) fit(h Head, j *ChainJob) (reason string, wait bool) {
	switch {
	case h.Number+1 > j.Deadline:
		return "accept deadline passed", false
	case !j.ImageHeld:
		return "image not held", false
	case j.GPUs > c.cfg.GPUs:
		return fmt.Sprintf("%d GPUs asked, the node has %d", j.GPUs, c.cfg.GPUs), false
	case len(c.entries) >= MaxJobs:
		return "too many jobs held", true
	case uint64(c.UsedGPUs())+uint64(j.GPUs) > uint64(c.cfg.GPUs):
		return fmt.Sprintf("%d GPUs asked, %d of %d free", j.GPUs, c.cfg.GPUs-min(c.UsedGPUs(), c.cfg.GPUs), c.cfg.GPUs), true
	}
	return "", false
}

func sortedKeys(m map[attemptKey]string) []attemptKey {
	ks := make([]attemptKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b attemptKey) int {
		if a.id != b.id {
			return cmpU64(a.id, b.id)
		}
		return int(a.attempt) - int(b.attempt)
	})
	return ks
}

func (c *Core) sortedIDs() []uint64 {
	ids := make([]uint64, 0, len(c.entries))
	for id := range c.entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// GPUMillis is the usage reported for a run of wallMillis on gpus GPUs:
// wall time × GPUs, capped at what the jobs module accepts (timeout ×
// GPUs × 1000).
func GPUMillis(wallMillis int64, gpus uint32, timeoutSeconds uint64) uint64 {
	limit := min(timeoutSeconds, jobs.MaxTimeoutSeconds) * uint64(gpus) * 1000
	if wallMillis <= 0 {
		return 0
	}
	w := uint64(wallMillis)
	if gpus != 0 && w > limit/uint64(gpus) {
		return limit
	}
	return min(w*uint64(gpus), limit)
}

func kindName(k TxKind) string {
	switch k {
	case TxAccept:
		return "accept"
	case TxReexec:
		return "submitReexec"
	}
	return "submitResult"
}

// txKindOf is the transaction a phase waits for (0: none).
func txKindOf(p Phase) TxKind {
	switch p {
	case PhaseAccepting:
		return TxAccept
	case PhaseReporting:
		return TxResult
	case PhaseReexecReporting:
		return TxReexec
	}
	return 0
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
