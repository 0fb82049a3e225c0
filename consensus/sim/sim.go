package sim

import (
	"container/heap"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/consensus/quorum"
	"github.com/emc-network/emcd/consensus/wal"
)

// Config selects a simulation run. Everything else is drawn from Seed.
type Config struct {
	Seed uint64
	// ChaosTicks is the length of the faulty phase (default 500).
	ChaosTicks uint64
	// LivenessTicks bounds the healed phase (default 4000): the core must
	// commit LivenessHeights more heights within it.
	LivenessTicks uint64
	// LivenessHeights is the progress required after healing (default 2).
	LivenessHeights uint64
	// CrashAtWrite, when positive, replaces the drawn faults with a fixed
	// scenario (four honest validators, light loss) in which every
	// validator's WAL tears on its CrashAtWrite-th append, three times over
	// (CometBFT's crashingWAL).
	CrashAtWrite int
	// Trace receives a line per event when non-nil.
	Trace io.Writer
}

// Result summarises a run.
type Result struct {
	Scenario string
	Ticks    uint64
	Height   uint64 // highest committed height
	Sent     int    // messages put on the wire
	Crashes  int
	// Byzantine is the number of byzantine validators drawn.
	Byzantine int
	// Evidence counts equivocation evidence the cores reported (each
	// verified and naming a byzantine validator).
	Evidence int
	// LateSeals counts commit seals proposers added to the parent
	// certificate beyond the quorum that decided (late COMMITs).
	LateSeals int
}

// ErrSafety is wrapped by every safety violation Run reports.
var ErrSafety = errors.New("sim: safety violated")

// ErrLiveness is returned when the healed core makes no progress in time.
var ErrLiveness = errors.New("sim: liveness violated")

// Simulation timing, in ticks.
const (
	baseTimeout = 6
	maxTimeout  = 48
	syncEvery   = 16
	maxQueue    = 200_000
)

type scenario struct {
	n, byz              int
	drop, dup           float64
	maxDelay            int
	partitionP, crashP  float64
	walCrashP           float64
	commitDrop          float64
	byzSilentP          float64
	byzInvalidProposalP float64
	byzFreshP           float64
}

func (s scenario) String() string {
	return fmt.Sprintf("n=%d byz=%d drop=%.2f commitdrop=%.1f dup=%.2f delay<=%d partition=%.3f crash=%.4f walcrash=%.4f",
		s.n, s.byz, s.drop, s.commitDrop, s.dup, s.maxDelay, s.partitionP, s.crashP, s.walCrashP)
}

func drawScenario(r *rand.Rand) scenario {
	sizes := []int{1, 2, 3, 4, 4, 4, 5, 6, 7, 7, 10}
	s := scenario{n: sizes[r.IntN(len(sizes))]}
	s.byz = r.IntN(quorum.Faulty(s.n) + 1)
	s.drop = []float64{0, 0.02, 0.1, 0.3}[r.IntN(4)]
	s.dup = []float64{0, 0.05, 0.2}[r.IntN(3)]
	s.maxDelay = 1 + r.IntN(6)
	s.partitionP = []float64{0, 0.005, 0.02}[r.IntN(3)]
	s.crashP = []float64{0, 0.001, 0.004}[r.IntN(3)]
	s.walCrashP = []float64{0, 0.002}[r.IntN(2)]
	s.commitDrop = []float64{0, 0.3, 0.7}[r.IntN(3)]
	s.byzSilentP = r.Float64() * 0.5
	s.byzInvalidProposalP = r.Float64()
	s.byzFreshP = r.Float64()
	return s
}

type event struct {
	at       uint64
	validate *ibft.Proposal
	propose  *ibft.View
}

type node struct {
	id        int
	key       *ecdsa.PrivateKey
	signer    *ibft.KeySigner
	addr      common.Address
	byz       bool
	core      *ibft.Core
	wal       wal.Memory
	log       wal.Crashing // over wal; armed to tear an append
	up        bool
	restartAt uint64
	chain     []common.Hash // chain[h] is the block at height h; chain[0] genesis
	events    []event
	inCore    bool // liveness phase: part of the healed core
	crashes   int
	nonce     uint64
}

func (n *node) height() uint64 { return uint64(len(n.chain)) - 1 }

type packet struct {
	at, seq  uint64
	from, to int
	data     []byte
}

type queue []*packet

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*packet)) }
func (q *queue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

type ownKey struct {
	node          int
	height, round uint64
	code          ibft.Code
}

type ownVal struct {
	digest        common.Hash
	preparedRound uint64
}

type cluster struct {
	cfg    Config
	sc     scenario
	rng    *rand.Rand
	nodes  []*node
	vals   []common.Address
	byAddr map[common.Address]int
	tick   uint64
	q      queue
	seq    uint64
	group  []int // partition group per node; nil when healed
	healed bool

	decided    map[uint64]common.Hash // agreed chain
	decidedIn  map[uint64]uint64      // lowest round a height was decided in
	blocks     map[common.Hash][]byte // every block built, for sync
	own        map[ownKey]ownVal      // what each honest validator signed
	prepared   map[[2]uint64]uint64   // (node, height) -> 1 + highest round it COMMITted in
	recovered  map[string]recovered   // memoised signature recovery
	certOK     map[string]bool
	res        Result
	healAt     uint64
	target     uint64
	lastHonest *ibft.Message
}

type recovered struct {
	addr common.Address
	err  error
}

// Run simulates one seed and returns an error wrapping ErrSafety or
// ErrLiveness on a violation.
func Run(cfg Config) (Result, error) {
	if cfg.ChaosTicks == 0 {
		cfg.ChaosTicks = 500
	}
	if cfg.LivenessTicks == 0 {
		cfg.LivenessTicks = 4000
	}
	if cfg.LivenessHeights == 0 {
		cfg.LivenessHeights = 2
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	c := &cluster{
		cfg: cfg, sc: drawScenario(rng), rng: rng,
		byAddr:    make(map[common.Address]int),
		decided:   make(map[uint64]common.Hash),
		decidedIn: make(map[uint64]uint64),
		blocks:    make(map[common.Hash][]byte),
		own:       make(map[ownKey]ownVal),
		prepared:  make(map[[2]uint64]uint64),
		recovered: make(map[string]recovered),
		certOK:    make(map[string]bool),
	}
	if cfg.CrashAtWrite > 0 {
		c.sc = scenario{n: 4, drop: 0.05, dup: 0.05, maxDelay: 3}
	}
	c.res.Scenario = c.sc.String()
	c.res.Byzantine = c.sc.byz
	if err := c.setup(); err != nil {
		return c.res, err
	}
	err := c.loop()
	c.res.Ticks = c.tick
	for _, n := range c.nodes {
		c.res.Height = max(c.res.Height, n.height())
	}
	return c.res, err
}

func (c *cluster) tracef(format string, args ...any) {
	if c.cfg.Trace != nil {
		fmt.Fprintf(c.cfg.Trace, "t=%d "+format+"\n", append([]any{c.tick}, args...)...)
	}
}

func (c *cluster) setup() error {
	for i := range c.sc.n {
		seed := crypto.Keccak256(binary.BigEndian.AppendUint64([]byte("emcsim-key"), c.cfg.Seed*1000+uint64(i)))
		key, err := crypto.ToECDSA(seed)
		if err != nil {
			return err
		}
		s := ibft.NewKeySigner(key)
		n := &node{id: i, key: key, signer: s, addr: s.Address(), up: true, chain: []common.Hash{{}}}
		c.nodes = append(c.nodes, n)
		c.vals = append(c.vals, n.addr)
		c.byAddr[n.addr] = i
	}
	// The last byz nodes (in a random order) are byzantine.
	perm := c.rng.Perm(c.sc.n)
	for _, i := range perm[:c.sc.byz] {
		c.nodes[i].byz = true
	}
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) recover(digest, sig []byte) (common.Address, error) {
	k := string(digest) + string(sig)
	if r, ok := c.recovered[k]; ok {
		return r.addr, r.err
	}
	a, err := ibft.Ecrecover(digest, sig)
	c.recovered[k] = recovered{a, err}
	return a, err
}

// start creates n's core at the height after its stored chain and replays
// its WAL, as a restarted process would.
func (c *cluster) start(n *node) error {
	core, err := ibft.New(ibft.Config{
		Signer:           n.signer,
		Recover:          c.recover,
		BaseTimeoutTicks: baseTimeout,
		MaxTimeoutTicks:  maxTimeout,
		Rand:             rand.New(rand.NewPCG(c.rng.Uint64(), uint64(n.id))),
	}, n.height()+1, c.vals)
	if err != nil {
		return err
	}
	var recs []ibft.Record
	for _, b := range n.wal.Records() {
		r, err := ibft.DecodeRecord(b)
		if err != nil {
			return fmt.Errorf("%w: node %d: undecodable WAL record: %v", ErrSafety, n.id, err)
		}
		recs = append(recs, r)
	}
	core.Restore(recs)
	n.core, n.up, n.events = core, true, nil
	n.log = wal.Crashing{Log: &n.wal}
	if c.cfg.CrashAtWrite > 0 && n.crashes < 3 && !c.healed {
		n.log.CrashIn, n.log.Torn = c.cfg.CrashAtWrite, c.rng.IntN(256)
	}
	c.tracef("node %d starts at height %d with %d WAL records", n.id, n.height()+1, len(recs))
	return c.process(n)
}

// crash stops n; a WAL crash has already torn its log, any other crash
// loses only unsynced bytes (none: the driver syncs every batch).
func (c *cluster) crash(n *node) {
	if !n.log.Crashed() {
		n.wal.Crash(0)
	}
	n.up, n.core, n.events = false, nil, nil
	n.restartAt = c.tick + 20 + uint64(c.rng.IntN(200))
	n.crashes++
	c.res.Crashes++
	c.tracef("node %d crashes, restart at %d", n.id, n.restartAt)
}

func (c *cluster) loop() error {
	end := c.cfg.ChaosTicks + c.cfg.LivenessTicks
	for c.tick = 1; c.tick <= end; c.tick++ {
		if c.tick == c.cfg.ChaosTicks {
			if err := c.heal(); err != nil {
				return err
			}
		}
		if !c.healed {
			c.chaos()
		}
		for _, n := range c.nodes {
			if !n.up && n.restartAt == c.tick && (!c.healed || n.inCore || n.byz) {
				if err := c.start(n); err != nil {
					return err
				}
			}
		}
		for c.q.Len() > 0 && c.q[0].at <= c.tick {
			if err := c.deliver(heap.Pop(&c.q).(*packet)); err != nil {
				return err
			}
		}
		for _, n := range c.nodes {
			if !n.up {
				continue
			}
			if err := c.runEvents(n); err != nil {
				return err
			}
			if n.up {
				n.core.Tick()
				if err := c.process(n); err != nil {
					return err
				}
			}
		}
		if c.tick%syncEvery == 0 {
			if err := c.sync(); err != nil {
				return err
			}
		}
		if c.healed && c.live() {
			return nil
		}
	}
	var behind []string
	for _, n := range c.nodes {
		if n.inCore && n.height() < c.target {
			st := "down"
			if n.up {
				s := n.core.Status()
				st = fmt.Sprintf("round %d", s.Round)
			}
			behind = append(behind, fmt.Sprintf("node %d at %d (%s)", n.id, n.height(), st))
		}
	}
	return fmt.Errorf("%w: core did not reach height %d within %d ticks of healing: %v",
		ErrLiveness, c.target, c.cfg.LivenessTicks, behind)
}

// chaos injects the faulty phase's partitions and crashes.
func (c *cluster) chaos() {
	if c.rng.Float64() < c.sc.partitionP {
		if c.group == nil {
			c.group = make([]int, len(c.nodes))
			for i := range c.group {
				c.group[i] = c.rng.IntN(2)
			}
			c.tracef("partition %v", c.group)
		} else {
			c.group = nil
			c.tracef("partition healed")
		}
	}
	for _, n := range c.nodes {
		if n.up && !n.byz && c.rng.Float64() < c.sc.crashP {
			c.crash(n)
		}
		if n.up && !n.byz && n.log.CrashIn == 0 && c.rng.Float64() < c.sc.walCrashP {
			n.log.CrashIn = 1 + c.rng.IntN(4)
			n.log.Torn = c.rng.IntN(256)
		}
	}
}

// heal starts the liveness phase (TigerBeetle's liveness mode): a random
// core of at least a quorum of honest validators gets a clean network
// (delay and duplication remain), the other honest validators stay cut
// off, byzantine ones stay byzantine.
func (c *cluster) heal() error {
	c.healed, c.group, c.healAt = true, nil, c.tick
	var honest []*node
	for _, n := range c.nodes {
		if !n.byz {
			honest = append(honest, n)
		}
	}
	q := quorum.Size(len(c.nodes))
	size := q + c.rng.IntN(len(honest)-q+1)
	c.rng.Shuffle(len(honest), func(i, j int) { honest[i], honest[j] = honest[j], honest[i] })
	var top uint64
	for _, n := range c.nodes {
		if !n.byz {
			top = max(top, n.height())
		}
	}
	c.target = top + c.cfg.LivenessHeights
	var ids []int
	for _, n := range honest[:size] {
		n.inCore = true
		n.log.CrashIn = 0
		ids = append(ids, n.id)
		if !n.up {
			if err := c.start(n); err != nil {
				return err
			}
		}
	}
	slices.Sort(ids)
	c.tracef("healed: core %v must reach height %d", ids, c.target)
	return nil
}

func (c *cluster) live() bool {
	for _, n := range c.nodes {
		if n.inCore && n.height() < c.target {
			return false
		}
	}
	return true
}

func (c *cluster) connected(a, b int) bool {
	if c.healed {
		na, nb := c.nodes[a], c.nodes[b]
		return (na.inCore || na.byz) && (nb.inCore || nb.byz)
	}
	return c.group == nil || c.group[a] == c.group[b]
}

func (c *cluster) enqueue(from, to int, code ibft.Code, data []byte) {
	if !c.connected(from, to) || c.q.Len() >= maxQueue {
		return
	}
	if !c.healed && c.rng.Float64() < c.sc.drop {
		return
	}
	// Losing the last step of a height is what leaves validators split
	// between decided and undecided: the state justification rules guard.
	if !c.healed && (code == ibft.MsgCommit || code == ibft.MsgCertificate) && c.rng.Float64() < c.sc.commitDrop {
		return
	}
	copies := 1
	if c.rng.Float64() < c.sc.dup {
		copies = 2
	}
	for range copies {
		c.seq++
		heap.Push(&c.q, &packet{at: c.tick + 1 + uint64(c.rng.IntN(c.sc.maxDelay)), seq: c.seq, from: from, to: to, data: data})
		c.res.Sent++
	}
}

// faults are the Step errors that mean a message is invalid; an honest
// validator's message must never earn one.
var faults = []error{ibft.ErrNotValidator, ibft.ErrNotProposer, ibft.ErrEquivocation,
	ibft.ErrBadJustification, ibft.ErrBadSeal, ibft.ErrBadMessage, ibft.ErrBadSignature, ibft.ErrDecode, ibft.ErrTooLarge}

func (c *cluster) deliver(p *packet) error {
	n := c.nodes[p.to]
	if !n.up {
		return nil
	}
	m, err := ibft.DecodeMessage(p.data)
	if err == nil {
		err = n.core.Step(m)
	}
	if err != nil && !c.nodes[p.from].byz {
		for _, f := range faults {
			if errors.Is(err, f) {
				return fmt.Errorf("%w: node %d rejected honest node %d's message as faulty: %v", ErrSafety, n.id, p.from, err)
			}
		}
	}
	return c.process(n)
}

func (c *cluster) runEvents(n *node) error {
	var later []event
	due := n.events
	n.events = nil
	for _, e := range due {
		if e.at > c.tick {
			later = append(later, e)
			continue
		}
		switch {
		case e.validate != nil:
			h, err := validate(*e.validate, n.chain[len(n.chain)-1])
			n.core.ProposalValidated(*e.validate, h, err)
		case e.propose != nil && e.propose.Height == n.height()+1:
			if err := c.checkParentCert(n); err != nil {
				return err
			}
			n.nonce++
			valid := !n.byz || c.rng.Float64() >= c.sc.byzInvalidProposalP
			p := makeBlock(e.propose.Height, n.chain[len(n.chain)-1], n.id, n.nonce, valid)
			if valid {
				c.blocks[p.Hash] = p.Raw
			}
			_ = n.core.Propose(p)
		}
		if err := c.process(n); err != nil {
			return err
		}
		if !n.up {
			return nil
		}
	}
	n.events = append(later, n.events...)
	return nil
}

// process is the driver loop of the package documentation of ibft:
// persist WAL, send, apply the commit, queue application work, Advance.
func (c *cluster) process(n *node) error {
	for n.up && n.core.HasReady() {
		rd := n.core.Ready()
		for _, r := range rd.WAL {
			b, err := r.Encode()
			if err != nil {
				return fmt.Errorf("node %d: encode record: %w", n.id, err)
			}
			if err := n.log.Append(b); err != nil {
				if errors.Is(err, wal.ErrCrashed) {
					// The process dies mid-batch: nothing of it is sent.
					c.crash(n)
					return nil
				}
				return err
			}
		}
		if err := n.log.Sync(); err != nil {
			return err
		}
		for _, o := range rd.Messages {
			if err := c.send(n, o); err != nil {
				return err
			}
		}
		if rd.Commit != nil {
			if err := c.apply(n, rd.Commit); err != nil {
				return err
			}
		}
		for i := range rd.Evidence {
			if err := c.checkEvidence(n, &rd.Evidence[i]); err != nil {
				return err
			}
		}
		for _, p := range rd.Validate {
			n.events = append(n.events, event{at: c.tick + uint64(c.rng.IntN(3)), validate: &p})
		}
		if v := rd.NeedProposal; v != nil {
			n.events = append(n.events, event{at: c.tick + 1 + uint64(c.rng.IntN(2)), propose: v})
		}
		n.core.Advance()
		if rd.Commit != nil {
			n.log.Reset()
			if err := n.core.NewHeight(n.height()+1, c.vals); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply stores a decided block after the safety checks.
func (c *cluster) apply(n *node, cm *ibft.Commit) error {
	h := cm.Proposal.Height
	if h != n.height()+1 {
		return fmt.Errorf("%w: node %d committed height %d on top of %d", ErrSafety, n.id, h, n.height())
	}
	if r, ok := c.decidedIn[h]; !n.byz && (!ok || cm.Round < r) {
		c.decidedIn[h] = cm.Round
	}
	if err := c.checkCommit(n, h, cm.Proposal.Hash, &cm.Cert); err != nil {
		return err
	}
	if cm.Proposal.Raw != nil && crypto.Keccak256Hash(cm.Proposal.Raw) != cm.Proposal.Hash {
		return fmt.Errorf("%w: node %d committed bytes that do not hash to the decision", ErrSafety, n.id)
	}
	n.chain = append(n.chain, cm.Proposal.Hash)
	c.tracef("node %d commits height %d %x round %d", n.id, h, cm.Proposal.Hash[:4], cm.Round)
	return nil
}

// checkCommit asserts agreement, validity and certificate soundness of a
// block that honest node n is about to store at height h.
func (c *cluster) checkCommit(n *node, h uint64, hash common.Hash, ct *cert.Certificate) error {
	if n.byz {
		return nil
	}
	if prev, ok := c.decided[h]; ok && prev != hash {
		return fmt.Errorf("%w: node %d committed %x at height %d, another node %x", ErrSafety, n.id, hash[:4], h, prev[:4])
	}
	c.decided[h] = hash
	raw, ok := c.blocks[hash]
	if !ok {
		return fmt.Errorf("%w: node %d committed unknown or invalid block %x at %d", ErrSafety, n.id, hash[:4], h)
	}
	if _, err := validate(ibft.Proposal{Height: h, Hash: hash, Raw: raw}, n.chain[len(n.chain)-1]); err != nil {
		return fmt.Errorf("%w: node %d committed an invalid block at %d: %v", ErrSafety, n.id, h, err)
	}
	enc, _ := ct.Encode()
	key := string(hash[:]) + string(enc)
	if !c.certOK[key] {
		if _, err := ct.Verify(hash, c.vals); err != nil {
			return fmt.Errorf("%w: node %d: certificate of height %d does not verify: %v", ErrSafety, n.id, h, err)
		}
		c.certOK[key] = true
	}
	return nil
}

// checkParentCert asserts that the certificate proposer n would carry for
// its parent (the decision grown by late COMMITs) verifies and holds at most
// one seal per validator.
func (c *cluster) checkParentCert(n *node) error {
	h := n.height()
	ct, ok := n.core.DecidedCertificate(h, n.chain[h])
	if !ok {
		return nil
	}
	if len(ct.Seals) > len(c.vals) {
		return fmt.Errorf("%w: node %d: parent certificate of %d holds %d seals", ErrSafety, n.id, h, len(ct.Seals))
	}
	enc, _ := ct.Encode()
	key := string(n.chain[h][:]) + string(enc)
	if !c.certOK[key] {
		if _, err := ct.Verify(n.chain[h], c.vals); err != nil {
			return fmt.Errorf("%w: node %d: parent certificate of height %d does not verify: %v", ErrSafety, n.id, h, err)
		}
		c.certOK[key] = true
	}
	c.res.LateSeals += max(0, len(ct.Seals)-quorum.Size(len(c.vals)))
	return nil
}

// checkEvidence asserts that equivocation evidence reported by n's core
// verifies and names a byzantine validator: honest validators never sign
// two conflicting messages (checked in send), so evidence against one
// would be a false accusation that staking would slash for. Encoding round
// trips too, as a slashing transaction would carry it.
func (c *cluster) checkEvidence(n *node, ev *ibft.Evidence) error {
	who, err := ev.Verify(c.vals)
	if err != nil {
		return fmt.Errorf("%w: node %d reported evidence that does not verify: %v", ErrSafety, n.id, err)
	}
	if !c.nodes[c.byAddr[who]].byz {
		code, h, r := ev.View()
		return fmt.Errorf("%w: node %d accused honest node %d of equivocating (%s at height %d round %d)",
			ErrSafety, n.id, c.byAddr[who], code, h, r)
	}
	b, err := ev.Encode()
	if err != nil {
		return err
	}
	if back, err := ibft.DecodeEvidence(b); err != nil || back.First.Height != ev.First.Height {
		return fmt.Errorf("%w: node %d: evidence does not decode: %v", ErrSafety, n.id, err)
	}
	c.res.Evidence++
	code, h, r := ev.View()
	c.tracef("node %d reports node %d equivocating: %s at height %d round %d", n.id, c.byAddr[who], code, h, r)
	return nil
}

// send puts an outbound message on the network, through the adversary for
// byzantine nodes, after recording what honest nodes sign.
func (c *cluster) send(n *node, o ibft.Outbound) error {
	m := o.Msg
	if !n.byz && m.Code != ibft.MsgCertificate {
		k := ownKey{n.id, m.Height, m.Round, m.Code}
		v := ownVal{m.Digest, m.PreparedRound}
		if prev, ok := c.own[k]; ok && prev != v {
			return fmt.Errorf("%w: honest node %d signed two different %s at height %d round %d", ErrSafety, n.id, m.Code, m.Height, m.Round)
		}
		c.own[k] = v
		c.lastHonest = m
		// Paper §5 (safety lemma): once a quorum committed d in round r,
		// no honest validator prepares or commits anything else in a later
		// round. Checked as soon as the decision is known here.
		if d, ok := c.decided[m.Height]; ok && m.Round > c.decidedIn[m.Height] && m.Digest != d &&
			(m.Code == ibft.MsgPrepare || m.Code == ibft.MsgCommit) {
			return fmt.Errorf("%w: honest node %d sent %s for %x at height %d round %d, after %x was decided in round %d",
				ErrSafety, n.id, m.Code, m.Digest[:4], m.Height, m.Round, d[:4], c.decidedIn[m.Height])
		}
		// A COMMIT in round r means prepared in r: every later ROUND-CHANGE
		// of this height must carry a certificate at least that recent.
		pk := [2]uint64{uint64(n.id), m.Height}
		switch pr := c.prepared[pk]; {
		case m.Code == ibft.MsgCommit:
			c.prepared[pk] = max(pr, m.Round+1)
		case m.Code == ibft.MsgRoundChange && pr > 0 && m.Round >= pr:
			if m.Digest == (common.Hash{}) || m.PreparedRound < pr-1 {
				return fmt.Errorf("%w: honest node %d lost its round-%d prepared certificate (round change to %d)", ErrSafety, n.id, pr-1, m.Round)
			}
		}
	}
	var targets []int
	if o.To != nil {
		if i, ok := c.byAddr[*o.To]; ok {
			targets = []int{i}
		}
	} else {
		for i := range c.nodes {
			if i != n.id {
				targets = append(targets, i)
			}
		}
	}
	if n.byz {
		c.adversary(n, m, targets)
		return nil
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	for _, t := range targets {
		c.enqueue(n.id, t, m.Code, data)
	}
	return nil
}

// adversary sends a byzantine node's message, or something worse.
func (c *cluster) adversary(n *node, m *ibft.Message, targets []int) {
	r := c.rng
	if r.Float64() < c.sc.byzSilentP {
		return
	}
	sendAll := func(m *ibft.Message, to []int) {
		data, err := m.Encode()
		if err != nil {
			return
		}
		for _, t := range to {
			c.enqueue(n.id, t, m.Code, data)
		}
	}
	half := targets[:len(targets)/2]
	rest := targets[len(targets)/2:]
	if m.Code == ibft.MsgPrePrepare && m.Round > 0 && r.Float64() < c.sc.byzFreshP {
		// Amnesia: propose a fresh block instead of the prepared value the
		// justification demands.
		fresh := c.resign(n, m, func(x *ibft.Message) {
			n.nonce++
			p := makeBlock(x.Height, n.chain[len(n.chain)-1], n.id, n.nonce, true)
			c.blocks[p.Hash] = p.Raw
			x.Digest, x.Proposal = p.Hash, p.Raw
		})
		sendAll(fresh, targets)
		// And vote for it at once, as its accomplices would.
		for _, code := range []ibft.Code{ibft.MsgPrepare, ibft.MsgCommit} {
			vote := &ibft.Message{Signed: ibft.Signed{Code: code, Height: m.Height, Round: m.Round, Digest: fresh.Digest}}
			sendAll(c.resign(n, vote, func(*ibft.Message) {}), targets)
		}
		return
	}
	switch r.IntN(10) {
	case 0: // equivocate: another block (or digest) for half the validators
		alt := c.resign(n, m, func(x *ibft.Message) {
			if x.Code == ibft.MsgPrePrepare {
				n.nonce++
				p := makeBlock(x.Height, n.chain[len(n.chain)-1], n.id, n.nonce, r.IntN(2) == 0)
				if r.IntN(2) == 0 {
					c.blocks[p.Hash] = p.Raw
				}
				x.Digest, x.Proposal = p.Hash, p.Raw
			} else {
				x.Digest = common.Hash(crypto.Keccak256Hash(x.Digest[:], []byte{byte(r.Uint32())}))
			}
		})
		sendAll(m, rest)
		sendAll(alt, half)
	case 1: // forged signature: another validator's, or a flipped bit
		f := *m
		if c.lastHonest != nil && r.IntN(2) == 0 {
			f.Signature = c.lastHonest.Signature
		} else if len(f.Signature) > 0 {
			f.Signature = slices.Clone(f.Signature)
			f.Signature[r.IntN(len(f.Signature))] ^= 1 << r.IntN(8)
		}
		sendAll(&f, targets)
	case 2: // wrong height
		alt := c.resign(n, m, func(x *ibft.Message) {
			if r.IntN(2) == 0 && x.Height > 1 {
				x.Height -= 1
			} else {
				x.Height += 1 + uint64(r.IntN(3))
			}
		})
		sendAll(alt, targets)
	case 3: // duplicates
		for range 3 {
			sendAll(m, targets)
		}
	case 4: // replay an honest node's message as is
		if c.lastHonest != nil {
			sendAll(c.lastHonest, targets)
		}
		sendAll(m, targets)
	case 5: // garbage
		junk := make([]byte, r.IntN(200))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		for _, t := range targets {
			c.enqueue(n.id, t, 0xff, junk)
		}
	case 6: // a forged certificate: duplicated seals of its own
		if m.Code == ibft.MsgCommit {
			f := &ibft.Message{Signed: ibft.Signed{Code: ibft.MsgCertificate, Height: m.Height, Round: m.Round, Digest: m.Digest}}
			for range quorum.Size(len(c.nodes)) {
				f.Commits = append(f.Commits, m.Signed)
			}
			sendAll(f, targets)
		}
		sendAll(m, targets)
	default:
		sendAll(m, targets)
	}
}

// resign returns a copy of m changed by edit and signed by n (with a fresh
// commit seal for COMMITs): a validly signed byzantine message.
func (c *cluster) resign(n *node, m *ibft.Message, edit func(*ibft.Message)) *ibft.Message {
	x := *m
	x.Signed.CommitSeal = slices.Clone(m.CommitSeal)
	edit(&x)
	if x.Code == ibft.MsgCommit {
		x.CommitSeal, _ = cert.SignCommit(x.Digest, x.Round, n.signer.Sign)
	}
	d := x.SigningDigest()
	x.Signature, _ = n.signer.Sign(d[:])
	return &x
}

// sync is block sync: a validator behind a connected peer imports the
// peer's blocks with their certificates and jumps its core ahead.
func (c *cluster) sync() error {
	for _, n := range c.nodes {
		if !n.up {
			continue
		}
		var best *node
		for _, p := range c.nodes {
			if p.byz || p == n || !c.connected(n.id, p.id) || p.height() <= n.height() {
				continue
			}
			if best == nil || p.height() > best.height() {
				best = p
			}
		}
		if best == nil {
			continue
		}
		from := n.height()
		for h := from + 1; h <= best.height(); h++ {
			hash := best.chain[h]
			if prev, ok := c.decided[h]; !ok || prev != hash {
				return fmt.Errorf("%w: node %d holds an undecided block at %d", ErrSafety, best.id, h)
			}
			n.chain = append(n.chain, hash)
		}
		n.log.Reset()
		c.tracef("node %d syncs %d..%d from node %d", n.id, from+1, n.height(), best.id)
		if err := n.core.NewHeight(n.height()+1, c.vals); err != nil {
			return err
		}
		if err := c.process(n); err != nil {
			return err
		}
	}
	return nil
}
