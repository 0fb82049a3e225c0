package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// MaxScan bounds the job records read per head, from the oldest job not
// yet ended.
const MaxScan = 4096

// ErrBadConfig is returned by New for a Config it cannot run with.
var ErrBadConfig = errors.New("agent: bad config")

// View is the chain as the agent reads it at one head.
type View interface {
	JobCount() uint64
	JobOf(id uint64) (jobs.Job, bool, error)
	// ReexecsOf pages the jobs waiting for node's re-execution digest
	// (jobs.ReexecsOf); ReexecOf is a job's re-execution record.
	ReexecsOf(node common.Address, offset, limit uint64) ([]uint64, uint64)
	ReexecOf(id uint64) (jobs.Reexec, bool, error)
}

// Pending follows one sent transaction; *wallet.Handle satisfies it.
type Pending interface {
	Done() <-chan struct{}
	Wait(ctx context.Context) (*types.Receipt, error)
}

// Images says whether the node holds an image (by its on-chain digest).
type Images interface {
	Has(ctx context.Context, digest common.Hash) (bool, error)
}

// ResultStore keeps result records; *results.Store satisfies it.
type ResultStore interface {
	SaveResult(r *job.Result) error
}

// BlobStore takes a job's input files, by content, for the executor to
// stage from (the executor's Config.Store); *results.Store satisfies it.
type BlobStore interface {
	PutBlob(r io.Reader, limit int64) (sum string, size int64, err error)
}

// Config is what NewService needs.
type Config struct {
	// Owner is the node's owner account: the wallet's address.
	Owner common.Address
	// ChainID names runs (RunID).
	ChainID uint64
	// GPUs is how many GPUs jobs may have at once (the Allocator's total).
	GPUs uint32
	// View returns the chain at head.
	View func(head *types.Header) (View, error)
	// Spec returns job j's full spec (the chain record holds only its
	// hash; the spec is in the JobSubmitted log).
	Spec func(ctx context.Context, j *jobs.Job) (jobs.Spec, error)
	// Inputs returns job j's input bundle, as its submit transaction
	// carries it (InputsFromTxs); the agent checks it against the spec.
	// Nil: jobs whose spec names inputs fail (exit -1, no usage).
	Inputs func(ctx context.Context, j *jobs.Job) ([]byte, error)
	// Blobs receives the input files (required with Inputs): the store
	// the executor stages inputs from.
	Blobs BlobStore
	// Send submits a transaction through the node wallet.
	Send func(ctx context.Context, req wallet.Request) (Pending, error)
	// Run runs a job: an executor's Run.
	Run func(ctx context.Context, spec *job.Spec) (*job.Result, error)
	// Executor is ExecutorDocker or ExecutorProcess (how specs are mapped).
	Executor string
	// Programs is the process executor's program store (required for it).
	Programs *Programs
	Images   Images
	Store    ResultStore
	Journal  *Journal
	// Reap kills what is left of run runID after a restart (containers
	// with its label, processes with its EMC_JOB_ID); nil: nothing.
	Reap func(ctx context.Context, runID string) (int, error)
	// Now is the agent's clock (default time.Now).
	Now     func() time.Time
	Metrics *Metrics // nil: NopMetrics
	Log     *slog.Logger
	// Fault is a test-only fault injection: FaultWrongOutput makes the
	// agent corrupt the outputs (and so the digests) of its deterministic
	// runs, results and re-executions alike, so that multi-process tests
	// have a cheating node. "" (the default): none.
	Fault string
}

// FaultWrongOutput is the Config.Fault that corrupts deterministic
// outputs (test only).
const FaultWrongOutput = "wrong-output"

// MaxReexecScan bounds the pending re-executions read per head.
const MaxReexecScan = 256

type flight struct {
	kind TxKind
	p    Pending
}

// Outcome is a finished run as the driver hands it to the core.
type Outcome struct {
	ID    uint64
	Token uint64
	RunOutcome
}

type runHandle struct {
	token  uint64
	cancel context.CancelFunc
	done   chan struct{}
}

// Service is the compute agent's driver: it feeds the core heads, run
// outcomes and transaction outcomes, saves the journal when the core says
// it changed, and only then acts (send, run, kill). Run and Step are for
// one goroutine.
type Service struct {
	cfg     Config
	abi     abi.ABI
	log     *slog.Logger
	m       *Metrics
	core    *Core
	low     uint64
	flights map[uint64]flight
	runs    map[uint64]*runHandle
	outcome chan Outcome
	records map[uint64]jobs.Job // the chain records of the last view
	counts  Counts
	runWG   sync.WaitGroup
	runCtx  context.Context
	stop    context.CancelFunc
	// promised and held mirror the core for other goroutines (Load).
	promised atomic.Uint32
	held     atomic.Uint32
}

// New checks cfg, loads the journal and returns the Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.View == nil || cfg.Spec == nil || cfg.Send == nil || cfg.Run == nil || cfg.Images == nil ||
		cfg.Store == nil || cfg.Journal == nil:
		return nil, fmt.Errorf("%w: View, Spec, Send, Run, Images, Store and Journal are required", ErrBadConfig)
	case cfg.Executor != ExecutorDocker && cfg.Executor != ExecutorProcess:
		return nil, fmt.Errorf("%w: executor %q: want docker or process", ErrBadConfig, cfg.Executor)
	case cfg.Executor == ExecutorProcess && cfg.Programs == nil:
		return nil, fmt.Errorf("%w: the process executor needs a program store", ErrBadConfig)
	case cfg.Inputs != nil && cfg.Blobs == nil:
		return nil, fmt.Errorf("%w: Inputs needs Blobs (the executor's input store)", ErrBadConfig)
	case cfg.Fault != "" && cfg.Fault != FaultWrongOutput:
		return nil, fmt.Errorf("%w: fault %q: want %q or none", ErrBadConfig, cfg.Fault, FaultWrongOutput)
	case cfg.Fault != "" && cfg.Blobs == nil:
		return nil, fmt.Errorf("%w: fault %q needs Blobs (the outputs' store)", ErrBadConfig, cfg.Fault)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	parsed, err := abi.JSON(strings.NewReader((&jobs.Module{}).ABI()))
	if err != nil {
		return nil, fmt.Errorf("%w: jobs ABI: %w", ErrBadConfig, err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = NopMetrics()
	}
	entries, err := cfg.Journal.Load()
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, abi: parsed, log: log.With("component", "agent"), m: m,
		core: NewCore(CoreConfig{Owner: cfg.Owner, GPUs: cfg.GPUs}, entries), low: 1,
		flights: map[uint64]flight{}, runs: map[uint64]*runHandle{},
		outcome: make(chan Outcome, MaxJobs), records: map[uint64]jobs.Job{},
		runCtx: runCtx, stop: stop,
	}, nil
}

// Load returns the GPUs promised to the jobs the agent holds and how many
// it holds; safe for any goroutine (the node's heartbeat reads it).
func (s *Service) Load() (promisedGPUs, jobs uint32) {
	return s.promised.Load(), s.held.Load()
}

// Running returns how many runs are in progress.
func (s *Service) Running() int { return len(s.runs) }

// Core returns the state machine (tests read it).
func (s *Service) Core() *Core { return s.core }

// Recover kills what is left of the journaled jobs' runs (a node that
// stopped while they ran). Call it once before the first Step.
func (s *Service) Recover(ctx context.Context) {
	for _, e := range s.core.Entries() {
		log := s.log.With("job", e.ID, "attempt", e.Attempt, "phase", e.Phase.String())
		log.Info("resuming journaled job")
		if s.cfg.Reap == nil {
			continue
		}
		n, err := s.cfg.Reap(ctx, entryRunID(s.cfg.ChainID, &e))
		if err != nil {
			log.Warn("could not kill the job's leftover run", "err", err)
		} else if n > 0 {
			log.Info("killed the job's leftover run", "count", n)
		}
	}
}

// Run recovers, then steps on every new head and every run outcome until
// ctx ends; then it stops the runs and waits for them.
func (s *Service) Run(ctx context.Context, feed state.HeadFeed, head *types.Header) error {
	heads := state.FollowHeads(feed)
	defer heads.Stop()
	defer s.Close()
	s.Recover(ctx)
	if head != nil {
		s.Step(ctx, head)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-heads.Err():
			if err != nil {
				return fmt.Errorf("agent: head subscription: %w", err)
			}
			return nil
		case h := <-heads.C:
			s.Step(ctx, h)
		case o := <-s.outcome:
			s.RunDone(ctx, o)
		}
	}
}

// Close stops every run and waits for them to end. The journal keeps
// them: a restarted agent re-runs or drops them.
func (s *Service) Close() {
	s.stop()
	s.runWG.Wait()
}

// Outcomes delivers run outcomes to whoever drives Step and RunDone
// (tests that do not call Run).
func (s *Service) Outcomes() <-chan Outcome { return s.outcome }

// RunDone hands a run's outcome to the core.
func (s *Service) RunDone(ctx context.Context, o Outcome) {
	if h, ok := s.runs[o.ID]; ok && h.token == o.Token {
		delete(s.runs, o.ID)
	}
	s.m.Running.Set(float64(len(s.runs)))
	s.apply(ctx, s.core.RunDone(o.ID, o.Token, o.RunOutcome))
}

// Step handles head: it collects transaction outcomes, reads the jobs
// assigned to this node, and acts on what the core decides.
func (s *Service) Step(ctx context.Context, head *types.Header) {
	number := head.Number.Uint64()
	var acts []Action
	for id, f := range s.flights {
		select {
		case <-f.p.Done():
		default:
			continue
		}
		delete(s.flights, id)
		rc, err := f.p.Wait(ctx)
		var tx common.Hash
		if rc != nil {
			tx = rc.TxHash
		}
		if err != nil {
			s.m.TxFailed.Inc()
			s.log.Warn(kindName(f.kind)+" failed", "job", id, "err", err)
		} else {
			s.log.Info(kindName(f.kind)+" mined", "job", id, "block", rc.BlockNumber, "tx", rc.TxHash)
		}
		acts = append(acts, s.core.TxDone(id, f.kind, tx, err)...)
	}
	view, err := s.cfg.View(head)
	if err != nil {
		s.log.Error("no state for the head", "block", number, "err", err)
		s.apply(ctx, acts)
		return
	}
	cjobs, err := s.scan(ctx, view)
	if err != nil {
		s.log.Error("listing jobs", "block", number, "err", err)
		s.apply(ctx, acts)
		return
	}
	rxs, err := s.scanReexecs(ctx, view)
	if err != nil {
		s.log.Error("listing re-executions", "block", number, "err", err)
		s.apply(ctx, acts)
		return
	}
	acts = append(acts, s.core.Step(Head{Number: number, Time: head.Time, NowMs: s.cfg.Now().UnixMilli(), Jobs: cjobs, Reexecs: rxs})...)
	s.apply(ctx, acts)
}

// scan lists the jobs assigned to this node and the jobs the core holds.
func (s *Service) scan(ctx context.Context, view View) ([]ChainJob, error) {
	held := make(map[uint64]bool)
	for _, e := range s.core.Entries() {
		held[e.ID] = true
	}
	clear(s.records)
	var out []ChainJob
	count := view.JobCount()
	for id, read := s.low, 0; id <= count && read < MaxScan; id, read = id+1, read+1 {
		j, ok, err := view.JobOf(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("agent: job %d of %d missing", id, count)
		}
		if j.State.Ended() && id == s.low {
			s.low++
		}
		switch {
		case held[id] && s.heldReexec(id):
			// Re-executions are followed through reexecsOf.
		case held[id]:
			out = append(out, FromJob(&j, true))
			s.records[id] = j
		case j.State == jobs.StateAssigned && j.Node == s.cfg.Owner:
			has, err := s.cfg.Images.Has(ctx, j.Image)
			if err != nil {
				s.log.Warn("cannot tell whether the image is held", "job", id, "image", j.Image, "err", err)
			}
			out = append(out, FromJob(&j, has))
			s.records[id] = j
		}
		delete(held, id)
	}
	// Held jobs past the scan window are read one by one: a job missing
	// from the head would be taken as gone.
	for id := range held {
		if s.heldReexec(id) {
			continue
		}
		j, ok, err := view.JobOf(id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, FromJob(&j, true))
			s.records[id] = j
		}
	}
	return out, nil
}

// apply saves the journal if the core changed it, then acts.
func (s *Service) apply(ctx context.Context, acts []Action) {
	if s.core.Dirty() {
		if err := s.cfg.Journal.Save(s.core.Entries()); err != nil {
			// Acting without the journal could run or pay a job twice
			// after a restart: hand every send and run back to the core
			// as failed (a send is retried at a later head, a run's job
			// is dropped for the chain to reopen), and only kill.
			s.log.Error("journal not saved: sends and runs held back", "err", err)
			var kills []Action
			for _, a := range acts {
				switch a.Kind {
				case ActAccept:
					kills = append(kills, s.core.TxDone(a.Entry.ID, TxAccept, common.Hash{}, err)...)
				case ActSubmit:
					kills = append(kills, s.core.TxDone(a.Entry.ID, TxResult, common.Hash{}, err)...)
				case ActSubmitReexec:
					kills = append(kills, s.core.TxDone(a.Entry.ID, TxReexec, common.Hash{}, err)...)
				case ActRun, ActReexec:
					kills = append(kills, s.core.RunDone(a.Entry.ID, a.Token, RunOutcome{Err: err})...)
				case ActKill:
					kills = append(kills, a)
				}
			}
			for _, a := range kills {
				s.kill(a)
			}
			s.core.dirty = true
			return
		}
	}
	s.metrics()
	s.promised.Store(s.core.UsedGPUs())
	s.held.Store(uint32(len(s.core.entries)))
	for _, d := range s.core.Drops() {
		s.log.Info("job dropped", "job", d.ID, "attempt", d.Attempt, "phase", d.Phase.String(), "reason", d.Reason)
	}
	for _, a := range acts {
		switch a.Kind {
		case ActAccept:
			s.send(ctx, a.Entry, TxAccept, "accept", new(big.Int).SetUint64(a.Entry.ID))
		case ActSubmit:
			e := a.Entry
			if e.Digest != (common.Hash{}) {
				s.send(ctx, e, TxResult, "submitResultDigest", new(big.Int).SetUint64(e.ID), [32]byte(e.Record), e.GPUMillis, e.Exit,
					[32]byte(e.Digest))
			} else {
				s.send(ctx, e, TxResult, "submitResult", new(big.Int).SetUint64(e.ID), [32]byte(e.Record), e.GPUMillis, e.Exit)
			}
		case ActSubmitReexec:
			e := a.Entry
			s.send(ctx, e, TxReexec, "submitReexec", new(big.Int).SetUint64(e.ID), [32]byte(e.Digest))
		case ActRun, ActReexec:
			s.start(a)
		case ActKill:
			s.kill(a)
		}
	}
}

func (s *Service) metrics() {
	c := s.core.Counts()
	s.m.Accepted.Add(float64(c.Accepted - s.counts.Accepted))
	s.m.Completed.Add(float64(c.Completed - s.counts.Completed))
	s.m.Failed.Add(float64(c.Failed - s.counts.Failed))
	s.m.Abandoned.Add(float64(c.Abandoned - s.counts.Abandoned))
	s.m.Declined.Add(float64(c.Declined - s.counts.Declined))
	s.m.Reexecuted.Add(float64(c.Reexecuted - s.counts.Reexecuted))
	s.m.ReexecAbandoned.Add(float64(c.ReexecAbandoned - s.counts.ReexecAbandoned))
	s.counts = c
}

// send packs and submits one of the job's transactions.
func (s *Service) send(ctx context.Context, e Entry, kind TxKind, method string, args ...any) {
	log := s.log.With("job", e.ID, "attempt", e.Attempt, "method", method)
	data, err := s.abi.Pack(method, args...)
	if err != nil {
		log.Error("not sent", "err", err)
		s.apply(ctx, s.core.TxDone(e.ID, kind, common.Hash{}, err))
		return
	}
	to := native.JobsAddress
	p, err := s.cfg.Send(ctx, wallet.Request{To: &to, Data: data, Gas: gasFor(method, data), Label: method})
	if err != nil {
		s.m.TxFailed.Inc()
		if errors.Is(err, core.ErrInsufficientFunds) {
			log.Warn("node short of gas: fund the node's account", "account", s.cfg.Owner, "err", err)
		} else {
			log.Warn("not sent", "err", err)
		}
		s.apply(ctx, s.core.TxDone(e.ID, kind, common.Hash{}, err))
		return
	}
	s.flights[e.ID] = flight{kind: kind, p: p}
	log.Info("sent")
}

// gasFor is the gas limit of a call to method with data: the module's
// declared charge for the re-execution methods (the wallet's estimate,
// against the head state, could not cover the rounds the hooks may make
// later, which these calls prepay), 0 (estimate) for the others.
func gasFor(method string, data []byte) uint64 {
	var module uint64
	switch method {
	case "submitResultDigest":
		module = jobs.ResultDigestGas
	case "submitReexec":
		module = jobs.SubmitReexecGas
	default:
		return 0
	}
	words := (uint64(len(data)) + 31) / 32
	return params.TxGas + params.TxDataNonZeroGasEIP2028*uint64(len(data)) + words*native.GasPerInputWord + module
}

// start runs the job in its own goroutine; its outcome comes back on
// s.outcome.
func (s *Service) start(a Action) {
	rec, ok := s.records[a.Entry.ID]
	if !ok {
		s.log.Error("run without a chain record", "job", a.Entry.ID)
		return
	}
	if old, ok := s.runs[a.Entry.ID]; ok {
		old.cancel()
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	h := &runHandle{token: a.Token, cancel: cancel, done: make(chan struct{})}
	s.runs[a.Entry.ID] = h
	s.m.Running.Set(float64(len(s.runs)))
	s.runWG.Add(1)
	go func() {
		defer s.runWG.Done()
		defer close(h.done)
		defer cancel()
		o := s.execute(ctx, &rec, &a.Entry)
		if ctx.Err() != nil {
			return // killed, or the agent stops: the journal decides
		}
		s.outcome <- Outcome{ID: a.Entry.ID, Token: a.Token, RunOutcome: o}
	}()
}

func (s *Service) kill(a Action) {
	if h, ok := s.runs[a.Entry.ID]; ok {
		h.cancel()
		delete(s.runs, a.Entry.ID)
		s.m.Running.Set(float64(len(s.runs)))
		s.log.Info("run killed", "job", a.Entry.ID, "attempt", a.Entry.Attempt, "phase", a.Entry.Phase.String())
	}
}

// execute runs one attempt of job j (or its re-execution, e's phase
// PhaseReexec) and stores its record. A job that could not run at all
// (spec unreadable, image or program missing, GPUs refused) gets a failure
// record (exit -1) so the submitter is refunded at once rather than at the
// deadline; a re-execution that could not run gives no digest (Err). A
// deterministic job's outcome carries its output digest.
func (s *Service) execute(ctx context.Context, j *jobs.Job, e *Entry) RunOutcome {
	reexec := e.Phase == PhaseReexec
	runID := entryRunID(s.cfg.ChainID, e)
	log := s.log.With("job", j.ID, "attempt", e.Attempt, "run", runID)
	started := s.cfg.Now()
	res, err := s.runOnce(ctx, j, runID)
	if ctx.Err() != nil {
		return RunOutcome{Err: ctx.Err()}
	}
	if err != nil && reexec {
		log.Warn("re-execution could not run: no digest sent", "err", err)
		return RunOutcome{Err: err}
	}
	if err != nil {
		log.Warn("job could not run: reporting a failure", "err", err)
		res = &job.Result{JobID: runID, Executor: s.cfg.Executor, Status: job.StatusFailed, ExitCode: -1,
			StderrTail: truncate("emcd agent: "+err.Error(), 4096)}
		res.SetTimes(started, started)
		if err := res.Seal(); err != nil {
			return RunOutcome{Err: err}
		}
	}
	if j.Deterministic && s.cfg.Fault == FaultWrongOutput {
		if err := s.corrupt(res); err != nil {
			return RunOutcome{Err: err}
		}
		log.Warn("fault injection: outputs corrupted (test only)", "fault", s.cfg.Fault)
	}
	if err := s.cfg.Store.SaveResult(res); err != nil {
		log.Error("result record not saved", "err", err)
		return RunOutcome{Err: err}
	}
	s.m.RunSeconds.Observe(float64(res.WallMillis) / 1000)
	exit := res.ExitCode
	if exit > math.MaxInt32 || exit < math.MinInt32 {
		exit = -1
	}
	o := RunOutcome{Record: common.HexToHash(res.RecordSHA256), WallMillis: res.WallMillis, Exit: int32(exit)}
	if j.Deterministic {
		d, err := res.OutputDigest()
		if err != nil {
			log.Error("no output digest", "err", err)
			return RunOutcome{Err: err}
		}
		o.Digest = d
	}
	return o
}

// corrupt is the FaultWrongOutput injection: every output of res is
// replaced by a fixed wrong content (stored in the blob store, so it can
// be downloaded), or one is added when there is none, and res is sealed
// again.
func (s *Service) corrupt(res *job.Result) error {
	wrong := []byte("emcd fault injection (--compute.fault wrong-output): not the job's output\n")
	sum, size, err := s.cfg.Blobs.PutBlob(bytes.NewReader(wrong), int64(len(wrong)))
	if err != nil {
		return fmt.Errorf("agent: fault injection: %w", err)
	}
	if len(res.Outputs) == 0 {
		res.Outputs = []job.Output{{Path: "fault.txt"}}
	}
	for i := range res.Outputs {
		res.Outputs[i].SHA256, res.Outputs[i].SizeBytes = sum, size
	}
	res.RecordSHA256 = ""
	return res.Seal()
}

func (s *Service) runOnce(ctx context.Context, j *jobs.Job, runID string) (*job.Result, error) {
	spec, err := s.cfg.Spec(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("agent: job %d spec: %w", j.ID, err)
	}
	if h, err := spec.Hash(); err != nil || h != j.SpecHash {
		return nil, fmt.Errorf("agent: job %d spec does not match its on-chain hash", j.ID)
	}
	rs, err := ToRunSpec(s.cfg.Executor, s.cfg.Programs, s.cfg.ChainID, j.ID, 1, &spec)
	if err != nil {
		return nil, err
	}
	rs.ID = runID
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	if s.cfg.Executor == ExecutorProcess {
		if err := s.cfg.Programs.Verify(spec.Image); err != nil {
			return nil, err
		}
	}
	if spec.InputsSHA256 != (common.Hash{}) {
		if rs.Inputs, err = s.inputs(ctx, j, &spec); err != nil {
			return nil, fmt.Errorf("agent: job %d inputs: %w", j.ID, err)
		}
		if err := rs.Validate(); err != nil {
			return nil, err
		}
	}
	return s.cfg.Run(ctx, rs)
}

// entryRunID is the run id of e: RunID for an attempt, ReexecRunID for a
// re-execution.
func entryRunID(chainID uint64, e *Entry) string {
	if e.Phase.reexec() {
		return ReexecRunID(chainID, e.ID)
	}
	return RunID(chainID, e.ID, e.Attempt)
}

// heldReexec reports whether the core holds job id as a re-execution.
func (s *Service) heldReexec(id uint64) bool {
	e, ok := s.core.entries[id]
	return ok && e.Phase.reexec()
}

// scanReexecs lists the re-executions waiting for this node's digest (the
// first MaxReexecScan of its reexecsOf list), keeping each job's record for
// its run.
func (s *Service) scanReexecs(ctx context.Context, view View) ([]ChainReexec, error) {
	var out []ChainReexec
	for off := uint64(0); off < MaxReexecScan; {
		ids, total := view.ReexecsOf(s.cfg.Owner, off, min(jobs.MaxPage, MaxReexecScan-off))
		for _, id := range ids {
			rx, ok, err := view.ReexecOf(id)
			if err != nil {
				return nil, err
			}
			if !ok || rx.Current != s.cfg.Owner {
				continue
			}
			j, ok, err := view.JobOf(id)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("agent: re-executed job %d missing", id)
			}
			has, err := s.cfg.Images.Has(ctx, j.Image)
			if err != nil {
				s.log.Warn("cannot tell whether the image is held", "job", id, "image", j.Image, "err", err)
			}
			out = append(out, ChainReexec{ID: id, Deadline: rx.Deadline, GPUs: j.GPUs, TimeoutSeconds: j.TimeoutSeconds, ImageHeld: has})
			s.records[id] = j
		}
		off += uint64(len(ids))
		if len(ids) == 0 || off >= total {
			break
		}
	}
	return out, nil
}

// inputs fetches job j's bundle, checks it against spec (its sha256, its
// canonical encoding and names), and puts its files into the blob store
// for the executor, which writes them read-only into the job's input dir.
func (s *Service) inputs(ctx context.Context, j *jobs.Job, spec *jobs.Spec) ([]job.Input, error) {
	if s.cfg.Inputs == nil {
		return nil, errors.New("this node cannot read job inputs")
	}
	raw, err := s.cfg.Inputs(ctx, j)
	if err != nil {
		return nil, err
	}
	files, err := jobs.DecodeInputsFor(spec, raw)
	if err != nil {
		return nil, err
	}
	out := make([]job.Input, 0, len(files))
	for _, f := range files {
		sum, size, err := s.cfg.Blobs.PutBlob(bytes.NewReader(f.Data), int64(len(f.Data)))
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", f.Name, err)
		}
		out = append(out, job.Input{Path: f.Name, SHA256: sum, SizeBytes: size})
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
