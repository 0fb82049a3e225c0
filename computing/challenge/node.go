package challenge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
)

// NodeChain is what the compute node's service reads of the head state.
type NodeChain interface {
	Chain
	// Listing is owner's listing as the verify module sees it in epoch.
	Listing(epoch uint64, owner common.Address) (verify.Listing, error)
}

// NodeSender sends the node's transactions (through the node wallet, from
// the owner account). A returned error means the transaction was not
// accepted; the service then retries at a later head.
type NodeSender interface {
	CommitRoot(ctx context.Context, epoch uint64, root common.Hash) error
	Rebut(ctx context.Context, epoch uint64, verifier common.Address, openings []byte) error
}

// ProveFunc computes a workload's output. The default is pow.Prove on
// the configured workers; a GPU node passes its sandbox's, tests a
// cheater's.
type ProveFunc func(ctx context.Context, w pow.Workload) (*pow.Prover, error)

// NodeConfig configures a NodeService.
type NodeConfig struct {
	Owner  common.Address
	Chain  NodeChain
	Sender NodeSender
	Server *Server
	// Workers bounds the CPU reference's goroutines (with Prove unset).
	Workers int
	Prove   ProveFunc
	// Chunks is the chunks each verifier is due.
	Chunks      int
	RebutMargin uint64
	Metrics     *Metrics
	Log         *slog.Logger
}

// NodeService drives a compute node's challenges: OnHead at each head.
type NodeService struct {
	cfg NodeConfig
	log *slog.Logger

	mu       sync.Mutex
	epoch    uint64
	proving  bool
	cancel   context.CancelFunc
	sent     bool
	sentAt   uint64
	rebutted map[common.Address]bool
	wg       sync.WaitGroup
}

// NewNodeService checks cfg and builds the service.
func NewNodeService(cfg NodeConfig) (*NodeService, error) {
	if cfg.Chain == nil || cfg.Sender == nil || cfg.Server == nil || cfg.Owner == (common.Address{}) {
		return nil, errors.New("challenge: node service needs an owner, a chain, a sender and a server")
	}
	if cfg.Chunks < 1 || cfg.Chunks > pow.MaxOpenings {
		return nil, fmt.Errorf("challenge: %d chunks per verifier (1 to %d)", cfg.Chunks, pow.MaxOpenings)
	}
	if cfg.Prove == nil {
		if cfg.Workers < 1 {
			return nil, fmt.Errorf("challenge: %d workers", cfg.Workers)
		}
		workers := cfg.Workers
		cfg.Prove = func(ctx context.Context, w pow.Workload) (*pow.Prover, error) { return pow.Prove(ctx, w, workers) }
	}
	if cfg.RebutMargin == 0 {
		cfg.RebutMargin = DefaultRebutMargin
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &NodeService{cfg: cfg, log: cfg.Log.With("component", "challenge_node"), rebutted: map[common.Address]bool{}}, nil
}

// OnHead reads the state at head (in epoch) and acts: starts the
// computation (in the background, cancelled when the epoch changes or
// Close is called), commits the root, rebuts. It returns the first error
// of reading the chain or sending; it is retried at the next head.
func (s *NodeService) OnHead(ctx context.Context, head, epoch uint64) error {
	s.mu.Lock()
	if epoch != s.epoch {
		if s.cancel != nil {
			s.cancel()
		}
		s.epoch, s.proving, s.cancel, s.sent = epoch, false, nil, false
		s.rebutted = map[common.Address]bool{}
		if epoch > 0 {
			s.cfg.Server.DropBefore(epoch)
		}
	}
	proving, sent, sentAt := s.proving, s.sent, s.sentAt
	rebutted := make(map[common.Address]bool, len(s.rebutted))
	for k, v := range s.rebutted {
		rebutted[k] = v
	}
	s.mu.Unlock()

	seed, seeded := s.cfg.Chain.EpochSeed(epoch)
	l, err := s.cfg.Chain.Listing(epoch, s.cfg.Owner)
	if err != nil {
		return fmt.Errorf("challenge: listing: %w", err)
	}
	ch, err := s.cfg.Chain.Challenge(epoch, s.cfg.Owner)
	if err != nil {
		return fmt.Errorf("challenge: challenge of epoch %d: %w", epoch, err)
	}
	p, have := s.cfg.Server.Prover(epoch)
	st := NodeState{Head: head, Epoch: epoch, Seeded: seeded, Challenged: l.Challenged, Deadline: l.Deadline,
		Challenge: ch, Proving: proving, HaveProver: have, CommitSent: sent, CommitSentAt: sentAt, Rebutted: rebutted, RebutMargin: s.cfg.RebutMargin}
	step := DecideNode(&st)
	switch {
	case step.Compute:
		n := l.N
		if ch.Status == verify.StatusCommitted {
			n = ch.N // the committed class, whatever the listing says now
		}
		s.startProving(ctx, epoch, pow.Workload{Seed: pow.ChallengeSeed(seed, s.cfg.Owner), N: n})
	case step.Commit:
		root := common.Hash(p.Root())
		if err := s.cfg.Sender.CommitRoot(ctx, epoch, root); err != nil {
			s.cfg.Metrics.NodeActions.WithLabelValues("commit", "error").Inc()
			return fmt.Errorf("challenge: commitRoot: %w", err)
		}
		s.cfg.Metrics.NodeActions.WithLabelValues("commit", "ok").Inc()
		s.log.Info("root committed", "epoch", epoch, "root", root, "head", head)
		s.mark(epoch, func() { s.sent, s.sentAt = true, head })
	}
	if len(step.Rebut) == 0 {
		return nil
	}
	sample, ok := s.cfg.Chain.SampleSeed(ch.DeadlineBlock)
	if !ok {
		return nil
	}
	for _, v := range step.Rebut {
		b, err := OpeningsFor(p, &ch, sample, v, s.cfg.Chunks)
		if err == nil {
			err = s.cfg.Sender.Rebut(ctx, epoch, v, b)
		}
		if err != nil {
			s.cfg.Metrics.NodeActions.WithLabelValues("rebut", "error").Inc()
			return fmt.Errorf("challenge: rebut %s: %w", v, err)
		}
		s.cfg.Metrics.NodeActions.WithLabelValues("rebut", "ok").Inc()
		s.log.Info("rebut sent", "epoch", epoch, "verifier", v, "head", head)
		s.mark(epoch, func() { s.rebutted[v] = true })
	}
	return nil
}

// mark runs f under the lock if the service is still in epoch.
func (s *NodeService) mark(epoch uint64, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch {
		f()
	}
}

func (s *NodeService) startProving(ctx context.Context, epoch uint64, w pow.Workload) {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	if s.epoch != epoch || s.proving {
		s.mu.Unlock()
		cancel()
		return
	}
	s.proving, s.cancel = true, cancel
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Info("computing challenge", "epoch", epoch, "n", w.N)
	go func() {
		defer s.wg.Done()
		defer cancel()
		p, err := s.cfg.Prove(pctx, w)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.epoch != epoch {
			return
		}
		s.proving = false
		if err != nil {
			s.cfg.Metrics.NodeActions.WithLabelValues("compute", "error").Inc()
			s.log.Warn("challenge computation failed", "epoch", epoch, "err", err)
			return
		}
		s.cfg.Metrics.NodeActions.WithLabelValues("compute", "ok").Inc()
		s.cfg.Server.Keep(epoch, p)
	}()
}

// Wait blocks until no computation runs (tests).
func (s *NodeService) Wait() { s.wg.Wait() }

// Close cancels a running computation and waits for it.
func (s *NodeService) Close() {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
