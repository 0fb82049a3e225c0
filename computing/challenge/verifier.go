package challenge

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/pow"
)

// VerifierChain is what the verifier's service reads of the head state.
type VerifierChain interface {
	Chain
	// Nodes lists the registered compute nodes' owner accounts, the
	// candidates for challenges of the current epoch.
	Nodes() ([]common.Address, error)
}

// Fetcher sends an encoded request to node (its peer found in the
// registry) and returns the encoded response.
type Fetcher interface {
	Fetch(ctx context.Context, node common.Address, req []byte) ([]byte, error)
}

// VerifierSender sends the verifier's transactions from its signer
// account.
type VerifierSender interface {
	Attest(ctx context.Context, epoch uint64, node common.Address, openings []byte) error
	AttestFail(ctx context.Context, epoch uint64, node common.Address) error
}

// VerifierConfig configures a VerifierService.
type VerifierConfig struct {
	ChainID *uint256.Int
	// Key is the validator's signer key: it signs requests, and its
	// address is the verifier drawn on chain.
	Key     *ecdsa.PrivateKey
	Chain   VerifierChain
	Fetcher Fetcher
	Sender  VerifierSender
	Chunks  int
	// Concurrency bounds the fetch-and-check jobs in flight; Timeout
	// bounds each fetch.
	Concurrency int
	Timeout     time.Duration
	MaxAttempts int
	FailMargin  uint64
	Now         func() time.Time
	Metrics     *Metrics
	Log         *slog.Logger
}

// errRetry marks a refusal that does not count as a failed attempt.
var errRetry = errors.New("challenge: node not ready")

type dutyKey struct {
	epoch uint64
	node  common.Address
}

type duty struct {
	attempts int
	inFlight bool
	sent     bool
}

// VerifierService drives a validator's verifier duties: OnHead at each
// head.
type VerifierService struct {
	cfg  VerifierConfig
	self common.Address
	log  *slog.Logger
	sem  chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	epoch  uint64
	duties map[dutyKey]*duty
}

// NewVerifierService checks cfg and builds the service.
func NewVerifierService(cfg VerifierConfig) (*VerifierService, error) {
	if cfg.ChainID == nil || cfg.Key == nil || cfg.Chain == nil || cfg.Fetcher == nil || cfg.Sender == nil || cfg.Now == nil {
		return nil, errors.New("challenge: verifier needs a chain id, a signer key, a chain, a fetcher, a sender and a clock")
	}
	if cfg.Chunks < 1 || cfg.Chunks > pow.MaxOpenings {
		return nil, fmt.Errorf("challenge: %d chunks per verifier (1 to %d)", cfg.Chunks, pow.MaxOpenings)
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.FailMargin == 0 {
		cfg.FailMargin = DefaultFailMargin
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &VerifierService{cfg: cfg, self: crypto.PubkeyToAddress(cfg.Key.PublicKey), log: cfg.Log.With("component", "challenge_verifier"),
		sem: make(chan struct{}, cfg.Concurrency), duties: map[dutyKey]*duty{}}, nil
}

// Self is the verifier's signer address.
func (s *VerifierService) Self() common.Address { return s.self }

// OnHead scans the epoch's challenges at head and acts on those where
// this signer holds a pending slot: fetch-and-check jobs start in the
// background (at most Concurrency at once), fails are sent at once.
// It reads every registered node's challenge: O(nodes) state reads a head.
func (s *VerifierService) OnHead(ctx context.Context, head, epoch uint64) error {
	s.mu.Lock()
	if epoch != s.epoch {
		s.epoch, s.duties = epoch, map[dutyKey]*duty{}
	}
	s.mu.Unlock()
	nodes, err := s.cfg.Chain.Nodes()
	if err != nil {
		return fmt.Errorf("challenge: nodes: %w", err)
	}
	var first error
	for _, node := range nodes {
		ch, err := s.cfg.Chain.Challenge(epoch, node)
		if err != nil {
			first = cmp(first, fmt.Errorf("challenge: challenge of %s: %w", node, err))
			continue
		}
		k := dutyKey{epoch, node}
		s.mu.Lock()
		d := s.duties[k]
		if d == nil {
			d = &duty{}
			s.duties[k] = d
		}
		busy := d.inFlight
		st := VerifierState{Head: head, Self: s.self, Challenge: ch, Attempts: d.attempts, Sent: d.sent,
			MaxAttempts: s.cfg.MaxAttempts, FailMargin: s.cfg.FailMargin}
		s.mu.Unlock()
		if busy {
			continue
		}
		switch DecideVerifier(&st) {
		case VerifierFetch:
			seed, ok1 := s.cfg.Chain.EpochSeed(epoch)
			sample, ok2 := s.cfg.Chain.SampleSeed(ch.DeadlineBlock)
			if !ok1 || !ok2 {
				continue
			}
			s.mu.Lock()
			d.inFlight = true
			s.mu.Unlock()
			s.wg.Add(1)
			go s.fetchAndAttest(ctx, k, d, seed, sample, st)
		case VerifierFail:
			if err := s.cfg.Sender.AttestFail(ctx, epoch, node); err != nil {
				s.cfg.Metrics.Attestations.WithLabelValues("attest_fail", "error").Inc()
				first = cmp(first, fmt.Errorf("challenge: attestFail %s: %w", node, err))
				continue
			}
			s.cfg.Metrics.Attestations.WithLabelValues("attest_fail", "sent").Inc()
			s.log.Warn("attested a fail", "epoch", epoch, "node", node, "attempts", st.Attempts, "head", head)
			s.mu.Lock()
			d.sent = true
			s.mu.Unlock()
		}
	}
	return first
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// fetchAndAttest asks the node, checks its answer and attests a pass; a
// failure counts an attempt (the fail itself is decided at a later head).
func (s *VerifierService) fetchAndAttest(ctx context.Context, k dutyKey, d *duty, seed, sample common.Hash, st VerifierState) {
	defer s.wg.Done()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		s.finish(d, false, false)
		return
	}
	defer func() { <-s.sem }()
	openings, err := s.fetch(ctx, k)
	if err != nil {
		s.cfg.Metrics.Checks.WithLabelValues("unreachable").Inc()
		s.log.Info("no openings", "epoch", k.epoch, "node", k.node, "err", err)
		// A node that has not seen the sample seed's block yet, or that
		// limits this peer, is asked again without counting an attempt
		// (the fail margin still bounds the wait).
		s.finish(d, !errors.Is(err, errRetry), false)
		return
	}
	if err := CheckOpenings(seed, k.node, &st.Challenge, sample, s.self, s.cfg.Chunks, openings); err != nil {
		s.cfg.Metrics.Checks.WithLabelValues("bad").Inc()
		s.log.Warn("bad openings", "epoch", k.epoch, "node", k.node, "err", err)
		s.finish(d, true, false)
		return
	}
	s.cfg.Metrics.Checks.WithLabelValues("pass").Inc()
	if err := s.cfg.Sender.Attest(ctx, k.epoch, k.node, openings); err != nil {
		s.cfg.Metrics.Attestations.WithLabelValues("attest", "error").Inc()
		s.log.Warn("attest failed", "epoch", k.epoch, "node", k.node, "err", err)
		s.finish(d, false, false)
		return
	}
	s.cfg.Metrics.Attestations.WithLabelValues("attest", "sent").Inc()
	s.log.Info("attested a pass", "epoch", k.epoch, "node", k.node)
	s.finish(d, false, true)
}

func (s *VerifierService) finish(d *duty, failed, sent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.inFlight = false
	if failed {
		d.attempts++
	}
	if sent {
		d.sent = true
	}
}

func (s *VerifierService) fetch(ctx context.Context, k dutyKey) ([]byte, error) {
	req, err := NewRequest(s.cfg.Key, s.cfg.ChainID, k.epoch, k.node, s.cfg.Now().Add(MaxValidity/2))
	if err != nil {
		return nil, err
	}
	b, err := req.Encode()
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	raw, err := s.cfg.Fetcher.Fetch(fctx, k.node, b)
	if err != nil {
		return nil, err
	}
	resp, err := DecodeResponse(raw, pow.MaxEncodedBytes)
	if err != nil {
		return nil, err
	}
	switch resp.Code {
	case CodeOK:
	case CodeNotReady, CodeRateLimited:
		return nil, fmt.Errorf("%w (%s): %s", errRetry, resp.Code, resp.Message)
	default:
		return nil, fmt.Errorf("challenge: node refused (%s): %s", resp.Code, resp.Message)
	}
	return resp.Openings, nil
}

// Wait blocks until no fetch-and-check job runs (tests, shutdown).
func (s *VerifierService) Wait() { s.wg.Wait() }
