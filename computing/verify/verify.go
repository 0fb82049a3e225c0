package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "verify"

// tagVerifier is the domain tag of the verifier draw.
const tagVerifier = "emcd:verify:v1:verifier"

// Gas of each method: the worst case under Cancun's EIP-2929/2200 pricing,
// every slot touched cold (2,100), every write fresh (22,100 with its
// read) or a rewrite of a set slot (5,000), logs 375 + 375 per topic + 8
// per data byte. The costs that grow with the verifier slots are
// functions of the Verifiers param (v below).
const (
	// ViewGas is the base of every view.
	ViewGas = 2_200
	// FaultsOfGas reads the two counter words.
	FaultsOfGas = ViewGas + 2*2_100
	// EpochSeedGas reads the seed, the info and the validator count.
	EpochSeedGas = ViewGas + 3*2_100
	// RecordMissGas: the epoch's info (2,100), the node's registry record,
	// the meta word (22,100), the node's counter and history words (2 ×
	// 22,100), the MissRecorded log (3 topics) 1,500, and the forfeit of
	// the node's compute credits (rewards.ForfeitComputeGas).
	RecordMissGas = 2_100 + registry.NodeOfGas + 22_100 + 2*22_100 + 1_500 + rewards.ForfeitComputeGas
	// HistoryOfGas reads the history word.
	HistoryOfGas = ViewGas + 2_100
	// MissRecordedGas reads the challenge's meta word.
	MissRecordedGas = ViewGas + 2_100
)

// decideGas is what the EndBlock decision of one challenge costs and
// commitRoot prepays: the due entry read and cleared (2,100 + 5,000), the
// meta word read and rewritten (7,100), the node's counter and history
// words (2 × 22,100), each verifier's counter (v × 22,100) and the verified
// task's compute credits
// (rewards.ComputeCreditGas) or a failure's forfeit
// (rewards.ForfeitComputeGas).
func decideGas(v uint64) uint64 {
	return 7_100 + 7_100 + 2*22_100 + v*22_100 + max(rewards.ComputeCreditGas, rewards.ForfeitComputeGas)
}

// CommitGas: the epoch's seed and info (2 × 2,100), the node's registry
// record (registry.NodeOfGas), the challenge's meta word (2,100), the
// validator count and at most v+1 validators and their staking owners
// read by the draw ((2v+3) × 2,100) and its hashing (1,000), the root, meta and verifier words
// written fresh ((v+2) × 22,100), the due list's length and entry (2 ×
// 22,100), the RootCommitted log (3 topics, 128 + 32·v bytes) and
// decideGas.
func CommitGas(v uint64) uint64 {
	return 2*2_100 + registry.NodeOfGas + 2_100 + (2*v+3)*2_100 + 1_000 +
		(v+2)*22_100 + 2*22_100 + 1_500 + 8*(128+32*v) + decideGas(v)
}

// AttestFailGas: the epoch's info (2,100), the challenge (root, meta,
// verifiers: (v+2) × 2,100), the meta rewrite 5,000, the Attested log (4
// topics, 32 bytes) 2,131.
func AttestFailGas(v uint64) uint64 { return 2_100 + (v+2)*2_100 + 5_000 + 2_131 }

// AttestGas: AttestFailGas, the epoch's seed and the sample seed (2 ×
// 2,100) and the sampling (1,000); the check of the openings is charged
// by InputGas (EvidenceGas of the n and count the openings declare).
func AttestGas(v uint64) uint64 { return AttestFailGas(v) + 2*2_100 + 1_000 }

// RebutGas: AttestGas and the verifier's counter (22,100) for a false
// fail.
func RebutGas(v uint64) uint64 { return AttestGas(v) + 22_100 }

// ChallengeOfGas: the challenge (root, meta, verifiers), the epoch's info
// and, for the lazy miss, the node's registry record.
func ChallengeOfGas(v uint64) uint64 { return ViewGas + (v+2)*2_100 + 2_100 + registry.NodeOfGas }

// Gas of the native check of openings (evidenceGas), measured on the
// build machine (2 shared cores, go test -bench BenchmarkVerify in
// computing/pow) and priced at about 8 ns a gas: recomputing a chunk is
// 64·n int8 multiply-adds plus 8 stream words per row of B (about 2.2 ns
// per multiply-add measured, so 16 gas per unit of n a chunk); the n row
// keys of B are one SHA-256 of 77 bytes each (about 100 ns: 12 gas);
// every leaf and proof hash is priced like the SHA-256 precompile's 3
// words (96 gas).
const (
	KeyHashGas   = 12
	ChunkGasPerN = 16
	ProofHashGas = 96
)

// EvidenceGas is the check of count openings of an n×n workload:
// n·KeyHashGas + count·n·ChunkGasPerN + count·(MaxProofLen+1)·ProofHashGas.
func EvidenceGas(n, count uint64) uint64 {
	return n*KeyHashGas + count*n*ChunkGasPerN + count*uint64(pow.MaxProofLen+1)*ProofHashGas
}

// evidenceGas prices the openings argument (the last one) by the n and
// count its header declares; a header the decoder will refuse costs
// nothing more (the check stops before any recomputation, and so it does
// for a declared n other than the class's).
func evidenceGas(args []any) uint64 {
	b, ok := args[len(args)-1].([]byte)
	if !ok || len(b) < 6 {
		return 0
	}
	n := uint64(binary.BigEndian.Uint32(b[1:]))
	count := uint64(min(b[5], pow.MaxOpenings))
	if n > pow.MaxN {
		return 0
	}
	return EvidenceGas(n, count)
}

// Revert reasons.
var (
	// ErrWrongEpoch is returned by commitRoot for an epoch other than the
	// current one.
	ErrWrongEpoch = errors.New("verify: not the current epoch")
	// ErrNoSeed is returned before the epoch's seed block began.
	ErrNoSeed = errors.New("verify: the epoch's seed is not on chain yet")
	// ErrZeroRoot is returned by commitRoot for a zero root.
	ErrZeroRoot = errors.New("verify: zero root")
	// ErrNotNode is returned for an account whose compute node is not
	// registered, or was registered after the epoch's first block (it is
	// challenged from the next epoch).
	ErrNotNode = errors.New("verify: not a compute node challenged in this epoch")
	// ErrListingChanged is returned by commitRoot for a node whose
	// listing was updated after the epoch's first block: its class may
	// have changed, so this epoch's challenge is missed.
	ErrListingChanged = errors.New("verify: node listing changed during the epoch")
	// ErrLate is returned by commitRoot after the class's deadline (block
	// or time).
	ErrLate = errors.New("verify: commit deadline passed")
	// ErrCommitted is returned by a second commitRoot, and by recordMiss
	// for a node that committed or whose miss is recorded.
	ErrCommitted = errors.New("verify: challenge already committed or recorded")
	// ErrNoChallenge is returned for an (epoch, node) without a committed
	// root.
	ErrNoChallenge = errors.New("verify: no committed challenge")
	// ErrWindow is returned outside the attestation window (before the
	// sample seed exists, after the decision), and by recordMiss before
	// every deadline of the epoch passed.
	ErrWindow = errors.New("verify: outside the attestation window")
	// ErrNotVerifier is returned by attest and attestFail from an account
	// the challenge did not draw, and by rebut naming one.
	ErrNotVerifier = errors.New("verify: not a verifier of this challenge")
	// ErrSlotDone is returned for a verifier slot that already holds an
	// attestation or a proof.
	ErrSlotDone = errors.New("verify: verifier slot already decided")
	// ErrEvidence is returned for openings that do not verify.
	ErrEvidence = errors.New("verify: evidence refused")
	// ErrPruned is returned, from the verifyPrune fork on, for an epoch
	// whose records the module deleted (Params.KeepEpochs epochs after
	// it): by every view and method that names it.
	ErrPruned = errors.New("verify: epoch pruned")
)

// Module is the verification module.
type Module struct {
	params        Params
	epochLength   uint64
	blockPeriodMs uint64
	offsets       map[uint64]bool // blocksFor(deadline) of every class
	maxOffset     uint64
	abi           abi.ABI
	rewards       *rewards.Module // nil: verified tasks earn no credits (tests of this module alone)
	// prune and pruneFrom: the chain runs the verifyPrune fork from block
	// pruneFrom (params.ForkVerifyPrune; WithPruneFrom).
	prune     bool
	pruneFrom uint64
}

var _ native.Module = (*Module)(nil)
var _ native.BlockHooks = (*Module)(nil)

// Option configures the module.
type Option func(*Module)

// WithRewards makes a verified task earn compute credits through r, the
// chain's rewards module (built from the same genesis params as the one the
// chain runs), inside the per-epoch cap it shares with settled jobs.
func WithRewards(r *rewards.Module) Option { return func(m *Module) { m.rewards = r } }

// WithPruneFrom turns on the verifyPrune fork (params.ForkVerifyPrune)
// from block number: epochs that begin at or after it are indexed, and
// deleted Params.KeepEpochs epochs later; their views then revert with
// ErrPruned.
func WithPruneFrom(number uint64) Option {
	return func(m *Module) { m.prune, m.pruneFrom = true, number }
}

// indexed reports whether epoch's records are indexed and so deleted in
// time: the chain runs the fork and the epoch began at or after its
// activation block (an epoch that began before is kept whole).
func (m *Module) indexed(epoch uint64) bool {
	return m.prune && epoch <= (math.MaxUint64-1)/m.epochLength-m.params.KeepEpochs && m.epochStart(epoch) >= m.pruneFrom
}

// pruneBlock is the block whose BeginBlock deletes indexed epoch's
// records: the second block of epoch+KeepEpochs (indexed keeps it from
// overflowing).
func (m *Module) pruneBlock(epoch uint64) uint64 {
	return (epoch+m.params.KeepEpochs)*m.epochLength + 1
}

// Pruned reports whether epoch's records are deleted as of block number.
func (m *Module) Pruned(epoch, number uint64) bool {
	return m.indexed(epoch) && number >= m.pruneBlock(epoch)
}

// checkKept refuses epoch when its records are deleted as of number.
func (m *Module) checkKept(epoch, number uint64) error {
	if m.Pruned(epoch, number) {
		return fmt.Errorf("%w: epoch %d was deleted in block %d (the chain keeps %d epochs; ask an archive node at an earlier block)",
			ErrPruned, epoch, m.pruneBlock(epoch), m.params.KeepEpochs)
	}
	return nil
}

// indexGas is IndexGas from the fork's activation block on.
func (m *Module) indexGas(number uint64) uint64 {
	if m.prune && number >= m.pruneFrom {
		return IndexGas
	}
	return 0
}

// Factory returns the module's native.Factory for a chain with staking
// epochs of epochLength blocks and a target block period of blockPeriodMs.
func Factory(epochLength, blockPeriodMs uint64, opts ...Option) native.Factory {
	return func(raw json.RawMessage) (native.Module, error) {
		p, err := ParseParams(raw)
		if err != nil {
			return nil, err
		}
		return NewModule(p, epochLength, blockPeriodMs, opts...)
	}
}

// NewModule returns the module with params p, checked against the
// timeline (Params.CheckTimeline).
func NewModule(p Params, epochLength, blockPeriodMs uint64, opts ...Option) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := p.CheckTimeline(epochLength, blockPeriodMs); err != nil {
		return nil, err
	}
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: verify: %w", native.ErrBadABI, err)
	}
	m := &Module{params: p, epochLength: epochLength, blockPeriodMs: blockPeriodMs, offsets: map[uint64]bool{}, abi: parsed}
	for _, c := range p.PoW.Classes {
		off := blocksFor(c.DeadlineSeconds, blockPeriodMs)
		m.offsets[off] = true
		m.maxOffset = max(m.maxOffset, off)
	}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.VerifyAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params { return m.params }

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	v := uint64(m.params.Verifiers)
	return []native.Method{
		{Name: "commitRoot", Gas: CommitGas(v), BlockGas: m.indexGas, Mutates: true, Handler: m.commitRoot},
		{Name: "attest", Gas: AttestGas(v), InputGas: evidenceGas, Mutates: true, Handler: m.attest},
		{Name: "attestFail", Gas: AttestFailGas(v), Mutates: true, Handler: m.attestFail},
		{Name: "rebut", Gas: RebutGas(v), InputGas: evidenceGas, Mutates: true, Handler: m.rebut},
		{Name: "recordMiss", Gas: RecordMissGas, BlockGas: m.indexGas, Mutates: true, Handler: m.recordMiss},
		{Name: "challengeOf", Gas: ChallengeOfGas(v), Handler: m.challengeOf},
		{Name: "faultsOf", Gas: FaultsOfGas, Handler: m.faultsOf},
		{Name: "epochSeed", Gas: EpochSeedGas, Handler: m.epochSeed},
		{Name: "missRecorded", Gas: MissRecordedGas, Handler: m.missRecorded},
		{Name: "historyOf", Gas: HistoryOfGas, Handler: m.historyOf},
		{Name: "probeFail", Gas: ProbeFailGas(v), BlockGas: m.indexGas, Mutates: true, Handler: m.probeFail},
		{Name: "probeOf", Gas: ProbeOfGas(v), Handler: m.probeOf},
		{Name: "routerProbesOf", Gas: RouterProbesOfGas, Handler: m.routerProbesOf},
	}
}

// Challenge is one node's challenge as the views report it.
type Challenge struct {
	Status        uint8
	Root          common.Hash
	N             int
	CommitBlock   uint64
	DeadlineBlock uint64
	// WindowEnd is the last block of the attestation window, whose end
	// decides the challenge.
	WindowEnd uint64
	Verifiers []common.Address
	Slots     []uint8
	Needed    uint8
	// Recorded: the outcome is stored on chain (decided at the window's
	// end, or a miss recordMiss recorded); false for a pending challenge
	// and for a miss the view reports lazily. The challengeOf ABI does not
	// carry it (its encoding is unchanged); missRecorded does.
	Recorded bool
}

// EpochOf is the staking epoch of block number.
func (m *Module) EpochOf(number uint64) uint64 { return number / m.epochLength }

// epochStart is epoch's first block.
func (m *Module) epochStart(epoch uint64) uint64 { return epoch * m.epochLength }

// deadlineOf is the commit deadline block of class in epoch.
func (m *Module) deadlineOf(epoch uint64, class pow.Class) uint64 {
	return m.epochStart(epoch) + 1 + blocksFor(class.DeadlineSeconds, m.blockPeriodMs)
}

// classOf is the class of a registered node and its index in the table.
func (m *Module) classOf(n *registry.Node) (pow.Class, int, error) {
	class, ok := m.params.PoW.ClassFor(n.GPUModel, n.GPUCount, n.Simulated)
	if !ok {
		return pow.Class{}, 0, fmt.Errorf("%w: no class for node %s", native.ErrInternal, n.Owner) // Validate makes this impossible
	}
	for i, c := range m.params.PoW.Classes {
		if c.Name == class.Name {
			return class, i, nil
		}
	}
	return pow.Class{}, 0, fmt.Errorf("%w: class %q not in the table", native.ErrInternal, class.Name)
}

// challengedNode returns owner's registry record if it was registered at
// epoch's first block (and still is).
func (m *Module) challengedNode(s native.StateReader, epoch uint64, owner common.Address) (registry.Node, error) {
	n, ok, err := registry.NodeOf(s, owner)
	if err != nil {
		return registry.Node{}, fmt.Errorf("%w: registry record of %s: %w", native.ErrInternal, owner, err)
	}
	if !ok || n.RegisteredBlock > m.epochStart(epoch) {
		return registry.Node{}, fmt.Errorf("%w: %s in epoch %d", ErrNotNode, owner, epoch)
	}
	return n, nil
}

// Listing is what a compute node needs to answer its challenge of an
// epoch (see [Module.ListingOf]).
type Listing struct {
	// Challenged: the node was registered at the epoch's first block and
	// its listing has not changed since, so commitRoot would accept it.
	Challenged bool
	// N and Deadline: the problem size and commit deadline block of its
	// class.
	N        int
	Deadline uint64
}

// ListingOf reads owner's listing as commitRoot sees it in epoch: whether
// it is challenged, and its class's n and deadline block. An owner with
// no listing, or one listed after the epoch began, is not challenged.
func (m *Module) ListingOf(s native.StateReader, epoch uint64, owner common.Address) (Listing, error) {
	n, err := m.challengedNode(s, epoch, owner)
	if errors.Is(err, ErrNotNode) {
		return Listing{}, nil
	}
	if err != nil {
		return Listing{}, err
	}
	class, _, err := m.classOf(&n)
	if err != nil {
		return Listing{}, err
	}
	return Listing{Challenged: n.UpdatedBlock <= m.epochStart(epoch), N: class.N, Deadline: m.deadlineOf(epoch, class)}, nil
}

func (m *Module) commitRoot(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	r, ok := args[1].([32]byte)
	if !ok {
		return nil, fmt.Errorf("%w: root is %T", native.ErrBadInput, args[1])
	}
	root := common.Hash(r)
	if cur := c.BlockNumber / m.epochLength; epoch != cur {
		return nil, fmt.Errorf("%w: epoch %d, current %d", ErrWrongEpoch, epoch, cur)
	}
	seed, startTime, seeded := EpochSeed(c.State, epoch)
	if !seeded {
		return nil, fmt.Errorf("%w: epoch %d", ErrNoSeed, epoch)
	}
	if root == (common.Hash{}) {
		return nil, ErrZeroRoot
	}
	n, err := m.challengedNode(c.State, epoch, c.Caller)
	if err != nil {
		return nil, err
	}
	if n.UpdatedBlock > m.epochStart(epoch) {
		return nil, fmt.Errorf("%w: updated in block %d", ErrListingChanged, n.UpdatedBlock)
	}
	ch, err := loadChallenge(c.State, epoch, c.Caller)
	if err != nil {
		return nil, err
	}
	if ch.Committed || ch.Outcome != StatusNone {
		return nil, ErrCommitted
	}
	class, idx, err := m.classOf(&n)
	if err != nil {
		return nil, err
	}
	deadline := m.deadlineOf(epoch, class)
	if c.BlockNumber > deadline || c.Time > startTime+class.DeadlineSeconds {
		return nil, fmt.Errorf("%w: block %d (deadline %d), time %d (deadline %d)", ErrLate,
			c.BlockNumber, deadline, c.Time, startTime+class.DeadlineSeconds)
	}
	vs := m.DrawVerifiers(c.State, epoch, pow.ChallengeSeed(seed, c.Caller), c.Caller)
	ch = challenge{
		Root: root, CommitBlock: c.BlockNumber, DeadlineBlock: deadline, Class: uint8(idx),
		SlotCount: uint8(len(vs)), Needed: m.needed(len(vs)), Committed: true,
	}
	copy(ch.Verifiers[:], vs)
	saveChallenge(c, epoch, c.Caller, &ch)
	m.index(c, epoch, c.Caller)
	pushDue(c, deadline+m.params.AttestBlocks, c.Caller)
	return nil, c.Emit("RootCommitted", epoch, c.Caller, [32]byte(root), uint32(class.N), vs)
}

// needed is the passes a challenge with slots verifier slots needs:
// PassesNeeded scaled to the slots, rounded up (PassesNeeded itself with
// all slots; 0 with none, a void challenge).
func (m *Module) needed(slots int) uint8 {
	return uint8((m.params.PassesNeeded*slots + m.params.Verifiers - 1) / m.params.Verifiers)
}

// DrawVerifiers draws up to Verifiers distinct validators of epoch's set,
// never owner nor a signer owner claimed (the set lists signers): the first positions of a permutation of the set's indices,
// position s swapped with s + (h_s mod (count − s)) (a Fisher–Yates
// shuffle run only as far as needed), h_s the first 8 bytes, big-endian,
// of SHA-256(tagVerifier ‖ challengeSeed ‖ u64be(s)); the owner's
// position, if drawn, is skipped (an owner has at most one signer in the
// set). It reads at most Verifiers+1 validators and their owners. The modulo bias is below count/2^64.
func (m *Module) DrawVerifiers(s native.StateReader, epoch uint64, challengeSeed common.Hash, owner common.Address) []common.Address {
	count := ValidatorCount(s, epoch)
	swapped := map[uint64]uint64{}
	at := func(i uint64) uint64 {
		if v, ok := swapped[i]; ok {
			return v
		}
		return i
	}
	var buf [len(tagVerifier) + 32 + 8]byte
	p := copy(buf[:], tagVerifier)
	p += copy(buf[p:], challengeSeed[:])
	var out []common.Address
	for pos := uint64(0); pos < count && len(out) < m.params.Verifiers; pos++ {
		binary.BigEndian.PutUint64(buf[p:], pos)
		h := sha256.Sum256(buf[:])
		j := pos + binary.BigEndian.Uint64(h[:8])%(count-pos)
		pj, pp := at(j), at(pos)
		swapped[j], swapped[pos] = pp, pj
		if v := ValidatorAt(s, epoch, pj); !ownedBy(s, v, owner) {
			out = append(out, v)
		}
	}
	return out
}

// ownedBy reports whether validator signer v is owner itself or a signer
// owner claimed in the staking module (setSigner).
func ownedBy(s native.StateReader, v, owner common.Address) bool {
	if v == owner {
		return true
	}
	o, ok := staking.SignerOwner(s, v)
	return ok && o == owner
}

// openWindow loads node's committed challenge of epoch and checks that
// the current block is in its attestation window.
func (m *Module) openWindow(c *native.Call, epoch uint64, node common.Address) (challenge, error) {
	if err := m.checkKept(epoch, c.BlockNumber); err != nil {
		return challenge{}, err
	}
	ch, err := loadChallenge(c.State, epoch, node)
	if err != nil {
		return ch, err
	}
	if !ch.Committed {
		return ch, fmt.Errorf("%w: %s in epoch %d", ErrNoChallenge, node, epoch)
	}
	if c.BlockNumber <= ch.DeadlineBlock || c.BlockNumber > ch.DeadlineBlock+m.params.AttestBlocks || ch.Outcome != StatusNone {
		return ch, fmt.Errorf("%w: block %d, window %d to %d", ErrWindow, c.BlockNumber, ch.DeadlineBlock+1, ch.DeadlineBlock+m.params.AttestBlocks)
	}
	return ch, nil
}

// slotOf is v's slot in ch.
func slotOf(ch *challenge, v common.Address) (int, error) {
	for i := range int(ch.SlotCount) {
		if ch.Verifiers[i] == v {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: %s", ErrNotVerifier, v)
}

// checkEvidence verifies openings as verifier v's sample of node's
// challenge: v's chunks (pow.SampleChunks with the deadline block's hash,
// the root and v), with proofs to the root, equal to the chunks recomputed
// from the node's workload.
func (m *Module) checkEvidence(c *native.Call, epoch uint64, node common.Address, ch *challenge, v common.Address, openings []byte) error {
	seed, _, ok := EpochSeed(c.State, epoch)
	if !ok {
		return fmt.Errorf("%w: no seed for epoch %d", ErrCorrupt, epoch)
	}
	sampleSeed, ok := SampleSeed(c.State, ch.DeadlineBlock)
	if !ok {
		return fmt.Errorf("%w: no sample seed for block %d", ErrCorrupt, ch.DeadlineBlock)
	}
	if int(ch.Class) >= len(m.params.PoW.Classes) {
		return fmt.Errorf("%w: class %d", ErrCorrupt, ch.Class)
	}
	n := m.params.PoW.Classes[ch.Class].N
	want, err := pow.SampleChunks(sampleSeed, ch.Root, v, n, m.params.PoW.ChunksPerValidator)
	if err != nil {
		return fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	dn, ops, err := pow.DecodeOpenings(openings)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	if dn != n {
		return fmt.Errorf("%w: openings for n %d, the challenge's is %d", ErrEvidence, dn, n)
	}
	w := pow.Workload{Seed: pow.ChallengeSeed(seed, node), N: n}
	if err := pow.Verify(w, ch.Root, want, ops); err != nil {
		return fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	return nil
}

// pendingSlot is the caller's verifier slot of node's challenge in epoch:
// the window open, the caller one of its verifiers, the slot not yet
// decided.
func (m *Module) pendingSlot(c *native.Call, epoch uint64, node common.Address) (challenge, int, error) {
	ch, err := m.openWindow(c, epoch, node)
	if err != nil {
		return challenge{}, 0, err
	}
	i, err := slotOf(&ch, c.Caller)
	if err != nil {
		return challenge{}, 0, err
	}
	if ch.Slots[i] != SlotPending {
		return challenge{}, 0, ErrSlotDone
	}
	return ch, i, nil
}

func (m *Module) attest(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	node, _ := args[1].(common.Address)
	openings, _ := args[2].([]byte)
	ch, i, err := m.pendingSlot(c, epoch, node)
	if err != nil {
		return nil, err
	}
	if err := m.checkEvidence(c, epoch, node, &ch, c.Caller, openings); err != nil {
		return nil, err
	}
	ch.Slots[i] = SlotPassed
	saveMeta(c, epoch, node, &ch)
	return nil, c.Emit("Attested", epoch, node, c.Caller, true)
}

func (m *Module) attestFail(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	node, _ := args[1].(common.Address)
	ch, i, err := m.pendingSlot(c, epoch, node)
	if err != nil {
		return nil, err
	}
	ch.Slots[i] = SlotFailed
	saveMeta(c, epoch, node, &ch)
	return nil, c.Emit("Attested", epoch, node, c.Caller, false)
}

func (m *Module) rebut(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	v, _ := args[1].(common.Address)
	openings, _ := args[2].([]byte)
	node := c.Caller
	ch, err := m.openWindow(c, epoch, node)
	if err != nil {
		return nil, err
	}
	i, err := slotOf(&ch, v)
	if err != nil {
		return nil, err
	}
	falseFail := ch.Slots[i] == SlotFailed
	if ch.Slots[i] != SlotPending && !falseFail {
		return nil, ErrSlotDone
	}
	if err := m.checkEvidence(c, epoch, node, &ch, v, openings); err != nil {
		return nil, err
	}
	if falseFail {
		ch.Slots[i] = SlotRebutted
		bump(c, slotValFaults, v, 1)
	} else {
		ch.Slots[i] = SlotProvenByNode
	}
	saveMeta(c, epoch, node, &ch)
	return nil, c.Emit("Rebutted", epoch, node, v, falseFail)
}

// forfeit takes back node's compute credits of the current reward epoch
// (the challenge's: every window closes inside its staking epoch, whose
// blocks after the first are in the reward epoch of the same number).
func (m *Module) forfeit(c *native.Call, node common.Address) error {
	if m.rewards == nil {
		return nil
	}
	if _, err := m.rewards.ForfeitComputeCredits(c, node); err != nil {
		return fmt.Errorf("verify: forfeit of %s's compute credits: %w", node, err)
	}
	return nil
}

// lastDeadline is the last commit deadline block of epoch, over all
// classes.
func (m *Module) lastDeadline(epoch uint64) uint64 { return m.epochStart(epoch) + 1 + m.maxOffset }

func (m *Module) recordMiss(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	node, _ := args[1].(common.Address)
	if err := m.checkKept(epoch, c.BlockNumber); err != nil {
		return nil, err
	}
	if _, _, ok := EpochSeed(c.State, epoch); !ok {
		return nil, fmt.Errorf("%w: epoch %d", ErrNoSeed, epoch)
	}
	if c.BlockNumber <= m.lastDeadline(epoch) {
		return nil, fmt.Errorf("%w: deadlines of epoch %d run through block %d", ErrWindow, epoch, m.lastDeadline(epoch))
	}
	if _, err := m.challengedNode(c.State, epoch, node); err != nil {
		return nil, err
	}
	ch, err := loadChallenge(c.State, epoch, node)
	if err != nil {
		return nil, err
	}
	if ch.Committed || ch.Outcome != StatusNone {
		return nil, ErrCommitted
	}
	ch.Outcome = StatusMissed
	saveMeta(c, epoch, node, &ch)
	m.index(c, epoch, node)
	bump(c, slotNodeFaults, node, 2)
	pushHistory(c, node, StatusMissed)
	if c.BlockNumber/m.epochLength == epoch { // the credits of a past epoch are settled
		if err := m.forfeit(c, node); err != nil {
			return nil, err
		}
	}
	return nil, c.Emit("MissRecorded", epoch, node)
}

// ChallengeOf reads node's challenge of epoch as of block number. A node
// that was challenged (registered at the epoch's first block) and has no
// root once every deadline of the epoch passed is reported missed even
// before recordMiss records it.
func (m *Module) ChallengeOf(s native.StateReader, epoch uint64, node common.Address, number uint64) (Challenge, error) {
	if err := m.checkKept(epoch, number); err != nil {
		return Challenge{}, err
	}
	ch, err := loadChallenge(s, epoch, node)
	if err != nil {
		return Challenge{}, err
	}
	out := Challenge{Status: ch.Outcome, Root: ch.Root, CommitBlock: ch.CommitBlock, DeadlineBlock: ch.DeadlineBlock, Needed: ch.Needed,
		Verifiers: []common.Address{}, Slots: []uint8{}, Recorded: ch.Outcome != StatusNone}
	if ch.Committed {
		if int(ch.Class) >= len(m.params.PoW.Classes) {
			return Challenge{}, fmt.Errorf("%w: class %d", ErrCorrupt, ch.Class)
		}
		out.N = m.params.PoW.Classes[ch.Class].N
		out.WindowEnd = ch.DeadlineBlock + m.params.AttestBlocks
		out.Verifiers = append(out.Verifiers, ch.Verifiers[:ch.SlotCount]...)
		out.Slots = append(out.Slots, ch.Slots[:ch.SlotCount]...)
		if ch.Outcome == StatusNone {
			out.Status = StatusCommitted
		}
		return out, nil
	}
	if ch.Outcome == StatusNone && number > m.lastDeadline(epoch) {
		if _, _, ok := EpochSeed(s, epoch); ok {
			if _, err := m.challengedNode(s, epoch, node); err == nil {
				out.Status = StatusMissed
			}
		}
	}
	return out, nil
}

func (m *Module) challengeOf(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	node, _ := args[1].(common.Address)
	ch, err := m.ChallengeOf(c.State, epoch, node, c.BlockNumber)
	if err != nil {
		return nil, err
	}
	return []any{ch.Status, [32]byte(ch.Root), uint32(ch.N), ch.CommitBlock, ch.DeadlineBlock, ch.WindowEnd, ch.Verifiers, ch.Slots, ch.Needed}, nil
}

// MissDue is the first block in which recordMiss accepts a miss of epoch:
// the block after the epoch's last commit deadline.
func (m *Module) MissDue(epoch uint64) uint64 { return m.lastDeadline(epoch) + 1 }

// MissRecorded reports whether recordMiss recorded node's miss of epoch.
func MissRecorded(s native.StateReader, epoch uint64, node common.Address) (bool, error) {
	ch, err := loadChallenge(s, epoch, node)
	if err != nil {
		return false, err
	}
	return !ch.Committed && ch.Outcome == StatusMissed, nil
}

func (m *Module) missRecorded(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	node, _ := args[1].(common.Address)
	if err := m.checkKept(epoch, c.BlockNumber); err != nil {
		return nil, err
	}
	ok, err := MissRecorded(c.State, epoch, node)
	if err != nil {
		return nil, err
	}
	return []any{ok}, nil
}

func (m *Module) historyOf(c *native.Call, args []any) ([]any, error) {
	a, _ := args[0].(common.Address)
	h := HistoryOf(c.State, a)
	if h == nil {
		h = []uint8{}
	}
	return []any{h}, nil
}

func (m *Module) faultsOf(c *native.Call, args []any) ([]any, error) {
	a, _ := args[0].(common.Address)
	f := FaultsOf(c.State, a)
	return []any{f.Passed, f.Failed, f.Missed, f.MissedDuties, f.FalseFails}, nil
}

func (m *Module) epochSeed(c *native.Call, args []any) ([]any, error) {
	epoch, _ := args[0].(uint64)
	if err := m.checkKept(epoch, c.BlockNumber); err != nil {
		return nil, err
	}
	seed, t, ok := EpochSeed(c.State, epoch)
	return []any{ok, [32]byte(seed), t, new(big.Int).SetUint64(ValidatorCount(c.State, epoch))}, nil
}

// BeginBlock implements native.BlockHooks. In an epoch's second block
// (block b+1 of the epoch starting at b) it stores the epoch's seed (the
// parent hash: block b's), the block's time and the epoch's validators,
// and, under the verifyPrune fork, deletes the epoch KeepEpochs before;
// in the block after a class's commit deadline block D it stores D's hash
// (the parent hash), the sample seed of that class's challenges.
func (m *Module) BeginBlock(c *native.Call, env *native.BlockEnv) error {
	pos := env.Number % m.epochLength
	epoch := env.Number / m.epochLength
	switch {
	case pos == 1:
		storeEpochSeed(c, epoch, env.ParentHash, env.Time)
		storeValidators(c, epoch, env.Validators)
		if epoch >= m.params.KeepEpochs && m.indexed(epoch-m.params.KeepEpochs) {
			m.pruneEpoch(c, epoch-m.params.KeepEpochs)
		}
	case pos >= 2 && m.offsets[pos-2]:
		c.Store(blockHashKey(env.Number-1), env.ParentHash)
	}
	return nil
}

// EndBlock implements native.BlockHooks: it decides every challenge whose
// window ends with this block (each entry prepaid by its commitRoot). A
// challenge passes with at least Needed passing slots (passed, rebutted,
// proven by the node): a verified task, credited through the rewards
// module; otherwise it fails. Every slot left pending counts a missed duty
// against its verifier (a slot the node proved does not: the node may
// post before its verifier had a chance).
func (m *Module) EndBlock(c *native.Call, env *native.BlockEnv) error {
	base := dueKey(env.Number)
	count := c.LoadUint(base).Uint64()
	epoch := env.Number / m.epochLength
	for i := range count {
		key := native.ArraySlot(base, i)
		node := common.BytesToAddress(c.Load(key).Bytes())
		c.Store(key, common.Hash{})
		ch, err := loadChallenge(c.State, epoch, node)
		if err != nil {
			return err
		}
		if !ch.Committed || ch.Outcome != StatusNone || ch.DeadlineBlock+m.params.AttestBlocks != env.Number {
			return fmt.Errorf("%w: due challenge of %s in epoch %d", ErrCorrupt, node, epoch)
		}
		if err := m.decide(c, epoch, node, &ch); err != nil {
			return err
		}
	}
	if count > 0 {
		c.Store(base, common.Hash{})
	}
	return nil
}

func (m *Module) decide(c *native.Call, epoch uint64, node common.Address, ch *challenge) error {
	passes := 0
	for i := range int(ch.SlotCount) {
		switch ch.Slots[i] {
		case SlotPassed, SlotRebutted, SlotProvenByNode:
			passes++
		case SlotPending:
			bump(c, slotValFaults, ch.Verifiers[i], 0)
		}
	}
	switch {
	case ch.SlotCount == 0:
		ch.Outcome = StatusVoid
	case passes >= int(ch.Needed):
		ch.Outcome = StatusVerified
		bump(c, slotNodeFaults, node, 0)
		pushHistory(c, node, StatusVerified)
		if m.rewards != nil {
			if _, err := m.rewards.ComputeJobDone(c, node); err != nil {
				return fmt.Errorf("verify: compute credits of %s: %w", node, err)
			}
		}
	default:
		ch.Outcome = StatusFailed
		bump(c, slotNodeFaults, node, 1)
		pushHistory(c, node, StatusFailed)
		if err := m.forfeit(c, node); err != nil {
			return err
		}
	}
	saveMeta(c, epoch, node, ch)
	return nil
}
