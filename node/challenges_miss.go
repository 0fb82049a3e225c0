package node

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
)

// MissRetryBlocks is the turn length of the miss reporters: the verifier
// of rank r (see missReporter) sends recordMiss from block MissDue +
// r·MissRetryBlocks on, and a reporter whose transaction has not landed
// sends again MissRetryBlocks blocks later.
const MissRetryBlocks = 3

// missSender sends recordMiss; walletChallenges implements it.
type missSender interface {
	RecordMiss(ctx context.Context, epoch uint64, node common.Address) error
}

// RecordMiss sends recordMiss(epoch, node).
func (s walletChallenges) RecordMiss(ctx context.Context, epoch uint64, node common.Address) error {
	return s.send(ctx, "pow-record-miss", "recordMiss", epoch, node)
}

// missReporter is a validator's recordMiss service: the verify module
// decides a node that never committed only lazily (challengeOf reports it
// missed), and its counters, history and forfeit wait for someone to send
// recordMiss. At a head h it looks at the epoch of block h+1 (where its
// transaction lands, so that a miss is recorded inside its epoch and
// forfeits the node's compute credits) once h+1 ≥ MissDue, and, for each
// registered node the view reports missed and not yet recorded, sends
// recordMiss when it is its turn:
//
//   - rank r: its position among the verifiers the node's challenge would
//     have drawn (verify.Module.DrawVerifiers with the node's challenge
//     seed: the same validators that would have checked its root); a
//     validator of the epoch's set that is not drawn has rank Verifiers
//     (the fallback, all together);
//   - turn: block MissDue + r·MissRetryBlocks.
//
// So the first drawn verifier usually records the miss alone; the next
// one steps in a turn later only if the miss is still not recorded (it
// was offline, or its transaction was lost), and the rest of the set only
// when every drawn verifier failed. A reporter does not send the same miss
// again before MissRetryBlocks passed. The wallet estimates each
// transaction against the head state, so a miss recorded meanwhile is
// refused there and costs no gas. Not safe for concurrent use: one
// goroutine calls step.
type missReporter struct {
	mod  *verify.Module
	self common.Address
	send missSender
	log  *slog.Logger

	epoch   uint64
	settled map[common.Address]bool   // epoch's nodes that need nothing more
	sentAt  map[common.Address]uint64 // block after the head a miss was sent at
}

func newMissReporter(mod *verify.Module, self common.Address, send missSender, log *slog.Logger) *missReporter {
	return &missReporter{mod: mod, self: self, send: send, log: log,
		settled: map[common.Address]bool{}, sentAt: map[common.Address]uint64{}}
}

// missRank is v's rank as a reporter of node's miss in epoch (see
// missReporter), ok false when v is not a validator of the epoch's set.
func missRank(mod *verify.Module, s native.StateReader, epoch uint64, node, v common.Address) (int, bool) {
	seed, _, ok := verify.EpochSeed(s, epoch)
	if !ok {
		return 0, false
	}
	drawn := mod.DrawVerifiers(s, epoch, pow.ChallengeSeed(seed, node), node)
	if r := slices.Index(drawn, v); r >= 0 {
		return r, true
	}
	if v == node {
		return 0, false
	}
	for i := range verify.ValidatorCount(s, epoch) {
		if verify.ValidatorAt(s, epoch, i) == v {
			return mod.Params().Verifiers, true
		}
	}
	return 0, false
}

// step handles head h with its state s; it returns the number of
// recordMiss transactions sent and the first send error.
func (r *missReporter) step(ctx context.Context, s native.StateReader, head uint64) (int, error) {
	next := head + 1
	epoch := r.mod.EpochOf(next)
	if epoch != r.epoch {
		r.epoch = epoch
		clear(r.settled)
		clear(r.sentAt)
	}
	due := r.mod.MissDue(epoch)
	if next < due {
		return 0, nil
	}
	var firstErr error
	sent := 0
	total := registry.NodeCount(s)
	for off := uint64(0); off < total; off += registry.MaxPage {
		owners, _ := registry.NodeOwners(s, off, registry.MaxPage)
		for _, node := range owners {
			if r.settled[node] || ctx.Err() != nil {
				continue
			}
			ch, err := r.mod.ChallengeOf(s, epoch, node, next)
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("challenge of %s: %w", node, err))
				continue
			}
			if ch.Status != verify.StatusMissed || ch.Recorded {
				// Committed, recorded, or not challenged this epoch (a
				// node registered during it; next ≥ due, so a challenged
				// node without a root is reported missed): nothing to do
				// for the epoch.
				r.settled[node] = true
				continue
			}
			rank, ok := missRank(r.mod, s, epoch, node, r.self)
			if !ok {
				r.settled[node] = true
				continue
			}
			if next < due+uint64(rank)*MissRetryBlocks {
				continue
			}
			if at, ok := r.sentAt[node]; ok && next < at+MissRetryBlocks {
				continue
			}
			r.sentAt[node] = next
			if err := r.send.RecordMiss(ctx, epoch, node); err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("recordMiss %d %s: %w", epoch, node, err))
				continue
			}
			sent++
			r.log.Info("recordMiss sent", "epoch", epoch, "node", node, "rank", rank, "head", head)
		}
	}
	return sent, firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// missStep is the miss reporter as a challenge step: it reads the chain's
// head state itself.
func missStep(cc chainChallenges, r *missReporter) func(context.Context, uint64, uint64) error {
	return func(ctx context.Context, _, _ uint64) error {
		st, num, err := cc.head()
		if err != nil {
			return fmt.Errorf("miss reporter: %w", err)
		}
		_, err = r.step(ctx, st, num)
		return err
	}
}
