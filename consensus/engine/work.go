package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/state"
)

// ErrValidationQueueFull is the verdict on a proposal that arrives while
// the validation queue is full: the core treats it as not validated (its
// proposer re-sends on the next timeout).
var ErrValidationQueueFull = errors.New("engine: validation queue full")

// Bounds of the proposal work handed to workers.
const (
	// defaultMaxValidations is how many proposals may execute at once.
	defaultMaxValidations = 2
	// maxQueuedValidations bounds proposals waiting for a validation slot.
	maxQueuedValidations = 32
)

// validated is the result of one proposal validation.
type validated struct {
	p    ibft.Proposal
	hash common.Hash
	err  error
}

// built is the result of building this validator's proposal.
type built struct {
	view  ibft.View
	block *types.Block
	err   error
}

// buildJob is everything a build needs, gathered on the Run goroutine.
type buildJob struct {
	view       ibft.View
	parentCert *cert.Certificate
	time       time.Time
}

// workers runs proposal validation and block building off the Run
// goroutine. Only Run calls its methods; the goroutines it starts touch
// nothing but the chain, the pool, the clock, the metrics and their result
// channel. Each result channel has room for every job that may be running,
// so a worker never blocks on it, even after Run stopped reading.
type workers struct {
	e *Engine

	parent context.Context // Run's context
	ctx    context.Context // this height's work; cancelled on a new height
	cancel context.CancelFunc
	wg     sync.WaitGroup

	queue     []ibft.Proposal // validations waiting for a slot
	running   int             // validations started and not yet received
	building  bool            // a build started and not yet received
	buildView ibft.View       // what it builds for
	validated chan validated
	built     chan built
}

func newWorkers(ctx context.Context, e *Engine) *workers {
	w := &workers{
		e:         e,
		parent:    ctx,
		validated: make(chan validated, e.cfg.MaxValidations),
		built:     make(chan built, 1),
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w
}

// newHeight cancels the work of the height left behind: queued validations
// are forgotten, running ones are told to stop (their results are dropped
// as stale when they arrive).
func (w *workers) newHeight() {
	w.cancel()
	w.ctx, w.cancel = context.WithCancel(w.parent)
	w.queue = nil
}

// stop cancels everything and waits for the workers to exit.
func (w *workers) stop() {
	w.cancel()
	w.wg.Wait()
}

// validate queues p for validation; when the queue is full, p is answered
// at once as not validated.
func (w *workers) validate(p ibft.Proposal) {
	if len(w.queue) >= maxQueuedValidations {
		w.e.metrics.ValidationsRefused.Inc()
		w.e.core.ProposalValidated(p, common.Hash{}, ErrValidationQueueFull)
		return
	}
	w.queue = append(w.queue, p)
}

// dispatch starts queued validations while slots are free.
func (w *workers) dispatch() {
	for len(w.queue) > 0 && w.running < cap(w.validated) {
		p := w.queue[0]
		w.queue = w.queue[1:]
		w.running++
		w.e.busy.Add(1)
		ctx := w.ctx
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			start := w.e.clock.Now()
			hash, err := w.e.validate(ctx, p)
			w.e.metrics.Validation.Observe(w.e.clock.Now().Sub(start).Seconds())
			w.validated <- validated{p: p, hash: hash, err: err}
		}()
	}
	if len(w.queue) == 0 {
		w.queue = nil // let the backing array go
	}
}

// build starts building a proposal; the caller checked !w.building.
func (w *workers) build(job buildJob) {
	w.building, w.buildView = true, job.view
	w.e.busy.Add(1)
	ctx := w.ctx
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		start := w.e.clock.Now()
		block, err := w.e.chain.BuildBlock(ctx, w.e.pool.Source(), state.BuildParams{
			Coinbase: w.e.signer.Address(), Time: job.time, ParentCommit: job.parentCert,
			MaxTxs: w.e.cfg.MaxTxsPerBlock, KeepExecution: true,
		})
		w.e.metrics.Build.Observe(w.e.clock.Now().Sub(start).Seconds())
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("engine: build cancelled: %w", ctx.Err())
		}
		w.built <- built{view: job.view, block: block, err: err}
	}()
}

// buildingFor reports whether a build for height is running.
func (w *workers) buildingFor(height uint64) bool {
	return w.building && w.buildView.Height == height
}

// encodeProposal turns a built block into the core's opaque proposal.
func encodeProposal(height uint64, block *types.Block) (ibft.Proposal, error) {
	raw, err := rlp.EncodeToBytes(block)
	if err != nil {
		return ibft.Proposal{}, fmt.Errorf("engine: encode proposal: %w", err)
	}
	return ibft.Proposal{Height: height, Hash: block.Hash(), Raw: raw}, nil
}
