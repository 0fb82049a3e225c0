package ibft

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/quorum"
)

// Errors returned by Step and the other inputs. Errors marked "not a
// fault" describe messages an honest peer may send (late, early or
// repeated); the others mean the message is invalid and its sender (or
// whoever relayed it) misbehaved.
var (
	// ErrOldMessage is returned for a message for a past height or round (not a fault).
	ErrOldMessage = errors.New("ibft: message for a past height or round")
	// ErrFutureMessage is returned for a message too far ahead to buffer (not a fault).
	ErrFutureMessage = errors.New("ibft: message too far in the future")
	// ErrDuplicate is returned for a message already received (not a fault).
	ErrDuplicate = errors.New("ibft: duplicate message")
	// ErrNotValidator is returned for a message signed by a non-validator.
	ErrNotValidator = errors.New("ibft: sender is not a validator")
	// ErrNotProposer is returned for a PRE-PREPARE not from the round's proposer.
	ErrNotProposer = errors.New("ibft: pre-prepare from a non-proposer")
	// ErrEquivocation is returned when a validator signed two different
	// messages of one kind for one height and round.
	ErrEquivocation = errors.New("ibft: conflicting messages from one sender")
	// ErrBadJustification is returned for a PRE-PREPARE or ROUND-CHANGE whose
	// justification does not prove what it claims.
	ErrBadJustification = errors.New("ibft: invalid justification")
	// ErrBadSeal is returned for a COMMIT whose seal is not the sender's over
	// its digest, or a CERTIFICATE whose seals are not a valid certificate.
	ErrBadSeal = errors.New("ibft: invalid commit seal")
	// ErrBadMessage is returned for a message whose fields are inconsistent.
	ErrBadMessage = errors.New("ibft: malformed message")
	// ErrWrongHeight is returned by Propose and NewHeight for a height the
	// core is not at or cannot move to.
	ErrWrongHeight = errors.New("ibft: wrong height")
	// ErrNoValidators is returned by New and NewHeight for an empty set.
	ErrNoValidators = errors.New("ibft: empty validator set")
)

// Bounds on per-height state (TigerStyle: a limit on everything).
const (
	// maxFutureRounds bounds how far ahead of the current round PREPAREs
	// are kept. ROUND-CHANGEs are kept per sender (latest only) regardless
	// of round, so lagging validators can always catch up in rounds.
	maxFutureRounds = 16
	// maxCommitRounds bounds the rounds whose COMMITs are kept.
	maxCommitRounds = 8
	// maxValid bounds the validated proposals remembered per height.
	maxValid = 64
	// maxPending bounds PRE-PREPAREs awaiting validation.
	maxPending = 8
	// maxEvidencePerHeight bounds the equivocation evidence reported per
	// height (each (validator, code, round) at most once).
	maxEvidencePerHeight = 64
)

// Config holds a core's dependencies and tunables. Zero tunables get defaults.
type Config struct {
	// Signer signs this validator's messages; required.
	Signer Signer
	// Recover returns the signer of a digest; nil means Ecrecover. A
	// memoising implementation is fine (the function must be pure).
	Recover func(digest, sig []byte) (common.Address, error)
	// BaseTimeoutTicks is the round-0 timeout in ticks (default 10). Round r
	// times out after min(BaseTimeoutTicks<<r, MaxTimeoutTicks) ticks plus
	// jitter. Round 0 starts at NewHeight, so it must cover the block period
	// the proposer waits before building, plus propagation and validation.
	BaseTimeoutTicks uint64
	// MaxTimeoutTicks caps the round timeout (default 64×BaseTimeoutTicks).
	MaxTimeoutTicks uint64
	// Rand supplies timeout jitter (up to a quarter of BaseTimeoutTicks);
	// nil means no jitter. The core never uses a global random source.
	Rand *rand.Rand
	// MaxFutureHeights is how many heights ahead messages are buffered (default 2).
	MaxFutureHeights uint64
	// MaxFuturePerSender bounds buffered future messages per sender (default 64).
	MaxFuturePerSender int
	// Logger receives debug events; nil discards.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Signer == nil {
		return errors.New("ibft: Config.Signer is required")
	}
	if c.Recover == nil {
		c.Recover = Ecrecover
	}
	if c.BaseTimeoutTicks == 0 {
		c.BaseTimeoutTicks = 10
	}
	if c.MaxTimeoutTicks == 0 {
		c.MaxTimeoutTicks = 64 * c.BaseTimeoutTicks
	}
	if c.MaxFutureHeights == 0 {
		c.MaxFutureHeights = 2
	}
	if c.MaxFuturePerSender == 0 {
		c.MaxFuturePerSender = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// View is a (height, round) pair.
type View struct {
	Height uint64
	Round  uint64
}

// Commit is a decided block: Cert holds at least a quorum of commit seals
// over Proposal.Hash by the height's validators, in validator order.
// Proposal.Raw is nil when the core learned the decision without holding a
// validated copy of the block; the driver must then fetch it (sync) by hash.
type Commit struct {
	Proposal Proposal
	Round    uint64
	Cert     cert.Certificate
}

// Outbound is a message to send. To is nil for a broadcast to all
// validators (the core has already delivered it to itself).
type Outbound struct {
	To  *common.Address
	Msg *Message
}

// Timer reports that the round timer was started: the current round times
// out after Ticks more calls to Tick unless the height is decided first.
type Timer struct {
	View
	Ticks uint64
}

// Ready is the core's output batch. Handle it in the order the fields are
// listed (see the package documentation), then call Advance.
type Ready struct {
	// WAL lists records to append and fsync before sending anything.
	WAL []Record
	// Messages lists messages to send.
	Messages []Outbound
	// Commit is set when this height is decided: store the block with its
	// certificate, then call NewHeight for the next height.
	Commit *Commit
	// Validate lists proposals to check; answer each with ProposalValidated.
	Validate []Proposal
	// NeedProposal is set when this validator must propose for the view:
	// build a block for the height and pass it to Propose.
	NeedProposal *View
	// Timer is set when the round timer was reset (informational: the core
	// counts Ticks itself).
	Timer *Timer
	// Evidence lists equivocations detected: two conflicting signed
	// messages of one validator for one view (see Evidence). The second
	// message was dropped and counted for nothing. Each (validator, code,
	// height, round) is reported once, at most maxEvidencePerHeight per
	// height. Keep it for slashing; no order with the other fields.
	Evidence []Evidence
}

// Empty reports whether rd holds nothing to do.
func (rd *Ready) Empty() bool {
	return len(rd.WAL) == 0 && len(rd.Messages) == 0 && rd.Commit == nil &&
		len(rd.Validate) == 0 && rd.NeedProposal == nil && rd.Timer == nil && len(rd.Evidence) == 0
}

// Status is a snapshot of the core for RPC and logs.
type Status struct {
	View
	Validators    []common.Address
	Proposer      common.Address
	Decided       bool
	PreparedRound *uint64
}

type ownKey struct {
	round uint64
	code  Code
}

type futureMsg struct {
	from common.Address
	msg  *Message
}

// evKey names one equivocation: reported once.
type evKey struct {
	from          common.Address
	code          Code
	height, round uint64
}

// commitProof is a quorum of COMMITs of one round for one digest and their
// senders, in validator order.
type commitProof struct {
	commits []Signed
	from    []common.Address
}

// fullCert is the certificate of the latest height this core decided,
// grown by COMMITs that arrive after the decision (a slow validator's seal
// for the same round and digest): the proposer of the next height carries
// it in the block as the parent certificate, so rewards can go to every
// validator that committed, not only the first quorum.
type fullCert struct {
	height uint64
	hash   common.Hash
	round  uint64
	vals   []common.Address // the height's validators, sorted
	member map[common.Address]bool
	by     map[common.Address]Signed // at most one COMMIT per validator
}

// certificate returns the seals in validator order.
func (f *fullCert) certificate() cert.Certificate {
	ct := cert.Certificate{Round: f.round, Seals: make([][]byte, 0, len(f.by))}
	for _, v := range f.vals {
		if s, ok := f.by[v]; ok {
			ct.Seals = append(ct.Seals, slices.Clone(s.CommitSeal))
		}
	}
	return ct
}

// Core is the IBFT 2.0 state machine of one validator. It is not safe for
// concurrent use: one goroutine (the driver) calls every method.
type Core struct {
	cfg  Config
	self common.Address
	now  uint64 // ticks since New, for reply rate limiting

	// Per-height state, reset by NewHeight.
	height  uint64
	vals    []common.Address // sorted
	member  map[common.Address]bool
	q       int
	f       int
	round   uint64
	elapsed uint64
	active  bool // the round timer runs (see startRound)
	timeout uint64
	decided *Commit

	ownProposal *Proposal
	valid       map[common.Hash]Proposal // validated by the app at this height
	validating  map[common.Hash]bool     // requests in flight, by claimed digest
	pendingPP   map[uint64]*Message      // PRE-PREPAREs awaiting validation, by round
	accepted    *Message                 // PRE-PREPARE accepted in the current round
	prepares    map[uint64]map[common.Address]Signed
	commits     map[uint64]map[common.Address]Signed
	rcs         map[common.Address]*Message // latest ROUND-CHANGE per sender
	prepared    *PreparedCert
	own         map[ownKey]*Message
	certWait    map[common.Hash]commitProof // catch-up proofs awaiting block validation

	decidedBy []Signed                  // the COMMITs that decided this height
	last      *Commit                   // decision of height-1, for catch-up replies
	lastBy    []Signed                  // the COMMITs that decided height-1
	replied   map[common.Address]uint64 // tick of the last catch-up reply per peer
	future    []futureMsg
	full      *fullCert // decided at height (or height-1), with late seals

	evSeen  map[evKey]bool // evidence reported, for heights height-1 and up
	evCount map[uint64]int // evidence reported per height

	out   Ready
	taken Ready // what the last Ready call returned, trimmed by Advance
}

// New returns a core at height with the given validator set. If the node
// restarts, call Restore with the WAL's records before any other input.
func New(cfg Config, height uint64, validators []common.Address) (*Core, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	c := &Core{
		cfg: cfg, self: cfg.Signer.Address(), replied: make(map[common.Address]uint64),
		evSeen: make(map[evKey]bool), evCount: make(map[uint64]int),
	}
	if err := c.reset(height, validators); err != nil {
		return nil, err
	}
	c.startRound(0)
	return c, nil
}

// Height returns the height being decided.
func (c *Core) Height() uint64 { return c.height }

// Status returns a snapshot of the core.
func (c *Core) Status() Status {
	s := Status{
		View:       View{c.height, c.round},
		Validators: slices.Clone(c.vals),
		Proposer:   Proposer(c.vals, c.height, c.round),
		Decided:    c.decided != nil,
	}
	if c.prepared != nil {
		r := c.prepared.Round
		s.PreparedRound = &r
	}
	return s
}

// Tick advances logical time by one tick. The round times out after the
// number of ticks reported in Ready.Timer.
func (c *Core) Tick() {
	c.now++
	if c.decided != nil {
		return
	}
	c.elapsed++
	switch {
	case c.active && c.elapsed >= c.timeout:
		c.onTimeout()
	case !c.active && c.elapsed >= c.cfg.BaseTimeoutTicks:
		// Waiting for the round to gather a quorum: keep announcing it.
		c.elapsed = 0
		c.resend()
	}
}

// Propose hands the core this validator's block for the current height, in
// answer to Ready.NeedProposal (or ahead of it). The application built it,
// so it counts as validated.
func (c *Core) Propose(p Proposal) error {
	if p.Height != c.height {
		return fmt.Errorf("%w: proposal for %d at %d", ErrWrongHeight, p.Height, c.height)
	}
	if len(p.Raw) == 0 || len(p.Raw) > MaxProposalSize {
		return fmt.Errorf("%w: proposal of %d bytes", ErrBadMessage, len(p.Raw))
	}
	c.ownProposal = &p
	c.addValid(p)
	if c.decided == nil {
		c.tryPropose()
	}
	return nil
}

// ProposalValidated reports the application's verdict on a proposal from
// Ready.Validate: computed is the hash the application computed from p.Raw,
// err is nil when the block is valid. The proposal is accepted only when
// err is nil and computed equals p.Hash. Late answers are ignored.
func (c *Core) ProposalValidated(p Proposal, computed common.Hash, err error) {
	if p.Height != c.height {
		return
	}
	delete(c.validating, p.Hash)
	ok := err == nil && computed == p.Hash
	if !ok {
		c.cfg.Logger.Debug("invalid proposal", "height", p.Height, "hash", p.Hash, "err", err)
		// Someone else may hold the right bytes for this digest.
		for _, r := range c.pendingRounds() {
			if m := c.pendingPP[r]; m.Digest == p.Hash && string(m.Proposal) != string(p.Raw) {
				c.requestValidation(m.Proposal, m.Digest)
			}
		}
		if proof, waiting := c.certWait[p.Hash]; waiting && !c.validating[p.Hash] && c.decided == nil {
			// The COMMITs prove finality even if the bytes were bad.
			c.decide(p.Hash, proof)
		}
		return
	}
	c.addValid(p)
	if c.decided != nil {
		return
	}
	if proof, waiting := c.certWait[p.Hash]; waiting {
		c.decide(p.Hash, proof)
		return
	}
	c.acceptPending()
}

// NewHeight moves the core to height, whose validator set is validators:
// after the driver stored the block from Ready.Commit (height-1 decided
// here), or after sync imported blocks up to height-1.
func (c *Core) NewHeight(height uint64, validators []common.Address) error {
	if height <= c.height {
		return fmt.Errorf("%w: new height %d at %d", ErrWrongHeight, height, c.height)
	}
	last, lastBy, full := c.decided, c.decidedBy, c.full
	if height != c.height+1 {
		last, lastBy = nil, nil
	}
	if full != nil && full.height+1 != height {
		full = nil
	}
	if err := c.reset(height, validators); err != nil {
		return err
	}
	c.last, c.lastBy, c.full = last, lastBy, full
	// Evidence about height-1 can still arrive (late COMMITs).
	for k := range c.evSeen {
		if k.height+1 < height {
			delete(c.evSeen, k)
		}
	}
	for h := range c.evCount {
		if h+1 < height {
			delete(c.evCount, h)
		}
	}
	c.startRound(0)
	// Replay buffered messages for the new height; keep later ones.
	future := c.future
	c.future = nil
	for _, fm := range future {
		switch {
		case fm.msg.Height == c.height:
			_ = c.stepFrom(fm.from, fm.msg)
		case fm.msg.Height > c.height:
			c.future = append(c.future, fm)
		}
	}
	return nil
}

// Restore loads WAL records written before a restart. Records for other
// heights are ignored. The core re-sends (never re-signs differently) the
// messages it signed, keeps its prepared certificate, and resumes at the
// highest round it had reached.
func (c *Core) Restore(records []Record) {
	var maxRound uint64
	for _, r := range records {
		switch {
		case r.Message != nil && r.Message.Height == c.height:
			m := r.Message
			c.own[ownKey{m.Round, m.Code}] = m
			maxRound = max(maxRound, m.Round)
			switch m.Code {
			case MsgPrepare:
				c.storePrepare(c.self, m.Signed)
			case MsgCommit:
				c.storeCommit(c.self, m.Signed)
			case MsgRoundChange:
				if prev := c.rcs[c.self]; prev == nil || m.Round > prev.Round {
					c.rcs[c.self] = m
				}
			}
		case r.Prepared != nil && r.Prepared.Height == c.height:
			if c.prepared == nil || r.Prepared.Round > c.prepared.Round {
				c.prepared = r.Prepared
			}
			maxRound = max(maxRound, r.Prepared.Round)
		}
	}
	if maxRound > c.round {
		c.startRound(maxRound)
	}
}

// HasReady reports whether Ready would return a non-empty batch.
func (c *Core) HasReady() bool { return !c.out.Empty() }

// Ready returns the pending output batch. Handle it, then call Advance.
// Inputs may be given between Ready and Advance; their output lands in the
// next batch.
func (c *Core) Ready() Ready {
	c.taken = c.out
	return c.taken
}

// Advance acknowledges the batch returned by the last Ready call.
func (c *Core) Advance() {
	c.out.WAL = trim(c.out.WAL, len(c.taken.WAL))
	c.out.Messages = trim(c.out.Messages, len(c.taken.Messages))
	c.out.Validate = trim(c.out.Validate, len(c.taken.Validate))
	c.out.Evidence = trim(c.out.Evidence, len(c.taken.Evidence))
	if c.out.Commit == c.taken.Commit {
		c.out.Commit = nil
	}
	if c.out.NeedProposal == c.taken.NeedProposal {
		c.out.NeedProposal = nil
	}
	if c.out.Timer == c.taken.Timer {
		c.out.Timer = nil
	}
	c.taken = Ready{}
}

func trim[T any](s []T, n int) []T {
	if n >= len(s) {
		return nil
	}
	return slices.Clone(s[n:])
}

// Step feeds a message received from the network.
func (c *Core) Step(m *Message) error {
	if m == nil {
		return fmt.Errorf("%w: nil", ErrBadMessage)
	}
	if err := m.checkShape(); err != nil {
		return err
	}
	if m.Code == MsgCertificate {
		return c.stepCertificate(m)
	}
	from, err := c.cfg.Recover(digestBytes(&m.Signed), m.Signature)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if m.Height > c.height {
		return c.buffer(from, m)
	}
	return c.stepFrom(from, m)
}

func digestBytes(s *Signed) []byte {
	d := s.SigningDigest()
	return d[:]
}

// stepFrom handles a message whose signature recovered to from.
func (c *Core) stepFrom(from common.Address, m *Message) error {
	if m.Height < c.height || c.decided != nil {
		if m.Code == MsgCommit {
			if err := c.lateCommit(from, m); err != nil {
				return err
			}
		}
		c.maybeReply(from, m)
		if m.Height < c.height {
			return ErrOldMessage
		}
		return nil
	}
	if !c.member[from] {
		return fmt.Errorf("%w: %s", ErrNotValidator, from)
	}
	switch m.Code {
	case MsgPrePrepare:
		return c.handlePrePrepare(from, m)
	case MsgPrepare:
		return c.handlePrepare(from, m)
	case MsgCommit:
		return c.handleCommit(from, m)
	case MsgRoundChange:
		return c.handleRoundChange(from, m)
	}
	return fmt.Errorf("%w: code %s", ErrBadMessage, m.Code)
}

// buffer keeps a message for a future height, within bounds.
func (c *Core) buffer(from common.Address, m *Message) error {
	if m.Height > c.height+c.cfg.MaxFutureHeights {
		return ErrFutureMessage
	}
	// The future set is unknown; the current one is the best filter.
	if !c.member[from] {
		return fmt.Errorf("%w: %s", ErrNotValidator, from)
	}
	n := 0
	for _, fm := range c.future {
		if fm.from == from {
			n++
		}
	}
	if n >= c.cfg.MaxFuturePerSender {
		return ErrFutureMessage
	}
	c.future = append(c.future, futureMsg{from, m})
	return nil
}

// reset clears per-height state.
func (c *Core) reset(height uint64, validators []common.Address) error {
	vals := SortValidators(validators)
	if len(vals) == 0 {
		return ErrNoValidators
	}
	c.height, c.vals = height, vals
	c.member = make(map[common.Address]bool, len(vals))
	for _, v := range vals {
		c.member[v] = true
	}
	c.q, c.f = quorum.Size(len(vals)), quorum.Faulty(len(vals))
	c.round, c.decided, c.decidedBy = 0, nil, nil
	c.ownProposal, c.accepted, c.prepared = nil, nil, nil
	c.valid = make(map[common.Hash]Proposal)
	c.validating = make(map[common.Hash]bool)
	c.pendingPP = make(map[uint64]*Message)
	c.prepares = make(map[uint64]map[common.Address]Signed)
	c.commits = make(map[uint64]map[common.Address]Signed)
	c.rcs = make(map[common.Address]*Message)
	c.own = make(map[ownKey]*Message)
	c.certWait = make(map[common.Hash]commitProof)
	return nil
}

func (c *Core) isProposer(round uint64) bool {
	return Proposer(c.vals, c.height, round) == c.self
}

func (c *Core) roundTimeout(r uint64) uint64 {
	t := c.cfg.MaxTimeoutTicks
	if r < 63 && c.cfg.BaseTimeoutTicks<<r>>r == c.cfg.BaseTimeoutTicks {
		t = min(c.cfg.BaseTimeoutTicks<<r, t)
	}
	if c.cfg.Rand != nil {
		t += c.cfg.Rand.Uint64N(c.cfg.BaseTimeoutTicks/4 + 1)
	}
	return t
}

// startRound enters round r at the current height (paper §4, Algorithm 1
// "StartRound" / QBFT): reset the timer, drop state of older rounds, and
// propose if this validator is the round's proposer.
func (c *Core) startRound(r uint64) {
	c.round, c.elapsed, c.accepted, c.active = r, 0, nil, false
	c.timeout = c.roundTimeout(r)
	c.activate()
	for pr := range c.pendingPP {
		if pr < r {
			delete(c.pendingPP, pr)
		}
	}
	for pr := range c.prepares {
		if pr < r {
			delete(c.prepares, pr)
		}
	}
	c.tryPropose()
	c.acceptPending()
}

// activate starts the round timer once the round has begun for a quorum:
// round 0, an accepted PRE-PREPARE (justified by a quorum of ROUND-CHANGEs),
// or a quorum of validators whose latest ROUND-CHANGE is for this round or
// later. Until then the validator waits in the round, re-sending its
// ROUND-CHANGE every base timeout. Without this rule a validator whose
// messages were lost would time out round after round alone and, with
// capped timeouts, stay rounds ahead of the others forever (a pacemaker in
// the style of LibraBFT's timeout certificates; the paper assumes
// unbounded timeouts instead).
func (c *Core) activate() {
	if c.active || c.decided != nil {
		return
	}
	ok := c.round == 0 || c.accepted != nil
	if !ok {
		n := 0
		for _, v := range c.vals {
			if rc := c.rcs[v]; rc != nil && rc.Round >= c.round {
				n++
			}
		}
		ok = n >= c.q
	}
	if ok {
		c.active, c.elapsed = true, 0
		c.out.Timer = &Timer{View{c.height, c.round}, c.timeout}
	}
}

// onTimeout handles expiry of the round timer (paper §4, Algorithm 3
// "upon timeout"): re-send this round's messages for peers that lost them,
// then move to the next round and broadcast a ROUND-CHANGE carrying the
// latest prepared certificate.
func (c *Core) onTimeout() {
	c.resend()
	c.startRound(c.round + 1)
	c.sendRoundChange()
}

// resend re-broadcasts this validator's messages of the current round and
// its latest COMMIT at this height (seals over one digest from any round
// combine into a certificate).
func (c *Core) resend() {
	var latestCommit *Message
	for k, m := range c.own {
		if k.code == MsgCommit && (latestCommit == nil || m.Round > latestCommit.Round) {
			latestCommit = m
		}
	}
	for _, code := range []Code{MsgPrePrepare, MsgPrepare, MsgRoundChange} {
		if m, ok := c.own[ownKey{c.round, code}]; ok {
			c.out.Messages = append(c.out.Messages, Outbound{Msg: m})
		}
	}
	if latestCommit != nil {
		c.out.Messages = append(c.out.Messages, Outbound{Msg: latestCommit})
	}
}

func (c *Core) sendRoundChange() {
	m := &Message{Signed: Signed{Code: MsgRoundChange, Height: c.height, Round: c.round}}
	if p := c.prepared; p != nil {
		m.Digest, m.PreparedRound, m.Proposal, m.Prepares = p.Digest, p.Round, p.Proposal, p.Prepares
	}
	c.send(m)
}

// send signs m (unless this validator already signed a message of m's kind
// for m's round, which is re-sent instead: a validator never signs two
// different messages for one view), records it for the WAL, broadcasts it
// and delivers it to itself.
func (c *Core) send(m *Message) {
	if !c.member[c.self] {
		// Not a validator at this height: follow the votes, never cast one.
		return
	}
	key := ownKey{m.Round, m.Code}
	if prev, ok := c.own[key]; ok {
		if prev.Digest != m.Digest || prev.PreparedRound != m.PreparedRound {
			c.cfg.Logger.Debug("not signing a conflicting message", "code", m.Code, "height", m.Height, "round", m.Round)
		}
		c.out.Messages = append(c.out.Messages, Outbound{Msg: prev})
		return
	}
	if m.Code == MsgCommit {
		seal, err := cert.SignCommit(m.Digest, m.Round, c.cfg.Signer.Sign)
		if err != nil {
			c.cfg.Logger.Error("commit seal failed", "err", err)
			return
		}
		m.CommitSeal = seal
	}
	sig, err := c.cfg.Signer.Sign(digestBytes(&m.Signed))
	if err != nil {
		c.cfg.Logger.Error("signing failed", "err", err)
		return
	}
	m.Signature = sig
	c.own[key] = m
	c.out.WAL = append(c.out.WAL, Record{Message: m})
	c.out.Messages = append(c.out.Messages, Outbound{Msg: m})
	if err := c.stepFrom(c.self, m); err != nil && !errors.Is(err, ErrDuplicate) {
		c.cfg.Logger.Debug("own message rejected", "code", m.Code, "err", err)
	}
}

// tryPropose sends a PRE-PREPARE if this validator proposes the current
// round and may do so now (paper §4, Algorithm 1 line "if proposer" and
// Algorithm 4 "upon receiving a quorum of ROUND-CHANGE").
func (c *Core) tryPropose() {
	if c.decided != nil || !c.isProposer(c.round) {
		return
	}
	if _, done := c.own[ownKey{c.round, MsgPrePrepare}]; done {
		return
	}
	m := &Message{Signed: Signed{Code: MsgPrePrepare, Height: c.height, Round: c.round}}
	if c.round > 0 {
		rcs := c.roundChangesFor(c.round)
		if len(rcs) < c.q {
			return
		}
		var best *Message
		for _, rc := range rcs {
			m.RoundChanges = append(m.RoundChanges, rc.Signed)
			if rc.Digest != (common.Hash{}) && (best == nil || rc.PreparedRound > best.PreparedRound) {
				best = rc
			}
		}
		if best != nil {
			// Re-propose the highest prepared value with its certificate.
			m.Digest, m.Proposal, m.Prepares = best.Digest, best.Proposal, best.Prepares
			c.send(m)
			return
		}
	}
	if c.ownProposal == nil {
		if c.out.NeedProposal == nil || *c.out.NeedProposal != (View{c.height, c.round}) {
			c.out.NeedProposal = &View{c.height, c.round}
		}
		return
	}
	m.Digest, m.Proposal = c.ownProposal.Hash, c.ownProposal.Raw
	c.send(m)
}

// roundChangesFor returns the latest ROUND-CHANGE of each validator whose
// latest is for round r, in validator order.
func (c *Core) roundChangesFor(r uint64) []*Message {
	var out []*Message
	for _, v := range c.vals {
		if rc := c.rcs[v]; rc != nil && rc.Round == r {
			out = append(out, rc)
		}
	}
	return out
}

// handlePrePrepare checks a PRE-PREPARE (paper §4, Algorithm 2 "upon
// receiving PRE-PREPARE"; QBFT justification for round > 0) and asks the
// application to validate the block before accepting it.
func (c *Core) handlePrePrepare(from common.Address, m *Message) error {
	if m.Round < c.round {
		return ErrOldMessage
	}
	if from != Proposer(c.vals, c.height, m.Round) {
		return ErrNotProposer
	}
	if len(m.Proposal) == 0 || m.Digest == (common.Hash{}) {
		return fmt.Errorf("%w: pre-prepare without a proposal", ErrBadMessage)
	}
	if prev := c.pendingPP[m.Round]; prev != nil {
		if prev.Digest != m.Digest {
			return c.equivocation(from, prev.Signed, m.Signed)
		}
		return ErrDuplicate
	}
	if c.accepted != nil && c.accepted.Round == m.Round {
		if c.accepted.Digest != m.Digest {
			return c.equivocation(from, c.accepted.Signed, m.Signed)
		}
		return ErrDuplicate
	}
	if m.Round > c.round && len(c.pendingPP) >= maxPending {
		return ErrFutureMessage
	}
	if err := c.justifyPrePrepare(m); err != nil {
		return err
	}
	c.pendingPP[m.Round] = m
	if _, ok := c.valid[m.Digest]; !ok {
		c.requestValidation(m.Proposal, m.Digest)
		return nil
	}
	c.acceptPending()
	return nil
}

// justifyPrePrepare checks the justification of a PRE-PREPARE (QBFT
// "JustifyPrePrepare", IBFT 2.0 §4.2): round 0 needs none; round r > 0
// needs a quorum of ROUND-CHANGE for r, and if any of them reports a
// prepared value, a quorum of PREPAREs for the highest such round whose
// digest is the proposed one. Without hard locks this is what carries a
// possibly-decided value from round to round.
func (c *Core) justifyPrePrepare(m *Message) error {
	if m.Round == 0 {
		if len(m.RoundChanges) != 0 || len(m.Prepares) != 0 {
			return fmt.Errorf("%w: round 0 carries a justification", ErrBadJustification)
		}
		return nil
	}
	seen := make(map[common.Address]bool, len(m.RoundChanges))
	var highest *Signed
	for i := range m.RoundChanges {
		rc := &m.RoundChanges[i]
		if rc.Code != MsgRoundChange || rc.Height != c.height || rc.Round != m.Round {
			return fmt.Errorf("%w: round change %d for another view", ErrBadJustification, i)
		}
		if rc.Digest != (common.Hash{}) && rc.PreparedRound >= m.Round {
			return fmt.Errorf("%w: prepared round %d not below %d", ErrBadJustification, rc.PreparedRound, m.Round)
		}
		from, err := c.cfg.Recover(digestBytes(rc), rc.Signature)
		if err != nil || !c.member[from] || seen[from] {
			return fmt.Errorf("%w: round change %d not from a distinct validator", ErrBadJustification, i)
		}
		seen[from] = true
		if rc.Digest != (common.Hash{}) && (highest == nil || rc.PreparedRound > highest.PreparedRound) {
			highest = rc
		}
	}
	if len(seen) < c.q {
		return fmt.Errorf("%w: %d round changes, need %d", ErrBadJustification, len(seen), c.q)
	}
	if highest == nil {
		if len(m.Prepares) != 0 {
			return fmt.Errorf("%w: prepares without a prepared round change", ErrBadJustification)
		}
		return nil
	}
	// The proposal must be a value prepared in the highest round reported.
	match := false
	for i := range m.RoundChanges {
		rc := &m.RoundChanges[i]
		if rc.Digest == m.Digest && rc.PreparedRound == highest.PreparedRound {
			match = true
		}
	}
	if !match {
		return fmt.Errorf("%w: proposal is not the highest prepared value", ErrBadJustification)
	}
	return c.checkPrepares(m.Prepares, highest.PreparedRound, m.Digest)
}

// checkPrepares verifies a prepared certificate: a quorum of PREPAREs by
// distinct validators for (height, round, digest).
func (c *Core) checkPrepares(prepares []Signed, round uint64, digest common.Hash) error {
	seen := make(map[common.Address]bool, len(prepares))
	for i := range prepares {
		p := &prepares[i]
		if p.Code != MsgPrepare || p.Height != c.height || p.Round != round || p.Digest != digest {
			return fmt.Errorf("%w: prepare %d for another view or value", ErrBadJustification, i)
		}
		from, err := c.cfg.Recover(digestBytes(p), p.Signature)
		if err != nil || !c.member[from] || seen[from] {
			return fmt.Errorf("%w: prepare %d not from a distinct validator", ErrBadJustification, i)
		}
		seen[from] = true
	}
	if len(seen) < c.q {
		return fmt.Errorf("%w: %d prepares, need %d", ErrBadJustification, len(seen), c.q)
	}
	return nil
}

func (c *Core) requestValidation(raw []byte, digest common.Hash) {
	if c.validating[digest] {
		return
	}
	c.validating[digest] = true
	c.out.Validate = append(c.out.Validate, Proposal{Height: c.height, Hash: digest, Raw: raw})
}

func (c *Core) addValid(p Proposal) {
	if len(c.valid) >= maxValid {
		clear(c.valid)
		if c.ownProposal != nil {
			c.valid[c.ownProposal.Hash] = *c.ownProposal
		}
	}
	c.valid[p.Hash] = p
}

func (c *Core) pendingRounds() []uint64 {
	rs := make([]uint64, 0, len(c.pendingPP))
	for r := range c.pendingPP {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	return rs
}

// acceptPending accepts the highest pending PRE-PREPARE at or above the
// current round whose block is validated: a justified PRE-PREPARE for a
// later round moves this validator to that round (QBFT), then it PREPAREs
// (paper §4, Algorithm 2).
func (c *Core) acceptPending() {
	if c.decided != nil {
		return
	}
	rs := c.pendingRounds()
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		m := c.pendingPP[r]
		if r < c.round {
			break
		}
		if _, ok := c.valid[m.Digest]; !ok {
			continue
		}
		if own, ok := c.own[ownKey{r, MsgPrepare}]; ok && own.Digest != m.Digest {
			// Restored from the WAL: this validator prepared another value
			// in round r (an equivocating proposer); stay with it.
			delete(c.pendingPP, r)
			continue
		}
		delete(c.pendingPP, r)
		if r > c.round {
			c.startRound(r)
		}
		c.accepted = m
		c.activate()
		c.send(&Message{Signed: Signed{Code: MsgPrepare, Height: c.height, Round: r, Digest: m.Digest}})
		c.checkPrepared()
		return
	}
}

// handlePrepare records a PREPARE (paper §4, Algorithm 2 "upon receiving a
// quorum of PREPARE").
func (c *Core) handlePrepare(from common.Address, m *Message) error {
	if m.Round < c.round {
		return ErrOldMessage
	}
	if m.Round > c.round+maxFutureRounds {
		return ErrFutureMessage
	}
	if prev, err := c.storePrepare(from, m.Signed); err != nil {
		if errors.Is(err, ErrEquivocation) {
			return c.equivocation(from, prev, m.Signed)
		}
		return err
	}
	if m.Round == c.round {
		c.checkPrepared()
	}
	return nil
}

func (c *Core) storePrepare(from common.Address, s Signed) (Signed, error) {
	byFrom := c.prepares[s.Round]
	if byFrom == nil {
		byFrom = make(map[common.Address]Signed)
		c.prepares[s.Round] = byFrom
	}
	return recordVote(byFrom, from, s)
}

// recordVote stores from's vote s unless from already voted in that round:
// the same vote again is a duplicate, a different one an equivocation (the
// earlier vote is returned with it).
func recordVote(byFrom map[common.Address]Signed, from common.Address, s Signed) (Signed, error) {
	if prev, ok := byFrom[from]; ok {
		if prev.Digest != s.Digest {
			return prev, ErrEquivocation
		}
		return prev, ErrDuplicate
	}
	byFrom[from] = s
	return Signed{}, nil
}

// checkPrepared: with the round's PRE-PREPARE accepted and a quorum of
// matching PREPAREs, the value is prepared; persist the certificate and
// COMMIT (paper §4, Algorithm 2).
func (c *Core) checkPrepared() {
	a := c.accepted
	if a == nil || c.decided != nil {
		return
	}
	if c.prepared != nil && c.prepared.Round >= c.round {
		return
	}
	var cert []Signed
	for _, v := range c.vals {
		if p, ok := c.prepares[c.round][v]; ok && p.Digest == a.Digest {
			cert = append(cert, p)
		}
	}
	if len(cert) < c.q {
		return
	}
	c.prepared = &PreparedCert{Height: c.height, Round: c.round, Digest: a.Digest, Proposal: a.Proposal, Prepares: cert[:c.q]}
	c.out.WAL = append(c.out.WAL, Record{Prepared: c.prepared})
	c.send(&Message{Signed: Signed{Code: MsgCommit, Height: c.height, Round: c.round, Digest: a.Digest}})
}

// handleCommit records a COMMIT and its seal (paper §4, Algorithm 2 "upon
// receiving a quorum of COMMIT"). Only COMMITs of one round add up to a
// decision: without locks an honest validator may seal different blocks in
// different rounds, so seals gathered across rounds prove nothing.
func (c *Core) handleCommit(from common.Address, m *Message) error {
	if m.Round > c.round+maxFutureRounds {
		return ErrFutureMessage
	}
	sealer, err := c.cfg.Recover(cert.CommitDigest(m.Digest, m.Round).Bytes(), m.CommitSeal)
	if err != nil || sealer != from {
		return ErrBadSeal
	}
	if prev, err := c.storeCommit(from, m.Signed); err != nil {
		if errors.Is(err, ErrEquivocation) {
			return c.equivocation(from, prev, m.Signed)
		}
		return err
	}
	c.checkDecided(m.Round, m.Digest)
	return nil
}

func (c *Core) storeCommit(from common.Address, s Signed) (Signed, error) {
	byFrom := c.commits[s.Round]
	if byFrom == nil {
		if len(c.commits) >= maxCommitRounds {
			lo := s.Round
			for r := range c.commits {
				lo = min(lo, r)
			}
			if lo == s.Round {
				return Signed{}, ErrOldMessage
			}
			delete(c.commits, lo)
		}
		byFrom = make(map[common.Address]Signed)
		c.commits[s.Round] = byFrom
	}
	return recordVote(byFrom, from, s)
}

// checkDecided decides d if a quorum committed it in round r.
func (c *Core) checkDecided(r uint64, d common.Hash) {
	if c.decided != nil {
		return
	}
	var p commitProof
	for _, v := range c.vals {
		if s, ok := c.commits[r][v]; ok && s.Digest == d {
			p.commits = append(p.commits, s)
			p.from = append(p.from, v)
		}
	}
	if len(p.commits) < c.q {
		return
	}
	if _, ok := c.valid[d]; !ok && c.validating[d] {
		// Our own validation of the block is still running (the others
		// were faster): wait for it and decide in ProposalValidated,
		// whatever its outcome, rather than decide without the block and
		// fetch it by sync.
		c.certWait[d] = p
		return
	}
	c.decide(d, p)
}

// decide ends the height: emit the block with its certificate and stop
// until NewHeight. If no validated copy of the block is at hand, Raw is
// nil and the driver fetches the block by hash. commits are a quorum of
// COMMITs for d from one round, in validator order, with their senders.
func (c *Core) decide(d common.Hash, proof commitProof) {
	commits := proof.commits
	p := Proposal{Height: c.height, Hash: d}
	if v, ok := c.valid[d]; ok {
		p.Raw = v.Raw
	}
	seals := make([][]byte, len(commits))
	for i := range commits {
		seals[i] = commits[i].CommitSeal
	}
	var round uint64
	if len(commits) > 0 {
		round = commits[0].Round
	}
	c.decided = &Commit{Proposal: p, Round: round, Cert: cert.Certificate{Round: round, Seals: seals}}
	c.decidedBy = commits
	c.full = &fullCert{
		height: c.height, hash: d, round: round, vals: c.vals, member: c.member,
		by: make(map[common.Address]Signed, len(c.vals)),
	}
	for i, s := range commits {
		c.full.by[proof.from[i]] = s
	}
	c.out.Commit = c.decided
	c.out.NeedProposal = nil
	c.cfg.Logger.Debug("decided", "height", c.height, "round", round, "hash", d)
}

// handleRoundChange records a ROUND-CHANGE (paper §4, Algorithm 3/4): a
// validator that sees F+1 ROUND-CHANGEs for rounds above its own joins the
// lowest of them (at least one honest validator is there), and the
// proposer of a round proposes once it has a quorum of them.
func (c *Core) handleRoundChange(from common.Address, m *Message) error {
	if m.Round == 0 {
		return fmt.Errorf("%w: round change to round 0", ErrBadMessage)
	}
	if prev := c.rcs[from]; prev != nil && prev.Round >= m.Round {
		if prev.Round == m.Round {
			if conflicting(&prev.Signed, &m.Signed) {
				return c.equivocation(from, prev.Signed, m.Signed)
			}
			return ErrDuplicate
		}
		return ErrOldMessage
	}
	if m.Digest == (common.Hash{}) {
		if m.PreparedRound != 0 || len(m.Prepares) != 0 || len(m.Proposal) != 0 {
			return fmt.Errorf("%w: unprepared round change with a payload", ErrBadMessage)
		}
	} else {
		if m.PreparedRound >= m.Round || len(m.Proposal) == 0 {
			return fmt.Errorf("%w: prepared round %d for round %d", ErrBadJustification, m.PreparedRound, m.Round)
		}
		if err := c.checkPrepares(m.Prepares, m.PreparedRound, m.Digest); err != nil {
			return err
		}
	}
	c.rcs[from] = m
	c.activate()
	// F+1 rule: round synchronisation.
	var above []uint64
	for _, v := range c.vals {
		if rc := c.rcs[v]; rc != nil && rc.Round > c.round {
			above = append(above, rc.Round)
		}
	}
	if len(above) >= c.f+1 {
		slices.Sort(above)
		// The (F+1)-th highest: at least F+1 validators are at or above it.
		r := above[len(above)-(c.f+1)]
		c.startRound(r)
		c.sendRoundChange()
	}
	if m.Round == c.round {
		c.tryPropose()
	}
	return nil
}

// stepCertificate handles a catch-up CERTIFICATE for the current height:
// a quorum of COMMITs of one round, each signed over its round.
func (c *Core) stepCertificate(m *Message) error {
	switch {
	case m.Height > c.height:
		return ErrFutureMessage
	case m.Height < c.height || c.decided != nil:
		return ErrOldMessage
	}
	proof, err := c.verifyCommits(m)
	if err != nil {
		return err
	}
	if _, ok := c.valid[m.Digest]; ok || len(m.Proposal) == 0 {
		c.decide(m.Digest, proof)
		return nil
	}
	if len(c.certWait) > 0 {
		return ErrDuplicate
	}
	c.certWait[m.Digest] = proof
	c.requestValidation(m.Proposal, m.Digest)
	return nil
}

// verifyCommits checks that m.Commits are COMMITs for m's view and digest
// by a quorum of distinct validators, with valid signatures and seals, and
// returns them in validator order.
func (c *Core) verifyCommits(m *Message) (commitProof, error) {
	by := make(map[common.Address]Signed, len(m.Commits))
	for i := range m.Commits {
		s := m.Commits[i]
		if s.Code != MsgCommit || s.Height != c.height || s.Round != m.Round || s.Digest != m.Digest {
			return commitProof{}, fmt.Errorf("%w: commit %d for another view or value", ErrBadSeal, i)
		}
		from, err := c.cfg.Recover(digestBytes(&s), s.Signature)
		if err != nil || !c.member[from] {
			return commitProof{}, fmt.Errorf("%w: commit %d not from a validator", ErrBadSeal, i)
		}
		if _, dup := by[from]; dup {
			return commitProof{}, fmt.Errorf("%w: commit %d duplicated", ErrBadSeal, i)
		}
		sealer, err := c.cfg.Recover(cert.CommitDigest(s.Digest, s.Round).Bytes(), s.CommitSeal)
		if err != nil || sealer != from {
			return commitProof{}, fmt.Errorf("%w: commit %d seal", ErrBadSeal, i)
		}
		by[from] = s
	}
	if len(by) < c.q {
		return commitProof{}, fmt.Errorf("%w: %d commits, need %d", ErrBadSeal, len(by), c.q)
	}
	var out commitProof
	for _, v := range c.vals {
		if s, ok := by[v]; ok {
			out.commits = append(out.commits, s)
			out.from = append(out.from, v)
		}
	}
	return out, nil
}

// DecidedCertificate returns the certificate of block hash at height if
// it is the latest block this core decided: the decision's seals plus every
// seal of the same round over the same hash that arrived since (late
// COMMITs), one per validator, in validator order. It is available until
// the core moves two heights on; the proposer of height+1 puts it into its
// block as the parent certificate.
func (c *Core) DecidedCertificate(height uint64, hash common.Hash) (cert.Certificate, bool) {
	f := c.full
	if f == nil || f.height != height || f.hash != hash {
		return cert.Certificate{}, false
	}
	return f.certificate(), true
}

// lateCommit adds a COMMIT that arrived after the decision of its height to
// the decided certificate when it is a new validator's seal for the
// decision's round and hash. A conflicting COMMIT in the decided round is
// reported as evidence. Anything else is ignored: it cannot change a
// decision.
func (c *Core) lateCommit(from common.Address, m *Message) error {
	f := c.full
	if f == nil || m.Height != f.height || !f.member[from] {
		return nil
	}
	if prev, ok := f.by[from]; ok {
		if prev.Round == m.Round && prev.Digest != m.Digest {
			return c.equivocation(from, prev, m.Signed)
		}
		return nil
	}
	if m.Round != f.round || m.Digest != f.hash {
		return nil
	}
	sealer, err := c.cfg.Recover(cert.CommitDigest(m.Digest, m.Round).Bytes(), m.CommitSeal)
	if err != nil || sealer != from {
		return ErrBadSeal
	}
	f.by[from] = m.Signed
	return nil
}

// equivocation reports from's two conflicting signed messages a (kept) and
// b (dropped) as evidence, once per (validator, code, height, round) and
// at most maxEvidencePerHeight per height, and returns ErrEquivocation.
func (c *Core) equivocation(from common.Address, a, b Signed) error {
	k := evKey{from, b.Code, b.Height, b.Round}
	if c.evSeen[k] || c.evCount[b.Height] >= maxEvidencePerHeight || from == c.self {
		return ErrEquivocation
	}
	c.evSeen[k] = true
	c.evCount[b.Height]++
	c.out.Evidence = append(c.out.Evidence, NewEvidence(a, b))
	c.cfg.Logger.Debug("equivocation", "from", from, "code", b.Code, "height", b.Height, "round", b.Round)
	return ErrEquivocation
}

// maybeReply answers a validator that is behind (m is its message) with
// the proof of the decision of the height it is at, at most once per base
// timeout per peer. A validator whose PREPARE or COMMIT is for the decided
// block validated that block: it gets the COMMITs without the block, which
// is most of the reply's size (a slow validator's late COMMIT would
// otherwise bring it the whole block from every peer at every height).
func (c *Core) maybeReply(to common.Address, m *Message) {
	height := m.Height
	var d *Commit
	var by []Signed
	switch {
	case c.decided != nil && height == c.height:
		d, by = c.decided, c.decidedBy
	case c.last != nil && height+1 == c.height:
		d, by = c.last, c.lastBy
	}
	if d == nil || d.Proposal.Raw == nil || to == c.self {
		return
	}
	if last, ok := c.replied[to]; ok && c.now < last+c.cfg.BaseTimeoutTicks {
		return
	}
	if len(c.replied) > 4*cert.MaxValidators {
		clear(c.replied)
	}
	c.replied[to] = c.now
	reply := &Message{
		Signed:   Signed{Code: MsgCertificate, Height: d.Proposal.Height, Round: d.Round, Digest: d.Proposal.Hash},
		Proposal: d.Proposal.Raw,
		Commits:  by,
	}
	if (m.Code == MsgPrepare || m.Code == MsgCommit) && m.Digest == d.Proposal.Hash {
		reply.Proposal = nil
	}
	c.out.Messages = append(c.out.Messages, Outbound{To: &to, Msg: reply})
}
