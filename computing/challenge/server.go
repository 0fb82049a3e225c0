package challenge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"golang.org/x/time/rate"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/p2p"
)

// Chain is what the services read of the head state. Implementations must
// be safe for concurrent use.
type Chain interface {
	// Challenge is node's challenge of epoch as of the head.
	Challenge(epoch uint64, node common.Address) (verify.Challenge, error)
	// EpochSeed is epoch's seed, ok false before it is on chain.
	EpochSeed(epoch uint64) (common.Hash, bool)
	// SampleSeed is the stored hash of a commit deadline block, ok false
	// before the block after it began.
	SampleSeed(deadline uint64) (common.Hash, bool)
}

// Default per-peer rate limit: a verifier needs one answer a challenge,
// a few with retries.
const (
	DefaultRate     = 4
	DefaultBurst    = 16
	maxLimitedPeers = 4096
)

// ServerConfig configures a Server.
type ServerConfig struct {
	ChainID *uint256.Int
	// Owner is the node's owner account: challenges name the node by it.
	Owner common.Address
	Chain Chain
	// Chunks is the chunks each verifier is due (pow ChunksPerValidator).
	Chunks int
	// Now is the clock requests' expiries are checked against.
	Now func() time.Time
	// Rate and Burst bound requests per peer.
	Rate  rate.Limit
	Burst int
	// Penalizer, when set, is told of peers that send malformed requests.
	Penalizer p2p.Penalizer
	Metrics   *Metrics
	Log       *slog.Logger
}

// Server answers opening requests on a compute node, from the Provers it
// keeps per epoch: only for this node's challenges, only to a drawn
// verifier's fresh signature, only the chunks that verifier is due.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu      sync.Mutex
	provers map[uint64]*pow.Prover
	limits  map[p2p.PeerID]*rate.Limiter
}

// NewServer checks cfg and builds a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.ChainID == nil || cfg.Chain == nil || cfg.Now == nil {
		return nil, errors.New("challenge: server needs a chain id, a chain and a clock")
	}
	if cfg.Owner == (common.Address{}) {
		return nil, errors.New("challenge: server needs the node's owner account")
	}
	if cfg.Chunks < 1 || cfg.Chunks > pow.MaxOpenings {
		return nil, fmt.Errorf("challenge: %d chunks per verifier (1 to %d)", cfg.Chunks, pow.MaxOpenings)
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: cfg.Log.With("component", "challenge_server"),
		provers: make(map[uint64]*pow.Prover), limits: make(map[p2p.PeerID]*rate.Limiter)}, nil
}

// Keep holds p as the node's output for epoch.
func (s *Server) Keep(epoch uint64, p *pow.Prover) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.provers[epoch] = p
}

// Prover returns the output held for epoch.
func (s *Server) Prover(epoch uint64) (*pow.Prover, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.provers[epoch]
	return p, ok
}

// DropBefore releases the outputs of epochs before epoch (every window
// closes inside its epoch).
func (s *Server) DropBefore(epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e := range s.provers {
		if e < epoch {
			delete(s.provers, e)
		}
	}
}

// Register serves the protocol on srv.
func (s *Server) Register(srv p2p.Server, spec p2p.Spec) error {
	if err := srv.Handle(spec, s.Handle); err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	return nil
}

// Handle is the p2p.Handler: every refusal is an answer with its code.
func (s *Server) Handle(_ context.Context, from p2p.PeerID, data []byte) ([]byte, error) {
	resp := s.Answer(from, data)
	s.cfg.Metrics.Requests.WithLabelValues(resp.Code.String()).Inc()
	if resp.Code != CodeOK {
		s.log.Debug("refused", "peer", from.ShortString(), "code", resp.Code, "reason", resp.Message)
	}
	return resp.Encode(), nil
}

// Answer answers one encoded request from peer.
func (s *Server) Answer(from p2p.PeerID, data []byte) *Response {
	if !s.allow(from) {
		return &Response{Code: CodeRateLimited, Message: "too many requests from this peer"}
	}
	req, err := DecodeRequest(data)
	if err != nil {
		if s.cfg.Penalizer != nil {
			s.cfg.Penalizer.Penalize(from, p2p.PenaltyMalformed, err.Error())
		}
		return &Response{Code: CodeMalformed, Message: err.Error()}
	}
	if err := req.Fresh(s.cfg.Now()); err != nil {
		return &Response{Code: CodeExpired, Message: err.Error()}
	}
	signer, err := req.Signer(s.cfg.ChainID)
	if err != nil {
		return &Response{Code: CodeMalformed, Message: err.Error()}
	}
	if req.Node != s.cfg.Owner {
		return &Response{Code: CodeNotOurs, Message: fmt.Sprintf("this node is %s, not %s", s.cfg.Owner, req.Node)}
	}
	ch, err := s.cfg.Chain.Challenge(req.Epoch, s.cfg.Owner)
	if err != nil {
		return &Response{Code: CodeInternal, Message: err.Error()}
	}
	if ch.Status == verify.StatusNone || ch.Root == (common.Hash{}) {
		return &Response{Code: CodeNoChallenge, Message: fmt.Sprintf("no committed challenge in epoch %d", req.Epoch)}
	}
	if !IsVerifier(&ch, signer) {
		return &Response{Code: CodeNotVerifier, Message: fmt.Sprintf("%s is not a verifier of epoch %d", signer, req.Epoch)}
	}
	seed, ok := s.cfg.Chain.SampleSeed(ch.DeadlineBlock)
	if !ok {
		return &Response{Code: CodeNotReady, Message: fmt.Sprintf("sample seed of block %d not on chain yet", ch.DeadlineBlock)}
	}
	p, ok := s.Prover(req.Epoch)
	if !ok {
		return &Response{Code: CodeNoProver, Message: fmt.Sprintf("no output held for epoch %d", req.Epoch)}
	}
	b, err := OpeningsFor(p, &ch, seed, signer, s.cfg.Chunks)
	if err != nil {
		s.log.Warn("openings failed", "epoch", req.Epoch, "verifier", signer, "err", err)
		return &Response{Code: CodeInternal, Message: err.Error()}
	}
	return &Response{Code: CodeOK, Openings: b}
}

func (s *Server) allow(peer p2p.PeerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	lim, ok := s.limits[peer]
	if !ok {
		if len(s.limits) >= maxLimitedPeers {
			s.limits = make(map[p2p.PeerID]*rate.Limiter)
		}
		lim = rate.NewLimiter(s.cfg.Rate, s.cfg.Burst)
		s.limits[peer] = lim
	}
	return lim.AllowN(s.cfg.Now(), 1)
}
