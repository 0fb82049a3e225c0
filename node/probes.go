package node

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// Router probes (docs/verification.md, "Router probes"): the validator
// side. Each epoch the validators verify.Module.DrawProbers picks for a
// router fetch a result record through its relay (the fetch probe
// protocol) and send probeFail when it never arrives.
const (
	// ProbeTries is how many times a prober tries a router in an epoch
	// before it reports it.
	ProbeTries = 3
	// probeScanJobs bounds how many of the newest jobs a prober looks
	// through for one the router assigned and that has a result.
	probeScanJobs = 1024
	// probeValidity is how long a probe signature lives.
	probeValidity = 5 * time.Minute
)

// probeSender sends probeFail; walletChallenges implements it.
type probeSender interface {
	ProbeFail(ctx context.Context, epoch uint64, router common.Address) error
}

// ProbeFail sends probeFail(epoch, router).
func (s walletChallenges) ProbeFail(ctx context.Context, epoch uint64, router common.Address) error {
	return s.send(ctx, "probe-fail", "probeFail", epoch, router)
}

// recordProber fetches job id's record through router's relay with a
// probe of epoch and checks it hashes to onChain; nil only when it did.
type recordProber interface {
	Probe(ctx context.Context, s native.StateReader, epoch uint64, router common.Address, id uint64, onChain common.Hash) error
}

// routerProbe is a prober's progress with one router in one epoch.
type routerProbe struct {
	tries  int
	done   bool   // passed, reported, or not this validator's to probe
	sentAt uint64 // block after the head the report was sent at (0: not sent)
}

// prober is a validator's router-probe service. At a head h it looks at
// the epoch of block h+1 (where its transaction lands) and, for each
// registered router that earned router credits in the epoch
// (rewards.RouterCredited: an accepted assignment, so something to probe
// and something to lose) and drew this validator as a prober, picks the
// newest job the router assigned that has a result on chain and fetches
// its record through the router's relay. Tries are spread over the
// epoch's middle third: try i from block b + L/3 + i·⌊L/9⌋ (b the epoch's
// first block, L its length). A record that arrives and hashes to the
// chain's record hash passes the router for the epoch (silently); after
// ProbeTries failures it sends probeFail(epoch, router), resending only
// after MissRetryBlocks if the report has not landed. A router whose
// probers already failed it is left alone. Not safe for concurrent use:
// one goroutine calls step.
type prober struct {
	mod    *verify.Module
	self   common.Address
	probe  recordProber
	send   probeSender
	log    *slog.Logger
	length uint64 // epoch length

	epoch   uint64
	routers map[common.Address]*routerProbe
}

func newProber(mod *verify.Module, epochLength uint64, self common.Address, probe recordProber, send probeSender, log *slog.Logger) *prober {
	return &prober{mod: mod, length: epochLength, self: self, probe: probe, send: send, log: log, routers: map[common.Address]*routerProbe{}}
}

// tryAt is the first block of try i in epoch.
func (p *prober) tryAt(epoch uint64, i int) uint64 {
	return epoch*p.length + p.length/3 + uint64(i)*max(p.length/9, 1)
}

// probeJob is the newest job router assigned that has a result on chain
// (among the newest probeScanJobs), ok false when none.
func probeJob(s native.StateReader, router common.Address) (jobs.Job, bool) {
	count := jobs.JobCount(s)
	for id := count; id >= 1 && count-id < probeScanJobs; id-- {
		j, ok, err := jobs.JobOf(s, id)
		if err != nil || !ok {
			continue
		}
		if j.Router == router && fetch.HasResult(&j) {
			return j, true
		}
	}
	return jobs.Job{}, false
}

// step handles head h with its state s; it returns the number of
// probes made, of probeFail transactions sent, and the first error.
func (p *prober) step(ctx context.Context, s native.StateReader, head uint64) (probed, sent int, firstErr error) {
	next := head + 1
	epoch := p.mod.EpochOf(next)
	if epoch != p.epoch {
		p.epoch = epoch
		clear(p.routers)
	}
	if next < p.tryAt(epoch, 0) || next >= (epoch+1)*p.length {
		return 0, 0, nil
	}
	k := rewards.RewardEpoch(next, p.length)
	total := registry.RouterCount(s)
	for off := uint64(0); off < total; off += registry.MaxPage {
		owners, _ := registry.RouterOwners(s, off, registry.MaxPage)
		for _, router := range owners {
			if ctx.Err() != nil {
				return probed, sent, firstErr
			}
			st := p.routers[router]
			if st == nil {
				st = &routerProbe{}
				p.routers[router] = st
			}
			if st.done {
				continue
			}
			pr, err := p.mod.ProbeOf(s, epoch, router)
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("probe of %s: %w", router, err))
				continue
			}
			slot := slices.Index(pr.Probers, p.self)
			if slot < 0 || pr.Failed[slot] || pr.RouterFailed {
				st.done = true // not ours, reported, or decided
				continue
			}
			if st.tries >= ProbeTries {
				// Reported, not landed yet: resend after a turn.
				if next >= st.sentAt+MissRetryBlocks {
					sent += p.report(ctx, epoch, router, st, next, &firstErr)
				}
				continue
			}
			if !rewards.RouterCredited(s, router, k) || next < p.tryAt(epoch, st.tries) {
				continue
			}
			j, ok := probeJob(s, router)
			if !ok {
				continue // nothing to fetch yet
			}
			probed++
			err = p.probe.Probe(ctx, s, epoch, router, j.ID, j.ResultHash)
			st.tries++
			if err == nil {
				st.done = true
				p.log.Debug("router probe passed", "epoch", epoch, "router", router, "job", j.ID, "try", st.tries)
				continue
			}
			p.log.Warn("router probe failed", "epoch", epoch, "router", router, "job", j.ID, "try", st.tries, "err", err)
			if st.tries >= ProbeTries {
				sent += p.report(ctx, epoch, router, st, next, &firstErr)
			}
		}
	}
	return probed, sent, firstErr
}

// report sends probeFail; it returns 1 when the wallet took it.
func (p *prober) report(ctx context.Context, epoch uint64, router common.Address, st *routerProbe, next uint64, firstErr *error) int {
	st.sentAt = next
	if err := p.send.ProbeFail(ctx, epoch, router); err != nil {
		*firstErr = cmpErr(*firstErr, fmt.Errorf("probeFail %d %s: %w", epoch, router, err))
		return 0
	}
	p.log.Info("probeFail sent", "epoch", epoch, "router", router)
	return 1
}

// probeStep is the prober as a challenge step: it reads the chain's head
// state itself.
func probeStep(cc chainChallenges, p *prober) func(context.Context, uint64, uint64) error {
	return func(ctx context.Context, _, _ uint64) error {
		st, num, err := cc.head()
		if err != nil {
			return fmt.Errorf("prober: %w", err)
		}
		_, _, err = p.step(ctx, st, num)
		return err
	}
}

// p2pProber probes over the fetch probe protocol, signing with the
// validator's signer key and finding the router's peer in the registry.
type p2pProber struct {
	req     p2p.Requester
	spec    p2p.Spec
	key     *ecdsa.PrivateKey
	chainID *uint256.Int
	now     func() time.Time
}

func (p p2pProber) Probe(ctx context.Context, s native.StateReader, epoch uint64, router common.Address, id uint64, onChain common.Hash) error {
	rec, ok, err := registry.RouterOf(s, router)
	if err != nil {
		return fmt.Errorf("router %s: %w", router, err)
	}
	if !ok {
		return fmt.Errorf("router %s is not registered", router)
	}
	pid, err := peer.IDFromBytes(rec.PeerID)
	if err != nil {
		return fmt.Errorf("registered peer id of router %s: %w", router, err)
	}
	auth, err := fetch.SignProbe(p.key, p.chainID, epoch, id, p.now().Add(probeValidity))
	if err != nil {
		return err
	}
	_, err = fetch.ProbeRecord(ctx, p.req, p.spec, p2p.PeerID(pid.String()), id, auth, onChain)
	return err
}

// chainProbers answers fetch.Probers from the head state: the epoch of the
// head block and the validator set the verify module stored for it.
type chainProbers struct {
	chain *state.Chain
	mod   *verify.Module
}

var _ fetch.Probers = chainProbers{}

func (c chainProbers) CurrentEpoch() (uint64, error) {
	return c.mod.EpochOf(c.chain.Head().Number.Uint64()), nil
}

func (c chainProbers) IsValidator(epoch uint64, signer common.Address) (bool, error) {
	st, err := c.chain.StateAt(c.chain.Head().Root)
	if err != nil {
		return false, err
	}
	for i := range verify.ValidatorCount(st, epoch) {
		if verify.ValidatorAt(st, epoch, i) == signer {
			return true, nil
		}
	}
	return false, nil
}

// probers is the fetch.Probers of this node's chain (nil without the
// verify module: no probes accepted).
func (n *Node) probers() fetch.Probers {
	if n.backend == nil || n.backend.verify == nil {
		return nil
	}
	return chainProbers{n.chain, n.backend.verify}
}

// startProber returns the validator's prober step, probing over req with
// key (the validator signer) and reporting through send. A round runs on
// its own goroutine, so that a router slow to answer (each probe waits up
// to fetch.DefaultProbeTimeout) never holds up the challenge duties that
// share the head follower; heads that come while a round runs are
// skipped.
func (n *Node) startProber(cc chainChallenges, key *ecdsa.PrivateKey, self common.Address, send probeSender, req p2p.Requester) func(context.Context, uint64, uint64) error {
	chainID := uint256.MustFromBig(n.chain.Config().ChainID)
	pp := p2pProber{req: req, spec: fetch.ProbeSpec(p2p.Names{ChainID: chainID.Uint64()}, 0), key: key, chainID: chainID, now: time.Now}
	log := n.baseLog.With("component", "prober")
	step := probeStep(cc, newProber(cc.mod, n.epochLength, self, pp, send, log))
	busy := make(chan struct{}, 1)
	return func(ctx context.Context, head, epoch uint64) error {
		select {
		case busy <- struct{}{}:
		default:
			return nil // the last round is still probing
		}
		n.wg.Add(1) // the head follower holds n.wg: never zero here
		go func() {
			defer n.wg.Done()
			defer func() { <-busy }()
			if err := step(ctx, head, epoch); err != nil {
				log.Warn("router probe round failed", "head", head, "err", err)
			}
		}()
		return nil
	}
}

// serveProbes serves the fetch probe protocol of the router's relay on srv
// (nothing without the verify module: nobody probes).
func (n *Node) serveProbes(srv p2p.Server) error {
	if n.backend.relay == nil || n.probers() == nil {
		return nil
	}
	chainID := uint256.MustFromBig(n.chain.Config().ChainID)
	if err := n.backend.relay.RegisterProbe(srv, fetch.ProbeSpec(p2p.Names{ChainID: chainID.Uint64()}, 0)); err != nil {
		return fmt.Errorf("node: relay probes: %w", err)
	}
	return nil
}
