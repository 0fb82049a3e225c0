package jobs

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module account (Solidity layout where it has one):
//
//	slot 0                                  jobCount          uint256: ids are 1..jobCount
//	keccak256(pad32(id) ‖ pad32(1))         jobRecord[id]     bytes: RLP of the Job record
//	keccak256(pad32(owner) ‖ pad32(2))      jobsOf[owner]     uint256[]: ids the owner submitted, in order
//	slot 3                                  queueHead         uint256: next offer-queue position to pop
//	slot 4                                  queueTail         uint256: next offer-queue position to push
//	keccak256(pad32(pos) ‖ pad32(5))        queue[pos]        uint256: id waiting for its router draw
//	keccak256(pad32(block) ‖ pad32(6))      due[block]        uint256[]: ids with a deadline at block
//	keccak256(pad32(node) ‖ pad32(7)) + k   stats[node][k]    uint256: k = 0 succeeded, 1 failed, 2 timed out
//	slot 8                                  escrowTotal       uint256: Σ escrow and dispute bond of jobs not yet ended
//	slot 9                                  creditsEscrow     uint256: Σ Credits escrowed by jobs not yet ended
//	slot 10                                 open.length       uint256: jobs open to assignment (StateSubmitted)
//	keccak256(pad32(10)) + i                open[i]           uint256: their ids, unordered (swap-remove)
//	keccak256(pad32(id) ‖ pad32(11))        openIndex[id]     uint256: i+1 while id is in open, else 0
//	slot 12                                 assigned.length   uint256: jobs assigned, not yet accepted
//	keccak256(pad32(12)) + i                assigned[i]       uint256: their ids, unordered (swap-remove)
//	keccak256(pad32(id) ‖ pad32(13))        assignedIndex[id] uint256: i+1 while id is in assigned, else 0
//	keccak256(pad32(id) ‖ pad32(14))        reexec[id]        bytes: RLP of the job's [Reexec] record, once re-executed
//	R = keccak256(pad32(node) ‖ pad32(15))  reexecsOf[node]   uint256[]: jobs waiting for node's re-execution digest (swap-remove)
//	keccak256(pad32(id) ‖ keccak256(pad32(node) ‖ pad32(16)))  reexecIndex[node][id]: i+1 while listed
//	keccak256(pad32(node) ‖ pad32(17)) + k  faults[node][k]   uint256: see [Faults] (faultSlashes ... faultReexecs)
//
// A record ("bytes") at base b stores its length at b and its data, 32 bytes
// a word, at keccak256(b) + j. Invariant: the module's balance equals
// escrowTotal, which equals the sum of the escrows and the dispute bonds
// of the jobs that have not ended (settled, expired, cancelled or
// refunded); slashed stake passes through the balance within the call
// that takes it; the credits module's balance of
// native.JobsAddress equals creditsEscrow, the sum of the Credits escrows of
// the jobs that have not ended; open lists exactly the jobs in
// StateSubmitted and assigned exactly those in StateAssigned, and each
// index names its entry's position.
const (
	slotJobCount    = 0
	slotJobRecord   = 1
	slotJobsOf      = 2
	slotQueueHead   = 3
	slotQueueTail   = 4
	slotQueue       = 5
	slotDue         = 6
	slotStats       = 7
	slotEscrowTotal = 8
	slotCreditsEsc  = 9
	slotOpen        = 10
	slotOpenIndex   = 11
	slotAssigned    = 12
	slotAssignedIdx = 13
	slotReexec      = 14
	slotReexecsOf   = 15
	slotReexecIdx   = 16
	slotFaults      = 17
)

// maxRecordBytes bounds a stored job record (pinned by a test).
const maxRecordBytes = 736

// ErrCorrupt is returned by the accessors when stored state breaks the
// module's invariants. It means a bug, never a user's doing.
var ErrCorrupt = errors.New("jobs: corrupt module state")

// State is a job's state. The values are stored: never renumber them.
type State uint8

// The job states.
const (
	// StateSubmitted: escrowed, waiting for its router draw, offered to one
	// router, or open to any router (until its assign deadline).
	StateSubmitted State = 1
	// StateAssigned: a router named a node; the node has until the accept
	// deadline (a block) to accept.
	StateAssigned State = 2
	// StateRunning: the node accepted; it has until the result deadline (a
	// block time) to submit the result.
	StateRunning State = 3
	// StateCompleted and StateFailed: a result came (exit 0, or not); the
	// job settles when the dispute window closes.
	StateCompleted State = 4
	StateFailed    State = 5
	// StateExpired: no router assigned it in time, or every attempt
	// missed a deadline; the escrow was refunded.
	StateExpired State = 6
	// StateCancelled: the submitter cancelled before assignment; refunded.
	StateCancelled State = 7
	// StateDisputed: the submitter disputed the result (dispute, with a
	// bond); re-execution decides (reexec.go).
	StateDisputed State = 8
	// StateSettled: paid out (provider, burn, refund).
	StateSettled State = 9
	// StateReexec: the result of a deterministic job was sampled for
	// re-execution, which decides (reexec.go).
	StateReexec State = 10
	// StateRefunded: re-execution overturned the result: the provider was
	// slashed and jailed, the escrow (and a dispute's bond) refunded.
	StateRefunded State = 11
)

// String names the state as the Surface does.
func (s State) String() string {
	switch s {
	case StateSubmitted:
		return "submitted"
	case StateAssigned:
		return "assigned"
	case StateRunning:
		return "running"
	case StateCompleted:
		return "completed"
	case StateFailed:
		return "failed"
	case StateExpired:
		return "expired"
	case StateCancelled:
		return "cancelled"
	case StateDisputed:
		return "disputed"
	case StateSettled:
		return "settled"
	case StateReexec:
		return "reexecuting"
	case StateRefunded:
		return "refunded"
	}
	return fmt.Sprintf("state%d", uint8(s))
}

// Ended reports whether s is final (the escrow has been paid out).
func (s State) Ended() bool {
	return s == StateSettled || s == StateExpired || s == StateCancelled || s == StateRefunded
}

// HasResult reports whether a job in state s has had its result submitted
// (completed, failed, in re-execution or dispute, settled, or refunded
// after re-execution overturned it).
func (s State) HasResult() bool {
	switch s {
	case StateCompleted, StateFailed, StateReexec, StateDisputed, StateSettled, StateRefunded:
		return true
	}
	return false
}

// Job is a job's stored record.
type Job struct {
	// ID is the storage key, not part of the record.
	ID        uint64 `rlp:"-"`
	Submitter common.Address
	State     State
	SpecHash  common.Hash
	// The spec fields the chain checks (the full spec is in the
	// JobSubmitted event and the submitting transaction).
	Image          common.Hash
	GPUs           uint32
	GPUModel       string
	MinMemoryMiB   uint64
	TimeoutSeconds uint64
	// MaxPriceWei is the submitter's cap in wei per GPU-second (per
	// second for a CPU-only job).
	MaxPriceWei *uint256.Int
	// EscrowWei is what the submitter paid in; it bounds the cost. Zero
	// for a job escrowed in Credits (see EscrowCredits).
	EscrowWei   *uint256.Int
	SubmitBlock uint64
	// Offered is set once the router draw ran; OfferedRouter (zero when
	// no router was active) alone may assign up to OfferEndBlock, any
	// active router after.
	Offered       bool
	OfferedRouter common.Address
	OfferEndBlock uint64
	// Router and Node are the current (or last) assignment; Node is the
	// node's owner account. PriceWei is the node's price per GPU-second
	// for its model at assignment (its CPU-only price per second for a
	// CPU-only job).
	Router   common.Address
	Node     common.Address
	PriceWei *uint256.Int
	// Attempts counts assignments made.
	Attempts uint8
	// Deadline is, in StateSubmitted once drawn, the last block to be
	// assigned in; in StateAssigned, the last block to accept in; in
	// StateRunning, the block time by which the result must be in (a
	// result needs time < Deadline); in StateCompleted and StateFailed, the
	// first block the job may settle in.
	Deadline uint64
	// DueBlock is the block whose end checks the job's deadline next;
	// due-list entries of other blocks are stale and skipped.
	DueBlock   uint64
	ResultHash common.Hash
	// GPUMillis is the reported usage: GPU-milliseconds, or milliseconds
	// for a CPU-only job.
	GPUMillis uint64
	// Exit is the container's exit code, two's complement (see ExitCode).
	Exit uint32
	// CostWei is the cost paid out (for a Credits job, the wei of the
	// Credits spent); BurnedWei its burned part; RefundWei the EMC
	// returned (zero for a Credits job).
	CostWei   *uint256.Int
	BurnedWei *uint256.Int
	RefundWei *uint256.Int
	EndBlock  uint64
	// EscrowCredits, when not zero, is the Credits escrow of a job
	// submitted with submitJobCredits (EscrowWei is zero then);
	// CostCredits were spent at settlement and RefundCredits returned.
	// Optional fields: records written before them still decode.
	EscrowCredits *uint256.Int `rlp:"optional"`
	CostCredits   *uint256.Int `rlp:"optional"`
	RefundCredits *uint256.Int `rlp:"optional"`
	// Deterministic is the spec's flag; OutputDigest the provider's
	// output digest (submitResultDigest); Verify the re-execution status
	// (VerifyNone ... VerifyUnresolved, reexec.go); FeesWei what the
	// escrow paid the re-executors (cost + fees + refund = escrow; for an
	// unresolved sampled job fees + refund = escrow, no cost).
	Deterministic bool         `rlp:"optional"`
	OutputDigest  common.Hash  `rlp:"optional"`
	Verify        uint8        `rlp:"optional"`
	FeesWei       *uint256.Int `rlp:"optional"`
}

// InCredits reports whether the job's escrow is in Credits.
func (j *Job) InCredits() bool { return j.EscrowCredits != nil && !j.EscrowCredits.IsZero() }

// EscrowKind is getJob's escrowKind: EscrowKindEMC or EscrowKindCredits.
func (j *Job) EscrowKind() uint8 {
	if j.InCredits() {
		return EscrowKindCredits
	}
	return EscrowKindEMC
}

// CPUOnly reports whether the job asks for no GPU (priced by a node's
// CPU-only price).
func (j *Job) CPUOnly() bool { return j.GPUs == 0 }

// MaxUsageMillis is the most usage a result may report: TimeoutSeconds ×
// GPUs × 1000 GPU-milliseconds, or TimeoutSeconds × 1000 milliseconds for
// a CPU-only job.
func (j *Job) MaxUsageMillis() uint64 {
	return j.TimeoutSeconds * max(uint64(j.GPUs), 1) * 1000
}

// ExitCode returns the job's exit code as submitted.
func (j *Job) ExitCode() int32 { return int32(j.Exit) }

// fill gives nil amounts their zero value, so a record always encodes.
func (j *Job) fill() {
	for _, p := range []**uint256.Int{&j.MaxPriceWei, &j.EscrowWei, &j.PriceWei, &j.CostWei, &j.BurnedWei, &j.RefundWei,
		&j.EscrowCredits, &j.CostCredits, &j.RefundCredits, &j.FeesWei} {
		if *p == nil {
			*p = new(uint256.Int)
		}
	}
}

// Stats are a provider's counters.
type Stats struct {
	Succeeded uint64 // settled with exit 0
	Failed    uint64 // settled with a non-zero exit
	TimedOut  uint64 // missed an accept, result or re-execution deadline
}

// Go accessors over any state.

// JobCount returns the number of jobs ever submitted (ids 1..JobCount).
func JobCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.JobsAddress, native.Slot(slotJobCount)).Uint64()
}

// JobOf returns job id; false when there is none.
func JobOf(s native.StateReader, id uint64) (Job, bool, error) {
	if id == 0 || id > JobCount(s) {
		return Job{}, false, nil
	}
	data, err := loadBytes(s, recordKey(id))
	if err != nil {
		return Job{}, false, err
	}
	var j Job
	if err := rlp.DecodeBytes(data, &j); err != nil {
		return Job{}, false, fmt.Errorf("%w: job %d: %w", ErrCorrupt, id, err)
	}
	j.ID = id
	return j, true, nil
}

// JobsOf returns up to limit ids (at most MaxPage) of owner's jobs from
// offset, and how many owner has.
func JobsOf(s native.StateReader, owner common.Address, offset, limit uint64) ([]uint64, uint64) {
	base := native.MapSlot(native.Slot(slotJobsOf), native.AddressKey(owner))
	total := native.LoadUint(s, native.JobsAddress, base).Uint64()
	limit = min(limit, MaxPage)
	out := []uint64{}
	for i := offset; i < total && uint64(len(out)) < limit; i++ {
		out = append(out, native.LoadUint(s, native.JobsAddress, native.ArraySlot(base, i)).Uint64())
	}
	return out, total
}

// StatsOf returns node's counters.
func StatsOf(s native.StateReader, node common.Address) Stats {
	return Stats{
		Succeeded: native.LoadUint(s, native.JobsAddress, statKey(node, statSucceeded)).Uint64(),
		Failed:    native.LoadUint(s, native.JobsAddress, statKey(node, statFailed)).Uint64(),
		TimedOut:  native.LoadUint(s, native.JobsAddress, statKey(node, statTimedOut)).Uint64(),
	}
}

// EscrowTotal returns the escrow of the jobs that have not ended.
func EscrowTotal(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.JobsAddress, native.Slot(slotEscrowTotal))
}

// CreditsEscrowTotal returns the Credits escrow of the jobs that have not
// ended (the credits module holds them as native.JobsAddress's balance).
func CreditsEscrowTotal(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.JobsAddress, native.Slot(slotCreditsEsc))
}

// OpenJobs returns up to limit (at most MaxPage) ids of the jobs open to
// assignment (StateSubmitted: waiting for the draw, offered, or open to
// any router) from offset, in index order (which removals reorder), and
// how many there are.
func OpenJobs(s native.StateReader, offset, limit uint64) ([]uint64, uint64) {
	return openList.page(s, offset, limit)
}

// AssignedJobs returns up to limit (at most MaxPage) ids of the jobs
// assigned and not yet accepted from offset, and how many there are.
// Routers read it to know which GPUs are promised.
func AssignedJobs(s native.StateReader, offset, limit uint64) ([]uint64, uint64) {
	return assignedList.page(s, offset, limit)
}

const (
	statSucceeded = 0
	statFailed    = 1
	statTimedOut  = 2
)

func recordKey(id uint64) common.Hash {
	return native.MapSlot(native.Slot(slotJobRecord), native.Slot(id))
}

func statKey(node common.Address, k uint64) common.Hash {
	base := native.MapSlot(native.Slot(slotStats), native.AddressKey(node))
	return native.ArraySlot(base, k)
}

func dueKey(block uint64) common.Hash {
	return native.MapSlot(native.Slot(slotDue), native.Slot(block))
}

func queueKey(pos uint64) common.Hash {
	return native.MapSlot(native.Slot(slotQueue), native.Slot(pos))
}

// saveJob writes j's record.
func saveJob(c *native.Call, j *Job) error {
	j.fill()
	data, err := rlp.EncodeToBytes(j)
	if err != nil || len(data) > maxRecordBytes {
		return fmt.Errorf("%w: job record of %d bytes: %v", native.ErrInternal, len(data), err)
	}
	storeBytes(c, recordKey(j.ID), data)
	return nil
}

// loadJob reads job id for a handler: a missing job is ErrNoJob.
func loadJob(c *native.Call, id uint64) (Job, error) {
	j, ok, err := JobOf(c.State, id)
	if err != nil {
		return Job{}, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return Job{}, fmt.Errorf("%w: %d", ErrNoJob, id)
	}
	return j, nil
}

// push appends v to the uint256 array whose length is at base.
func push(c *native.Call, base common.Hash, v uint64) {
	n := c.LoadUint(base).Uint64()
	c.StoreUint(native.ArraySlot(base, n), uint256.NewInt(v))
	c.StoreUint(base, uint256.NewInt(n+1))
}

func addStat(c *native.Call, node common.Address, k uint64) {
	key := statKey(node, k)
	c.StoreUint(key, new(uint256.Int).AddUint64(c.LoadUint(key), 1))
}

func loadBytes(s native.StateReader, base common.Hash) ([]byte, error) {
	n := native.LoadUint(s, native.JobsAddress, base)
	if !n.IsUint64() || n.Uint64() > maxRecordBytes {
		return nil, fmt.Errorf("%w: record length %s", ErrCorrupt, n)
	}
	size := n.Uint64()
	out := make([]byte, 0, words(size)*32)
	for j := uint64(0); j < words(size); j++ {
		w := s.GetState(native.JobsAddress, native.ArraySlot(base, j))
		out = append(out, w[:]...)
	}
	return out[:size], nil
}

// words is the number of storage words n bytes take, rounded up.
func words(n uint64) uint64 { return (n + 31) / 32 }

func storeBytes(c *native.Call, base common.Hash, data []byte) {
	old := c.LoadUint(base).Uint64() // bounded by maxRecordBytes: only this module writes it
	c.StoreUint(base, uint256.NewInt(uint64(len(data))))
	for j := uint64(0); j < words(uint64(len(data))); j++ {
		var w common.Hash
		copy(w[:], data[j*32:])
		c.Store(native.ArraySlot(base, j), w)
	}
	for j := words(uint64(len(data))); j < words(old); j++ {
		c.Store(native.ArraySlot(base, j), common.Hash{})
	}
}

// idList is a set of job ids kept as a dense array (length at base,
// entries at keccak256(base) + i) with an index (id → position + 1 at
// keccak256(pad32(id) ‖ indexBase)): add and remove are O(1), remove
// moving the last entry into the hole.
type idList struct {
	base, indexBase common.Hash
	name            string
}

var (
	openList     = idList{native.Slot(slotOpen), native.Slot(slotOpenIndex), "open"}
	assignedList = idList{native.Slot(slotAssigned), native.Slot(slotAssignedIdx), "assigned"}
)

func (l idList) indexKey(id uint64) common.Hash {
	return native.MapSlot(l.indexBase, native.Slot(id))
}

// Len returns the number of ids in l.
func (l idList) Len(s native.StateReader) uint64 {
	return native.LoadUint(s, native.JobsAddress, l.base).Uint64()
}

// has reports whether id is in l.
func (l idList) has(s native.StateReader, id uint64) bool {
	return s.GetState(native.JobsAddress, l.indexKey(id)) != (common.Hash{})
}

func (l idList) page(s native.StateReader, offset, limit uint64) ([]uint64, uint64) {
	total := l.Len(s)
	limit = min(limit, MaxPage)
	out := []uint64{}
	for i := offset; i < total && uint64(len(out)) < limit; i++ {
		out = append(out, native.LoadUint(s, native.JobsAddress, native.ArraySlot(l.base, i)).Uint64())
	}
	return out, total
}

// add appends id; an id already listed is a broken invariant.
func (l idList) add(c *native.Call, id uint64) error {
	if l.has(c.State, id) {
		return fmt.Errorf("%w: job %d listed twice in list %s", native.ErrInternal, id, l.name)
	}
	n := l.Len(c.State)
	c.StoreUint(native.ArraySlot(l.base, n), uint256.NewInt(id))
	c.StoreUint(l.indexKey(id), uint256.NewInt(n+1))
	c.StoreUint(l.base, uint256.NewInt(n+1))
	return nil
}

// remove takes id out, moving the last entry into its place; an id not
// listed is a broken invariant.
func (l idList) remove(c *native.Call, id uint64) error {
	pos := c.LoadUint(l.indexKey(id)).Uint64()
	n := l.Len(c.State)
	if pos == 0 || pos > n {
		return fmt.Errorf("%w: job %d not in list %s (position %d of %d)", native.ErrInternal, id, l.name, pos, n)
	}
	lastKey := native.ArraySlot(l.base, n-1)
	if pos != n {
		last := c.LoadUint(lastKey)
		c.StoreUint(native.ArraySlot(l.base, pos-1), last)
		c.StoreUint(l.indexKey(last.Uint64()), uint256.NewInt(pos))
	}
	c.Store(lastKey, common.Hash{})
	c.Store(l.indexKey(id), common.Hash{})
	c.StoreUint(l.base, uint256.NewInt(n-1))
	return nil
}
