package node

import (
	"context"
	"log/slog"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// evidenceReporter turns the equivocation evidence the consensus engine
// keeps (emc_evidence's) into reportDoubleSign transactions sent through the
// node wallet, once per offence (signer, code, height, round): offences
// already slashed on chain, or already tried by this node, are skipped. A
// report the chain would refuse (the offender holds no stake, the evidence
// is too old) fails at gas estimation and is logged, not retried.
type evidenceReporter struct {
	submit func(ctx context.Context, req wallet.Request) (*wallet.Handle, error)
	// state returns the latest state.
	state func() (native.StateReader, error)
	// done receives each handle a submit returned, to follow it.
	done func(h *wallet.Handle, offender common.Address)
	log  *slog.Logger
	// tried holds the offences of the engine's current evidence list that
	// were reported or skipped: bounded by that list.
	tried map[common.Hash]bool
}

// report handles the engine's evidence list evs (oldest first).
func (r *evidenceReporter) report(ctx context.Context, evs []ibft.Evidence) {
	if len(evs) == 0 {
		return
	}
	st, err := r.state()
	if err != nil {
		r.log.Error("double-sign reports: no state", "err", err)
		return
	}
	tried := make(map[common.Hash]bool, len(evs))
	for i := range evs {
		who, err := evs[i].Signer()
		if err != nil {
			continue // the engine keeps verified evidence only
		}
		code, height, round := evs[i].View()
		key := staking.OffenceKey(who, code, height, round)
		if tried[key] {
			continue
		}
		tried[key] = true
		if r.tried[key] || staking.Reported(st, key) {
			continue
		}
		log := r.log.With("offender", who, "code", code, "height", height, "round", round)
		if _, ok := staking.OwnerOfSigner(st, who); !ok {
			log.Info("double sign not reported: the offender has no validator stake")
			continue
		}
		data, err := staking.ReportDoubleSignData(evs[i])
		if err != nil {
			log.Error("double sign not reported", "err", err)
			continue
		}
		to := native.StakingAddress
		h, err := r.submit(ctx, wallet.Request{To: &to, Data: data, Label: "reportDoubleSign"})
		if err != nil {
			log.Warn("double sign not reported", "err", err)
			continue
		}
		log.Warn("reporting double sign", "tx_label", h.Label())
		if r.done != nil {
			r.done(h, who)
		}
	}
	r.tried = tried
}

// startEvidenceReports reports the engine's evidence after every new head
// (the engine keeps at most its last 128 pieces; a report costs the node's
// wallet gas and pays it the reporter's share of the slash).
func (n *Node) startEvidenceReports(ctx context.Context) {
	if n.net == nil || n.wallet == nil {
		return
	}
	r := &evidenceReporter{
		submit: n.wallet.Submit,
		state: func() (native.StateReader, error) {
			return n.chain.StateAt(n.chain.Head().Root)
		},
		done: func(h *wallet.Handle, offender common.Address) {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				rc, err := h.Wait(ctx)
				switch {
				case err == nil:
					n.log.Warn("double sign reported", "offender", offender, "block", rc.BlockNumber, "tx", rc.TxHash)
				case ctx.Err() == nil:
					n.log.Warn("double-sign report failed", "offender", offender, "err", err)
				}
			}()
		},
		log: n.log.With("component", "slashing"),
	}
	// The chain sends heads under its insert lock: the follower keeps only
	// the newest, so reporting (state, gas estimation, the pool) never
	// holds up a block insert.
	heads := state.FollowHeads(n.chain)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer heads.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-heads.C:
				r.report(ctx, n.net.engine.Evidence())
			}
		}
	}()
}
