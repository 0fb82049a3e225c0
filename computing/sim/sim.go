package sim

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/quorum"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// Kind is a compute node's behaviour.
type Kind string

// The kinds of compute node.
const (
	Honest      Kind = "honest"
	FakeClass   Kind = "fake-class"
	WrongResult Kind = "wrong-result"
	NoShow      Kind = "no-show"
	Colluding   Kind = "colluding"
)

// Chain constants of the simulation: 2 s blocks, 16-block epochs, every
// class n 256 (simulated GPUs), 64 (CPU) or 128 with a 10 s deadline
// (5 blocks), 8 blocks to attest, 3 verifiers and 2 passes a challenge.
const (
	EpochLength   = 16
	BlockPeriodMs = 2000
	simN          = 256
	cpuN          = 64
	// verifyParams: short deadlines for 2 s blocks and small classes; the
	// chunks per verifier are the chain's default, as a real chain has.
	verifyParams = `{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": 10},
		{"name": "cpu", "n": 64, "deadlineSeconds": 10},
		{"name": "gpu", "n": 128, "deadlineSeconds": 10}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated"},
		"attestBlocks": 8, "verifiers": 3, "passesNeeded": 2}`
)

// Config are a run's knobs.
type Config struct {
	// Nodes is the number of compute nodes (1…500: all register in epoch 0).
	Nodes int
	// CheaterFraction is the share of the nodes that cheat, in [0, 1];
	// the count is rounded to nearest.
	CheaterFraction float64
	// Epochs is the number of challenged epochs (1…100), from epoch 1.
	Epochs int
	// Seed makes the run deterministic.
	Seed int64
	// Validators is the validator set size (1…32).
	Validators int
	// Colluders are validators that pass their partner cheaters and fail
	// honest nodes; fewer than a third of Validators.
	Colluders int
	// DownValidators neither attest nor seal; at most a third of
	// Validators, and with the colluders no more than IBFT tolerates.
	DownValidators int
	// DelayBlocks delays every off-chain message (a verifier's request
	// for openings, a node's commit) by this many blocks (0…10).
	DelayBlocks int
	// WrongFraction is the share of chunks a wrong-result or colluding
	// node gets wrong, in (0, 1].
	WrongFraction float64
	// Workers are the goroutines of each pow.Prove.
	Workers int
	// JobsPerEpoch deterministic jobs are submitted in each challenged
	// epoch (0…1000).
	JobsPerEpoch int
}

// DefaultConfig is 20 nodes, 20 % cheaters, 3 epochs, 7 validators of
// which one colludes, 20 jobs an epoch.
func DefaultConfig() Config {
	return Config{Nodes: 20, CheaterFraction: 0.2, Epochs: 3, Seed: 1, Validators: 7, Colluders: 1, WrongFraction: 0.5, Workers: 1, JobsPerEpoch: 20}
}

// ErrConfig is a bad Config.
var ErrConfig = errors.New("sim: bad config")

// Check returns an error naming the first bad knob.
func (c Config) Check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...) }
	switch {
	case c.Nodes < 1 || c.Nodes > 500:
		return bad("nodes %d, want 1…500", c.Nodes)
	case !(c.CheaterFraction >= 0 && c.CheaterFraction <= 1):
		return bad("cheaters %v, want a fraction in [0, 1]", c.CheaterFraction)
	case c.Epochs < 1 || c.Epochs > 100:
		return bad("epochs %d, want 1…100", c.Epochs)
	case c.Validators < 1 || c.Validators > 32:
		return bad("validators %d, want 1…32", c.Validators)
	case c.Colluders < 0 || 3*c.Colluders >= c.Validators && c.Colluders > 0:
		return bad("colluders %d of %d validators, want fewer than a third", c.Colluders, c.Validators)
	case c.DownValidators < 0 || 3*c.DownValidators > c.Validators-1:
		return bad("down validators %d of %d, want at most (validators-1)/3", c.DownValidators, c.Validators)
	case c.Validators-c.DownValidators < quorum.Size(c.Validators):
		return bad("%d validators up of %d, below the %d a block needs", c.Validators-c.DownValidators, c.Validators, quorum.Size(c.Validators))
	case c.Colluders+c.DownValidators > c.Validators:
		return bad("colluders and down validators exceed the set")
	case c.DelayBlocks < 0 || c.DelayBlocks > 10:
		return bad("delay %d blocks, want 0…10", c.DelayBlocks)
	case !(c.WrongFraction > 0 && c.WrongFraction <= 1):
		return bad("wrong fraction %v, want (0, 1]", c.WrongFraction)
	case c.Workers < 1 || c.Workers > 64:
		return bad("workers %d, want 1…64", c.Workers)
	case c.JobsPerEpoch < 0 || c.JobsPerEpoch > 1000:
		return bad("jobs %d an epoch, want 0…1000", c.JobsPerEpoch)
	}
	return nil
}

// EpochReport is one challenged epoch.
type EpochReport struct {
	Epoch uint64 `json:"epoch"`
	// Verified, Failed, Missed count the epoch's challenges by outcome.
	Verified int `json:"verified"`
	Failed   int `json:"failed"`
	Missed   int `json:"missed"`
	// CaughtNew are cheaters punished for the first time; Caught all
	// cheaters punished this epoch.
	CaughtNew int `json:"caught_new"`
	Caught    int `json:"caught"`
	// HonestPunished are honest nodes with a failed or missed challenge.
	HonestPunished int `json:"honest_punished"`
	// SlashedNew are cheaters whose first slash (jobs.FaultsOf) is seen
	// at the epoch's end.
	SlashedNew int `json:"slashed_new"`
	// CheaterCredits, HonestCredits: verified-task credits in the epoch's
	// reward ledger.
	CheaterCredits uint64 `json:"cheater_credits"`
	HonestCredits  uint64 `json:"honest_credits"`
}

// Report is what a run measured.
type Report struct {
	Seed           int64        `json:"seed"`
	Nodes          int          `json:"nodes"`
	Validators     int          `json:"validators"`
	Cheaters       int          `json:"cheaters"`
	CheatersByKind map[Kind]int `json:"cheaters_by_kind"`
	Caught         int          `json:"caught"`
	CaughtByEpoch  []int        `json:"caught_by_epoch"`
	Uncaught       []string     `json:"uncaught,omitempty"`
	UncaughtKinds  map[Kind]int `json:"uncaught_by_kind,omitempty"`
	// HonestSlashed counts honest nodes the jobs module slashed
	// (HonestSlashedNodes); HonestPunished lists honest nodes with a
	// failed or missed challenge.
	HonestSlashed      int      `json:"honest_slashed"`
	HonestSlashedNodes []string `json:"honest_slashed_nodes,omitempty"`
	// HonestSlashedJobs name the re-executions that put an honest node in
	// the minority, and who said what.
	HonestSlashedJobs []string `json:"honest_slashed_jobs,omitempty"`
	HonestPunished    []string `json:"honest_punished,omitempty"`
	CheaterCredits    uint64   `json:"cheater_credits"`
	// CheaterPasses counts cheaters' verified challenges by kind.
	CheaterPasses map[Kind]int `json:"cheater_passes_by_kind,omitempty"`
	// CheaterRewardsWei and HonestRewardsWei are node rewards accrued
	// once the last epoch is settled (decimal wei).
	CheaterRewardsWei string `json:"cheater_rewards_wei"`
	HonestCredits     uint64 `json:"honest_credits"`
	HonestRewardsWei  string `json:"honest_rewards_wei"`
	// Refused counts the transactions the modules reverted, by label
	// (who sent what); honest actors' refusals are listed apart.
	Refused       map[string]int `json:"refused"`
	HonestRefused map[string]int `json:"honest_refused,omitempty"`
	// FalseFails and MissedDuties are the validators' verify counters,
	// honest and colluding apart.
	HonestFalseFails   uint64 `json:"honest_validator_false_fails"`
	ColluderFalseFails uint64 `json:"colluder_false_fails"`
	MissedDuties       uint64 `json:"missed_duties"`
	Blocks             uint64 `json:"blocks"`
	// SpilledTxs were mined after the block they were sent for (a full
	// block); an honest node's late rebuttal could then miss its window.
	SpilledTxs int `json:"spilled_txs"`
	// Jobs: submitted, by final state and by re-execution status;
	// disputes sent; cheaters slashed and jailed by the jobs module and
	// the compute stake they lost; what jobs paid nodes (balance change
	// plus gas spent since registration: provider shares, re-execution
	// fees and shares of slashes), decimal wei.
	JobsSubmitted         int            `json:"jobs_submitted"`
	JobsByState           map[string]int `json:"jobs_by_state,omitempty"`
	JobsByVerify          map[string]int `json:"jobs_by_verify,omitempty"`
	Disputes              int            `json:"disputes"`
	CheatersSlashed       int            `json:"cheaters_slashed"`
	CheatersSlashedByKind map[Kind]int   `json:"cheaters_slashed_by_kind,omitempty"`
	CheatersJailed        int            `json:"cheaters_jailed"`
	CheaterSlashedWei     string         `json:"cheater_slashed_wei"`
	CheaterJobWei         string         `json:"cheater_job_wei"`
	HonestJobWei          string         `json:"honest_job_wei"`
	// SupplyExact: every tracked balance plus what was burned equals the
	// genesis supply after the run (Run fails otherwise).
	SupplyExact         bool          `json:"supply_exact"`
	Epochs              []EpochReport `json:"epochs"`
	ElapsedMilliseconds int64         `json:"elapsed_ms"`
}

type actor struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	nonce uint64
}

type validator struct {
	actor
	colluding, down bool
}

type computeNode struct {
	actor
	kind Kind
	// partner is a colluding node's pair (nil for the odd one out).
	partner *computeNode
	variant int // fake-class: 0 late, 1 small workload; wrong-result: 0 wrong chunks, 1 replay
	// answers[e] is the prover the node answers from in epoch e.
	answers map[uint64]*pow.Prover
	// outcomes counts its challenges as challengeOf decided them, to be
	// checked against faultsOf at the end.
	outcomes verify.Faults
}

type sentKey struct {
	epoch    uint64
	node, by common.Address
}

// label names the node's kind and variant in Report.Refused.
func (n *computeNode) label() string {
	switch {
	case n.kind == FakeClass && n.variant == 0:
		return "fake-class/late"
	case n.kind == FakeClass:
		return "fake-class/small"
	case n.kind == WrongResult && n.variant == 1:
		return "wrong-result/replay"
	}
	return string(n.kind)
}

type pendingTx struct {
	tx     *types.Transaction
	from   common.Address
	label  string
	honest bool
	due    uint64 // the block it was sent for; 0: any block (registration)
}

type sim struct {
	cfg        Config
	rng        *rand.Rand
	chain      *state.Chain
	mod        *verify.Module
	abis       map[common.Address]abi.ABI
	validators []*validator
	nodes      []*computeNode
	keeper     *actor
	sealers    []*validator
	pending    []pendingTx
	labels     map[common.Hash]pendingTx
	// sent marks the rebuttals (epoch, node, verifier) and recordMiss
	// calls (zero verifier) already sent.
	sent map[sentKey]bool
	// byBlock[x] are actions due when block x is built.
	byBlock map[uint64][]func() error
	report  *Report
	// jobs are the job market's actors (jobs.go); nextGas, when set, is
	// the gas limit of the next send.
	jobs    *jobActors
	jobsMod *jobs.Module
	nextGas uint64
}

func keyFor(seed int64, role string, i int) (*ecdsa.PrivateKey, error) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	for ctr := 0; ; ctr++ {
		h := crypto.Keccak256([]byte("emcd:sim:v1"), b[:], []byte(role), big.NewInt(int64(i)).Bytes(), big.NewInt(int64(ctr)).Bytes())
		if k, err := crypto.ToECDSA(h); err == nil {
			return k, nil
		} else if ctr > 8 {
			return nil, fmt.Errorf("sim: key for %s %d: %w", role, i, err)
		}
	}
}

func newActor(seed int64, role string, i int) (*actor, error) {
	k, err := keyFor(seed, role, i)
	if err != nil {
		return nil, err
	}
	return &actor{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}, nil
}

// Run runs one simulation and reports what the modules decided.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	start := time.Now()
	s := &sim{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed)), abis: map[common.Address]abi.ABI{},
		labels: map[common.Hash]pendingTx{}, sent: map[sentKey]bool{}, byBlock: map[uint64][]func() error{},
		report: &Report{Seed: cfg.Seed, Nodes: cfg.Nodes, Validators: cfg.Validators, CheatersByKind: map[Kind]int{},
			CheaterPasses: map[Kind]int{}, Refused: map[string]int{}, HonestRefused: map[string]int{}, UncaughtKinds: map[Kind]int{},
			JobsByState: map[string]int{}, JobsByVerify: map[string]int{}, CheatersSlashedByKind: map[Kind]int{}}}
	if err := s.setup(); err != nil {
		return nil, err
	}
	defer s.chain.Close()
	if err := s.run(ctx); err != nil {
		return nil, err
	}
	s.report.ElapsedMilliseconds = time.Since(start).Milliseconds()
	if len(s.report.HonestRefused) == 0 {
		s.report.HonestRefused = nil
	}
	if len(s.report.CheaterPasses) == 0 {
		s.report.CheaterPasses = nil
	}
	if len(s.report.UncaughtKinds) == 0 {
		s.report.UncaughtKinds = nil
	}
	if len(s.report.CheatersSlashedByKind) == 0 {
		s.report.CheatersSlashedByKind = nil
	}
	return s.report, nil
}

func (s *sim) setup() error {
	cfg := s.cfg
	g := genesis.Dev()
	g.EpochLength = EpochLength
	g.BlockPeriodMs = BlockPeriodMs
	g.Params[verify.Name] = json.RawMessage(verifyParams)
	g.Validators = nil
	gas := new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.EMC))
	for i := range cfg.Validators {
		a, err := newActor(cfg.Seed, "validator", i)
		if err != nil {
			return err
		}
		v := &validator{actor: *a}
		// The colluders are the last validators, the down ones before them.
		v.colluding = i >= cfg.Validators-cfg.Colluders
		v.down = !v.colluding && i >= cfg.Validators-cfg.Colluders-cfg.DownValidators
		s.validators = append(s.validators, v)
		g.Validators = append(g.Validators, v.addr)
		g.Alloc[v.addr] = types.Account{Balance: new(big.Int).Set(gas)}
		if !v.down {
			s.sealers = append(s.sealers, v)
		}
	}
	keeper, err := newActor(cfg.Seed, "keeper", 0)
	if err != nil {
		return err
	}
	s.keeper = keeper
	g.Alloc[keeper.addr] = types.Account{Balance: new(big.Int).Set(gas)}

	cheaters := int(cfg.CheaterFraction*float64(cfg.Nodes) + 0.5)
	kinds := []Kind{FakeClass, WrongResult, NoShow}
	if cfg.Colluders > 0 {
		kinds = append(kinds, Colluding)
	}
	places := s.rng.Perm(cfg.Nodes)
	kindOf := make([]Kind, cfg.Nodes)
	for i := range kindOf {
		kindOf[i] = Honest
	}
	for j := 0; j < cheaters; j++ {
		kindOf[places[j]] = kinds[j%len(kinds)]
	}
	fakes, wrongs := 0, 0
	for i := range cfg.Nodes {
		a, err := newActor(cfg.Seed, "node", i)
		if err != nil {
			return err
		}
		n := &computeNode{actor: *a, kind: kindOf[i], answers: map[uint64]*pow.Prover{}}
		switch n.kind {
		case FakeClass:
			n.variant = fakes % 2
			fakes++
		case WrongResult:
			n.variant = wrongs % 2
			wrongs++
		}
		if n.kind != Honest {
			s.report.CheatersByKind[n.kind]++
		}
		s.nodes = append(s.nodes, n)
		g.Alloc[n.addr] = types.Account{Balance: new(big.Int).Set(gas)}
	}
	s.report.Cheaters = cheaters
	// Colluding nodes pair up in order; an odd one lies alone.
	var lone *computeNode
	for _, n := range s.nodes {
		if n.kind != Colluding {
			continue
		}
		if lone == nil {
			lone = n
			continue
		}
		n.partner, lone.partner, lone = lone, n, nil
	}
	if err := s.setupJobs(g); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return fmt.Errorf("sim: genesis: %w", err)
	}
	mods, err := node.LoadModules(g)
	if err != nil {
		return fmt.Errorf("sim: modules: %w", err)
	}
	m, ok := mods.Lookup(native.VerifyAddress)
	if !ok {
		return errors.New("sim: the verify module is not loaded")
	}
	if s.mod, ok = m.(*verify.Module); !ok {
		return errors.New("sim: the verify module has an unexpected type")
	}
	for _, m := range mods.All() {
		a, err := abi.JSON(strings.NewReader(m.ABI()))
		if err != nil {
			return fmt.Errorf("sim: %s ABI: %w", m.Name(), err)
		}
		s.abis[m.Address()] = a
	}
	jm, ok := mods.Lookup(native.JobsAddress)
	if !ok {
		return errors.New("sim: the jobs module is not loaded")
	}
	if s.jobsMod, ok = jm.(*jobs.Module); !ok {
		return errors.New("sim: the jobs module has an unexpected type")
	}
	if s.chain, err = state.Open(state.OpenMemoryStore(), g, mods, nil); err != nil {
		return fmt.Errorf("sim: open chain: %w", err)
	}
	s.trackSupply(g, mods.GenesisAlloc())
	return nil
}

// send queues a signed call from a for the next block.
func (s *sim) send(a *actor, honest bool, label string, to common.Address, value *big.Int, method string, args ...any) error {
	data, err := s.abis[to].Pack(method, args...)
	if err != nil {
		return fmt.Errorf("sim: pack %s: %w", method, err)
	}
	cid := s.chain.Config().ChainID
	tx, err := types.SignNewTx(a.key, types.LatestSignerForChainID(cid), &types.DynamicFeeTx{
		ChainID: cid, Nonce: a.nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
		Gas: max(3_000_000, s.nextGas), To: &to, Value: value, Data: data,
	})
	if err != nil {
		return fmt.Errorf("sim: sign: %w", err)
	}
	a.nonce++
	p := pendingTx{tx: tx, from: a.addr, label: label, honest: honest, due: s.chain.Head().Number.Uint64() + 1}
	s.pending = append(s.pending, p)
	s.labels[tx.Hash()] = p
	return nil
}

// at schedules f when block x is built.
func (s *sim) at(x uint64, f func() error) { s.byBlock[x] = append(s.byBlock[x], f) }

// txSource hands the pending transactions to BuildBlock in order,
// skipping the rest of a sender's once it pops one.
type txSource struct {
	p      []pendingTx
	i      int
	popped map[common.Address]bool
	taken  map[common.Hash]bool
}

func (t *txSource) skip() {
	for t.i < len(t.p) && t.popped[t.p[t.i].from] {
		t.i++
	}
}
func (t *txSource) Peek() *types.Transaction {
	t.skip()
	if t.i >= len(t.p) {
		return nil
	}
	return t.p[t.i].tx
}
func (t *txSource) Shift() {
	t.skip()
	if t.i < len(t.p) {
		t.taken[t.p[t.i].tx.Hash()] = true
		t.i++
	}
}
func (t *txSource) Pop() {
	t.skip()
	if t.i < len(t.p) {
		t.popped[t.p[t.i].from] = true
	}
}

// mine builds, seals and inserts the next block with what is pending.
func (s *sim) mine(ctx context.Context) error {
	head := s.chain.Head()
	var parent *cert.Certificate
	if head.Number.Sign() > 0 {
		c, err := s.chain.Certificate(head.Number.Uint64(), head.Hash())
		if err != nil || c == nil {
			return fmt.Errorf("sim: head certificate: %v", err)
		}
		parent = c
	}
	src := &txSource{p: s.pending, popped: map[common.Address]bool{}, taken: map[common.Hash]bool{}}
	b, err := s.chain.BuildBlock(ctx, src, state.BuildParams{
		Coinbase: s.sealers[0].addr, Time: time.Unix(int64(head.Time)+BlockPeriodMs/1000, 0), ParentCommit: parent,
	})
	if err != nil {
		return fmt.Errorf("sim: build block %d: %w", head.Number.Uint64()+1, err)
	}
	ct := &cert.Certificate{}
	for _, v := range s.sealers {
		seal, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, v.key) })
		if err != nil {
			return fmt.Errorf("sim: seal: %w", err)
		}
		ct.Seals = append(ct.Seals, seal)
	}
	if err := s.chain.InsertBlock(ctx, b, ct); err != nil {
		return fmt.Errorf("sim: insert block %d: %w", b.NumberU64(), err)
	}
	in := map[common.Hash]bool{}
	for _, tx := range b.Transactions() {
		in[tx.Hash()] = true
	}
	rest := s.pending[:0]
	for _, p := range s.pending {
		switch {
		case in[p.tx.Hash()]:
		case src.taken[p.tx.Hash()]:
			// Taken but left out: the builder found it invalid.
			return fmt.Errorf("sim: block %d dropped %s", b.NumberU64(), p.label)
		default:
			rest = append(rest, p)
		}
	}
	s.pending = rest
	for _, r := range s.chain.Receipts(b.Hash()) {
		p := s.labels[r.TxHash]
		s.noteGas(p.from, r)
		if r.Status == types.ReceiptStatusSuccessful {
			continue
		}
		label, honest := s.refusedLabel(p, r.TxHash, b.NumberU64())
		s.report.Refused[label]++
		if honest {
			s.report.HonestRefused[label]++
		}
	}
	for _, tx := range b.Transactions() {
		if p := s.labels[tx.Hash()]; p.due != 0 && p.due < b.NumberU64() {
			s.report.SpilledTxs++
		}
		delete(s.labels, tx.Hash())
		delete(s.jobs.assignTo, tx.Hash())
	}
	s.report.Blocks = b.NumberU64()
	return nil
}

func (s *sim) headState() (native.StateReader, error) {
	st, err := s.chain.StateAt(s.chain.Head().Root)
	if err != nil {
		return nil, fmt.Errorf("sim: head state: %w", err)
	}
	return st, nil
}

func peerKey(seed int64, i int) (lcrypto.PrivKey, error) {
	k, _, err := lcrypto.GenerateEd25519Key(rand.New(rand.NewSource(seed*1_000_003 + int64(i))))
	return k, err
}

// register queues every node's listing (a simulated H200) and its
// compute-role stake.
func (s *sim) register() error {
	cid := uint256.MustFromBig(s.chain.Config().ChainID)
	for i, n := range s.nodes {
		pk, err := peerKey(s.cfg.Seed, i)
		if err != nil {
			return fmt.Errorf("sim: peer key: %w", err)
		}
		id, sig, err := registry.SignPeerProof(pk, cid, n.addr)
		if err != nil {
			return fmt.Errorf("sim: peer proof: %w", err)
		}
		if err := s.send(&n.actor, true, "registerNode", native.RegistryAddress, nil, "registerNode", id, sig, [32]byte{1}, uint32(1),
			"NVIDIA H200", uint64(143_771), true, []string{"NVIDIA H200"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{{0xaa}}); err != nil {
			return err
		}
		if err := s.send(&n.actor, true, "stake", native.StakingAddress, big.NewInt(params.EMC), "stake", uint8(staking.RoleCompute), uint8(0)); err != nil {
			return err
		}
	}
	return s.stakeRouter()
}

func (s *sim) run(ctx context.Context) error {
	if err := s.register(); err != nil {
		return err
	}
	for i := range s.pending {
		s.pending[i].due = 0
		s.labels[s.pending[i].tx.Hash()] = s.pending[i]
	}
	s.at(EpochLength, func() error {
		if len(s.pending) != 0 {
			return fmt.Errorf("sim: %d registration transactions not mined before epoch 1 (first: %s)", len(s.pending), s.pending[0].label)
		}
		return s.startJobs()
	})
	last := uint64(s.cfg.Epochs)
	for e := uint64(1); e <= last; e++ {
		s.scheduleEpoch(e)
	}
	s.report.CaughtByEpoch = make([]int, s.cfg.Epochs)
	caught := map[common.Address]bool{}
	end := (last+1)*EpochLength + 1 // epoch last+1's first blocks settle the last reward epoch
	for s.chain.Head().Number.Uint64() < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := s.chain.Head().Number.Uint64() + 1
		for _, f := range s.byBlock[x] {
			if err := f(); err != nil {
				return err
			}
		}
		delete(s.byBlock, x)
		if x > EpochLength {
			if err := s.stepJobs(x); err != nil {
				return err
			}
		}
		if err := s.mine(ctx); err != nil {
			return err
		}
		if x%EpochLength == EpochLength-1 && x/EpochLength >= 1 && x/EpochLength <= last {
			if err := s.account(x/EpochLength, caught); err != nil {
				return err
			}
		}
	}
	if len(s.pending) != 0 {
		return fmt.Errorf("sim: %d transactions never mined (first: %s)", len(s.pending), s.pending[0].label)
	}
	if err := s.final(caught); err != nil {
		return err
	}
	// The last jobs end (a slash seen now counts for the last epoch).
	for i := 0; len(s.jobs.live) > 0 || s.jobs.nextID == 1 && s.cfg.JobsPerEpoch > 0; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i >= drainBlocks {
			return fmt.Errorf("sim: %d jobs still open %d blocks after the last epoch", len(s.jobs.live), drainBlocks)
		}
		if err := s.stepJobs(s.chain.Head().Number.Uint64() + 1); err != nil {
			return err
		}
		if len(s.jobs.live) == 0 {
			break
		}
		if err := s.mine(ctx); err != nil {
			return err
		}
	}
	if len(s.pending) != 0 {
		return fmt.Errorf("sim: %d transactions never mined (first: %s)", len(s.pending), s.pending[0].label)
	}
	if err := s.lateSlashes(caught); err != nil {
		return err
	}
	return s.jobsFinal()
}

// scheduleEpoch plans epoch e's actions; each reads the chain when it runs.
func (s *sim) scheduleEpoch(e uint64) {
	b := e * EpochLength
	d := b + 1 + uint64(s.mod.Params().PoW.Classes[0].DeadlineSeconds*1000+BlockPeriodMs-1)/BlockPeriodMs
	attest := s.mod.Params().AttestBlocks
	windowEnd := d + attest
	delay := uint64(s.cfg.DelayBlocks)
	// Block b+1: the seed (hash of b) is known; nodes compute.
	s.at(b+1, func() error { return s.prove(e) })
	s.at(b+1, func() error { return s.submitJobs(e) })
	// Commits: honest ones DelayBlocks late but inside the deadline.
	s.at(min(b+1+delay, d), func() error { return s.commit(e, false) })
	s.at(d+1, func() error { return s.commit(e, true) }) // too slow for the class
	// Verifiers fetch openings DelayBlocks after the sample seed is known;
	// one whose answer would arrive when the nodes already rebut gives up
	// (the nodes prove its slots).
	if x := d + 1 + delay; x < windowEnd-1 {
		s.at(x, func() error { return s.verifiers(e) })
	}
	// The window's last two blocks: nodes rebut what is failed or pending
	// (a block of slack for a full block), the keeper records misses.
	s.at(windowEnd-1, func() error { return s.closeWindow(e, windowEnd-1) })
	s.at(windowEnd, func() error { return s.closeWindow(e, windowEnd) })
}

func (s *sim) epochSeed(e uint64) (common.Hash, error) {
	st, err := s.headState()
	if err != nil {
		return common.Hash{}, err
	}
	// Building block b+1: the seed will be b's hash, the head.
	if h := s.chain.Head(); h.Number.Uint64() == e*EpochLength {
		return h.Hash(), nil
	}
	seed, _, ok := verify.EpochSeed(st, e)
	if !ok {
		return common.Hash{}, fmt.Errorf("sim: no seed for epoch %d", e)
	}
	return seed, nil
}

// prove computes every committing node's answer of epoch e.
func (s *sim) prove(e uint64) error {
	seed, err := s.epochSeed(e)
	if err != nil {
		return err
	}
	for _, n := range s.nodes {
		w := pow.Workload{Seed: pow.ChallengeSeed(seed, n.addr), N: simN}
		var p *pow.Prover
		switch {
		case n.kind == NoShow:
			continue
		case n.kind == FakeClass && n.variant == 1:
			w.N = cpuN
			p, err = pow.Prove(context.Background(), w, s.cfg.Workers)
		case n.kind == WrongResult || n.kind == Colluding:
			p, err = s.wrongProver(w)
		default:
			p, err = pow.Prove(context.Background(), w, s.cfg.Workers)
		}
		if err != nil {
			return fmt.Errorf("sim: prove: %w", err)
		}
		n.answers[e] = p
	}
	// Replayers copy the first honest node's root and answers; with no
	// honest node they get chunks wrong like the others.
	var honest *pow.Prover
	for _, n := range s.nodes {
		if n.kind == Honest {
			honest = n.answers[e]
			break
		}
	}
	for _, n := range s.nodes {
		if n.kind == WrongResult && n.variant == 1 && honest != nil {
			n.answers[e] = honest
		}
	}
	return nil
}

// wrongProver commits to w's output with WrongFraction of its chunks
// changed (one entry each, so the chunk differs).
func (s *sim) wrongProver(w pow.Workload) (*pow.Prover, error) {
	c, err := pow.Compute(context.Background(), w, s.cfg.Workers)
	if err != nil {
		return nil, err
	}
	chunks := pow.Chunks(w.N)
	wrong := int(s.cfg.WrongFraction*float64(chunks) + 0.5)
	if wrong < 1 {
		wrong = 1
	}
	for _, i := range s.rng.Perm(chunks)[:wrong] {
		c[i*pow.ChunkEntries+s.rng.Intn(pow.ChunkEntries)]++
	}
	return pow.NewProver(w, c, s.cfg.Workers)
}

// commit sends the roots of epoch e: the late fake-class nodes when late,
// every other committing node otherwise.
func (s *sim) commit(e uint64, late bool) error {
	for _, n := range s.nodes {
		p := n.answers[e]
		if p == nil || late != (n.kind == FakeClass && n.variant == 0) {
			continue
		}
		label := "commitRoot(" + n.label() + ")"
		if err := s.send(&n.actor, n.kind == Honest, label, native.VerifyAddress, nil, "commitRoot", e, p.Root()); err != nil {
			return err
		}
	}
	return nil
}

// answer is node n's response to verifier v for its challenge of epoch e:
// the openings of v's chunks, or nil when it has none.
func (s *sim) answer(n *computeNode, e uint64, sampleSeed common.Hash, v common.Address) ([]byte, []int, error) {
	p := n.answers[e]
	if p == nil {
		return nil, nil, nil
	}
	// The node samples with the n it committed to; the verifier asks the
	// class's n (below).
	chunks, err := pow.SampleChunks(sampleSeed, p.Root(), v, p.Workload().N, s.mod.Params().PoW.ChunksPerValidator)
	if err != nil {
		return nil, nil, err
	}
	ops, err := p.Open(chunks)
	if err != nil {
		return nil, nil, err
	}
	ev, err := pow.EncodeOpenings(p.Workload().N, ops)
	return ev, chunks, err
}

// sampleSeed is the hash of deadline block d: stored on chain from block
// d+1 on, and the head's hash while block d+1 is being built.
func (s *sim) sampleSeed(st native.StateReader, d uint64) (common.Hash, error) {
	if h := s.chain.Head(); h.Number.Uint64() == d {
		return h.Hash(), nil
	}
	seed, ok := verify.SampleSeed(st, d)
	if !ok {
		return common.Hash{}, fmt.Errorf("sim: no sample seed for block %d at block %d", d, s.chain.Head().Number.Uint64())
	}
	return seed, nil
}

// verifiers has every drawn, up validator check its challenges of epoch e.
func (s *sim) verifiers(e uint64) error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	number := s.chain.Head().Number.Uint64()
	seed, _, ok := verify.EpochSeed(st, e)
	if !ok {
		return fmt.Errorf("sim: no seed for epoch %d", e)
	}
	byAddr := map[common.Address]*validator{}
	for _, v := range s.validators {
		byAddr[v.addr] = v
	}
	for _, n := range s.nodes {
		ch, err := s.mod.ChallengeOf(st, e, n.addr, number)
		if err != nil {
			return fmt.Errorf("sim: challengeOf: %w", err)
		}
		if ch.Status != verify.StatusCommitted {
			continue
		}
		sampleSeed, err := s.sampleSeed(st, ch.DeadlineBlock)
		if err != nil {
			return err
		}
		for i, va := range ch.Verifiers {
			v := byAddr[va]
			if v == nil || v.down || ch.Slots[i] != verify.SlotPending {
				continue
			}
			ev, _, err := s.answer(n, e, sampleSeed, va)
			if err != nil {
				return err
			}
			label := func(what string) string {
				return what + "(" + map[bool]string{true: "colluder", false: "validator"}[v.colluding] + "→" + n.label() + ")"
			}
			switch {
			case v.colluding && n.kind == Colluding:
				if err := s.send(&v.actor, false, label("attest"), native.VerifyAddress, nil, "attest", e, n.addr, ev); err != nil {
					return err
				}
				continue
			case v.colluding && n.kind == Honest:
				if err := s.send(&v.actor, false, label("attestFail"), native.VerifyAddress, nil, "attestFail", e, n.addr); err != nil {
					return err
				}
				continue
			}
			pass := false
			if ev != nil {
				// The verifier checks the answer against the class's n.
				want, err := pow.SampleChunks(sampleSeed, ch.Root, va, ch.N, s.mod.Params().PoW.ChunksPerValidator)
				if err != nil {
					return err
				}
				if gotN, ops, err := pow.DecodeOpenings(ev); err == nil && gotN == ch.N {
					pass = pow.Verify(pow.Workload{Seed: pow.ChallengeSeed(seed, n.addr), N: ch.N}, ch.Root, want, ops) == nil
				}
			}
			if pass {
				err = s.send(&v.actor, !v.colluding, label("attest"), native.VerifyAddress, nil, "attest", e, n.addr, ev)
			} else {
				err = s.send(&v.actor, !v.colluding, label("attestFail"), native.VerifyAddress, nil, "attestFail", e, n.addr)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// closeWindow, building block x near the end of epoch e's window, has
// each committed node rebut its failed or pending slots (once each) and
// the keeper record misses (once each).
func (s *sim) closeWindow(e, x uint64) error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	for _, n := range s.nodes {
		ch, err := s.mod.ChallengeOf(st, e, n.addr, x)
		if err != nil {
			return fmt.Errorf("sim: challengeOf: %w", err)
		}
		switch ch.Status {
		case verify.StatusMissed:
			k := sentKey{e, n.addr, common.Address{}}
			if s.sent[k] {
				continue
			}
			s.sent[k] = true
			if err := s.send(s.keeper, true, "recordMiss", native.VerifyAddress, nil, "recordMiss", e, n.addr); err != nil {
				return err
			}
			continue
		case verify.StatusCommitted:
		default:
			continue
		}
		sampleSeed, err := s.sampleSeed(st, ch.DeadlineBlock)
		if err != nil {
			return err
		}
		for i, va := range ch.Verifiers {
			k := sentKey{e, n.addr, va}
			if s.sent[k] || ch.Slots[i] != verify.SlotPending && ch.Slots[i] != verify.SlotFailed {
				continue
			}
			s.sent[k] = true
			ev, _, err := s.answer(n, e, sampleSeed, va)
			if err != nil {
				return err
			}
			if ev == nil {
				continue
			}
			if err := s.send(&n.actor, n.kind == Honest, "rebut("+n.label()+")", native.VerifyAddress, nil, "rebut", e, va, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// account reads epoch e's outcomes in its last block x.
func (s *sim) account(e uint64, caught map[common.Address]bool) error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	x := s.chain.Head().Number.Uint64()
	er := EpochReport{Epoch: e}
	credits := map[common.Address]uint64{}
	for _, le := range rewards.LedgerOf(st, rewards.RewardEpoch(x, EpochLength)) {
		credits[le.Owner] = le.Credits
	}
	s.jobsEpoch(st, e)
	for _, n := range s.nodes {
		ch, err := s.mod.ChallengeOf(st, e, n.addr, x)
		if err != nil {
			return fmt.Errorf("sim: challengeOf: %w", err)
		}
		punished := false
		if at, ok := s.jobs.slashedAt[n.addr]; ok && at == e {
			punished = true
			if n.kind != Honest {
				er.SlashedNew++
			}
		}
		switch ch.Status {
		case verify.StatusVerified:
			er.Verified++
			n.outcomes.Passed++
		case verify.StatusFailed:
			er.Failed++
			n.outcomes.Failed++
			punished = true
		case verify.StatusMissed:
			er.Missed++
			n.outcomes.Missed++
			punished = true
		default:
			return fmt.Errorf("sim: node %s: challenge of epoch %d still in status %d at block %d", n.addr, e, ch.Status, x)
		}
		if n.kind == Honest {
			er.HonestCredits += credits[n.addr]
			if punished && ch.Status != verify.StatusVerified {
				er.HonestPunished++
				s.report.HonestPunished = appendOnce(s.report.HonestPunished, n.addr.Hex())
			}
			continue
		}
		er.CheaterCredits += credits[n.addr]
		if ch.Status == verify.StatusVerified {
			s.report.CheaterPasses[n.kind]++
		}
		if punished {
			er.Caught++
			if !caught[n.addr] {
				caught[n.addr] = true
				er.CaughtNew++
			}
		}
	}
	s.report.CaughtByEpoch[e-1] = er.CaughtNew
	s.report.Caught += er.CaughtNew
	s.report.CheaterCredits += er.CheaterCredits
	s.report.HonestCredits += er.HonestCredits
	s.report.Epochs = append(s.report.Epochs, er)
	return nil
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

// final reads the rewards and counters once the last epoch is settled.
func (s *sim) final(caught map[common.Address]bool) error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	if got, want := rewards.NextSettle(st), rewards.RewardEpoch(uint64(s.cfg.Epochs+1)*EpochLength-1, EpochLength); got <= want {
		return fmt.Errorf("sim: reward epoch %d not settled at block %d (next %d)", want, s.chain.Head().Number.Uint64(), got)
	}
	cheat, honest := new(uint256.Int), new(uint256.Int)
	for _, n := range s.nodes {
		// The two views must agree: every decided challenge counted once
		// (a miss only once recordMiss ran, which the keeper did).
		if f := verify.FaultsOf(st, n.addr); f != n.outcomes {
			return fmt.Errorf("sim: node %s (%s): faultsOf %+v, challengeOf outcomes %+v", n.addr, n.kind, f, n.outcomes)
		}
		r := rewards.RewardsOf(st, n.addr).NodeWei
		if n.kind == Honest {
			honest.Add(honest, r)
			continue
		}
		cheat.Add(cheat, r)
		if !caught[n.addr] {
			s.report.Uncaught = append(s.report.Uncaught, n.addr.Hex())
			s.report.UncaughtKinds[n.kind]++
		}
	}
	s.report.CheaterRewardsWei, s.report.HonestRewardsWei = cheat.Dec(), honest.Dec()
	for _, v := range s.validators {
		f := verify.FaultsOf(st, v.addr)
		s.report.MissedDuties += f.MissedDuties
		if v.colluding {
			s.report.ColluderFalseFails += f.FalseFails
		} else {
			s.report.HonestFalseFails += f.FalseFails
		}
	}
	return nil
}
