package jobs

import (
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// Sampled re-execution and disputes of deterministic jobs (see the package
// doc, "Re-execution", for the rules; docs/verification.md for the
// design).

// Re-execution bounds.
const (
	// maxReexecBytes bounds a stored re-execution record (pinned by a
	// test).
	maxReexecBytes = 320
	// MaxReexecDraws bounds the re-executors one job draws: the first,
	// two more on disagreement, and one replacement for a re-executor
	// that timed out.
	MaxReexecDraws = 4
	// ReexecQuorum is how many equal digests (the provider's counted)
	// decide a disagreement: more than a colluding pair can give.
	ReexecQuorum = 3
	// maxReexecAnswers bounds the re-executors' answers one job takes:
	// with the provider's digest, four in all.
	maxReexecAnswers = 3
	// MaxReexecProbes bounds the registry entries one draw looks at: it
	// starts at a seeded index and takes the first of MaxReexecProbes
	// consecutive nodes (wrapping) that qualifies.
	MaxReexecProbes = 4
	// bpsDenominator is 100 % in basis points.
	bpsDenominator = 10_000
)

// Verify is a job's re-execution status (Job.Verify, getJob's verify).
const (
	// VerifyNone: not a deterministic job, or no result yet.
	VerifyNone uint8 = 0
	// VerifyPending: the sampling check of the result is due (the block
	// after the result); the job cannot settle before it.
	VerifyPending uint8 = 1
	// VerifySkipped: not sampled (or no re-executor could be drawn).
	VerifySkipped uint8 = 2
	// VerifyRunning: in re-execution (StateReexec or StateDisputed).
	VerifyRunning uint8 = 3
	// VerifyPassed: re-execution agreed with the provider.
	VerifyPassed uint8 = 4
	// VerifyFailed: ReexecQuorum equal digests (all three answers)
	// contradicted the provider, or a tiny network's disputed tie with
	// Params.DisputeTieBreak on.
	VerifyFailed uint8 = 5
	// VerifyInconclusive: no re-executor answered, or one answered,
	// differing, and no other could be drawn (a tie, which the submitter
	// may dispute): the result stands.
	VerifyInconclusive uint8 = 6
	// VerifyUnresolved: a disagreement where no digest reached
	// ReexecQuorum (2-2, three digests, answers missing at the last
	// draw, or a tiny network's disputed tie without
	// Params.DisputeTieBreak): nobody is slashed, the job is refunded
	// (StateRefunded).
	VerifyUnresolved uint8 = 7
)

// Revert reasons of the re-execution methods.
var (
	// ErrNotDeterministic is returned by submitResultDigest and dispute
	// for a job whose spec is not deterministic.
	ErrNotDeterministic = errors.New("jobs: job is not deterministic")
	// ErrNeedDigest is returned by submitResult for a deterministic job:
	// its result goes through submitResultDigest.
	ErrNeedDigest = errors.New("jobs: a deterministic job's result needs its output digest (submitResultDigest)")
	// ErrNoDigest is returned for a zero output digest.
	ErrNoDigest = errors.New("jobs: zero output digest")
	// ErrDeterministicCredits is returned by the Credits submissions for
	// a deterministic spec: re-executions are paid in EMC.
	ErrDeterministicCredits = errors.New("jobs: a deterministic job is escrowed in EMC")
	// ErrNotReexecutor is returned by submitReexec from anyone but the
	// node whose digest the job waits for (a second digest included).
	ErrNotReexecutor = errors.New("jobs: caller is not the job's drawn re-executor")
	// ErrNotDisputer is returned by dispute from anyone but the submitter.
	ErrNotDisputer = errors.New("jobs: only the submitter may dispute")
	// ErrDisputeClosed is returned by dispute once the dispute window
	// closed (the block the job may settle in, or later).
	ErrDisputeClosed = errors.New("jobs: dispute window closed")
	// ErrBond is returned by dispute with a bond below DisputeBondWei.
	ErrBond = errors.New("jobs: dispute bond below the minimum")
	// ErrVerified is returned by dispute for a job already re-executed.
	ErrVerified = errors.New("jobs: job was already re-executed")
	// ErrVerifying is returned by settle while the sampling check is due.
	ErrVerifying = errors.New("jobs: result awaits its sampling check")
	// ErrNodeJailed is returned by assign for a jailed node, and by
	// submitReexec from a re-executor jailed since its draw.
	ErrNodeJailed = errors.New("jobs: node is jailed")
)

// Reexec is a job's re-execution record (stored once the job is sampled or
// disputed; kept after it ends).
type Reexec struct {
	// ID is the storage key, not part of the record.
	ID uint64 `rlp:"-"`
	// Disputed: started by dispute, with BondWei (still held while the
	// job has not ended); else sampled.
	Disputed bool
	BondWei  *uint256.Int
	// Prior is the state the result put the job in (completed or failed),
	// which it returns to when the result stands.
	Prior State
	// Executors are the nodes drawn, in order; Digests[i] is Executors[i]'s
	// digest, zero while awaited or when it timed out.
	Executors []common.Address
	Digests   []common.Hash
	// Current is the node whose digest is awaited (zero: none, a draw is
	// due at the job's DueBlock); Deadline the block time its digest must
	// come before.
	Current  common.Address
	Deadline uint64
	// Outcome is VerifyRunning until decided, then VerifyPassed,
	// VerifyFailed or VerifyInconclusive.
	Outcome uint8
	// DueBlock is the block whose end checks the re-execution next (a
	// draw, or Current's deadline): while the job is in re-execution its
	// due-list entries are judged by it, not by the job's DueBlock, so a
	// round rewrites this small record only.
	DueBlock uint64
}

// Faults are a node's re-execution counters (FaultsOf, the faultsOf view).
type Faults struct {
	Slashes     uint64       // times slashed
	SlashedWei  *uint256.Int // compute stake taken, in all
	Jails       uint64       // times jailed
	JailedUntil uint64       // jailed through block JailedUntil − 1 (0: never)
	Passed      uint64       // results (as provider or re-executor) a decision agreed with
	Failed      uint64       // results in the minority of a decision
	TimedOut    uint64       // re-executions not answered in time
	Reexecs     uint64       // re-execution digests submitted
	Unresolved  uint64       // unresolved disagreements answered in (provider or re-executor)
}

// Fault counters, faults[node][k].
const (
	faultSlashes = iota
	faultSlashedWei
	faultJails
	faultJailedUntil
	faultPassed
	faultFailed
	faultTimedOut
	faultReexecs
	faultUnresolved
)

// Gas of the re-execution work (see the gas notes in jobs.go).
const (
	// drawGas: the node count, and per probe the owner entry, the node
	// record (registry.MaxRecordWords + 2 words) and the jail slot.
	drawGas = 2_100 + MaxReexecProbes*(2*2_100+(registry.MaxRecordWords+2)*2_100)
	// reexecReadGas and reexecWriteGas: a re-execution record (at most
	// maxReexecBytes) read, written.
	reexecReadGas  = (maxReexecBytes/32 + 1) * 2_100
	reexecWriteGas = (maxReexecBytes/32 + 1) * 22_100
	// roundGas is one round of the hooks: a draw and, should its
	// re-executor not answer, its timeout (made in the hook of the next
	// draw, or of the decision): the job record read, the re-execution
	// record read and rewritten, the draw, the re-executor's pending list
	// (add and remove), two due entries (one rescheduled should block time
	// lag, as for results), the timed-out counters (2 × 22,100).
	roundGas = recordReadGas + reexecReadGas + reexecWriteGas + drawGas + listAddGas + listRemoveGas + 4*22_100
	// concludeGas is a decision without a slash: the job record
	// rewritten and its settlement scheduled (22,100), the fees (3
	// transfers), the bond (2 transfers), escrowTotal; an unresolved one's
	// 4 Unresolved counters. The settlement (or refund) itself is the
	// EndBlock's, as for every result (ResultGas).
	concludeGas = recordWriteGas + 5*9_000 + 6*22_100
	// punishGas: the compute slash, 5 fault counters, the NodeSlashed log
	// (3 topics, 64 bytes) 2,387, the burn (2 ledger slots).
	punishGas = staking.SlashComputeGas + 5*22_100 + 2_387 + 2*22_100
	// SampleGas is what submitResultDigest adds to ResultGas for the
	// sampling check the EndBlock hook makes and every re-execution round
	// it may start: 3 counter reads, the due entry, MaxReexecDraws rounds
	// and the decision.
	SampleGas = 3*2_100 + 22_100 + reexecWriteGas + MaxReexecDraws*roundGas + concludeGas
	// ResultDigestGas is submitResultDigest's: ResultGas, SampleGas and the
	// JobOutputDigest log (2 topics, 32 bytes) 1,381.
	ResultDigestGas = ResultGas + SampleGas + 1_381
	// DisputeGas: the job record read and rewritten, the re-execution
	// record, escrowTotal, the due entry, the JobDisputed log (3 topics,
	// 32 bytes) 1,756; the rounds and decision the hooks make.
	DisputeGas = recordReadGas + recordWriteGas + reexecReadGas + reexecWriteGas + 2*22_100 + 1_756 + MaxReexecDraws*roundGas +
		concludeGas + punishGas
	// SubmitReexecGas: both records read and rewritten, the pending list
	// removal, 2 counters, the due entry of a next draw, the ReexecResult
	// (3 topics, 32 bytes) 1,756 and JobVerified (2 topics, 32 bytes)
	// 1,381 logs; at most one slash; the decision (concludeGas) and a
	// settlement or refund at once (SettleGas).
	SubmitReexecGas = recordReadGas + recordWriteGas + reexecReadGas + reexecWriteGas + listRemoveGas + 3*22_100 + 1_756 + 1_381 +
		punishGas + concludeGas + SettleGas
	// GetReexecGas reads the re-execution record; FaultsGas 9 counters.
	GetReexecGas = ViewGas + reexecReadGas
	FaultsGas    = ViewGas + 9*2_100
)

// Go accessors.

// ReexecOf returns job id's re-execution record; false when it has none.
func ReexecOf(s native.StateReader, id uint64) (Reexec, bool, error) {
	if s.GetState(native.JobsAddress, reexecKey(id)) == (common.Hash{}) {
		return Reexec{}, false, nil
	}
	data, err := loadBytes(s, reexecKey(id))
	if err != nil {
		return Reexec{}, false, err
	}
	var r Reexec
	if err := rlp.DecodeBytes(data, &r); err != nil || len(r.Digests) != len(r.Executors) {
		return Reexec{}, false, fmt.Errorf("%w: re-execution of job %d: %v", ErrCorrupt, id, err)
	}
	r.ID = id
	return r, true, nil
}

// ReexecsOf returns up to limit (at most MaxPage) ids of the jobs waiting
// for node's re-execution digest from offset, and how many there are:
// what a compute node polls (hooks draw re-executors, and hooks emit no
// logs).
func ReexecsOf(s native.StateReader, node common.Address, offset, limit uint64) ([]uint64, uint64) {
	return reexecList(node).page(s, offset, limit)
}

// FaultsOf returns node's re-execution counters (the node score of the
// verify module's counterpart reads them).
func FaultsOf(s native.StateReader, node common.Address) Faults {
	ld := func(k uint64) *uint256.Int { return native.LoadUint(s, native.JobsAddress, faultKey(node, k)) }
	return Faults{
		Slashes: ld(faultSlashes).Uint64(), SlashedWei: ld(faultSlashedWei), Jails: ld(faultJails).Uint64(),
		JailedUntil: ld(faultJailedUntil).Uint64(), Passed: ld(faultPassed).Uint64(), Failed: ld(faultFailed).Uint64(),
		TimedOut: ld(faultTimedOut).Uint64(), Reexecs: ld(faultReexecs).Uint64(),
		Unresolved: ld(faultUnresolved).Uint64(),
	}
}

// Jailed reports whether node is jailed in block number: it cannot be
// assigned jobs nor drawn to re-execute.
func Jailed(s native.StateReader, node common.Address, number uint64) bool {
	return native.LoadUint(s, native.JobsAddress, faultKey(node, faultJailedUntil)).Uint64() > number
}

// BondTotal returns the bonds of the disputes of jobs that have not ended
// (part of EscrowTotal).
func BondTotal(s native.StateReader) (*uint256.Int, error) {
	total := new(uint256.Int)
	for id := uint64(1); id <= JobCount(s); id++ {
		r, ok, err := ReexecOf(s, id)
		if err != nil {
			return nil, err
		}
		if !ok || !r.Disputed {
			continue
		}
		j, _, err := JobOf(s, id)
		if err != nil {
			return nil, err
		}
		if !j.State.Ended() {
			total.Add(total, r.BondWei)
		}
	}
	return total, nil
}

func reexecKey(id uint64) common.Hash {
	return native.MapSlot(native.Slot(slotReexec), native.Slot(id))
}

func faultKey(node common.Address, k uint64) common.Hash {
	return native.ArraySlot(native.MapSlot(native.Slot(slotFaults), native.AddressKey(node)), k)
}

func reexecList(node common.Address) idList {
	return idList{
		base:      native.MapSlot(native.Slot(slotReexecsOf), native.AddressKey(node)),
		indexBase: native.MapSlot(native.Slot(slotReexecIdx), native.AddressKey(node)),
		name:      "reexecsOf",
	}
}

func saveReexec(c *native.Call, r *Reexec) error {
	if r.BondWei == nil {
		r.BondWei = new(uint256.Int)
	}
	data, err := rlp.EncodeToBytes(r)
	if err != nil || len(data) > maxReexecBytes {
		return fmt.Errorf("%w: re-execution record of %d bytes: %v", native.ErrInternal, len(data), err)
	}
	storeBytes(c, reexecKey(r.ID), data)
	return nil
}

func loadReexec(c *native.Call, id uint64) (Reexec, error) {
	r, ok, err := ReexecOf(c.State, id)
	if err != nil || !ok {
		return Reexec{}, fmt.Errorf("%w: job %d has no re-execution record: %v", native.ErrInternal, id, err)
	}
	return r, nil
}

func addFault(c *native.Call, node common.Address, k uint64, v *uint256.Int) {
	key := faultKey(node, k)
	c.StoreUint(key, new(uint256.Int).Add(c.LoadUint(key), v)) // counters and stake sums: no overflow
}

var one = uint256.NewInt(1)

// submitResultDigest is submitResult for a deterministic job, with the
// output digest (computing/job.OutputDigest) the re-executions compare.
func (m *Module) submitResultDigest(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	digest, ok := args[4].([32]byte)
	if !ok {
		return nil, fmt.Errorf("%w: digest %T", native.ErrBadInput, args[4])
	}
	if !j.Deterministic {
		return nil, fmt.Errorf("%w: job %d (use submitResult)", ErrNotDeterministic, j.ID)
	}
	if digest == [32]byte{} {
		return nil, ErrNoDigest
	}
	return nil, m.result(c, &j, args, digest)
}

// sample is the sampling check of a deterministic job's result, in the
// EndBlock of the block after the result (env.ParentHash is the result
// block's hash, unknown when the result was sent).
func (m *Module) sample(c *native.Call, j *Job, env *native.BlockEnv) error {
	st := StatsOf(c.State, j.Node)
	bps := m.params.SampleBps
	if st.Succeeded+st.Failed < m.params.NewNodeJobs {
		bps = m.params.NewNodeSampleBps
	}
	if Sampled(env.ParentHash, j.ID, bps) {
		rx := Reexec{ID: j.ID, Prior: j.State, BondWei: new(uint256.Int), Outcome: VerifyRunning}
		if node := m.pickReexecutor(c.State, j, &rx, env.ParentHash, env.Number); node != (common.Address{}) {
			if err := m.drawn(c, j, &rx, node, env.Time); err != nil {
				return err
			}
			j.State, j.Verify, j.DueBlock = StateReexec, VerifyRunning, 0
			if err := saveReexec(c, &rx); err != nil {
				return err
			}
			return saveJob(c, j)
		}
	}
	j.Verify = VerifySkipped
	return m.resume(c, j)
}

// Sampled reports whether job id's result is re-executed under seed (the
// result block's hash) at bps basis points: keccak256("emc:sample" ‖ seed
// ‖ pad32(id)) mod 10,000 < bps.
func Sampled(seed common.Hash, id uint64, bps uint64) bool {
	idKey := native.Slot(id)
	r := new(uint256.Int).SetBytes(crypto.Keccak256([]byte("emc:sample"), seed[:], idKey[:]))
	return r.Mod(r, uint256.NewInt(bpsDenominator)).Uint64() < bps
}

// reexecWindow is how long a re-executor has, in seconds: the accept
// window's time at the target period, the job's timeout and the grace.
func (m *Module) reexecWindow(j *Job) uint64 {
	return (m.params.AcceptBlocks*m.blockPeriodMs+999)/1000 + j.TimeoutSeconds + m.params.ResultGraceSeconds
}

// drawn makes node, drawn in block c.BlockNumber at block time now, rx's
// current re-executor: it records it in rx and in the node's pending list
// and schedules the deadline check (the caller saves rx).
func (m *Module) drawn(c *native.Call, j *Job, rx *Reexec, node common.Address, now uint64) error {
	if err := reexecList(node).add(c, j.ID); err != nil {
		return err // a broken invariant: a node is drawn once per job
	}
	window := m.reexecWindow(j)
	rx.Executors = append(rx.Executors, node)
	rx.Digests = append(rx.Digests, common.Hash{})
	rx.Current, rx.Deadline = node, now+window
	scheduleReexec(c, rx, c.BlockNumber+m.blocksFor(window))
	return nil
}

// scheduleReexec adds rx's job to the due list of block and records it as
// the re-execution's next check (the caller saves rx).
func scheduleReexec(c *native.Call, rx *Reexec, block uint64) {
	rx.DueBlock = block
	push(c, dueKey(block), rx.ID)
}

// pickReexecutor returns the first of MaxReexecProbes registry entries from
// a seeded index (keccak256("emc:reexec" ‖ seed ‖ pad32(id) ‖ pad32(draws))
// mod the node count) that is registered, live, not jailed, fits the job's
// hardware and image (its price is not checked: a re-executor is paid the
// job's cost), and is neither the provider, the submitter nor a node
// already drawn for the job; zero when none is.
func (m *Module) pickReexecutor(s native.StateReader, j *Job, rx *Reexec, seed common.Hash, number uint64) common.Address {
	count := registry.NodeCount(s)
	if count == 0 {
		return common.Address{}
	}
	idKey, drawsKey := native.Slot(j.ID), native.Slot(uint64(len(rx.Executors)))
	r := new(uint256.Int).SetBytes(crypto.Keccak256([]byte("emc:reexec"), seed[:], idKey[:], drawsKey[:]))
	start := r.Mod(r, uint256.NewInt(count)).Uint64()
	for k := uint64(0); k < min(count, MaxReexecProbes); k++ {
		owners, _ := registry.NodeOwners(s, (start+k)%count, 1)
		if len(owners) == 0 {
			continue
		}
		o := owners[0]
		if o == j.Node || o == j.Submitter || slices.Contains(rx.Executors, o) {
			continue
		}
		if _, err := m.fit(s, j, o, number, true); err != nil {
			continue
		}
		return o
	}
	return common.Address{}
}

// reexecDue is the EndBlock work of a job in re-execution at its due
// block: a re-executor past its deadline times out; a draw is made when
// none is awaited; with no draw left (or no node to draw) the result
// stands (VerifyInconclusive).
func (m *Module) reexecDue(c *native.Call, j *Job, env *native.BlockEnv) error {
	rx, err := loadReexec(c, j.ID)
	if err != nil {
		return err
	}
	if rx.DueBlock != env.Number {
		return nil // stale: the re-execution moved on
	}
	if rx.Current != (common.Address{}) {
		if env.Time < rx.Deadline {
			scheduleReexec(c, &rx, env.Number+m.blocksFor(rx.Deadline-env.Time))
			return saveReexec(c, &rx)
		}
		addStat(c, rx.Current, statTimedOut)
		addFault(c, rx.Current, faultTimedOut, one)
		if err := reexecList(rx.Current).remove(c, j.ID); err != nil {
			return err
		}
		rx.Current, rx.Deadline = common.Address{}, 0
	}
	if len(rx.Executors) >= MaxReexecDraws || !rx.decidable(j.OutputDigest) {
		return m.conclude(c, j, &rx, rx.undecided(j.OutputDigest))
	}
	if node := m.pickReexecutor(c.State, j, &rx, env.ParentHash, env.Number); node != (common.Address{}) {
		if err := m.drawn(c, j, &rx, node, env.Time); err != nil {
			return err
		}
		return saveReexec(c, &rx)
	}
	return m.concludeNoDraw(c, j, &rx)
}

// submitReexec records the drawn re-executor's output digest and decides
// when it can: the first digest equal to the provider's confirms the
// result; a different one calls another node (drawn in the next block's
// hook), up to three answers; ReexecQuorum equal digests (the provider's
// counted) decide, and no quorum possible any more is unresolved
// (decide, decidable).
func (m *Module) submitReexec(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	digest, ok := args[1].([32]byte)
	if !ok {
		return nil, fmt.Errorf("%w: digest %T", native.ErrBadInput, args[1])
	}
	if j.State != StateReexec && j.State != StateDisputed {
		return nil, fmt.Errorf("%w: job %d is %s, a re-execution digest needs reexecuting or disputed", ErrWrongState, j.ID, j.State)
	}
	if digest == [32]byte{} {
		return nil, ErrNoDigest
	}
	rx, err := loadReexec(c, j.ID)
	if err != nil {
		return nil, err
	}
	if rx.Current == (common.Address{}) || c.Caller != rx.Current {
		return nil, fmt.Errorf("%w: %s", ErrNotReexecutor, c.Caller)
	}
	if c.Time >= rx.Deadline {
		return nil, fmt.Errorf("%w: re-execution digest before block time %d", ErrDeadline, rx.Deadline)
	}
	if Jailed(c.State, c.Caller, c.BlockNumber) {
		return nil, fmt.Errorf("%w: %s (jailed since it was drawn: it times out and is replaced)", ErrNodeJailed, c.Caller)
	}
	rx.Digests[len(rx.Digests)-1] = digest // the current executor is the last drawn
	rx.Current, rx.Deadline = common.Address{}, 0
	if err := reexecList(c.Caller).remove(c, j.ID); err != nil {
		return nil, err
	}
	addFault(c, c.Caller, faultReexecs, one)
	if err := c.Emit("ReexecResult", new(big.Int).SetUint64(j.ID), c.Caller, digest); err != nil {
		return nil, err
	}
	if outcome := rx.decide(j.OutputDigest); outcome != VerifyRunning {
		return nil, m.conclude(c, &j, &rx, outcome)
	}
	if len(rx.Executors) < MaxReexecDraws && rx.decidable(j.OutputDigest) {
		scheduleReexec(c, &rx, c.BlockNumber+1) // another node, drawn from this block's hash
		return nil, saveReexec(c, &rx)
	}
	return nil, m.conclude(c, &j, &rx, rx.undecided(j.OutputDigest))
}

// decide is the decision over the provider's digest p and rx's answers:
// VerifyPassed when the first answer equals p (no disagreement) or p
// counts ReexecQuorum equal digests (its own included); VerifyFailed when
// another digest does; else VerifyRunning (not decided yet).
func (rx *Reexec) decide(p common.Hash) uint8 {
	answers := rx.answers()
	if len(answers) == 1 && answers[0] == p {
		return VerifyPassed
	}
	counts := map[common.Hash]int{p: 1}
	for _, a := range answers {
		counts[a]++
	}
	for _, a := range append([]common.Hash{p}, answers...) {
		if counts[a] >= ReexecQuorum {
			if a == p {
				return VerifyPassed
			}
			return VerifyFailed
		}
	}
	return VerifyRunning
}

// decidable reports whether more answers can still bring a digest to
// ReexecQuorum: the answers still possible (at most maxReexecAnswers in
// all, one per draw left) added to the most frequent digest (an unseen
// digest starts from none).
func (rx *Reexec) decidable(p common.Hash) bool {
	answers := rx.answers()
	if len(answers) == 0 {
		return true
	}
	left := min(maxReexecAnswers-len(answers), MaxReexecDraws-len(rx.Executors))
	best := 0
	counts := map[common.Hash]int{p: 1}
	for _, a := range answers {
		counts[a]++
	}
	for _, n := range counts {
		best = max(best, n)
	}
	return best+left >= ReexecQuorum
}

// undecided is the outcome of a re-execution that cannot reach a decision:
// VerifyUnresolved after a disagreement with two answers or more;
// VerifyInconclusive (the result stands) with fewer.
func (rx *Reexec) undecided(p common.Hash) uint8 {
	if len(rx.answers()) >= 2 {
		return VerifyUnresolved
	}
	return VerifyInconclusive
}

// answers are the digests rx received, in draw order.
func (rx *Reexec) answers() []common.Hash {
	var out []common.Hash
	for _, d := range rx.Digests {
		if d != (common.Hash{}) {
			out = append(out, d)
		}
	}
	return out
}

// tie reports whether rx holds one answer and it differs from the
// provider's digest p: the re-execution could not find a third node.
func (rx *Reexec) tie(p common.Hash) bool {
	a := rx.answers()
	return len(a) == 1 && a[0] != p
}

// concludeNoDraw decides a re-execution whose draw found no node. A
// dispute whose one answer contradicts the provider, in a registry of at
// most MaxReexecProbes nodes (so the draw looked at every node: there is
// no third node that fits), is a tie of a tiny network: with
// Params.DisputeTieBreak the provider loses it (the submitter's bond is
// the second voice against it, VerifyFailed); without, it is unresolved
// (nobody slashed, the job refunded), as a disagreement of a larger
// network that reaches no quorum. Anything else leaves the result
// standing (VerifyInconclusive): a draw that probed only part of a larger
// registry proves nothing.
func (m *Module) concludeNoDraw(c *native.Call, j *Job, rx *Reexec) error {
	if rx.Disputed && rx.tie(j.OutputDigest) && registry.NodeCount(c.State) <= MaxReexecProbes {
		if m.params.DisputeTieBreak {
			return m.conclude(c, j, rx, VerifyFailed)
		}
		return m.conclude(c, j, rx, VerifyUnresolved)
	}
	return m.conclude(c, j, rx, rx.undecided(j.OutputDigest))
}

// conclude records the decision outcome and acts on it.
//
//   - VerifyPassed: the provider and the re-executors that agree with it
//     count a pass; a re-executor that disagreed is slashed and jailed
//     (its stake burned); the job returns to its state and settles as
//     usual, its re-executors' fees paid at settlement (settleReexec).
//   - VerifyFailed: the provider is slashed and jailed; the slashed stake
//     pays each of the two re-executors up to the job's cost, the rest is
//     burned; the escrow and a dispute's bond go back to the submitter
//     (StateRefunded).
//   - VerifyUnresolved: no one is slashed; the provider is not paid; each
//     answering re-executor is paid up to the job's cost, from a dispute's
//     bond (its rest back to the submitter) or, for a sampled job, from
//     the escrow above the job's cost (FeesWei); the submitter gets the
//     rest of the escrow back, the job's cost in full (StateRefunded).
//   - VerifyInconclusive: no one is slashed or paid for re-executing; the
//     result stands and settles as usual, a dispute's bond returned.
func (m *Module) conclude(c *native.Call, j *Job, rx *Reexec, outcome uint8) error {
	rx.Outcome, j.Verify = outcome, outcome
	rx.Current, rx.Deadline, rx.DueBlock = common.Address{}, 0, 0
	p := j.OutputDigest
	switch outcome {
	case VerifyPassed:
		addFault(c, j.Node, faultPassed, one)
		for i, d := range rx.Digests {
			switch {
			case d == p:
				addFault(c, rx.Executors[i], faultPassed, one)
			case d != (common.Hash{}):
				slashed, err := m.punish(c, j.ID, rx.Executors[i])
				if err != nil {
					return err
				}
				if !slashed.IsZero() {
					if err := c.Burn(native.BurnSlash, slashed); err != nil {
						return err
					}
				}
			}
		}
	case VerifyFailed:
		slashed, err := m.punish(c, j.ID, j.Node)
		if err != nil {
			return err
		}
		fee := Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
		for i, d := range rx.Digests {
			if d == (common.Hash{}) {
				continue
			}
			addFault(c, rx.Executors[i], faultPassed, one)
			pay := fee.Clone()
			if pay.Gt(slashed) {
				pay = slashed.Clone()
			}
			if !pay.IsZero() {
				if err := c.Pay(rx.Executors[i], pay); err != nil {
					return err
				}
				slashed.Sub(slashed, pay)
			}
		}
		if !slashed.IsZero() {
			if err := c.Burn(native.BurnSlash, slashed); err != nil {
				return err
			}
		}
		if err := m.returnBond(c, j, rx, j.Submitter); err != nil {
			return err
		}
		if err := saveReexec(c, rx); err != nil {
			return err
		}
		refundAll(j)
		if err := m.end(c, j, StateRefunded); err != nil {
			return err
		}
		return c.Emit("JobVerified", new(big.Int).SetUint64(j.ID), outcome)
	case VerifyUnresolved:
		if err := m.unresolved(c, j, rx); err != nil {
			return err
		}
		return c.Emit("JobVerified", new(big.Int).SetUint64(j.ID), outcome)
	}
	j.State = rx.Prior
	if err := saveReexec(c, rx); err != nil {
		return err
	}
	if err := c.Emit("JobVerified", new(big.Int).SetUint64(j.ID), outcome); err != nil {
		return err
	}
	return m.resume(c, j)
}

// unresolved refunds a job whose disagreement reached no quorum (see
// conclude): supply exact, every wei of the escrow and the bond goes to
// the re-executors or back to the submitter.
func (m *Module) unresolved(c *native.Call, j *Job, rx *Reexec) error {
	fee := Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
	refundAll(j)
	source := new(uint256.Int).Sub(j.EscrowWei, fee) // sampled: the escrow above the cost
	if rx.Disputed {
		source = rx.BondWei.Clone()
	}
	addFault(c, j.Node, faultUnresolved, one)
	paid := new(uint256.Int)
	for i, d := range rx.Digests {
		if d == (common.Hash{}) {
			continue
		}
		addFault(c, rx.Executors[i], faultUnresolved, one)
		pay := fee.Clone()
		if pay.Gt(source) {
			pay = source.Clone()
		}
		if pay.IsZero() {
			continue
		}
		if err := c.Pay(rx.Executors[i], pay); err != nil {
			return err
		}
		source.Sub(source, pay)
		paid.Add(paid, pay)
	}
	j.FeesWei = paid
	if rx.Disputed {
		if !source.IsZero() {
			if err := c.Pay(j.Submitter, source); err != nil {
				return err
			}
		}
		if err := m.dropBond(c, j, rx); err != nil {
			return err
		}
	} else {
		j.RefundWei = new(uint256.Int).Sub(j.EscrowWei, paid)
	}
	if err := saveReexec(c, rx); err != nil {
		return err
	}
	return m.end(c, j, StateRefunded)
}

// punish slashes node's compute stake by ComputeSlashBps (the take is
// now in the module's balance: the caller burns or pays all of it), jails
// it for JailBlocks and counts the fault.
func (m *Module) punish(c *native.Call, id uint64, node common.Address) (*uint256.Int, error) {
	slashed, err := staking.SlashCompute(c, node, m.params.ComputeSlashBps, m.epochLength)
	if err != nil {
		return nil, fmt.Errorf("jobs: slash of %s: %w", node, err)
	}
	until := c.BlockNumber + m.params.JailBlocks
	if cur := c.LoadUint(faultKey(node, faultJailedUntil)).Uint64(); cur > until {
		until = cur
	}
	c.StoreUint(faultKey(node, faultJailedUntil), uint256.NewInt(until))
	addFault(c, node, faultSlashes, one)
	addFault(c, node, faultSlashedWei, slashed)
	addFault(c, node, faultJails, one)
	addFault(c, node, faultFailed, one)
	return slashed, c.Emit("NodeSlashed", node, new(big.Int).SetUint64(id), slashed.ToBig(), until)
}

// returnBond pays a dispute's bond to to and takes it out of escrowTotal.
func (m *Module) returnBond(c *native.Call, j *Job, rx *Reexec, to common.Address) error {
	if !rx.Disputed || rx.BondWei.IsZero() {
		return nil
	}
	if err := c.Pay(to, rx.BondWei); err != nil {
		return err
	}
	return m.dropBond(c, j, rx)
}

// dropBond takes rx's bond (already paid out) out of escrowTotal.
func (m *Module) dropBond(c *native.Call, j *Job, rx *Reexec) error {
	total := EscrowTotal(c.State)
	if total.Lt(rx.BondWei) {
		return fmt.Errorf("%w: escrow total %s below job %d's bond %s", native.ErrInternal, total, j.ID, rx.BondWei)
	}
	c.StoreUint(native.Slot(slotEscrowTotal), total.Sub(total, rx.BondWei))
	return nil
}

// resume puts a job whose result stands back on its settlement: at once
// when its dispute window has closed, else at its end.
func (m *Module) resume(c *native.Call, j *Job) error {
	if c.BlockNumber >= j.Deadline {
		return m.settleJob(c, j)
	}
	schedule(c, j, j.Deadline)
	return saveJob(c, j)
}

// settleReexec pays, at the settlement of a re-executed job whose result
// stood, after payCost: when it passed, each re-executor that agreed gets
// up to the job's cost, from a dispute's bond (the rest of which goes to
// the provider) or, for a sampled job, from the escrow left after the
// cost (as far as it goes: FeesWei, the refund lowered by it); an
// inconclusive dispute's bond goes back to the submitter.
func (m *Module) settleReexec(c *native.Call, j *Job) error {
	if j.Verify != VerifyPassed && j.Verify != VerifyInconclusive {
		return nil
	}
	rx, err := loadReexec(c, j.ID)
	if err != nil {
		return err
	}
	if j.Verify == VerifyInconclusive {
		return m.returnBond(c, j, &rx, j.Submitter)
	}
	source := j.RefundWei // sampled: the escrow's rest
	if rx.Disputed {
		source = rx.BondWei.Clone()
	}
	paid := new(uint256.Int)
	for i, d := range rx.Digests {
		if d != j.OutputDigest {
			continue
		}
		pay := j.CostWei.Clone()
		if pay.Gt(source) {
			pay = source.Clone()
		}
		if pay.IsZero() {
			continue
		}
		if err := c.Pay(rx.Executors[i], pay); err != nil {
			return err
		}
		source.Sub(source, pay)
		paid.Add(paid, pay)
	}
	if !rx.Disputed {
		j.RefundWei, j.FeesWei = source, paid
		return nil
	}
	if !source.IsZero() {
		if err := c.Pay(j.Node, source); err != nil {
			return err
		}
	}
	return m.dropBond(c, j, &rx)
}

// dispute is the submitter's challenge of a deterministic job's result
// inside its dispute window, with a bond of at least DisputeBondWei (the
// call's value): re-execution decides (a re-executor drawn in the next
// block's hook, then two more on disagreement, decided as a sampled one).
func (m *Module) dispute(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	if c.Caller != j.Submitter {
		return nil, fmt.Errorf("%w: %s", ErrNotDisputer, c.Caller)
	}
	if !j.Deterministic {
		return nil, fmt.Errorf("%w: job %d", ErrNotDeterministic, j.ID)
	}
	if j.State != StateCompleted && j.State != StateFailed {
		return nil, fmt.Errorf("%w: job %d is %s, dispute needs completed or failed", ErrWrongState, j.ID, j.State)
	}
	rx, sampled, err := ReexecOf(c.State, j.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	tie := sampled && j.Verify == VerifyInconclusive && rx.tie(j.OutputDigest)
	if j.Verify != VerifyPending && j.Verify != VerifySkipped && !tie {
		return nil, fmt.Errorf("%w: job %d", ErrVerified, j.ID)
	}
	if c.BlockNumber >= j.Deadline {
		return nil, fmt.Errorf("%w: job %d settles from block %d", ErrDisputeClosed, j.ID, j.Deadline)
	}
	if c.Value.Lt(m.params.DisputeBondWei) {
		return nil, fmt.Errorf("%w: %s wei, at least %s", ErrBond, c.Value, m.params.DisputeBondWei)
	}
	total, overflow := new(uint256.Int).AddOverflow(EscrowTotal(c.State), c.Value)
	if overflow {
		return nil, fmt.Errorf("%w: escrow total overflows", native.ErrInternal)
	}
	c.StoreUint(native.Slot(slotEscrowTotal), total)
	if !tie {
		rx = Reexec{ID: j.ID, Prior: j.State}
	}
	rx.Disputed, rx.BondWei, rx.Outcome = true, c.Value.Clone(), VerifyRunning
	j.State, j.Verify, j.DueBlock = StateDisputed, VerifyRunning, 0
	scheduleReexec(c, &rx, c.BlockNumber+1) // the re-executor is drawn from this block's hash
	if err := saveReexec(c, &rx); err != nil {
		return nil, err
	}
	if err := saveJob(c, &j); err != nil {
		return nil, err
	}
	return nil, c.Emit("JobDisputed", new(big.Int).SetUint64(j.ID), c.Caller, c.Value.ToBig())
}

func (m *Module) getReexec(c *native.Call, args []any) ([]any, error) {
	idBig, ok := args[0].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: id is %T", native.ErrBadInput, args[0])
	}
	var r Reexec
	found := false
	if idBig.IsUint64() {
		var err error
		if r, found, err = ReexecOf(c.State, idBig.Uint64()); err != nil {
			return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
		}
	}
	if r.BondWei == nil {
		r.BondWei = new(uint256.Int)
	}
	digests := make([][32]byte, len(r.Digests))
	for i, d := range r.Digests {
		digests[i] = d
	}
	execs := r.Executors
	if execs == nil {
		execs = []common.Address{}
	}
	return []any{found, r.Disputed, r.BondWei.ToBig(), uint8(r.Prior), r.Outcome, r.Current, r.Deadline, execs, digests}, nil
}

func (m *Module) reexecsOf(c *native.Call, args []any) ([]any, error) {
	node, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: node is %T", native.ErrBadInput, args[0])
	}
	offset, limit, err := pageArgs(args[1:])
	if err != nil {
		return nil, err
	}
	ids, total := ReexecsOf(c.State, node, offset, limit)
	out := make([]*big.Int, len(ids))
	for i, id := range ids {
		out[i] = new(big.Int).SetUint64(id)
	}
	return []any{out, new(big.Int).SetUint64(total)}, nil
}

func (m *Module) faultsOf(c *native.Call, args []any) ([]any, error) {
	node, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: node is %T", native.ErrBadInput, args[0])
	}
	f := FaultsOf(c.State, node)
	return []any{f.Slashes, f.SlashedWei.ToBig(), f.Jails, f.JailedUntil, f.Passed, f.Failed, f.TimedOut, f.Reexecs, f.Unresolved}, nil
}
