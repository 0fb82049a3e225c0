package fetch

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"golang.org/x/time/rate"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/p2p"
)

// Jobs looks jobs up on chain (the head state). Implementations must be
// safe for concurrent use.
type Jobs interface {
	Job(id uint64) (jobs.Job, bool, error)
}

// JobsFunc adapts a function to Jobs.
type JobsFunc func(id uint64) (jobs.Job, bool, error)

// Job implements Jobs.
func (f JobsFunc) Job(id uint64) (jobs.Job, bool, error) { return f(id) }

// Store is what the server reads of the node's result store
// (*results.Store).
type Store interface {
	LoadResult(hash string) (*job.Result, error)
	OpenBlob(sum string) (io.ReadCloser, int64, error)
}

var _ Store = (*results.Store)(nil)

// HasResult reports whether j has a result on chain: a record hash and a
// state that follows submitResult.
func HasResult(j *jobs.Job) bool {
	if j.ResultHash == (common.Hash{}) {
		return false
	}
	return j.State.HasResult()
}

// Default rate limit of one peer at a server: each request moves at most
// MaxChunk, so 64 requests a second is 64 MiB/s per relaying router.
const (
	DefaultRate  = 64
	DefaultBurst = 128
	// maxLimitedPeers bounds the per-peer limiter table; it restarts when
	// full (a flood of new peer ids only resets buckets, it grows nothing).
	maxLimitedPeers = 4096
)

// ServerConfig configures a Server.
type ServerConfig struct {
	ChainID *uint256.Int
	// Owner is the node's owner account: jobs name the node by it.
	Owner common.Address
	Store Store
	Jobs  Jobs
	// Probers, when set, lets validators of the current epoch fetch
	// records with the probe form (the relay passes a prober's request on).
	Probers Probers
	// Now is the clock requests' expiries are checked against.
	Now func() time.Time
	// Rate and Burst bound requests per peer (defaults DefaultRate and
	// DefaultBurst).
	Rate  rate.Limit
	Burst int
	// Penalizer, when set, is told of peers that send malformed requests.
	Penalizer p2p.Penalizer
	Metrics   *Metrics
	Log       *slog.Logger
}

// Server answers results requests on a compute node: only for jobs this
// node ran, only to the job's submitter's signature, only fresh requests.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu     sync.Mutex
	limits map[p2p.PeerID]*rate.Limiter
}

// NewServer checks cfg and builds a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.ChainID == nil || cfg.Store == nil || cfg.Jobs == nil || cfg.Now == nil {
		return nil, errors.New("fetch: server needs a chain id, a store, a jobs lookup and a clock")
	}
	if cfg.Owner == (common.Address{}) {
		return nil, errors.New("fetch: server needs the node's owner account")
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
	return &Server{cfg: cfg, log: cfg.Log.With("component", "results_server"), limits: make(map[p2p.PeerID]*rate.Limiter)}, nil
}

// Register serves the protocol on srv.
func (s *Server) Register(srv p2p.Server, spec p2p.Spec) error {
	if err := srv.Handle(spec, s.Handle); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// Handle is the p2p.Handler: every refusal is an answer with its code, so
// the relay can tell the user why.
func (s *Server) Handle(_ context.Context, from p2p.PeerID, data []byte) ([]byte, error) {
	resp := s.answer(from, data)
	s.cfg.Metrics.served(resp.Code, len(resp.Data))
	if resp.Code != CodeOK {
		s.log.Debug("refused", "peer", from.ShortString(), "code", resp.Code, "reason", resp.Message)
	}
	return resp.Encode()
}

func (s *Server) answer(from p2p.PeerID, data []byte) *Response {
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
	j, err := AuthorizeWith(s.cfg.Jobs, s.cfg.Probers, s.cfg.ChainID, s.cfg.Now(), req.JobID, req.Path, req.Auth)
	if err != nil {
		return &Response{Code: codeOf(err), Message: err.Error()}
	}
	if j.Node != s.cfg.Owner {
		return &Response{Code: CodeNotOurs, Message: fmt.Sprintf("job %d ran on %s, not on this node", req.JobID, j.Node)}
	}
	resp, err := s.read(&j, req)
	if err != nil {
		s.log.Warn("result read failed", "job", req.JobID, "path", req.Path, "err", err)
		return &Response{Code: codeOf(err), Message: err.Error()}
	}
	return resp
}

// Probers says who may probe a router's relay (Auth.Probe): the validator
// signers of the chain's current epoch (verify.Module.DrawProbers draws
// among them; any of them may fetch a record, which is public by hash on
// chain already).
type Probers interface {
	// CurrentEpoch is the staking epoch of the head block.
	CurrentEpoch() (uint64, error)
	// IsValidator reports whether signer is in epoch's validator set.
	IsValidator(epoch uint64, signer common.Address) (bool, error)
}

// Authorize checks a request as both the node and the relay do: fresh at
// now, for a job that exists, signed by its submitter, with a result on
// chain. It returns the job. A probe is refused (CodeNotProber): see
// AuthorizeWith.
func Authorize(js Jobs, chainID *uint256.Int, now time.Time, id uint64, path string, auth Auth) (jobs.Job, error) {
	return AuthorizeWith(js, nil, chainID, now, id, path, auth)
}

// AuthorizeWith is Authorize that also accepts the probe form for the
// record: fresh as any request, its epoch the current one and its signer
// a validator of it (probers; nil accepts no probe).
func AuthorizeWith(js Jobs, probers Probers, chainID *uint256.Int, now time.Time, id uint64, path string, auth Auth) (jobs.Job, error) {
	if err := CheckPath(path); err != nil {
		return jobs.Job{}, err
	}
	if err := auth.Fresh(now); err != nil {
		return jobs.Job{}, err
	}
	signer, err := auth.Signer(chainID, id, path)
	if err != nil {
		return jobs.Job{}, err
	}
	if auth.Probe {
		if err := checkProber(probers, auth.Epoch, signer); err != nil {
			return jobs.Job{}, err
		}
	}
	j, ok, err := js.Job(id)
	if err != nil {
		return jobs.Job{}, refuse(CodeInternal, fmt.Errorf("job %d: %w", id, err))
	}
	if !ok {
		return jobs.Job{}, refuse(CodeUnknownJob, fmt.Errorf("no job %d", id))
	}
	if !auth.Probe && signer != j.Submitter {
		return jobs.Job{}, refuse(CodeNotSubmitter, fmt.Errorf("signed by %s, job %d was submitted by %s", signer, id, j.Submitter))
	}
	if !HasResult(&j) {
		return jobs.Job{}, refuse(CodeNotFinished, fmt.Errorf("job %d is %s, with no result on chain", id, j.State))
	}
	return j, nil
}

// read answers an authorised request from the store.
func (s *Server) read(j *jobs.Job, req *Request) (*Response, error) {
	rec, err := s.cfg.Store.LoadResult(hex.EncodeToString(j.ResultHash[:]))
	if errors.Is(err, results.ErrNotFound) {
		return nil, refuse(CodeNotFound, fmt.Errorf("record %x of job %d is not in this node's store", j.ResultHash, j.ID))
	}
	if err != nil {
		return nil, refuse(CodeInternal, err)
	}
	recBytes, err := rec.Encode()
	if err != nil {
		return nil, refuse(CodeInternal, err)
	}
	if req.Path == RecordPath {
		size := uint64(len(recBytes))
		if req.Offset > size {
			return nil, refuse(CodeBadOffset, fmt.Errorf("offset %d past the record's %d bytes", req.Offset, size))
		}
		end := min(size, req.Offset+MaxChunk)
		return &Response{Size: size, SHA256: j.ResultHash, Data: recBytes[req.Offset:end]}, nil
	}
	out, ok := findOutput(rec, req.Path)
	if !ok {
		return nil, refuse(CodeNotFound, fmt.Errorf("job %d has no output %q", j.ID, req.Path))
	}
	sum, err := parseHash(out.SHA256)
	if err != nil {
		return nil, refuse(CodeInternal, err)
	}
	rc, size, err := s.cfg.Store.OpenBlob(out.SHA256)
	if errors.Is(err, results.ErrNotFound) {
		return nil, refuse(CodeNotFound, fmt.Errorf("output %q of job %d is not in this node's store", req.Path, j.ID))
	}
	if err != nil {
		return nil, refuse(CodeInternal, err)
	}
	defer rc.Close()
	if size != out.SizeBytes {
		return nil, refuse(CodeInternal, fmt.Errorf("stored blob %s has %d bytes, the record says %d", out.SHA256, size, out.SizeBytes))
	}
	if req.Offset > uint64(size) {
		return nil, refuse(CodeBadOffset, fmt.Errorf("offset %d past the file's %d bytes", req.Offset, size))
	}
	if err := skip(rc, int64(req.Offset)); err != nil {
		return nil, refuse(CodeInternal, err)
	}
	n := min(uint64(size)-req.Offset, MaxChunk)
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, refuse(CodeInternal, fmt.Errorf("read blob %s: %w", out.SHA256, err))
	}
	resp := &Response{Size: uint64(size), SHA256: sum, Data: buf}
	if req.Offset == 0 {
		resp.Record = recBytes
	}
	return resp, nil
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

func findOutput(r *job.Result, path string) (job.Output, bool) {
	for _, o := range r.Outputs {
		if o.Path == path {
			return o, true
		}
	}
	return job.Output{}, false
}

func parseHash(s string) (common.Hash, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("fetch: malformed sha256 %q", s)
	}
	return common.BytesToHash(b), nil
}

// skip moves r on by n bytes, seeking when it can.
func skip(r io.Reader, n int64) error {
	if n == 0 {
		return nil
	}
	if sk, ok := r.(io.Seeker); ok {
		_, err := sk.Seek(n, io.SeekStart)
		return err
	}
	_, err := io.CopyN(io.Discard, r, n)
	return err
}

// checkProber accepts a probe of epoch signed by signer: epoch is the
// current one and signer one of its validators.
func checkProber(probers Probers, epoch uint64, signer common.Address) error {
	if probers == nil {
		return refuse(CodeNotProber, errors.New("probes are not accepted here"))
	}
	cur, err := probers.CurrentEpoch()
	if err != nil {
		return refuse(CodeInternal, fmt.Errorf("current epoch: %w", err))
	}
	if epoch != cur {
		return refuse(CodeNotProber, fmt.Errorf("probe of epoch %d, the current epoch is %d", epoch, cur))
	}
	ok, err := probers.IsValidator(epoch, signer)
	if err != nil {
		return refuse(CodeInternal, fmt.Errorf("validators of epoch %d: %w", epoch, err))
	}
	if !ok {
		return refuse(CodeNotProber, fmt.Errorf("probe signed by %s, not a validator of epoch %d", signer, epoch))
	}
	return nil
}
