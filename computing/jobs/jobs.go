package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "jobs"

// Fixed rules.
const (
	// MaxAttempts is how many assignments a job gets; a job whose last
	// attempt misses a deadline expires and is refunded.
	MaxAttempts = 3
	// ProviderShareBps is the provider's part of a job's cost in basis
	// points (80 %); the rest is burned as native.BurnRent.
	ProviderShareBps = 8_000
	// MaxPage bounds one jobsOf page.
	MaxPage = 100
	// MaxOffersPerBlock bounds the router draws one block makes; the rest
	// wait for the next block (seeded by a still later hash).
	MaxOffersPerBlock = 256
	// maxJobs bounds the job ids (far beyond any chain's life).
	maxJobs = 1 << 62
)

// Gas of each method: the worst case under Cancun's EIP-2929/2200 pricing,
// every slot touched cold (2,100), every write fresh (20,000), logs 375 +
// 375 per topic + 8 per data byte, transfers 9,000. A record write is
// counted as maxRecordWords fresh words plus its length.
const (
	recordWriteGas = (maxRecordBytes/32 + 1) * 22_100
	recordReadGas  = (maxRecordBytes/32 + 1) * 2_100
	// SubmitGas: the job record; jobCount, jobsOf length and entry, queue
	// tail and entry, escrowTotal read and written, and the due entry the
	// draw writes (length and entry) (8 × 22,100); the
	// JobSubmitted log without the spec (3 topics, 192 bytes) 3,036;
	// spec hashing 2,000. The spec's bytes in the log are charged by
	// InputGas (8 per byte).
	SubmitGas = recordWriteGas + 8*22_100 + 3_036 + 2_000 + listAddGas + listRemoveGas
	// SubmitCreditsGas: SubmitGas, the Lock of the Credits and the Credits
	// escrow total (22,100), the JobCreditsEscrowed log (2 topics, 32
	// bytes) 1,381.
	SubmitCreditsGas = SubmitGas + credits.LockGas + 22_100 + 1_381
	// InputsGasBase and InputsGasPerWord are what submitJobInputs and
	// submitJobCreditsInputs add for the bundle: its sha256 (the SHA256
	// precompile's 60 + 12 a word) and its decoding and checks (3 a
	// word). The bundle's bytes are otherwise paid as calldata: the
	// transaction's 16 gas a non-zero byte (4 a zero byte; EIP-7623's
	// floor where Prague applies) and native.GasPerInputWord a word. A
	// full bundle (MaxInputsBytes, 1,536 words) costs at most about
	// 786,000 gas of calldata and 27,700 of module gas, well inside a
	// block (genesis.DefaultGasLimit 60,000,000).
	InputsGasBase    = 60
	InputsGasPerWord = 12 + 3
	// CancelGas: record read and rewrite, escrowTotal, the refund 9,000
	// (or the Credits release), the open-list removal, JobCancelled log
	// (2 topics, 32 bytes) 1,381.
	CancelGas = recordReadGas + recordWriteGas + 22_100 + 9_000 + creditsGas + listRemoveGas + 1_381
	// AssignGas: record read and rewrite; the router check (registry
	// index and 5 staking slots, 6 × 2,100); the node record (at most
	// registry.MaxRecordWords + 2 words read); the due entry, and the one
	// a missed deadline writes when it reopens the job (4 × 22,100);
	// JobAssigned log (4 topics, 64 bytes) 2,387; the node's ping slot
	// 2,100; the moves between the open and assigned lists, now and at a
	// missed deadline (2 removals, 2 additions), and the expiry's refund
	// after the last attempt (creditsGas + 22,100 + 9,000).
	AssignGas = recordReadGas + recordWriteGas + 6*2_100 + (registry.MaxRecordWords+2)*2_100 + 4*22_100 + 2_387 + 2_100 +
		2*(listAddGas+listRemoveGas) + creditsGas + 22_100 + 9_000
	// AcceptGas: record read and rewrite, the due entry and one
	// rescheduled check should blocks run faster than the target period
	// (4 × 22,100), JobAccepted log (3 topics, 32 bytes) 1,756; the
	// assigned-list removal and the open-list addition a missed result
	// deadline makes; the router's credits (RouterHookGas, trade.go).
	AcceptGas = recordReadGas + recordWriteGas + 4*22_100 + 1_756 + listRemoveGas + listAddGas + RouterHookGas
	// ResultGas: record read and rewrite, the due entry, JobResult log
	// (3 topics, 96 bytes) 2,268; the market rewards of the settlement it
	// schedules, which the EndBlock hook may make (SettleHookGas).
	ResultGas = recordReadGas + recordWriteGas + 2*22_100 + 2_268 + SettleHookGas
	// SettleGas: record read and rewrite, escrowTotal, the provider's
	// counter, the supply ledger (2 slots), two transfers 18,000,
	// JobSettled log (3 topics, 96 bytes) 2,268; for a Credits job the
	// Spend and the Release of the rest (creditsGas); the market rewards
	// (SettleHookGas, trade.go); a re-executed job's fees and bond
	// (reexec.go settleReexec: its record read, 3 transfers, escrowTotal).
	SettleGas = recordReadGas + recordWriteGas + 4*22_100 + 18_000 + 2_268 + creditsGas + SettleHookGas +
		reexecReadGas + 3*9_000 + 22_100
	// ViewGas is the base of every view: one cold slot 2,100 + 100.
	ViewGas = 2_200
	// GetJobGas reads the record.
	GetJobGas = ViewGas + recordReadGas
	// PageGasPerItem is jobsOf's cost per returned id.
	PageGasPerItem = 2_100
	// StatsGas reads 3 counters.
	StatsGas = ViewGas + 3*2_100
	// listAddGas: an idList add (index read, entry, index and length
	// written fresh); listRemoveGas: a removal (index, length and the
	// last entry read, 5 writes).
	listAddGas    = 2_100 + 3*22_100
	listRemoveGas = 3*2_100 + 5*22_100
)

// Revert reasons.
var (
	// ErrNoJob is returned for an id no job has.
	ErrNoJob = errors.New("jobs: no such job")
	// ErrNoEscrow is returned by submitJob without value, and by
	// submitJobCredits for zero Credits.
	ErrNoEscrow = errors.New("jobs: escrow (the call's value, or the Credits) must be positive")
	// ErrNoCredits is returned by submitJobCredits on a chain whose jobs
	// module was built without the credits module.
	ErrNoCredits = errors.New("jobs: Credits escrow is not available on this chain")
	// ErrNodeStale is returned by assign for a node whose last on-chain
	// update (registration, update or ping) is older than LivenessBlocks.
	ErrNodeStale = errors.New("jobs: node is not live (no on-chain update within the liveness window)")
	// ErrBadPrice is returned by submitJob for a zero or out-of-range
	// price cap.
	ErrBadPrice = errors.New("jobs: price cap must be positive")
	// ErrNotSubmitter is returned by cancel from anyone but the submitter.
	ErrNotSubmitter = errors.New("jobs: only the submitter may cancel")
	// ErrWrongState is returned when the job is not in the state the
	// method needs (cancel after assignment, accept of a running job,
	// a second result, settle twice ...).
	ErrWrongState = errors.New("jobs: job is not in the required state")
	// ErrNotRouter is returned by assign from an account that is not a
	// registered, staked router.
	ErrNotRouter = errors.New("jobs: caller is not an active router")
	// ErrNotOffered is returned by assign before the job's router draw.
	ErrNotOffered = errors.New("jobs: job is waiting for its router draw")
	// ErrOfferWindow is returned by assign from another router than the
	// drawn one inside the offer window.
	ErrOfferWindow = errors.New("jobs: job is offered to another router in this window")
	// ErrNodeUnfit is returned by assign for a node that is not
	// registered or does not fit the spec or the price cap.
	ErrNodeUnfit = errors.New("jobs: node does not fit the job")
	// ErrNotNode is returned by accept and submitResult from anyone but
	// the assigned node's owner.
	ErrNotNode = errors.New("jobs: caller is not the assigned node")
	// ErrDeadline is returned by accept and submitResult after their
	// deadline.
	ErrDeadline = errors.New("jobs: deadline passed")
	// ErrUsage is returned by submitResult for usage above the spec's
	// timeout × GPUs.
	ErrUsage = errors.New("jobs: usage above the job's limit")
	// ErrNoRecord is returned by submitResult for a zero record hash.
	ErrNoRecord = errors.New("jobs: zero record hash")
	// ErrDisputeWindow is returned by settle before the dispute window
	// closed.
	ErrDisputeWindow = errors.New("jobs: dispute window still open")
	// ErrFull is returned when job ids run out.
	ErrFull = errors.New("jobs: no job ids left")
)

// Module is the jobs module.
type Module struct {
	params        Params
	reg           *registry.Module
	credits       *credits.Module // nil: no Credits escrow
	epochLength   uint64
	blockPeriodMs uint64
	abi           abi.ABI
	rewards       *rewards.Module // nil: no market rewards (trade.go)
}

var _ native.Module = (*Module)(nil)
var _ native.BlockHooks = (*Module)(nil)

// Factory returns the module's native.Factory for a chain whose staking
// params are st (routers are checked as the registry checks them) and
// whose target block period is blockPeriodMs (to schedule result
// deadlines, which are in block time).
func Factory(st registry.Staking, blockPeriodMs uint64, opts ...Option) native.Factory {
	return func(raw json.RawMessage) (native.Module, error) {
		p, err := ParseParams(raw)
		if err != nil {
			return nil, err
		}
		return NewModule(p, st, blockPeriodMs, opts...)
	}
}

// Option configures the module.
type Option func(*Module)

// WithCredits lets jobs be escrowed in Credits (submitJobCredits), spent and
// returned through cm, the chain's credits module (built from the same
// genesis params as the one the chain runs). Without it submitJobCredits
// reverts with ErrNoCredits.
func WithCredits(cm *credits.Module) Option {
	return func(m *Module) { m.credits = cm }
}

// NewModule returns the module with params p.
func NewModule(p Params, st registry.Staking, blockPeriodMs uint64, opts ...Option) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if blockPeriodMs == 0 {
		return nil, fmt.Errorf("%w: jobs: block period must be positive", native.ErrBadParams)
	}
	reg, err := registry.NewModule(registry.Params{}, st)
	if err != nil {
		return nil, err
	}
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: jobs: %w", native.ErrBadABI, err)
	}
	m := &Module{params: p, reg: reg, epochLength: st.EpochLength, blockPeriodMs: blockPeriodMs, abi: parsed}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.JobsAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params { return m.params }

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "submitJob", Gas: SubmitGas, InputGas: specLogGas, Mutates: true, Handler: m.submitJob},
		{Name: "submitJobCredits", Gas: SubmitCreditsGas, InputGas: specLogGas, Mutates: true, Handler: m.submitJobCredits},
		{Name: "submitJobInputs", Gas: SubmitGas, InputGas: inputsGas(2), Mutates: true, Handler: m.submitJobInputs},
		{Name: "submitJobCreditsInputs", Gas: SubmitCreditsGas, InputGas: inputsGas(3), Mutates: true, Handler: m.submitJobCreditsInputs},
		{Name: "cancel", Gas: CancelGas, Mutates: true, Handler: m.cancel},
		{Name: "assign", Gas: AssignGas, Mutates: true, Handler: m.assign},
		{Name: "accept", Gas: AcceptGas, Mutates: true, Handler: m.accept},
		{Name: "submitResult", Gas: ResultGas, Mutates: true, Handler: m.submitResult},
		{Name: "settle", Gas: SettleGas, Mutates: true, Handler: m.settle},
		{Name: "getJob", Gas: GetJobGas, Handler: m.getJob},
		{Name: "jobsOf", Gas: ViewGas, InputGas: pageGas, Handler: m.jobsOf},
		{Name: "jobCount", Gas: ViewGas, Handler: m.jobCount},
		{Name: "openJobs", Gas: ViewGas, InputGas: openPageGas, Handler: m.listView(openList)},
		{Name: "assignedJobs", Gas: ViewGas, InputGas: openPageGas, Handler: m.listView(assignedList)},
		{Name: "providerStats", Gas: StatsGas, Handler: m.providerStats},
		{Name: "submitResultDigest", Gas: ResultDigestGas, Mutates: true, Handler: m.submitResultDigest},
		{Name: "dispute", Gas: DisputeGas, Mutates: true, Handler: m.dispute},
		{Name: "submitReexec", Gas: SubmitReexecGas, Mutates: true, Handler: m.submitReexec},
		{Name: "getReexec", Gas: GetReexecGas, Handler: m.getReexec},
		{Name: "reexecsOf", Gas: ViewGas, InputGas: pageGas, Handler: m.reexecsOf},
		{Name: "faultsOf", Gas: FaultsGas, Handler: m.faultsOf},
	}
}

func (m *Module) submitJob(c *native.Call, args []any) ([]any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	return m.submit(c, args, nil, nil)
}

// submitJobInputs is submitJob with an input bundle (inputs.go): the
// spec's InputsSHA256 must be the bundle's sha256. The bundle is not
// stored or logged: it stays in the transaction's calldata, where the
// node that runs the job reads it.
func (m *Module) submitJobInputs(c *native.Call, args []any) ([]any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	inputs, ok := args[2].([]byte)
	if !ok {
		return nil, fmt.Errorf("%w: inputs %T", native.ErrBadInput, args[2])
	}
	return m.submit(c, args[:2], nil, inputs)
}

// submitJobCredits is submitJob with a Credits escrow: args[2] Credits of
// the caller are locked (the call carries no value: the method is not
// payable).
func (m *Module) submitJobCredits(c *native.Call, args []any) ([]any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	return m.submitCredits(c, args, nil)
}

// submitJobCreditsInputs is submitJobCredits with an input bundle, as
// submitJobInputs.
func (m *Module) submitJobCreditsInputs(c *native.Call, args []any) ([]any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	inputs, ok := args[3].([]byte)
	if !ok {
		return nil, fmt.Errorf("%w: inputs %T", native.ErrBadInput, args[3])
	}
	return m.submitCredits(c, args[:3], inputs)
}

// submitCredits locks args[2] Credits and submits with them.
func (m *Module) submitCredits(c *native.Call, args []any, inputs []byte) ([]any, error) {
	nBig, ok := args[2].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: credits %T", native.ErrBadInput, args[2])
	}
	n, overflow := uint256.FromBig(nBig)
	if overflow || n.IsZero() {
		return nil, ErrNoEscrow
	}
	if m.credits == nil {
		return nil, ErrNoCredits
	}
	return m.submit(c, args[:2], n, inputs)
}

// submit records a job from spec and price args; its escrow is the call's
// value, or escrowCredits Credits of the caller when not nil. inputs is
// the bundle of an *Inputs method (nil for the others, whose spec must
// then name no inputs).
func (m *Module) submit(c *native.Call, args []any, escrowCredits *uint256.Int, inputs []byte) ([]any, error) {
	raw, ok1 := args[0].([]byte)
	capBig, ok2 := args[1].(*big.Int)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: spec %T price %T", native.ErrBadInput, args[0], args[1])
	}
	spec, err := DecodeSpec(raw)
	if err != nil {
		return nil, err
	}
	if err := checkInputs(&spec, inputs); err != nil {
		return nil, err
	}
	maxPrice, overflow := uint256.FromBig(capBig)
	if overflow || maxPrice.IsZero() {
		return nil, ErrBadPrice
	}
	if escrowCredits == nil && c.Value.IsZero() {
		return nil, ErrNoEscrow
	}
	if escrowCredits != nil && spec.Deterministic {
		return nil, ErrDeterministicCredits
	}
	n := JobCount(c.State)
	if n >= maxJobs {
		return nil, ErrFull
	}
	total, overflow := new(uint256.Int).AddOverflow(EscrowTotal(c.State), c.Value)
	if overflow {
		return nil, fmt.Errorf("%w: escrow total overflows", native.ErrInternal)
	}
	j := Job{
		ID: n + 1, Submitter: c.Caller, State: StateSubmitted, SpecHash: crypto.Keccak256Hash(raw),
		Image: spec.Image, GPUs: spec.GPUs, GPUModel: spec.GPUModel, MinMemoryMiB: spec.MinMemoryMiB,
		TimeoutSeconds: spec.TimeoutSeconds, MaxPriceWei: maxPrice, EscrowWei: c.Value.Clone(),
		SubmitBlock: c.BlockNumber, EscrowCredits: escrowCredits, Deterministic: spec.Deterministic,
	}
	if escrowCredits != nil {
		if err := m.lockCredits(c, escrowCredits); err != nil {
			return nil, err
		}
	}
	if err := openList.add(c, j.ID); err != nil {
		return nil, err
	}
	if err := saveJob(c, &j); err != nil {
		return nil, err
	}
	c.StoreUint(native.Slot(slotJobCount), uint256.NewInt(j.ID))
	c.StoreUint(native.Slot(slotEscrowTotal), total)
	push(c, native.MapSlot(native.Slot(slotJobsOf), native.AddressKey(c.Caller)), j.ID)
	tail := c.LoadUint(native.Slot(slotQueueTail)).Uint64()
	c.StoreUint(queueKey(tail), uint256.NewInt(j.ID))
	c.StoreUint(native.Slot(slotQueueTail), uint256.NewInt(tail+1))
	idBig := new(big.Int).SetUint64(j.ID)
	if err := c.Emit("JobSubmitted", idBig, c.Caller, [32]byte(j.SpecHash), raw, capBig, c.Value.ToBig()); err != nil {
		return nil, err
	}
	if escrowCredits != nil {
		if err := c.Emit("JobCreditsEscrowed", idBig, escrowCredits.ToBig()); err != nil {
			return nil, err
		}
	}
	return []any{idBig}, nil
}

func (m *Module) cancel(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	if c.Caller != j.Submitter {
		return nil, ErrNotSubmitter
	}
	if j.State != StateSubmitted {
		return nil, fmt.Errorf("%w: job %d is %s, cancel needs submitted", ErrWrongState, j.ID, j.State)
	}
	refundAll(&j)
	if err := m.end(c, &j, StateCancelled); err != nil {
		return nil, err
	}
	return nil, c.Emit("JobCancelled", new(big.Int).SetUint64(j.ID), j.RefundWei.ToBig())
}

func (m *Module) assign(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	nodeAddr, ok := args[1].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: node is %T", native.ErrBadInput, args[1])
	}
	if j.State != StateSubmitted {
		return nil, fmt.Errorf("%w: job %d is %s, assign needs submitted", ErrWrongState, j.ID, j.State)
	}
	if !j.Offered {
		return nil, fmt.Errorf("%w: job %d", ErrNotOffered, j.ID)
	}
	if !m.reg.ActiveRouter(c.State, c.Caller, c.BlockNumber) {
		return nil, fmt.Errorf("%w: %s", ErrNotRouter, c.Caller)
	}
	if c.BlockNumber <= j.OfferEndBlock && c.Caller != j.OfferedRouter {
		return nil, fmt.Errorf("%w: %s until block %d", ErrOfferWindow, j.OfferedRouter, j.OfferEndBlock)
	}
	price, err := m.fit(c.State, &j, nodeAddr, c.BlockNumber, false)
	if err != nil {
		return nil, err
	}
	if err := openList.remove(c, j.ID); err != nil {
		return nil, err
	}
	if err := assignedList.add(c, j.ID); err != nil {
		return nil, err
	}
	j.State, j.Router, j.Node, j.PriceWei = StateAssigned, c.Caller, nodeAddr, price
	j.Attempts++
	j.Deadline = c.BlockNumber + m.params.AcceptBlocks
	schedule(c, &j, j.Deadline)
	if err := saveJob(c, &j); err != nil {
		return nil, err
	}
	return nil, c.Emit("JobAssigned", new(big.Int).SetUint64(j.ID), c.Caller, nodeAddr, price.ToBig(), j.Attempts)
}

// Fit reports whether node fits job j in block number (registered, live:
// its last on-chain update within LivenessBlocks of number; enough GPUs of
// the model and memory asked for, the image held, its price for its model
// within the cap; for a CPU-only job a CPU-only price within the cap) and
// returns the node's price (per GPU-second, or per second CPU-only).
// Routers can call it on a state copy before they send an assignment, with
// the number of the block the assignment will land in.
func (m *Module) Fit(s native.StateReader, j *Job, node common.Address, number uint64) (*uint256.Int, error) {
	return m.fit(s, j, node, number, false)
}

// fit is Fit; anyPrice skips the price cap (a re-executor is paid the
// job's cost, whatever its own price). A jailed node never fits.
func (m *Module) fit(s native.StateReader, j *Job, nodeAddr common.Address, number uint64, anyPrice bool) (*uint256.Int, error) {
	if Jailed(s, nodeAddr, number) {
		return nil, fmt.Errorf("%w: %s", ErrNodeJailed, nodeAddr)
	}
	n, ok, err := registry.NodeOf(s, nodeAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a registered node", ErrNodeUnfit, nodeAddr)
	}
	if seen := registry.LastSeen(s, &n); seen+m.params.LivenessBlocks < number {
		return nil, fmt.Errorf("%w: %s last seen at block %d, window %d blocks", ErrNodeStale, nodeAddr, seen, m.params.LivenessBlocks)
	}
	if !n.HasImage(j.Image) {
		return nil, fmt.Errorf("%w: node does not hold image %s", ErrNodeUnfit, j.Image)
	}
	if j.CPUOnly() {
		price := n.CPUPriceWei
		switch {
		case price == nil || price.IsZero():
			return nil, fmt.Errorf("%w: node takes no CPU-only jobs (no CPU price)", ErrNodeUnfit)
		case price.Gt(j.MaxPriceWei) && !anyPrice:
			return nil, fmt.Errorf("%w: CPU price %s wei per second above the cap %s", ErrNodeUnfit, price, j.MaxPriceWei)
		}
		return price.Clone(), nil
	}
	switch {
	case n.GPUCount < j.GPUs:
		return nil, fmt.Errorf("%w: %d GPUs, job needs %d", ErrNodeUnfit, n.GPUCount, j.GPUs)
	case j.GPUModel != "" && n.GPUModel != j.GPUModel:
		return nil, fmt.Errorf("%w: GPU model %q, job needs %q", ErrNodeUnfit, n.GPUModel, j.GPUModel)
	case n.MemoryMiB < j.MinMemoryMiB:
		return nil, fmt.Errorf("%w: %d MiB per GPU, job needs %d", ErrNodeUnfit, n.MemoryMiB, j.MinMemoryMiB)
	}
	price, ok := n.PriceFor(n.GPUModel)
	if !ok {
		return nil, fmt.Errorf("%w: node has no price for its model %q", ErrNodeUnfit, n.GPUModel)
	}
	if price.Gt(j.MaxPriceWei) && !anyPrice {
		return nil, fmt.Errorf("%w: price %s wei per GPU-second above the cap %s", ErrNodeUnfit, price, j.MaxPriceWei)
	}
	return price, nil
}

func (m *Module) accept(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	if j.State != StateAssigned {
		return nil, fmt.Errorf("%w: job %d is %s, accept needs assigned", ErrWrongState, j.ID, j.State)
	}
	if c.Caller != j.Node {
		return nil, fmt.Errorf("%w: %s", ErrNotNode, c.Caller)
	}
	if c.BlockNumber > j.Deadline {
		return nil, fmt.Errorf("%w: accept by block %d", ErrDeadline, j.Deadline)
	}
	if err := assignedList.remove(c, j.ID); err != nil {
		return nil, err
	}
	window := j.TimeoutSeconds + m.params.ResultGraceSeconds
	j.State, j.Deadline = StateRunning, c.Time+window
	schedule(c, &j, c.BlockNumber+m.blocksFor(window))
	if err := saveJob(c, &j); err != nil {
		return nil, err
	}
	if err := m.onAccept(c, &j); err != nil {
		return nil, err
	}
	return nil, c.Emit("JobAccepted", new(big.Int).SetUint64(j.ID), c.Caller, j.Deadline)
}

func (m *Module) submitResult(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	if j.Deterministic {
		return nil, fmt.Errorf("%w: job %d", ErrNeedDigest, j.ID)
	}
	return nil, m.result(c, &j, args, [32]byte{})
}

// result records a result (args: id, record, gpuMillis, exit) of j; digest
// is a deterministic job's output digest: its sampling check is then due
// in the next block (reexec.go).
func (m *Module) result(c *native.Call, j *Job, args []any, digest [32]byte) error {
	record, ok1 := args[1].([32]byte)
	gpuMillis, ok2 := args[2].(uint64)
	exit, ok3 := args[3].(int32)
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("%w: result args of types %T %T %T", native.ErrBadInput, args[1], args[2], args[3])
	}
	if j.State != StateRunning {
		return fmt.Errorf("%w: job %d is %s, a result needs running", ErrWrongState, j.ID, j.State)
	}
	if c.Caller != j.Node {
		return fmt.Errorf("%w: %s", ErrNotNode, c.Caller)
	}
	if c.Time >= j.Deadline {
		return fmt.Errorf("%w: result before block time %d", ErrDeadline, j.Deadline)
	}
	if limit := j.MaxUsageMillis(); gpuMillis > limit {
		return fmt.Errorf("%w: %d GPU-ms, at most %d", ErrUsage, gpuMillis, limit)
	}
	if record == [32]byte{} {
		return ErrNoRecord
	}
	j.State = StateCompleted
	if exit != 0 {
		j.State = StateFailed
	}
	j.ResultHash, j.GPUMillis, j.Exit = record, gpuMillis, uint32(exit)
	j.Deadline = c.BlockNumber + m.params.DisputeBlocks
	if j.Deterministic {
		j.OutputDigest, j.Verify = digest, VerifyPending
		schedule(c, j, c.BlockNumber+1) // the sampling check, seeded by this block's hash
	} else {
		schedule(c, j, j.Deadline)
	}
	if err := saveJob(c, j); err != nil {
		return err
	}
	if err := c.Emit("JobResult", new(big.Int).SetUint64(j.ID), c.Caller, record, gpuMillis, exit); err != nil {
		return err
	}
	if !j.Deterministic {
		return nil
	}
	return c.Emit("JobOutputDigest", new(big.Int).SetUint64(j.ID), digest)
}

func (m *Module) settle(c *native.Call, args []any) ([]any, error) {
	j, err := m.jobArg(c, args)
	if err != nil {
		return nil, err
	}
	if j.State != StateCompleted && j.State != StateFailed {
		return nil, fmt.Errorf("%w: job %d is %s, settle needs completed or failed", ErrWrongState, j.ID, j.State)
	}
	if c.BlockNumber < j.Deadline {
		return nil, fmt.Errorf("%w: until block %d", ErrDisputeWindow, j.Deadline)
	}
	if j.Verify == VerifyPending {
		return nil, fmt.Errorf("%w: job %d", ErrVerifying, j.ID)
	}
	return nil, m.settleJob(c, &j)
}

// Cost returns what a result of gpuMillis at priceWei per GPU-second costs,
// capped by escrowWei: gpuMillis × priceWei / 1000, rounded down (the
// submitter keeps the fraction of a wei).
func Cost(gpuMillis uint64, priceWei, escrowWei *uint256.Int) *uint256.Int {
	cost, overflow := new(uint256.Int).MulOverflow(uint256.NewInt(gpuMillis), priceWei)
	if overflow {
		return escrowWei.Clone()
	}
	cost.Div(cost, uint256.NewInt(1000))
	if cost.Gt(escrowWei) {
		return escrowWei.Clone()
	}
	return cost
}

// Split returns the provider's share of cost (ProviderShareBps, rounded
// down) and the burn (the rest, so the two add up to cost exactly).
func Split(cost *uint256.Int) (provider, burn *uint256.Int) {
	provider = new(uint256.Int).Mul(cost, uint256.NewInt(ProviderShareBps)) // cost ≤ supply: no overflow
	provider.Div(provider, uint256.NewInt(10_000))
	return provider, new(uint256.Int).Sub(cost, provider)
}

// settleJob pays out a job with a result (see payCost in escrow.go): the
// provider's share, the burn, the refund.
func (m *Module) settleJob(c *native.Call, j *Job) error {
	if err := m.payCost(c, j); err != nil {
		return err
	}
	if err := m.settleReexec(c, j); err != nil {
		return err
	}
	stat := uint64(statSucceeded)
	if j.State == StateFailed {
		stat = statFailed
	}
	addStat(c, j.Node, stat)
	prior := j.State
	if err := m.end(c, j, StateSettled); err != nil {
		return err
	}
	if err := m.onSettled(c, j, prior, j.BurnedWei); err != nil {
		return err
	}
	return c.Emit("JobSettled", new(big.Int).SetUint64(j.ID), j.Node, j.CostWei.ToBig(), j.BurnedWei.ToBig(), j.RefundWei.ToBig())
}

// end moves j to a final state: it leaves the open or assigned list it is
// in, its refund (set by the caller: refundAll or payCost) goes back to the
// submitter and its escrow leaves the totals.
func (m *Module) end(c *native.Call, j *Job, st State) error {
	switch j.State {
	case StateSubmitted:
		if err := openList.remove(c, j.ID); err != nil {
			return err
		}
	case StateAssigned:
		if err := assignedList.remove(c, j.ID); err != nil {
			return err
		}
	}
	if err := m.release(c, j); err != nil {
		return err
	}
	j.State, j.EndBlock, j.Deadline, j.DueBlock = st, c.BlockNumber, 0, 0
	return saveJob(c, j)
}

// timeout handles a missed accept or result deadline: the node's timed-out
// counter goes up; the job goes back to any router, or expires after its
// last attempt.
func (m *Module) timeout(c *native.Call, j *Job) error {
	addStat(c, j.Node, statTimedOut)
	if j.Attempts >= MaxAttempts {
		refundAll(j)
		return m.end(c, j, StateExpired)
	}
	if j.State == StateAssigned {
		if err := assignedList.remove(c, j.ID); err != nil {
			return err
		}
	}
	if err := openList.add(c, j.ID); err != nil {
		return err
	}
	m.reopen(c, j)
	return saveJob(c, j)
}

// reopen puts j in StateSubmitted, open for assignment until its assign
// deadline (the caller keeps the open list: the draw finds j listed, a
// timeout lists it again).
func (m *Module) reopen(c *native.Call, j *Job) {
	j.State, j.Deadline = StateSubmitted, c.BlockNumber+m.params.AssignBlocks
	schedule(c, j, j.Deadline)
}

// BeginBlock implements native.BlockHooks: it draws the router of every job
// whose seed block is now the parent (at most MaxOffersPerBlock a block).
func (m *Module) BeginBlock(c *native.Call, env *native.BlockEnv) error {
	head := c.LoadUint(native.Slot(slotQueueHead)).Uint64()
	tail := c.LoadUint(native.Slot(slotQueueTail)).Uint64()
	var routers []weighted
	drawn := false
	for k := 0; head < tail && k < MaxOffersPerBlock; k++ {
		id := c.LoadUint(queueKey(head)).Uint64()
		j, ok, err := JobOf(c.State, id)
		if err != nil || !ok {
			return fmt.Errorf("%w: queued job %d: %v", ErrCorrupt, id, err)
		}
		if j.SubmitBlock+m.params.OfferDelayBlocks >= env.Number {
			break // its seed block is not the parent yet; nor is any later job's
		}
		c.Store(queueKey(head), common.Hash{})
		head++
		if j.State != StateSubmitted || j.Offered {
			continue // cancelled
		}
		if !drawn {
			routers, drawn = m.activeRouters(c.State, env.Number), true
		}
		j.Offered = true
		j.OfferedRouter = draw(routers, env.ParentHash, id)
		if j.OfferedRouter != (common.Address{}) {
			j.OfferEndBlock = env.Number + m.params.OfferWindowBlocks
		}
		m.reopen(c, &j)
		if err := saveJob(c, &j); err != nil {
			return err
		}
	}
	c.StoreUint(native.Slot(slotQueueHead), uint256.NewInt(head))
	return nil
}

// EndBlock implements native.BlockHooks: it acts on every deadline due in
// this block (the transactions of the block came first): missed accepts
// and results time out, closed dispute windows settle. Each entry was paid
// for by the call that scheduled it.
func (m *Module) EndBlock(c *native.Call, env *native.BlockEnv) error {
	base := dueKey(env.Number)
	n := c.LoadUint(base).Uint64()
	for i := uint64(0); i < n; i++ {
		key := native.ArraySlot(base, i)
		id := c.LoadUint(key).Uint64()
		c.Store(key, common.Hash{})
		j, ok, err := JobOf(c.State, id)
		if err != nil || !ok {
			return fmt.Errorf("%w: due job %d: %v", ErrCorrupt, id, err)
		}
		if j.DueBlock != env.Number && j.State != StateReexec && j.State != StateDisputed {
			continue // stale: the job moved on and was scheduled again (re-executions judge by their own DueBlock)
		}
		switch {
		case j.State == StateSubmitted && env.Number >= j.Deadline:
			refundAll(&j)
			err = m.end(c, &j, StateExpired)
		case j.State == StateAssigned && env.Number >= j.Deadline:
			err = m.timeout(c, &j)
		case j.State == StateRunning && env.Time >= j.Deadline:
			err = m.timeout(c, &j)
		case j.State == StateRunning:
			schedule(c, &j, env.Number+m.blocksFor(j.Deadline-env.Time))
			err = saveJob(c, &j)
		case (j.State == StateCompleted || j.State == StateFailed) && j.Verify == VerifyPending:
			err = m.sample(c, &j, env)
		case (j.State == StateCompleted || j.State == StateFailed) && env.Number >= j.Deadline:
			err = m.settleJob(c, &j)
		case j.State == StateReexec || j.State == StateDisputed:
			err = m.reexecDue(c, &j, env)
		}
		if err != nil {
			return err
		}
	}
	if n > 0 {
		c.Store(base, common.Hash{})
	}
	return nil
}

// blocksFor is how many blocks seconds take at the target block period,
// rounded up, at least 1.
func (m *Module) blocksFor(seconds uint64) uint64 {
	return max(1, (seconds*1000+m.blockPeriodMs-1)/m.blockPeriodMs)
}

// schedule adds j to the due list of block and records it as j's next
// check (the caller saves j).
func schedule(c *native.Call, j *Job, block uint64) {
	j.DueBlock = block
	push(c, dueKey(block), j.ID)
}

// weighted is an active router and its stake.
type weighted struct {
	owner common.Address
	stake *uint256.Int
}

// activeRouters lists the registered routers staked at block number, with
// their stake effective in its epoch, in registry order.
func (m *Module) activeRouters(s native.StateReader, number uint64) []weighted {
	var out []weighted
	total := registry.RouterCount(s)
	epoch := staking.Epoch(number, m.epochLength)
	for off := uint64(0); off < total; off += registry.MaxPage {
		owners, _ := registry.RouterOwners(s, off, registry.MaxPage)
		for _, o := range owners {
			if !m.reg.ActiveRouter(s, o, number) {
				continue
			}
			st, err := staking.EffectiveStake(s, o, epoch)
			if err != nil || st.IsZero() {
				continue
			}
			out = append(out, weighted{o, st})
		}
	}
	return out
}

// draw picks a router with probability proportional to stake from seed and
// id: r = keccak256(seed ‖ pad32(id)) mod Σ stake, then the router whose
// cumulative stake range holds r. The zero address when there is none.
func draw(routers []weighted, seed common.Hash, id uint64) common.Address {
	total := new(uint256.Int)
	for _, r := range routers {
		total.Add(total, r.stake) // stakes come out of the supply: no overflow
	}
	if total.IsZero() {
		return common.Address{}
	}
	idKey := native.Slot(id)
	r := new(uint256.Int).SetBytes(crypto.Keccak256(seed[:], idKey[:]))
	r.Mod(r, total)
	acc := new(uint256.Int)
	for _, w := range routers {
		acc.Add(acc, w.stake)
		if r.Lt(acc) {
			return w.owner
		}
	}
	return routers[len(routers)-1].owner // unreachable: r < total
}

// jobArg loads the job named by args[0].
func (m *Module) jobArg(c *native.Call, args []any) (Job, error) {
	idBig, ok := args[0].(*big.Int)
	if !ok {
		return Job{}, fmt.Errorf("%w: id is %T", native.ErrBadInput, args[0])
	}
	if !idBig.IsUint64() {
		return Job{}, fmt.Errorf("%w: %s", ErrNoJob, idBig)
	}
	return loadJob(c, idBig.Uint64())
}

func (m *Module) getJob(c *native.Call, args []any) ([]any, error) {
	idBig, ok := args[0].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: id is %T", native.ErrBadInput, args[0])
	}
	var j Job
	found := false
	if idBig.IsUint64() {
		var err error
		if j, found, err = JobOf(c.State, idBig.Uint64()); err != nil {
			return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
		}
	}
	j.fill()
	return []any{found, j.Submitter, uint8(j.State), [32]byte(j.SpecHash), [32]byte(j.Image), j.GPUs, j.GPUModel,
		j.MinMemoryMiB, j.TimeoutSeconds, j.MaxPriceWei.ToBig(), j.EscrowWei.ToBig(), j.SubmitBlock, j.OfferedRouter,
		j.OfferEndBlock, j.Router, j.Node, j.PriceWei.ToBig(), j.Attempts, j.Deadline, [32]byte(j.ResultHash),
		j.GPUMillis, j.ExitCode(), j.CostWei.ToBig(), j.BurnedWei.ToBig(), j.RefundWei.ToBig(), j.EndBlock,
		j.EscrowKind(), j.EscrowCredits.ToBig(), j.CostCredits.ToBig(), j.RefundCredits.ToBig(),
		j.Deterministic, [32]byte(j.OutputDigest), j.Verify, j.FeesWei.ToBig()}, nil
}

func (m *Module) jobsOf(c *native.Call, args []any) ([]any, error) {
	owner, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	offset, limit, err := pageArgs(args[1:])
	if err != nil {
		return nil, err
	}
	ids, total := JobsOf(c.State, owner, offset, limit)
	out := make([]*big.Int, len(ids))
	for i, id := range ids {
		out[i] = new(big.Int).SetUint64(id)
	}
	return []any{out, new(big.Int).SetUint64(total)}, nil
}

// listView is the openJobs / assignedJobs view over l.
func (m *Module) listView(l idList) func(*native.Call, []any) ([]any, error) {
	return func(c *native.Call, args []any) ([]any, error) {
		offset, limit, err := pageArgs(args)
		if err != nil {
			return nil, err
		}
		ids, total := l.page(c.State, offset, limit)
		out := make([]*big.Int, len(ids))
		for i, id := range ids {
			out[i] = new(big.Int).SetUint64(id)
		}
		return []any{out, new(big.Int).SetUint64(total)}, nil
	}
}

func (m *Module) jobCount(c *native.Call, _ []any) ([]any, error) {
	return []any{new(big.Int).SetUint64(JobCount(c.State))}, nil
}

func (m *Module) providerStats(c *native.Call, args []any) ([]any, error) {
	node, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: node is %T", native.ErrBadInput, args[0])
	}
	st := StatsOf(c.State, node)
	return []any{st.Succeeded, st.Failed, st.TimedOut}, nil
}

// specLogGas charges the spec's bytes in the JobSubmitted log (8 a byte).
func specLogGas(args []any) uint64 {
	if raw, ok := args[0].([]byte); ok {
		return 8 * uint64(len(raw))
	}
	return 0
}

// checkInputs applies the input rules of a submission: a spec that names
// inputs comes through an *Inputs method with the bundle it hashes, and a
// spec that names none comes through the others (inputs nil).
func checkInputs(spec *Spec, inputs []byte) error {
	named := spec.InputsSHA256 != (common.Hash{})
	switch {
	case inputs == nil && named:
		return fmt.Errorf("%w: the spec names inputs: submit with submitJobInputs or submitJobCreditsInputs", ErrBadInputs)
	case inputs == nil:
		return nil
	case !named:
		return fmt.Errorf("%w: inputs given but the spec names none (zero inputsSHA256)", ErrBadInputs)
	}
	_, err := DecodeInputsFor(spec, inputs)
	return err
}

// inputsGas returns the InputGas of a submit method whose bundle is
// argument i: the spec's log bytes and the bundle's hashing and checks.
func inputsGas(i int) func(args []any) uint64 {
	return func(args []any) uint64 {
		gas := specLogGas(args)
		if len(args) > i {
			if b, ok := args[i].([]byte); ok {
				gas += InputsGasBase + InputsGasPerWord*((uint64(len(b))+31)/32)
			}
		}
		return gas
	}
}

func pageGas(args []any) uint64 {
	_, limit, err := pageArgs(args[1:])
	if err != nil {
		return 0
	}
	return min(limit, MaxPage) * PageGasPerItem
}

func openPageGas(args []any) uint64 {
	_, limit, err := pageArgs(args)
	if err != nil {
		return 0
	}
	return min(limit, MaxPage) * PageGasPerItem
}

func pageArgs(args []any) (offset, limit uint64, err error) {
	if len(args) != 2 {
		return 0, 0, fmt.Errorf("%w: %d page args", native.ErrBadInput, len(args))
	}
	o, ok1 := args[0].(*big.Int)
	l, ok2 := args[1].(*big.Int)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: offset %T limit %T", native.ErrBadInput, args[0], args[1])
	}
	if !o.IsUint64() {
		return ^uint64(0), 0, nil // past any list
	}
	limit = MaxPage
	if l.IsUint64() && l.Uint64() < MaxPage {
		limit = l.Uint64()
	}
	return o.Uint64(), limit, nil
}
