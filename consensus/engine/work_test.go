package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/wal"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
)

// stuckValidation holds every ValidateBlock until its context ends.
type stuckValidation struct {
	*state.Chain
	started chan struct{}
}

func (c *stuckValidation) ValidateBlock(ctx context.Context, _ *types.Block) error {
	c.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// Validations run at most MaxValidations at once, queue up to
// maxQueuedValidations, and beyond that are refused; a new height forgets
// the queue and cancels the running ones.
func TestValidationBounds(t *testing.T) {
	key, _ := crypto.ToECDSA(crypto.Keccak256([]byte("engine-test-work")))
	g := genesis.Dev()
	g.Validators = []common.Address{crypto.PubkeyToAddress(key.PublicKey)}
	sc, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := &stuckValidation{Chain: sc, started: make(chan struct{}, 8)}
	block, err := sc.BuildBlock(context.Background(), nil, state.BuildParams{Coinbase: g.Validators[0], Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := encodeProposal(1, block)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Key: key, WAL: new(wal.Memory), MaxValidations: 2}, chain, emptyPool{}, busPort{&bus{down: map[int]bool{}}, 0})
	if err := e.start(); err != nil {
		t.Fatal(err)
	}
	e.work = newWorkers(context.Background(), e)
	defer e.work.stop()

	for range 3 {
		e.work.validate(p)
	}
	e.work.dispatch()
	for range 2 {
		select {
		case <-chain.started:
		case <-time.After(10 * time.Second):
			t.Fatal("validation did not start")
		}
	}
	if e.work.running != 2 || len(e.work.queue) != 1 {
		t.Fatalf("running %d, queued %d; want 2 and 1", e.work.running, len(e.work.queue))
	}
	for range maxQueuedValidations {
		e.work.validate(p)
	}
	e.work.dispatch()
	if got := counterValue(t, e.metrics.ValidationsRefused); got != 1 {
		t.Fatalf("refused %v, want 1", got)
	}
	if len(e.work.queue) != maxQueuedValidations {
		t.Fatalf("queued %d, want %d", len(e.work.queue), maxQueuedValidations)
	}
	if e.busy.Load() != 1+2 { // the start (Run never ran) and two workers
		t.Fatalf("busy %d", e.busy.Load())
	}

	e.work.newHeight()
	if len(e.work.queue) != 0 {
		t.Fatalf("queue kept %d validations across heights", len(e.work.queue))
	}
	for range 2 {
		select {
		case r := <-e.work.validated:
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("cancelled validation returned %v", r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("running validation not cancelled")
		}
	}
	select {
	case <-chain.started:
		t.Fatal("a forgotten validation started")
	default:
	}
}
