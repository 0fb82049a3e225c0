package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// Automatic reap (issue 13): a router sends reap for the running
// instances whose node the apps module would reap (deregistered, or its
// registry LastSeen more than LivenessBlocks old: apps.Module.Reapable,
// checked on the head's state for the next block). The router that placed
// an instance reaps it as soon as it is reapable, after settling the
// newest receipt it countersigned for it (so no metered usage is lost; a
// restart-enabled instance's old receipts become worthless at the reap);
// any other active router reaps it as a fallback once it has seen it
// reapable for hubReapGrace blocks, so a dead router does not keep a dead
// node's instance (and its escrow) in place. One reap in flight per
// instance; a failed one is tried again after a backoff that doubles up
// to hubReapMaxBackoff. The reaper runs in the settler's goroutine
// (hubSettler.pass): it shares the settler's maps without locks.

// Reaper bounds.
const (
	// hubReapGrace is how many blocks a router that did not place an
	// instance waits, from when it first saw it reapable, before it
	// reaps it itself.
	hubReapGrace = 20
	// hubReapScan bounds the new instance ids one pass adds to the
	// watch list (the rest come in the next passes).
	hubReapScan = 512
	// hubReapSettleTries is how many settlements of the newest receipt
	// the placing router sends before it reaps without it.
	hubReapSettleTries = 3
	// hubReapBackoff and hubReapMaxBackoff bound the wait after a failed
	// reap.
	hubReapBackoff    = 5 * time.Second
	hubReapMaxBackoff = 5 * time.Minute
)

// txWait is a sent transaction's outcome (a *wallet.Handle).
type txWait interface {
	Done() <-chan struct{}
	Wait(ctx context.Context) (*types.Receipt, error)
}

// hubReaper is a router's automatic reap (see above).
type hubReaper struct {
	chain *state.Chain
	mod   *apps.Module
	abi   abi.ABI
	me    common.Address
	// submit sends a transaction to the apps module (the wallet's Submit).
	submit func(ctx context.Context, data []byte) (txWait, error)
	grace  uint64
	now    func() time.Time
	log    *slog.Logger

	next      uint64          // the lowest instance id not watched yet (from 1)
	watch     map[uint64]bool // instances seen open
	deadSince map[uint64]uint64
	inFlight  map[uint64]txWait
	fails     map[uint64]int
	retryAt   map[uint64]time.Time
	settles   map[uint64]int // settlements sent before the reap
}

func newHubReaper(chain *state.Chain, mod *apps.Module, parsed abi.ABI, w *wallet.Wallet, log *slog.Logger) *hubReaper {
	r := newReaper(mod, parsed, w.Address(), func(ctx context.Context, data []byte) (txWait, error) {
		to := native.AppsAddress
		return w.Submit(ctx, wallet.Request{To: &to, Data: data, Label: "app reap"})
	}, log)
	r.chain = chain
	return r
}

func newReaper(mod *apps.Module, parsed abi.ABI, me common.Address, submit func(context.Context, []byte) (txWait, error), log *slog.Logger) *hubReaper {
	return &hubReaper{
		mod: mod, abi: parsed, me: me, submit: submit, grace: hubReapGrace, now: time.Now, log: log,
		next: 1, watch: make(map[uint64]bool), deadSince: make(map[uint64]uint64), inFlight: make(map[uint64]txWait),
		fails: make(map[uint64]int), retryAt: make(map[uint64]time.Time), settles: make(map[uint64]int),
	}
}

// reapSettler is what the reaper needs of the settler: settleFirst sends
// (or waits for) the settlement of the newest receipt held for in;
// pending is true while it is not on chain; sent when this call sent one.
type reapSettler interface {
	settleFirst(ctx context.Context, in *apps.Instance, number uint64) (pending, sent bool, err error)
	forget(id uint64)
}

func (r *hubReaper) backoff(id uint64) time.Duration {
	d := hubReapBackoff
	for i := 1; i < r.fails[id] && d < hubReapMaxBackoff; i++ {
		d *= 2
	}
	return min(d, hubReapMaxBackoff)
}

func (r *hubReaper) drop(id uint64) {
	delete(r.watch, id)
	delete(r.deadSince, id)
	delete(r.fails, id)
	delete(r.retryAt, id)
	delete(r.settles, id)
}

// pass reaps what it should at head, reading a state of its own; s (nil:
// no metering) settles first.
func (r *hubReaper) pass(ctx context.Context, head *types.Header, s reapSettler) error {
	st, err := r.chain.StateAt(head.Root)
	if err != nil {
		return fmt.Errorf("node: reap: state at %d: %w", head.Number.Uint64(), err)
	}
	return r.step(ctx, st, head.Number.Uint64(), s)
}

// step is pass on the state st of block number (st is read only by this
// goroutine).
func (r *hubReaper) step(ctx context.Context, st native.StateReader, number uint64, s reapSettler) error {
	now := r.now()
	for id, h := range r.inFlight {
		select {
		case <-h.Done():
			delete(r.inFlight, id)
			if rc, err := h.Wait(ctx); err != nil || rc.Status != types.ReceiptStatusSuccessful {
				r.fails[id]++
				r.retryAt[id] = now.Add(r.backoff(id))
				r.log.Warn("app reap failed", "instance", id, "tries", r.fails[id], "retry_in", r.backoff(id), "err", err)
			} else {
				delete(r.fails, id)
				delete(r.settles, id)
			}
		default:
		}
	}
	for n, count := 0, apps.InstanceCount(st); r.next <= count && n < hubReapScan; n++ {
		r.watch[r.next] = true
		r.next++
	}
	me := r.me
	active := r.mod.ActiveRouter(st, me, number+1)
	ids := make([]uint64, 0, len(r.watch))
	for id := range r.watch {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		in, ok, err := apps.InstanceOf(st, id)
		if err != nil || !ok {
			continue
		}
		if in.State == apps.StateClosed {
			r.drop(id)
			continue
		}
		if s != nil && in.State != apps.StateRunning && in.State != apps.StateEnding {
			s.forget(id) // back to the routers: the old placement's ledger is stale
		}
		if in.State != apps.StateRunning {
			delete(r.deadSince, id)
			continue
		}
		if _, busy := r.inFlight[id]; busy || now.Before(r.retryAt[id]) {
			continue
		}
		if err := r.mod.Reapable(st, &in, number+1); err != nil {
			delete(r.deadSince, id)
			continue
		}
		mine := in.Router == me
		if !mine {
			if !active {
				continue
			}
			since, seen := r.deadSince[id]
			if !seen {
				r.deadSince[id] = number
				continue
			}
			if number < since+r.grace {
				continue
			}
		}
		if mine && s != nil {
			pending, sent, err := s.settleFirst(ctx, &in, number)
			if err != nil {
				return err
			}
			if sent {
				r.settles[id]++
			}
			if pending && r.settles[id] <= hubReapSettleTries {
				continue
			}
		}
		if err := r.send(ctx, &in, mine); err != nil {
			return err
		}
	}
	return nil
}

func (r *hubReaper) send(ctx context.Context, in *apps.Instance, mine bool) error {
	data, err := r.abi.Pack("reap", new(big.Int).SetUint64(in.ID))
	if err != nil {
		return fmt.Errorf("node: reap: pack: %w", err)
	}
	h, err := r.submit(ctx, data)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		r.fails[in.ID]++
		r.retryAt[in.ID] = r.now().Add(r.backoff(in.ID))
		r.log.Warn("app reap not sent", "instance", in.ID, "err", err)
		return nil
	}
	r.inFlight[in.ID] = h
	r.log.Info("reaping app instance: its node is dead", "instance", in.ID, "node", in.Node, "placed_by_me", mine,
		"restart", in.Restart && in.Restarts < r.mod.Params().MaxRestarts)
	return nil
}
