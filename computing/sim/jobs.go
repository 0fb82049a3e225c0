package sim

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// Jobs of the simulation (see the package doc, "Jobs").
const (
	// Submitters is the number of scripted submitters.
	Submitters = 4
	// jobTimeoutSeconds is every job's timeout; nodes report
	// jobGPUMillis of usage at their price (1 gwei per GPU-second), and
	// submitters escrow jobEscrowFactor times the most a run may cost
	// (the rest pays the re-executors).
	jobTimeoutSeconds = 20
	jobGPUMillis      = 10_000
	jobPriceWei       = 1_000_000_000
	jobEscrowFactor   = 2
	// maxJobDelay caps the message delay the job actors see (an accept
	// must land inside the accept window, a dispute inside the dispute
	// window).
	maxJobDelay = 5
	// drainBlocks bounds the blocks mined after the last epoch for the
	// last jobs to end (re-executors that never answer time out after
	// about 45 blocks, at most MaxReexecDraws times).
	drainBlocks = 400
	// simGasLimit: a deterministic result prepays its re-execution rounds
	// (jobs.ResultDigestGas, about 6.3 million gas), so a block of the
	// simulation holds up to a billion gas (genesis.DefaultGasLimit is 60
	// million): a full epoch of results fits in one block.
	simGasLimit = 1_000_000_000
)

var simImage = common.Hash{0xaa}

// rightDigest is the output digest of job id's deterministic program
// (what every honest node computes); wrongDigest a cheater's lie, keyed
// by who lies (a colluding pair lies with one key).
func rightDigest(id uint64) common.Hash {
	return crypto.Keccak256Hash([]byte("emc:sim:output"), new(big.Int).SetUint64(id).Bytes())
}

func wrongDigest(id uint64, key common.Address) common.Hash {
	return crypto.Keccak256Hash([]byte("emc:sim:wrong"), new(big.Int).SetUint64(id).Bytes(), key[:])
}

// jobActors are the job market's scripted actors and their memory.
type jobActors struct {
	submitters []*actor
	router     *actor
	byAddr     map[common.Address]*computeNode
	// live are the jobs not yet ended, in id order; nextID is the next
	// id to list.
	live   []uint64
	nextID uint64
	// seen[k] is the block a job actor first saw the state that asks for
	// action k; acted[k] marks it done.
	seen  map[string]uint64
	acted map[string]bool
	// cursor turns the router's choice of node round the nodes.
	cursor int
	// startBal are the nodes' balances once registered; gas their gas
	// spent since (wei); both measure what jobs paid them.
	startBal map[common.Address]*big.Int
	gas      map[common.Address]*big.Int
	// assignTo names the node of each assign sent (by transaction hash).
	assignTo map[common.Hash]common.Address
	// tracked are every account that may hold EMC (supply check).
	tracked map[common.Address]bool
	supply  *big.Int
	// slashedAt[node] is the epoch its first slash was seen in.
	slashedAt map[common.Address]uint64
}

// setupJobs funds the submitters and the router in the genesis.
func (s *sim) setupJobs(g *genesis.Genesis) error {
	g.GasLimit = simGasLimit
	ja := &jobActors{byAddr: map[common.Address]*computeNode{}, seen: map[string]uint64{}, acted: map[string]bool{},
		startBal: map[common.Address]*big.Int{}, gas: map[common.Address]*big.Int{}, tracked: map[common.Address]bool{},
		slashedAt: map[common.Address]uint64{}, nextID: 1, assignTo: map[common.Hash]common.Address{}}
	funds := new(big.Int).Mul(big.NewInt(100_000), big.NewInt(params.EMC))
	for i := range Submitters {
		a, err := newActor(s.cfg.Seed, "submitter", i)
		if err != nil {
			return err
		}
		ja.submitters = append(ja.submitters, a)
		g.Alloc[a.addr] = types.Account{Balance: new(big.Int).Set(funds)}
	}
	r, err := newActor(s.cfg.Seed, "router", 0)
	if err != nil {
		return err
	}
	ja.router = r
	// The router-role stake (100,000 EMC by default) and gas.
	g.Alloc[r.addr] = types.Account{Balance: new(big.Int).Mul(funds, big.NewInt(3))}
	s.jobs = ja
	return nil
}

// trackSupply records the accounts that can hold EMC, once the chain's
// genesis is known.
func (s *sim) trackSupply(g *genesis.Genesis, genesisAlloc map[common.Address]types.Account) {
	ja := s.jobs
	for a := range g.Alloc {
		ja.tracked[a] = true
	}
	for a := range genesisAlloc {
		ja.tracked[a] = true
	}
	for _, v := range s.validators {
		ja.tracked[v.addr] = true // coinbase (tips)
	}
	if g.Reserve != nil {
		ja.tracked[*g.Reserve] = true
	}
	ja.supply = g.TotalSupply()
	for _, n := range s.nodes {
		ja.byAddr[n.addr] = n
	}
}

// registerRouter queues the router's stake (epoch 0); the registration
// follows once the stake is effective (registerRouterNow, epoch 1).
func (s *sim) stakeRouter() error {
	min := staking.DefaultParams().MinStakeWei[staking.RoleRouter].ToBig()
	return s.send(s.jobs.router, true, "stake(router)", native.StakingAddress, min, "stake", uint8(staking.RoleRouter), uint8(0))
}

func (s *sim) registerRouter() error {
	pk, err := peerKey(s.cfg.Seed, -1)
	if err != nil {
		return fmt.Errorf("sim: peer key: %w", err)
	}
	id, sig, err := registry.SignPeerProof(pk, uint256.MustFromBig(s.chain.Config().ChainID), s.jobs.router.addr)
	if err != nil {
		return fmt.Errorf("sim: peer proof: %w", err)
	}
	return s.send(s.jobs.router, true, "registerRouter", native.RegistryAddress, nil, "registerRouter", id, sig)
}

// startJobs records the nodes' balances once registered (block
// EpochLength is being built).
func (s *sim) startJobs() error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	for _, n := range s.nodes {
		s.jobs.startBal[n.addr] = st.GetBalance(n.addr).ToBig()
		s.jobs.gas[n.addr] = new(big.Int)
	}
	return s.registerRouter()
}

// submitJobs has the submitters post JobsPerEpoch deterministic jobs of
// epoch e, in turn.
func (s *sim) submitJobs(e uint64) error {
	escrow := big.NewInt(jobEscrowFactor * jobTimeoutSeconds * jobPriceWei)
	for k := range s.cfg.JobsPerEpoch {
		spec := jobs.Spec{Image: simImage, Args: []string{"sim", strconv.FormatInt(s.cfg.Seed, 10), strconv.FormatUint(e, 10), strconv.Itoa(k)},
			GPUs: 1, GPUModel: "NVIDIA H200", TimeoutSeconds: jobTimeoutSeconds, OutputCapBytes: 1 << 20, Deterministic: true}
		enc, err := spec.Encode()
		if err != nil {
			return fmt.Errorf("sim: job spec: %w", err)
		}
		sub := s.jobs.submitters[k%len(s.jobs.submitters)]
		if err := s.send(sub, true, "submitJob", native.JobsAddress, escrow, "submitJob", enc, big.NewInt(jobPriceWei)); err != nil {
			return err
		}
	}
	return nil
}

// due reports whether action k, whose cause is visible while block x is
// built, is due (after the message delay) and not yet done.
func (s *sim) due(k string, x uint64) bool {
	ja := s.jobs
	if ja.acted[k] {
		return false
	}
	first, ok := ja.seen[k]
	if !ok {
		ja.seen[k], first = x, x
	}
	if x < first+uint64(min(s.cfg.DelayBlocks, maxJobDelay)) {
		return false
	}
	ja.acted[k] = true
	delete(ja.seen, k)
	return true
}

// stepJobs, building block x, has every job actor act on the head state:
// the router assigns offered jobs, nodes accept and report, drawn
// re-executors answer, submitters dispute the results they know are wrong.
func (s *sim) stepJobs(x uint64) error {
	ja := s.jobs
	st, err := s.headState()
	if err != nil {
		return err
	}
	for ; ja.nextID <= jobs.JobCount(st); ja.nextID++ {
		ja.live = append(ja.live, ja.nextID)
	}
	keep := ja.live[:0]
	for _, id := range ja.live {
		j, ok, err := jobs.JobOf(st, id)
		if err != nil || !ok {
			return fmt.Errorf("sim: job %d: %v", id, err)
		}
		if j.State.Ended() {
			continue
		}
		keep = append(keep, id)
		if err := s.actOn(st, &j, x); err != nil {
			return err
		}
	}
	ja.live = keep
	return nil
}

func (s *sim) actOn(st native.StateReader, j *jobs.Job, x uint64) error {
	ja := s.jobs
	key := func(what string) string {
		return what + "/" + strconv.FormatUint(j.ID, 10) + "/" + strconv.Itoa(int(j.Attempts))
	}
	id := new(big.Int).SetUint64(j.ID)
	switch j.State {
	case jobs.StateSubmitted:
		if !j.Offered || j.OfferedRouter != ja.router.addr && x <= j.OfferEndBlock || !s.due(key("assign"), x) {
			return nil
		}
		for k := range s.nodes {
			n := s.nodes[(ja.cursor+k)%len(s.nodes)]
			if _, err := s.jobsMod.Fit(st, j, n.addr, x); err != nil {
				continue
			}
			ja.cursor = (ja.cursor + k + 1) % len(s.nodes)
			if err := s.send(ja.router, true, "assign", native.JobsAddress, nil, "assign", id, n.addr); err != nil {
				return err
			}
			ja.assignTo[s.pending[len(s.pending)-1].tx.Hash()] = n.addr
			return nil
		}
		return nil // nothing fits (every node jailed): the job expires, refunded
	case jobs.StateAssigned:
		n := ja.byAddr[j.Node]
		if n == nil || n.kind == NoShow || !s.due(key("accept"), x) {
			return nil
		}
		return s.send(&n.actor, n.kind == Honest, "accept("+n.label()+")", native.JobsAddress, nil, "accept", id)
	case jobs.StateRunning:
		n := ja.byAddr[j.Node]
		if n == nil || !s.due(key("result"), x) {
			return nil
		}
		return s.sendGas(&n.actor, n.kind == Honest, "submitResultDigest("+n.label()+")", jobs.ResultDigestGas, native.JobsAddress, nil,
			"submitResultDigest", id, [32]byte(crypto.Keccak256Hash(id.Bytes())), uint64(jobGPUMillis), int32(0), [32]byte(s.providerDigest(n, j.ID)))
	case jobs.StateCompleted, jobs.StateFailed:
		// The submitter knows the right output: it disputes a wrong one
		// while it may (not re-executed yet, or left at a tie).
		if j.Verify == jobs.VerifyPending || j.OutputDigest == rightDigest(j.ID) || x >= j.Deadline {
			return nil
		}
		if j.Verify != jobs.VerifySkipped && j.Verify != jobs.VerifyInconclusive {
			return nil
		}
		if j.Verify == jobs.VerifyInconclusive {
			rx, ok, err := jobs.ReexecOf(st, j.ID)
			if err != nil || !ok || rx.Disputed || len(rx.Executors) != 1 {
				return err // not a tie: the module refuses a dispute
			}
		}
		if !s.due("dispute/"+strconv.FormatUint(j.ID, 10), x) {
			return nil
		}
		for _, sub := range ja.submitters {
			if sub.addr == j.Submitter {
				s.report.Disputes++
				return s.sendGas(sub, true, "dispute", jobs.DisputeGas, native.JobsAddress, jobs.DefaultDisputeBondWei().ToBig(), "dispute", id)
			}
		}
	case jobs.StateReexec, jobs.StateDisputed:
		rx, ok, err := jobs.ReexecOf(st, j.ID)
		if err != nil || !ok {
			return fmt.Errorf("sim: job %d in re-execution without a record: %v", j.ID, err)
		}
		n := ja.byAddr[rx.Current]
		if n == nil || n.kind == NoShow || !s.due("reexec/"+strconv.FormatUint(j.ID, 10)+"/"+strconv.Itoa(len(rx.Executors))+"/"+strconv.FormatBool(rx.Disputed), x) {
			return nil
		}
		return s.sendGas(&n.actor, n.kind == Honest, "submitReexec("+n.label()+")", jobs.SubmitReexecGas, native.JobsAddress, nil,
			"submitReexec", id, [32]byte(s.reexecDigest(n, j)))
	}
	return nil
}

// providerDigest is the digest node n reports for its job id.
func (s *sim) providerDigest(n *computeNode, id uint64) common.Hash {
	switch n.kind {
	case WrongResult:
		return wrongDigest(id, n.addr)
	case Colluding:
		return wrongDigest(id, n.pairKey())
	}
	return rightDigest(id)
}

// reexecDigest is the digest node n gives when drawn to re-execute j: a
// colluder backs its partner's lie.
func (s *sim) reexecDigest(n *computeNode, j *jobs.Job) common.Hash {
	switch {
	case n.kind == Colluding && n.partner != nil && n.partner.addr == j.Node:
		return wrongDigest(j.ID, n.pairKey())
	case n.kind == WrongResult || n.kind == Colluding:
		return wrongDigest(j.ID, n.addr)
	}
	return rightDigest(j.ID)
}

// pairKey keys a colluding pair's lies: the first of the two addresses.
func (n *computeNode) pairKey() common.Address {
	if n.partner != nil && n.partner.addr.Cmp(n.addr) < 0 {
		return n.partner.addr
	}
	return n.addr
}

// sendGas is send with a gas limit of gas plus the intrinsic cost.
func (s *sim) sendGas(a *actor, honest bool, label string, gas uint64, to common.Address, value *big.Int, method string, args ...any) error {
	s.nextGas = gas + 200_000
	defer func() { s.nextGas = 0 }()
	return s.send(a, honest, label, to, value, method, args...)
}

// jobsEpoch reads the slashes of epoch e (its last block): a node's
// first slash is its slash epoch.
func (s *sim) jobsEpoch(st native.StateReader, e uint64) {
	for _, n := range s.nodes {
		if _, ok := s.jobs.slashedAt[n.addr]; ok {
			continue
		}
		if f := jobs.FaultsOf(st, n.addr); f.Slashes > 0 {
			s.jobs.slashedAt[n.addr] = e
		}
	}
}

// noteGas adds a mined transaction's fee to its sender's gas spent.
func (s *sim) noteGas(from common.Address, r *types.Receipt) {
	if g := s.jobs.gas[from]; g != nil {
		g.Add(g, new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice))
	}
}

// jobsFinal reads what the modules decided about the jobs once every job
// ended, and checks the supply to the wei.
func (s *sim) jobsFinal() error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	r := s.report
	n := jobs.JobCount(st)
	r.JobsSubmitted = int(n)
	for id := uint64(1); id <= n; id++ {
		j, ok, err := jobs.JobOf(st, id)
		if err != nil || !ok {
			return fmt.Errorf("sim: job %d: %v", id, err)
		}
		if !j.State.Ended() {
			return fmt.Errorf("sim: job %d still %s at block %d", id, j.State, s.chain.Head().Number.Uint64())
		}
		r.JobsByState[j.State.String()]++
		r.JobsByVerify[verifyName(j.Verify)]++
		if err := s.honestMinority(st, &j); err != nil {
			return err
		}
	}
	cheatJob, honestJob, cheatSlashed := new(big.Int), new(big.Int), new(uint256.Int)
	for _, n := range s.nodes {
		f := jobs.FaultsOf(st, n.addr)
		income := new(big.Int).Sub(st.GetBalance(n.addr).ToBig(), s.jobs.startBal[n.addr])
		income.Add(income, s.jobs.gas[n.addr])
		if n.kind == Honest {
			honestJob.Add(honestJob, income)
			if f.Slashes > 0 {
				r.HonestSlashedNodes = append(r.HonestSlashedNodes, n.addr.Hex())
			}
			continue
		}
		cheatJob.Add(cheatJob, income)
		if f.Slashes > 0 {
			r.CheatersSlashed++
			r.CheatersSlashedByKind[n.kind]++
			cheatSlashed.Add(cheatSlashed, f.SlashedWei)
		}
		if f.Jails > 0 {
			r.CheatersJailed++
		}
	}
	r.HonestSlashed = len(r.HonestSlashedNodes)
	r.CheaterJobWei, r.HonestJobWei, r.CheaterSlashedWei = cheatJob.String(), honestJob.String(), cheatSlashed.Dec()
	if !jobs.EscrowTotal(st).IsZero() || st.GetBalance(native.JobsAddress).Sign() != 0 {
		return fmt.Errorf("sim: jobs module holds %s wei (escrow total %s) with every job ended", st.GetBalance(native.JobsAddress), jobs.EscrowTotal(st))
	}
	sum := new(big.Int)
	for a := range s.jobs.tracked {
		sum.Add(sum, st.GetBalance(a).ToBig())
	}
	burned := native.BurnedTotal(st).ToBig()
	if got := new(big.Int).Add(sum, burned); got.Cmp(s.jobs.supply) != 0 {
		return fmt.Errorf("%w: Σ balances %s + burned %s = %s, genesis supply %s", ErrSupply, sum, burned, got, s.jobs.supply)
	}
	r.SupplyExact = true
	return nil
}

// ErrSupply is a run whose balances and burns do not add up to the
// genesis supply (money created or lost).
var ErrSupply = errors.New("sim: supply invariant broken")

func verifyName(v uint8) string {
	switch v {
	case jobs.VerifyNone:
		return "none"
	case jobs.VerifyPending:
		return "pending"
	case jobs.VerifySkipped:
		return "skipped"
	case jobs.VerifyRunning:
		return "running"
	case jobs.VerifyPassed:
		return "passed"
	case jobs.VerifyFailed:
		return "failed"
	case jobs.VerifyInconclusive:
		return "inconclusive"
	case jobs.VerifyUnresolved:
		return "unresolved"
	}
	return "verify-" + strconv.Itoa(int(v))
}

// lateSlashes counts the slashes first seen after the last epoch's end
// (jobs of the last epoch decided while draining) in the last epoch.
func (s *sim) lateSlashes(caught map[common.Address]bool) error {
	st, err := s.headState()
	if err != nil {
		return err
	}
	last := uint64(s.cfg.Epochs)
	s.jobsEpoch(st, last)
	er := &s.report.Epochs[len(s.report.Epochs)-1]
	for _, n := range s.nodes {
		if at, ok := s.jobs.slashedAt[n.addr]; !ok || at != last || n.kind == Honest || caught[n.addr] {
			continue
		}
		caught[n.addr] = true
		er.CaughtNew++
		er.SlashedNew++
		s.report.CaughtByEpoch[last-1]++
		s.report.Caught++
	}
	// Uncaught were listed before the drain: list again.
	s.report.Uncaught, s.report.UncaughtKinds = nil, map[Kind]int{}
	for _, n := range s.nodes {
		if n.kind != Honest && !caught[n.addr] {
			s.report.Uncaught = append(s.report.Uncaught, n.addr.Hex())
			s.report.UncaughtKinds[n.kind]++
		}
	}
	return nil
}

// honestMinority adds to Report.HonestSlashedJobs a re-execution of j
// that put an honest node in the minority: the job, and who said what.
func (s *sim) honestMinority(st native.StateReader, j *jobs.Job) error {
	rx, ok, err := jobs.ReexecOf(st, j.ID)
	if err != nil || !ok {
		return err
	}
	var losers []common.Address
	switch rx.Outcome {
	case jobs.VerifyFailed:
		losers = append(losers, j.Node)
	case jobs.VerifyPassed:
		for i, d := range rx.Digests {
			if d != (common.Hash{}) && d != j.OutputDigest {
				losers = append(losers, rx.Executors[i])
			}
		}
	}
	kind := func(a common.Address) string {
		if n := s.jobs.byAddr[a]; n != nil {
			return n.label()
		}
		return a.Hex()
	}
	for _, l := range losers {
		if n := s.jobs.byAddr[l]; n == nil || n.kind != Honest {
			continue
		}
		d := fmt.Sprintf("job %d (%s): provider %s", j.ID, verifyName(rx.Outcome), kind(j.Node))
		for i, e := range rx.Executors {
			d += fmt.Sprintf(", re-executor %s %s", kind(e), map[bool]string{true: "agreed", false: "differed"}[rx.Digests[i] == j.OutputDigest])
		}
		s.report.HonestSlashedJobs = append(s.report.HonestSlashedJobs, d)
	}
	return nil
}

// refusedLabel relabels a refused transaction the sender could not have
// avoided: an assignment to a node that a decision earlier in the same
// block jailed (the router checked it with Fit on the block before).
func (s *sim) refusedLabel(p pendingTx, tx common.Hash, number uint64) (string, bool) {
	node, ok := s.jobs.assignTo[tx]
	if !ok {
		return p.label, p.honest
	}
	st, err := s.headState()
	if err == nil && jobs.Jailed(st, node, number) {
		return "assign(node jailed in the block)", false
	}
	return p.label, p.honest
}
