package agent

// The core is tested against simChain, a SIMULATED jobs module for one
// node: it keeps each job's state, attempt and deadline with the module's
// rules (accept by the accept deadline, result before the result deadline
// in block time, a missed deadline reopens the job, a second result is
// refused), mines the agent's transactions one block after they are sent
// (or fails them when a seeded fault says so), and finishes runs a seeded
// number of blocks after they start. Scenario tests script one case each;
// TestCoreSimulation drives random assignments, faults and restarts from a
// seed (SEED=<n> printed on failure, -seed to replay) and checks after
// every step: no job is paid twice, no attempt is run again once its record
// exists, the promised GPUs never exceed the node's, and in the end every
// job this node accepted was completed or reopened by the chain.

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/jobs"
)

var seedFlag = flag.Uint64("seed", 0, "seed for TestCoreSimulation (0: a fixed set)")

var (
	owner = common.Address{0xaa}
	other = common.Address{0xbb}
)

const (
	simAcceptBlocks = 10
	simGraceSeconds = 5
	simBlockSeconds = 1
)

type simJob struct {
	ChainJob
	payouts int // results mined
}

type simTx struct {
	kind    TxKind
	id      uint64
	entry   Entry
	mineAt  uint64
	fail    bool
	settled bool
}

type simRun struct {
	id, token uint64
	attempt   uint8
	doneAt    uint64
	err       error
}

// simChain is the SIMULATED chain and executor around one core.
type simChain struct {
	t       *testing.T
	rng     *rand.Rand
	core    *Core
	journal []Entry
	block   uint64
	jobs    map[uint64]*simJob
	txs     []*simTx
	runs    []*simRun
	// recorded: attempts whose run produced a record (never run again).
	recorded map[attemptKey]bool
	runsOf   map[attemptKey]int
	txFail   float64 // chance a sent tx fails
	runFail  float64 // chance a run ends with no record
	runBlock int     // max blocks a run takes
	trace    []string
}

func newSim(t *testing.T, seed uint64, gpus uint32) *simChain {
	return &simChain{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		core:     NewCore(CoreConfig{Owner: owner, GPUs: gpus}, nil),
		jobs:     map[uint64]*simJob{},
		recorded: map[attemptKey]bool{}, runsOf: map[attemptKey]int{}, runBlock: 3,
	}
}

func (s *simChain) logf(format string, a ...any) {
	s.trace = append(s.trace, fmt.Sprintf("b%d ", s.block)+fmt.Sprintf(format, a...))
}

func (s *simChain) time() uint64 { return s.block * simBlockSeconds }

// assign puts job id (new or reopened) on node.
func (s *simChain) assign(id uint64, node common.Address, gpus uint32, timeout uint64) {
	j, ok := s.jobs[id]
	if !ok {
		j = &simJob{ChainJob: ChainJob{ID: id, GPUs: gpus, TimeoutSeconds: timeout, State: jobs.StateSubmitted}}
		s.jobs[id] = j
	}
	if j.State != jobs.StateSubmitted {
		s.t.Fatalf("assign of job %d in state %s", id, j.State)
	}
	j.State, j.Node, j.Attempts, j.Deadline, j.ResultHash, j.ImageHeld = jobs.StateAssigned, node, j.Attempts+1, s.block+simAcceptBlocks, common.Hash{}, true
	s.logf("assign job %d attempt %d to %x", id, j.Attempts, node[:1])
}

// act carries out the core's actions as the driver would: the journal
// is saved first.
func (s *simChain) act(acts []Action) {
	if s.core.Dirty() {
		s.journal = s.core.Entries()
	}
	s.check()
	for _, a := range acts {
		s.logf("action %s job %d attempt %d", a.Kind, a.Entry.ID, a.Entry.Attempt)
		k := attemptKey{a.Entry.ID, a.Entry.Attempt}
		switch a.Kind {
		case ActAccept:
			s.txs = append(s.txs, &simTx{kind: TxAccept, id: a.Entry.ID, entry: a.Entry, mineAt: s.block + 1, fail: s.rng.Float64() < s.txFail})
		case ActSubmit:
			s.txs = append(s.txs, &simTx{kind: TxResult, id: a.Entry.ID, entry: a.Entry, mineAt: s.block + 1, fail: s.rng.Float64() < s.txFail})
		case ActRun:
			if s.recorded[k] {
				s.t.Fatalf("job %d attempt %d run again after its record was made", k.id, k.attempt)
			}
			s.runsOf[k]++
			r := &simRun{id: a.Entry.ID, token: a.Token, attempt: a.Entry.Attempt, doneAt: s.block + 1 + uint64(s.rng.IntN(s.runBlock))}
			if s.rng.Float64() < s.runFail {
				r.err = errors.New("simulated executor error")
			}
			s.runs = append(s.runs, r)
		case ActKill:
			for i, r := range s.runs {
				if r.id == a.Entry.ID && r.token == a.Token {
					s.runs = append(s.runs[:i], s.runs[i+1:]...)
					break
				}
			}
		}
	}
}

// check asserts the invariants that hold after every step.
func (s *simChain) check() {
	if s.core.UsedGPUs() > s.core.cfg.GPUs {
		s.t.Fatalf("%d GPUs promised, node has %d", s.core.UsedGPUs(), s.core.cfg.GPUs)
	}
	for _, j := range s.jobs {
		if j.payouts > 1 {
			s.t.Fatalf("job %d: %d results mined", j.ID, j.payouts)
		}
	}
}

// mine makes the next block: transactions due are applied by the
// module's rules, deadlines reopen jobs, finished runs report, then the
// core sees the head.
func (s *simChain) mine() {
	s.block++
	var keep []*simTx
	var acts []Action
	for _, tx := range s.txs {
		if tx.mineAt > s.block {
			keep = append(keep, tx)
			continue
		}
		err := s.apply(tx)
		s.logf("tx %s job %d: %v", kindName(tx.kind), tx.id, err)
		if !tx.settled {
			acts = append(acts, s.core.TxDone(tx.id, tx.kind, common.Hash{byte(tx.id)}, err)...)
			s.act(acts)
			acts = nil
		}
	}
	s.txs = keep
	for _, j := range s.jobs {
		switch {
		case j.State == jobs.StateAssigned && s.block >= j.Deadline,
			j.State == jobs.StateRunning && s.time() >= j.Deadline:
			s.logf("deadline: job %d reopened", j.ID)
			j.State = jobs.StateSubmitted
			if j.Attempts >= jobs.MaxAttempts {
				j.State = jobs.StateExpired
			}
		}
	}
	var runs []*simRun
	for _, r := range s.runs {
		if r.doneAt > s.block {
			runs = append(runs, r)
			continue
		}
		o := RunOutcome{Err: r.err}
		if r.err == nil {
			o = RunOutcome{Record: common.Hash{byte(r.id), r.attempt, byte(r.token), 0xee}, WallMillis: int64(s.block-r.doneAt+1) * 1000}
		}
		before := s.core.entries[r.id]
		s.act(s.core.RunDone(r.id, r.token, o))
		if after := s.core.entries[r.id]; before != nil && after != nil && after.Phase == PhaseReporting {
			s.recorded[attemptKey{r.id, r.attempt}] = true
		}
	}
	s.runs = runs
	s.act(s.core.Step(s.head()))
}

func (s *simChain) head() Head {
	h := Head{Number: s.block, Time: s.time(), NowMs: int64(s.time()) * 1000}
	for id := uint64(1); id <= uint64(len(s.jobs)); id++ {
		if j, ok := s.jobs[id]; ok {
			h.Jobs = append(h.Jobs, j.ChainJob)
		}
	}
	return h
}

// apply is the module's accept and submitResult.
func (s *simChain) apply(tx *simTx) error {
	if tx.fail {
		return errors.New("simulated tx failure")
	}
	j := s.jobs[tx.id]
	switch {
	case j.Node != owner:
		return jobs.ErrNotNode
	case tx.kind == TxAccept && j.State != jobs.StateAssigned,
		tx.kind == TxResult && j.State != jobs.StateRunning:
		return jobs.ErrWrongState
	case tx.kind == TxAccept && s.block > j.Deadline,
		tx.kind == TxResult && s.time() >= j.Deadline:
		return jobs.ErrDeadline
	case tx.kind == TxResult && tx.entry.GPUMillis > j.TimeoutSeconds*uint64(j.GPUs)*1000:
		return jobs.ErrUsage
	}
	if tx.kind == TxAccept {
		j.State, j.Deadline = jobs.StateRunning, s.time()+j.TimeoutSeconds+simGraceSeconds
		return nil
	}
	j.State, j.ResultHash, j.Deadline = jobs.StateCompleted, tx.entry.Record, 0
	if tx.entry.Exit != 0 {
		j.State = jobs.StateFailed
	}
	j.payouts++
	return nil
}

// restart replaces the core by one built from the saved journal: runs in
// flight die, transactions in the pool may still be mined (their outcome
// goes nowhere).
func (s *simChain) restart() {
	s.logf("restart with %d journaled", len(s.journal))
	s.core = NewCore(s.core.cfg, s.journal)
	s.runs = nil
	for _, tx := range s.txs {
		tx.settled = true
	}
}

func (s *simChain) failf(seed uint64, format string, a ...any) {
	s.t.Helper()
	for _, l := range s.trace {
		s.t.Log(l)
	}
	s.t.Fatalf("SEED=%d: "+format, append([]any{seed}, a...)...)
}

func (s *simChain) until(n int, done func() bool) bool {
	for range n {
		if done() {
			return true
		}
		s.mine()
	}
	return done()
}

func (s *simChain) state(id uint64) jobs.State { return s.jobs[id].State }

func TestCoreHappyPath(t *testing.T) {
	s := newSim(t, 1, 2)
	s.assign(1, owner, 2, 10)
	if !s.until(20, func() bool { return s.state(1) == jobs.StateCompleted }) {
		s.failf(1, "job 1 %s, want completed", s.state(1))
	}
	s.mine()
	if len(s.core.Entries()) != 0 || len(s.journal) != 0 {
		t.Fatalf("entries left: %+v", s.core.Entries())
	}
	if c := s.core.Counts(); c.Accepted != 1 || c.Completed != 1 || c.Abandoned != 0 {
		t.Fatalf("counts %+v", c)
	}
	if s.runsOf[attemptKey{1, 1}] != 1 {
		t.Fatalf("%d runs", s.runsOf[attemptKey{1, 1}])
	}
}

func TestCoreDeclines(t *testing.T) {
	s := newSim(t, 2, 2)
	s.assign(1, owner, 3, 10) // more GPUs than the node has
	s.assign(2, owner, 1, 10)
	s.jobs[2].ImageHeld = false
	s.jobs[1].ImageHeld = true
	s.assign(3, owner, 2, 10)
	s.jobs[3].ImageHeld = true
	s.mine()
	if _, ok := s.core.entries[1]; ok {
		t.Fatal("job 1 (3 GPUs) accepted by a 2-GPU node")
	}
	if _, ok := s.core.entries[2]; ok {
		t.Fatal("job 2 accepted without its image")
	}
	if _, ok := s.core.entries[3]; !ok {
		t.Fatal("job 3 not taken")
	}
	if c := s.core.Counts(); c.Declined != 2 {
		t.Fatalf("declined %d, want 2", c.Declined)
	}
	s.mine() // declined once, not counted again
	if c := s.core.Counts(); c.Declined != 2 {
		t.Fatalf("declined %d after another head, want 2", c.Declined)
	}
}

// TestCoreWaitsForGPUs: an assignment that fits the node but not its free
// GPUs right now (the router's heartbeat view is behind) is not declined:
// it is taken once a running job frees its GPUs, before the accept
// deadline; one past the deadline is declined.
func TestCoreWaitsForGPUs(t *testing.T) {
	s := newSim(t, 7, 2)
	s.runBlock = 1
	s.assign(1, owner, 2, 10)
	s.assign(2, owner, 1, 10)
	s.mine()
	if _, ok := s.core.entries[2]; ok {
		t.Fatal("job 2 accepted with every GPU promised to job 1")
	}
	if c := s.core.Counts(); c.Declined != 0 {
		t.Fatalf("declined %d while busy, want 0 (it waits)", c.Declined)
	}
	if !s.until(simAcceptBlocks-1, func() bool { return s.state(2) == jobs.StateRunning || s.state(2) == jobs.StateCompleted }) {
		s.failf(7, "job 2 %s, want accepted before its deadline (job 1 %s)", s.state(2), s.state(1))
	}
	if !s.until(20, func() bool { return s.state(1) == jobs.StateCompleted && s.state(2) == jobs.StateCompleted }) {
		s.failf(7, "jobs %s and %s, want completed", s.state(1), s.state(2))
	}
	if c := s.core.Counts(); c.Declined != 0 || c.Completed != 2 {
		t.Fatalf("counts %+v", c)
	}

	// Busy through the whole accept window: declined once the deadline
	// passes, counted once.
	s2 := newSim(t, 8, 1)
	s2.runBlock = 1000
	s2.assign(1, owner, 1, 10)
	s2.assign(2, owner, 1, 10)
	for range simAcceptBlocks + 2 {
		s2.mine()
	}
	if _, ok := s2.core.entries[2]; ok {
		t.Fatal("job 2 taken on a busy node")
	}
	if c := s2.core.Counts(); c.Declined != 1 {
		t.Fatalf("declined %d after the deadline, want 1", c.Declined)
	}
}

// A job whose run ended frees its GPUs while its result is still on the
// way: the next assignment is accepted before that result is mined.
func TestCoreReportingFreesGPUs(t *testing.T) {
	s := newSim(t, 9, 2)
	s.runBlock = 1
	s.assign(1, owner, 2, 10)
	if !s.until(10, func() bool { e := s.core.entries[1]; return e != nil && e.Phase == PhaseReporting }) {
		s.failf(9, "job 1 never reached reporting (%s)", s.state(1))
	}
	if s.state(1) != jobs.StateRunning {
		t.Fatalf("job 1 %s on chain while reporting, want running (its result not mined yet)", s.state(1))
	}
	if used := s.core.UsedGPUs(); used != 0 {
		t.Fatalf("%d GPUs promised with job 1 only reporting, want 0", used)
	}
	s.assign(2, owner, 2, 10)
	acts := s.core.Step(s.head())
	accepted := false
	for _, a := range acts {
		accepted = accepted || (a.Kind == ActAccept && a.Entry.ID == 2)
	}
	s.act(acts)
	if !accepted {
		t.Fatalf("job 2 not accepted at once with job 1 reporting; actions %+v", acts)
	}
	if !s.until(20, func() bool { return s.state(1) == jobs.StateCompleted && s.state(2) == jobs.StateCompleted }) {
		s.failf(9, "jobs %s and %s, want completed", s.state(1), s.state(2))
	}
}

func TestCoreReassignedBeforeAccept(t *testing.T) {
	s := newSim(t, 3, 2)
	s.assign(1, owner, 1, 10)
	s.jobs[1].ImageHeld = true
	s.txFail = 1 // the accept fails: the job stays assigned
	s.mine()
	s.mine()
	if s.core.entries[1] == nil {
		t.Fatal("job 1 not held")
	}
	// The accept deadline passes: the chain reopens it, another node gets it.
	s.jobs[1].State = jobs.StateSubmitted
	s.assign(1, other, 1, 10)
	s.mine()
	if s.core.entries[1] != nil {
		t.Fatal("job 1 still held after reassignment")
	}
	if c := s.core.Counts(); c.Abandoned != 1 || c.Accepted != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestCoreDeadlineWhileRunning(t *testing.T) {
	s := newSim(t, 4, 1)
	s.runBlock = 1000 // the run never ends by itself
	s.assign(1, owner, 1, 10)
	s.jobs[1].ImageHeld = true
	if !s.until(5, func() bool { return len(s.runs) == 1 }) {
		t.Fatal("job 1 not started")
	}
	if !s.until(30, func() bool { return s.core.entries[1] == nil }) {
		t.Fatal("job 1 still held after its result deadline")
	}
	if len(s.runs) != 0 {
		t.Fatal("the run was not killed")
	}
	if s.state(1) != jobs.StateSubmitted {
		t.Fatalf("job 1 %s, want reopened", s.state(1))
	}
}

func TestCoreExecutorError(t *testing.T) {
	s := newSim(t, 5, 1)
	s.runFail = 1
	s.assign(1, owner, 1, 10)
	s.jobs[1].ImageHeld = true
	if !s.until(10, func() bool { return s.runsOf[attemptKey{1, 1}] == 1 && s.core.entries[1] == nil }) {
		t.Fatal("a run without a record did not drop the job")
	}
	if c := s.core.Counts(); c.Abandoned != 1 {
		t.Fatalf("counts %+v", c)
	}
	if s.jobs[1].payouts != 0 {
		t.Fatal("paid without a record")
	}
}

func TestCoreTxFailureRetry(t *testing.T) {
	s := newSim(t, 6, 1)
	s.assign(1, owner, 1, 30)
	s.jobs[1].ImageHeld = true
	s.txFail = 1
	s.mine() // accept sent
	s.mine() // accept fails
	s.txFail = 0
	if !s.until(40, func() bool { return s.state(1) == jobs.StateCompleted }) {
		s.failf(6, "job 1 %s after a failed accept, want completed", s.state(1))
	}
	// A failed result is retried too.
	s.assign(2, owner, 1, 30)
	s.jobs[2].ImageHeld = true
	s.until(10, func() bool { return s.core.entries[2] != nil && s.core.entries[2].Phase == PhaseReporting })
	s.txFail = 1
	s.mine()
	s.mine()
	s.txFail = 0
	if !s.until(40, func() bool { return s.state(2) == jobs.StateCompleted }) {
		s.failf(6, "job 2 %s after a failed result, want completed", s.state(2))
	}
	if s.jobs[2].payouts != 1 || s.runsOf[attemptKey{2, 1}] != 1 {
		t.Fatalf("job 2: %d payouts, %d runs", s.jobs[2].payouts, s.runsOf[attemptKey{2, 1}])
	}
}

func TestCoreTxFailsForever(t *testing.T) {
	s := newSim(t, 7, 1)
	s.assign(1, owner, 1, 1000)
	s.jobs[1].ImageHeld = true
	s.jobs[1].Deadline = 1000 // a long accept window
	s.txFail = 1
	s.mine()
	if s.core.entries[1] == nil {
		t.Fatal("job 1 not taken")
	}
	if !s.until(100, func() bool { return s.core.entries[1] == nil }) {
		s.failf(7, "job held after endless accept failures")
	}
	n := 0
	for _, l := range s.trace {
		if len(l) > 0 && contains(l, "action accept") {
			n++
		}
	}
	if n != MaxTxTries {
		t.Fatalf("%d accepts sent, want %d", n, MaxTxTries)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestCoreRestartAtEachStep restarts the core from its journal after the
// k-th block of a job's life, for every k: the job completes, is paid
// once, and is not run again once its record exists.
func TestCoreRestartAtEachStep(t *testing.T) {
	for k := 1; k <= 12; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			s := newSim(t, uint64(k), 1)
			s.runBlock = 2
			s.assign(1, owner, 1, 20)
			s.jobs[1].ImageHeld = true
			for range k {
				s.mine()
			}
			s.restart()
			if !s.until(60, func() bool { return s.state(1) != jobs.StateAssigned && s.state(1) != jobs.StateRunning }) {
				s.failf(uint64(k), "job 1 still %s", s.state(1))
			}
			if st := s.state(1); st != jobs.StateCompleted {
				s.failf(uint64(k), "job 1 %s, want completed (20 s timeout leaves time to rerun)", st)
			}
			if s.jobs[1].payouts != 1 {
				s.failf(uint64(k), "%d payouts", s.jobs[1].payouts)
			}
		})
	}
}

// TestCoreRestartTooLate: a job running when the node stops, restarted
// with too little time before its result deadline, is dropped (and the
// chain reopens it), not rerun.
func TestCoreRestartTooLate(t *testing.T) {
	s := newSim(t, 8, 1)
	s.runBlock = 1000
	s.assign(1, owner, 1, 10)
	s.jobs[1].ImageHeld = true
	s.until(5, func() bool { return len(s.runs) == 1 })
	for range 6 {
		s.mine()
	}
	s.restart()
	s.mine()
	if s.core.entries[1] != nil || len(s.runs) != 0 {
		t.Fatalf("job rerun with too little time: entries %+v runs %d", s.core.Entries(), len(s.runs))
	}
	if s.runsOf[attemptKey{1, 1}] != 1 {
		t.Fatalf("%d runs", s.runsOf[attemptKey{1, 1}])
	}
}

func TestCoreSimulation(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 42, 1337}
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	for _, seed := range seeds {
		simulate(t, seed)
	}
}

func simulate(t *testing.T, seed uint64) {
	s := newSim(t, seed, 4)
	rng := rand.New(rand.NewPCG(seed, 7))
	s.txFail, s.runFail, s.runBlock = 0.2, 0.1, 6
	var next uint64 = 1
	for step := 0; step < 400; step++ {
		// Faults stop for the last 100 blocks so every job can finish.
		faults := step < 300
		if !faults {
			s.txFail, s.runFail = 0, 0
		}
		if faults && rng.IntN(4) == 0 {
			node := owner
			if rng.IntN(3) == 0 {
				node = other
			}
			s.assign(next, node, 1+uint32(rng.IntN(3)), 10+uint64(rng.IntN(20)))
			s.jobs[next].ImageHeld = rng.IntN(8) != 0
			next++
		}
		// Reopened jobs are reassigned at random.
		for id := uint64(1); id < next; id++ {
			if j := s.jobs[id]; j.State == jobs.StateSubmitted && rng.IntN(3) == 0 {
				node := owner
				if rng.IntN(2) == 0 {
					node = other
				}
				s.assign(id, node, j.GPUs, j.TimeoutSeconds)
			}
		}
		if faults && rng.IntN(40) == 0 {
			s.restart()
		}
		s.mine()
		// The other node finishes its jobs at once.
		for _, j := range s.jobs {
			if j.Node == other && (j.State == jobs.StateAssigned || j.State == jobs.StateRunning) && rng.IntN(4) == 0 {
				j.State, j.ResultHash = jobs.StateCompleted, common.Hash{1}
			}
		}
	}
	for range 60 {
		s.mine()
	}
	if len(s.core.Entries()) != 0 {
		s.failf(seed, "entries left after the faults stopped: %+v", s.core.Entries())
	}
	paid := 0
	for id := uint64(1); id < next; id++ {
		j := s.jobs[id]
		if j.Node == owner && (j.State == jobs.StateAssigned || j.State == jobs.StateRunning) {
			s.failf(seed, "job %d still %s on this node", id, j.State)
		}
		if j.Node == owner {
			paid += j.payouts
		}
	}
	if paid < int(next)/4 {
		s.failf(seed, "only %d of %d jobs reported by this node: the simulation exercises too little", paid, next-1)
	}
	t.Logf("seed %d: %d jobs, %d reported by this node", seed, next-1, paid)
}
