package engine

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/consensus/wal"
	"github.com/emc-network/emcd/state"
)

// Chain is what the engine needs of the chain.
type Chain interface {
	Head() *types.Header
	ValidatorsFor(number uint64) ([]common.Address, error)
	Certificate(number uint64, hash common.Hash) (*cert.Certificate, error)
	BuildBlock(ctx context.Context, txs state.TxSource, p state.BuildParams) (*types.Block, error)
	ValidateBlock(ctx context.Context, block *types.Block) error
	InsertBlock(ctx context.Context, block *types.Block, commit *cert.Certificate) error
	SubscribeHead(ch chan<- state.HeadEvent) event.Subscription
	HeaderByNumber(number uint64) *types.Header
}

// Pool gives the engine transactions for its proposals, and the pool's
// copies of proposed transactions (whose senders are already recovered).
type Pool interface {
	Source() state.TxSource
	Get(hash common.Hash) *types.Transaction
}

// Transport carries consensus messages between validators.
type Transport interface {
	// Broadcast sends data to every validator.
	Broadcast(ctx context.Context, data []byte) error
	// Send sends data to one validator (a reply meant for it alone, such as
	// the certificate of a height it is behind on). It must not block on a
	// slow peer: a transport queues or drops.
	Send(ctx context.Context, to common.Address, data []byte) error
}

// Config configures an Engine.
type Config struct {
	Key *ecdsa.PrivateKey
	// BlockPeriod is the target time between blocks (genesis blockPeriodMs):
	// a proposer waits after the previous commit for the part of the period
	// that the previous height's consensus latency did not already use.
	BlockPeriod time.Duration
	// Tick is the core's logical tick (default 50ms).
	Tick time.Duration
	// WAL is the write-ahead log, and WALRecords the records it held when
	// opened (wal.Open's, or wal.Memory.Records()): Run restores them into
	// the core. The engine does not close WAL.
	WAL        wal.Log
	WALRecords [][]byte
	// WALPath, used when WAL is nil, is a wal.File that Run opens (creating
	// its directory) and closes when it returns: a node's convenience.
	WALPath string
	// Clock is the source of time (nil: SystemClock).
	Clock Clock
	// Metrics receives the engine's measurements (nil: NopMetrics).
	Metrics *Metrics
	// MaxValidations bounds proposals validated at once (default 2).
	MaxValidations int
	// MaxTxsPerBlock bounds proposals (0: gas limit only).
	MaxTxsPerBlock int
	// OnBehind is called when the engine learns of a decided block it cannot
	// apply (it lacks the block): the node should sync.
	OnBehind func()
	Logger   *slog.Logger
}

// Status is the engine's state for emc_consensusStatus.
type Status struct {
	Height         uint64           `json:"height"`
	Round          uint64           `json:"round"`
	Validators     []common.Address `json:"validators"`
	Proposer       common.Address   `json:"proposer"`
	Self           common.Address   `json:"self"`
	IsValidator    bool             `json:"isValidator"`
	LastCommitTime time.Time        `json:"lastCommitTime"`
}

// Engine runs IBFT for one validator.
type Engine struct {
	cfg     Config
	chain   Chain
	pool    Pool
	net     Transport
	log     *slog.Logger
	signer  *ibft.KeySigner
	clock   Clock
	metrics *Metrics

	inbound chan []byte
	// busy counts what the engine accepted and has not finished with: its
	// start (until Run enters its loop), queued inbound messages and worker
	// jobs whose results Run has not yet handled. Tests wait for it to reach
	// zero before moving a simulated clock on.
	busy atomic.Int64

	mu       sync.Mutex
	status   Status
	evidence []ibft.Evidence // the last maxEvidence pieces, oldest first

	// Owned by the Run goroutine.
	core       *ibft.Core
	wal        wal.Log
	work       *workers
	lastView   ibft.View // for counting round changes
	lastCommit time.Time
	proposeAt  *ibft.View
	// workStart is when this height's proposal work began here (we built
	// one, or were asked to validate one); lastLatency is how long the
	// previous height took from then to its commit. The next proposer
	// waits only the part of the block period that latency did not use.
	workStart   time.Time
	lastLatency time.Duration
}

// inboundQueue bounds messages waiting for the core; excess is dropped (the
// core re-sends on timeouts, so loss only costs time).
const inboundQueue = 4096

// maxEvidence bounds the equivocation evidence the engine keeps.
const maxEvidence = 128

// New returns an engine; Run starts it.
func New(cfg Config, chain Chain, pool Pool, net Transport) *Engine {
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.MaxValidations <= 0 {
		cfg.MaxValidations = defaultMaxValidations
	}
	e := &Engine{
		cfg: cfg, chain: chain, pool: pool, net: net,
		log:     cfg.Logger.With("component", "ibft"),
		signer:  ibft.NewKeySigner(cfg.Key),
		clock:   cfg.Clock,
		metrics: cfg.Metrics,
		inbound: make(chan []byte, inboundQueue),
	}
	e.status.Self = e.signer.Address()
	e.busy.Store(1) // the start; Run releases it in its loop
	return e
}

// Address is the validator address of this engine.
func (e *Engine) Address() common.Address { return e.signer.Address() }

// Deliver hands the engine a consensus message from the network. It never
// blocks: when the queue is full the message is dropped.
func (e *Engine) Deliver(data []byte) bool {
	e.busy.Add(1)
	select {
	case e.inbound <- data:
		return true
	default:
		e.busy.Add(-1)
		e.metrics.InboundDropped.Inc()
		return false
	}
}

// Status returns a snapshot for RPC.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.status
	s.Validators = append([]common.Address(nil), s.Validators...)
	return s
}

// Evidence returns the last equivocation evidence the core reported (at
// most maxEvidence pieces, oldest first), for RPC and, later, slashing
// transactions.
func (e *Engine) Evidence() []ibft.Evidence {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ibft.Evidence(nil), e.evidence...)
}

// timeoutTicks sizes the round-0 timeout: a block period plus time to build,
// gossip and validate a proposal.
func (e *Engine) timeoutTicks() uint64 {
	t := (e.cfg.BlockPeriod + 2*time.Second) / e.cfg.Tick
	return max(uint64(t), 10)
}

// Run drives the core until ctx ends (it returns nil then), or until the
// WAL, the chain or a decided block fails (it returns the error, and the
// validator must not go on without a restart). Run may be called once.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.WAL != nil {
		e.wal = e.cfg.WAL
	} else {
		w, records, err := openWALFile(e.cfg.WALPath)
		if err != nil {
			return err
		}
		defer w.Close()
		e.wal, e.cfg.WALRecords = w, records
	}
	// Run itself calls InsertBlock, so it must not read the chain's head
	// events directly (see state.HeadFollower); onHead handles jumps.
	heads := state.FollowHeads(e.chain)
	defer heads.Stop()

	if err := e.start(); err != nil {
		return err
	}
	e.work = newWorkers(ctx, e)
	defer e.work.stop()

	ticker := e.clock.NewTicker(e.cfg.Tick)
	defer ticker.Stop()
	// handled counts events taken in an iteration (first: the start); they
	// leave busy once their output is processed.
	handled := int64(1)
	for {
		if err := e.process(ctx); err != nil {
			return err
		}
		e.work.dispatch()
		e.busy.Add(-handled)
		handled = 0
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			e.core.Tick()
			e.maybePropose()
		case data := <-e.inbound:
			handled++
			e.step(data)
		case r := <-e.work.validated:
			handled++
			e.work.running--
			e.onValidated(r)
		case r := <-e.work.built:
			handled++
			e.work.building = false
			e.onBuilt(r)
		case h := <-heads.C:
			if err := e.onHead(h); err != nil {
				return err
			}
		case err := <-heads.Err():
			return err
		}
	}
}

// start creates the core at the height after the head and restores the
// WAL's records into it.
func (e *Engine) start() error {
	head := e.chain.Head()
	vals, err := e.chain.ValidatorsFor(head.Number.Uint64() + 1)
	if err != nil {
		return err
	}
	core, err := ibft.New(ibft.Config{
		Signer:           e.signer,
		Recover:          ibft.NewRecoverCache(4096).Recover,
		BaseTimeoutTicks: e.timeoutTicks(),
		MaxTimeoutTicks:  uint64(30 * time.Second / e.cfg.Tick),
		Logger:           e.log,
	}, head.Number.Uint64()+1, vals)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.core = core
	var records []ibft.Record
	for i, r := range e.cfg.WALRecords {
		rec, err := ibft.DecodeRecord(r)
		if err != nil {
			return fmt.Errorf("engine: WAL record %d: %w", i, err)
		}
		records = append(records, rec)
	}
	e.cfg.WALRecords = nil // restored once; let the bytes go
	if len(records) > 0 {
		core.Restore(records)
		e.log.Info("restored consensus WAL", "records", len(records), "height", core.Height())
	}
	e.lastCommit = e.clock.Now()
	e.lastView = core.Status().View
	e.updateStatus()
	return nil
}

// openWALFile opens the WAL file at path, creating its directory.
func openWALFile(path string) (*wal.File, [][]byte, error) {
	if path == "" {
		return nil, nil, errors.New("engine: no WAL (Config.WAL and Config.WALPath are empty)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("engine: WAL dir: %w", err)
	}
	w, records, err := wal.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: open WAL: %w", err)
	}
	return w, records, nil
}

// step hands an inbound message to the core.
func (e *Engine) step(data []byte) {
	m, err := ibft.DecodeMessage(data)
	if err != nil {
		e.metrics.MessagesIn.WithLabelValues("undecodable").Inc()
		e.log.Debug("undecodable consensus message", "err", err)
		return
	}
	e.metrics.MessagesIn.WithLabelValues(codeLabel(m.Code)).Inc()
	if err := e.core.Step(m); err != nil && !benign(err) {
		e.log.Debug("consensus message rejected", "err", err, "code", m.Code, "height", m.Height, "round", m.Round)
	}
}

// onValidated feeds a validation result to the core unless the core has
// moved on to another height.
func (e *Engine) onValidated(r validated) {
	if r.p.Height != e.core.Height() {
		return
	}
	e.core.ProposalValidated(r.p, r.hash, r.err)
}

// onBuilt hands this validator's block to the core unless the height moved
// on meanwhile, then starts the next build if one is due.
func (e *Engine) onBuilt(r built) {
	defer e.maybePropose()
	switch {
	case r.view.Height != e.core.Height():
		return // stale
	case r.err != nil:
		e.log.Error("build proposal", "height", r.view.Height, "err", r.err)
		return
	case r.block.NumberU64() != r.view.Height:
		return // the head moved under the build; onHead follows
	}
	p, err := encodeProposal(r.view.Height, r.block)
	if err != nil {
		e.log.Error("encode proposal", "err", err)
		return
	}
	if err := e.core.Propose(p); err != nil {
		e.log.Error("propose", "err", err)
		return
	}
	e.log.Debug("proposed block", "number", r.block.NumberU64(), "round", r.view.Round, "txs", r.block.Transactions().Len())
}

func benign(err error) bool {
	return errors.Is(err, ibft.ErrOldMessage) || errors.Is(err, ibft.ErrDuplicate) || errors.Is(err, ibft.ErrFutureMessage)
}

// onHead moves the core past blocks imported by anyone (sync or us).
func (e *Engine) onHead(head *types.Header) error {
	next := head.Number.Uint64() + 1
	if next <= e.core.Height() {
		return nil
	}
	vals, err := e.chain.ValidatorsFor(next)
	if err != nil {
		return err
	}
	if err := e.wal.Reset(); err != nil {
		return fmt.Errorf("engine: reset WAL: %w", err)
	}
	if err := e.core.NewHeight(next, vals); err != nil {
		return fmt.Errorf("engine: new height: %w", err)
	}
	e.work.newHeight()
	e.lastCommit = e.clock.Now()
	if !e.workStart.IsZero() {
		e.lastLatency = e.lastCommit.Sub(e.workStart)
	}
	e.workStart = time.Time{}
	e.proposeAt = nil
	e.updateStatus()
	return nil
}

// process handles every pending Ready batch.
func (e *Engine) process(ctx context.Context) error {
	for e.core.HasReady() {
		if ctx.Err() != nil {
			// A lone validator may commit back to back without leaving
			// this loop; what is left unhandled was neither stored nor sent.
			return nil
		}
		rd := e.core.Ready()
		// 1. Persist before sending.
		if len(rd.WAL) > 0 {
			for _, r := range rd.WAL {
				b, err := r.Encode()
				if err != nil {
					return fmt.Errorf("engine: encode WAL record: %w", err)
				}
				if err := e.wal.Append(b); err != nil {
					return fmt.Errorf("engine: WAL append: %w", err)
				}
			}
			start := e.clock.Now()
			if err := e.wal.Sync(); err != nil {
				return fmt.Errorf("engine: WAL sync: %w", err)
			}
			e.metrics.WALSync.Observe(e.clock.Now().Sub(start).Seconds())
		}
		// 2. Send.
		for _, o := range rd.Messages {
			b, err := o.Msg.Encode()
			if err != nil {
				return fmt.Errorf("engine: encode message: %w", err)
			}
			e.metrics.MessagesOut.WithLabelValues(codeLabel(o.Msg.Code)).Inc()
			if o.To != nil {
				if err := e.net.Send(ctx, *o.To, b); err != nil {
					e.log.Debug("send failed", "to", *o.To, "code", o.Msg.Code, "err", err)
				}
				continue
			}
			if err := e.net.Broadcast(ctx, b); err != nil {
				e.log.Debug("broadcast failed", "code", o.Msg.Code, "err", err)
			}
		}
		// 3. Commit.
		var committed *types.Header
		if c := rd.Commit; c != nil {
			h, err := e.commit(ctx, c)
			if err != nil {
				return err
			}
			committed = h
		}
		// 4. Work for the application, done by workers (Run dispatches
		// queued validations after this loop; maybePropose starts builds).
		for _, p := range rd.Validate {
			e.markWork()
			e.work.validate(p)
		}
		if v := rd.NeedProposal; v != nil && !e.work.buildingFor(v.Height) {
			// (A build running for this height answers any round: the
			// core asks again while it has no block of ours.)
			e.proposeAt = &ibft.View{Height: v.Height, Round: v.Round}
		}
		e.keepEvidence(rd.Evidence)
		e.core.Advance()
		// 5. After a commit, the next height.
		if committed != nil {
			if err := e.onHead(committed); err != nil {
				return err
			}
		}
		e.maybePropose()
	}
	e.updateStatus()
	return nil
}

func (e *Engine) commit(ctx context.Context, c *ibft.Commit) (*types.Header, error) {
	if c.Proposal.Raw == nil {
		e.log.Info("decided a block we do not hold; syncing", "height", c.Proposal.Height, "hash", c.Proposal.Hash)
		if e.cfg.OnBehind != nil {
			e.cfg.OnBehind()
		}
		return nil, nil
	}
	block, err := decodeBlock(c.Proposal.Raw)
	if err != nil || block.Hash() != c.Proposal.Hash {
		return nil, fmt.Errorf("engine: decided proposal does not decode to its hash: %v", err)
	}
	certificate := c.Cert
	start := e.clock.Now()
	err = e.chain.InsertBlock(ctx, block, &certificate)
	e.metrics.Commit.Observe(e.clock.Now().Sub(start).Seconds())
	switch {
	case err == nil:
		e.log.Info("committed block", "number", block.NumberU64(), "hash", block.Hash(), "txs", block.Transactions().Len(),
			"round", c.Round, "seals", len(certificate.Seals))
		return block.Header(), nil
	case errors.Is(err, state.ErrNotNext) && e.chain.Head().Number.Uint64() >= block.NumberU64():
		// Sync got there first; it must have stored the same block.
		if stored := e.chain.HeaderByNumber(block.NumberU64()); stored == nil || stored.Hash() != block.Hash() {
			return nil, fmt.Errorf("engine: SAFETY: decided block %d %s but the chain holds another block at that height",
				block.NumberU64(), block.Hash())
		}
		return nil, nil
	default:
		// A decided block that fails to import means this node's state
		// diverged: halting beats signing on top of the wrong state.
		return nil, fmt.Errorf("engine: import decided block %d: %w", block.NumberU64(), err)
	}
}

func (e *Engine) validate(ctx context.Context, p ibft.Proposal) (common.Hash, error) {
	block, err := decodeBlock(p.Raw)
	if err != nil {
		return common.Hash{}, err
	}
	if block.NumberU64() != p.Height {
		return block.Hash(), fmt.Errorf("engine: proposal for height %d carries block %d", p.Height, block.NumberU64())
	}
	return block.Hash(), e.chain.ValidateBlock(ctx, e.withPoolTxs(block))
}

// withPoolTxs swaps the block's transactions for the pool's identical
// copies (same hash, sender already recovered at admission). The block hash
// commits to the transaction root, which the chain still checks.
func (e *Engine) withPoolTxs(block *types.Block) *types.Block {
	txs := block.Transactions()
	swapped := make(types.Transactions, len(txs))
	hits := 0
	for i, tx := range txs {
		if p := e.pool.Get(tx.Hash()); p != nil {
			swapped[i] = p
			hits++
		} else {
			swapped[i] = tx
		}
	}
	if hits == 0 {
		return block
	}
	body := *block.Body()
	body.Transactions = swapped
	return block.WithBody(body)
}

// maybePropose starts building this validator's proposal once the block
// period since the last commit has passed (and no build is running: one
// that is, for an older height, is cancelled and its result brings Run
// back here).
func (e *Engine) maybePropose() {
	v := e.proposeAt
	if v == nil || v.Height != e.core.Height() || e.work.building {
		return
	}
	if v.Round == 0 && e.clock.Now().Sub(e.lastCommit) < e.cfg.BlockPeriod-min(e.lastLatency, e.cfg.BlockPeriod) {
		return
	}
	e.proposeAt = nil
	e.markWork()
	head := e.chain.Head()
	if head.Number.Uint64()+1 != v.Height {
		return
	}
	parentCert, err := e.parentCertificate(head)
	if err != nil {
		e.log.Error("no certificate for head; cannot propose", "head", head.Number, "err", err)
		return
	}
	e.work.build(buildJob{view: *v, parentCert: parentCert, time: e.clock.Now()})
}

// parentCertificate returns the certificate to carry in the block after
// head (none on genesis). When the core decided head, its certificate has
// grown by the seals of validators whose COMMITs came after the quorum (a
// superset of the one stored with head), so rewards can go to every
// validator that committed. Otherwise (head came by sync, or after a
// restart) it is the stored one. The stored certificate is not rewritten:
// the full one becomes durable in the next block's ParentCommit.
func (e *Engine) parentCertificate(head *types.Header) (*cert.Certificate, error) {
	if head.Number.Sign() == 0 {
		return nil, nil
	}
	if c, ok := e.core.DecidedCertificate(head.Number.Uint64(), head.Hash()); ok {
		return &c, nil
	}
	c, err := e.chain.Certificate(head.Number.Uint64(), head.Hash())
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("engine: head has no stored certificate")
	}
	return c, nil
}

// keepEvidence logs equivocation evidence and keeps the newest maxEvidence
// pieces.
func (e *Engine) keepEvidence(evs []ibft.Evidence) {
	if len(evs) == 0 {
		return
	}
	for i := range evs {
		code, h, r := evs[i].View()
		who, err := evs[i].Signer()
		e.log.Warn("validator equivocated", "validator", who, "code", code, "height", h, "round", r, "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evidence = append(e.evidence, evs...)
	if n := len(e.evidence) - maxEvidence; n > 0 {
		e.evidence = append([]ibft.Evidence(nil), e.evidence[n:]...)
	}
}

func (e *Engine) markWork() {
	if e.workStart.IsZero() {
		e.workStart = e.clock.Now()
	}
}

func (e *Engine) updateStatus() {
	st := e.core.Status()
	if st.Height == e.lastView.Height && st.Round > e.lastView.Round {
		e.metrics.RoundChanges.Add(float64(st.Round - e.lastView.Round))
	}
	e.lastView = st.View
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status.Height, e.status.Round = st.Height, st.Round
	e.status.Validators = st.Validators
	e.status.Proposer = st.Proposer
	e.status.IsValidator = false
	for _, v := range st.Validators {
		if v == e.status.Self {
			e.status.IsValidator = true
		}
	}
	e.status.LastCommitTime = e.lastCommit
}

// maxBlockBytes bounds a decoded proposal.
const maxBlockBytes = 16 << 20

func decodeBlock(raw []byte) (*types.Block, error) {
	if len(raw) > maxBlockBytes {
		return nil, fmt.Errorf("engine: proposal of %d bytes", len(raw))
	}
	var b types.Block
	if err := rlp.DecodeBytes(raw, &b); err != nil {
		return nil, fmt.Errorf("engine: decode proposal: %w", err)
	}
	return &b, nil
}
