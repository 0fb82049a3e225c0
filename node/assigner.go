package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// jobs returns the jobs module, nil when the chain has none.
func (m Modules) jobs() *jobs.Module {
	mod, ok := m.Lookup(native.JobsAddress)
	if !ok {
		return nil
	}
	j, _ := mod.(*jobs.Module)
	return j
}

// epochLength is the staking module's epoch length (the default when the
// chain has no staking module).
func (m Modules) epochLength() uint64 {
	if mod, ok := m.Lookup(native.StakingAddress); ok {
		if sm, ok := mod.(*staking.Module); ok {
			return sm.Params().EpochLength
		}
	}
	return staking.DefaultEpochLength
}

// assignView returns the router's view of the chain at a head: its state
// with the jobs module's draws for the next block already made. A job
// submitted in block s is drawn at the start of block s+offerDelay+1 from
// the hash of block s+offerDelay; running that draw on a copy of the head's
// state lets the drawn router assign in the draw block itself instead of
// the block after it (the assignment executes after the block's
// BeginBlock, so the chain sees the same draw). It is a prediction: at an
// epoch boundary the other modules' hooks may change the routers' stakes
// first, and the chain then refuses the assign, which the service retries.
// A failed preview falls back to the head's own state.
func assignView(chain *state.Chain, mods Modules, log *slog.Logger) func(*types.Header) (assign.View, error) {
	jm, epochLength := mods.jobs(), mods.epochLength()
	return func(head *types.Header) (assign.View, error) {
		number := head.Number.Uint64()
		st, err := chain.StateAt(head.Root)
		if err != nil {
			return nil, err
		}
		env := &native.BlockEnv{Number: number + 1, Time: head.Time, ParentHash: head.Hash(), BaseFee: new(big.Int), EpochLength: epochLength}
		if err := mods.PreviewBeginBlock(native.JobsAddress, st, env); err != nil {
			log.Warn("predicting the next block's job draws", "block", number+1, "err", err)
			if st, err = chain.StateAt(head.Root); err != nil {
				return nil, err
			}
		}
		return &assign.StateView{S: st, Jobs: jm, Number: number, EpochLength: epochLength}, nil
	}
}

// startAssigner runs a router node's assignment service (router/assign):
// on every new head it assigns the jobs offered to this router, or open to
// all, to live nodes of its heartbeat table, through the node wallet. It
// needs the router role, a key of its own, the jobs module, and a live
// table (the heartbeat tracker, or the test override cfg.assignLive). The
// dev node routes too: from the dev router's wallet, with the live table
// its own compute side feeds (devmarket.go).
func (n *Node) startAssigner(ctx context.Context) error {
	if n.cfg.Role != RoleRouter && n.dev == nil {
		return nil
	}
	live, w := n.cfg.assignLive, n.wallet
	if live == nil && n.net != nil && n.net.beats != nil {
		live = n.net.beats.tracker
	}
	if n.dev != nil {
		w = n.dev.routerWallet
		if live == nil {
			live = n.dev.tracker
		}
	}
	switch {
	case w == nil:
		n.log.Warn("job assignment off: this router has no key of its own to send from")
		return nil
	case n.jobs == nil:
		n.log.Warn("job assignment off: this chain has no jobs module")
		return nil
	case live == nil:
		n.log.Warn("job assignment off: no live table (the router runs no p2p network)")
		return nil
	}
	svc, err := assign.New(assign.Config{
		Router: w.Address(),
		View:   assignView(n.chain, n.mods, n.log),
		Send: func(ctx context.Context, req wallet.Request) (assign.Pending, error) {
			h, err := w.Submit(ctx, req)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return h, nil
		},
		Live:    live,
		NowMs:   func() int64 { return time.Now().UnixMilli() },
		Params:  scheduler.DefaultParams(),
		Metrics: assign.NewMetrics(n.reg),
		Log:     n.baseLog,
	})
	if err != nil {
		return fmt.Errorf("node: job assignment: %w", err)
	}
	n.spawn(func() error { return svc.Run(ctx, n.chain, n.chain.Head()) })
	return nil
}
