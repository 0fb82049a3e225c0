package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/p2p"
)

// Peers finds a registered compute node's peer id by its owner account.
type Peers interface {
	NodePeer(owner common.Address) (p2p.PeerID, bool, error)
}

// PeersFunc adapts a function to Peers.
type PeersFunc func(owner common.Address) (p2p.PeerID, bool, error)

// NodePeer implements Peers.
func (f PeersFunc) NodePeer(owner common.Address) (p2p.PeerID, bool, error) { return f(owner) }

// Spec is the protocol's p2p.Spec on a chain: requests up to MaxRequest,
// responses up to MaxResponse, each chunk's exchange within timeout (0:
// DefaultChunkTimeout).
func Spec(names p2p.Names, timeout time.Duration) p2p.Spec {
	if timeout <= 0 {
		timeout = DefaultChunkTimeout
	}
	return p2p.Spec{ID: names.Prefix() + "/results/1", MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: timeout}
}

// DefaultChunkTimeout bounds one chunk's round trip (1 MiB, plus the
// record on the first): a node slower than this is treated as unreachable.
const DefaultChunkTimeout = 30 * time.Second

// DefaultMaxSmall is the cap of Small (emc_getResult): larger files go
// over HTTP.
const DefaultMaxSmall = 4 << 20

// RelayConfig configures a Relay.
type RelayConfig struct {
	ChainID   *uint256.Int
	Jobs      Jobs
	Peers     Peers
	Requester p2p.Requester
	Spec      p2p.Spec
	// Probers, when set, lets validators of the current epoch fetch
	// records with the probe form (a router's relay probes).
	Probers Probers
	// Now is the clock requests' expiries are checked against.
	Now func() time.Time
	// MaxSmall caps the files Small returns (default DefaultMaxSmall).
	MaxSmall int64
	// MaxDownloads bounds concurrent HTTP downloads (default 32); beyond
	// it the relay answers 503.
	MaxDownloads int
	Metrics      *Metrics
	Log          *slog.Logger
}

// Relay is a router's side: it checks a user's signed request against the
// chain, fetches the record or file from the node that ran the job, and
// passes on only bytes it verified (see Copy).
type Relay struct {
	cfg RelayConfig
	log *slog.Logger
	sem chan struct{}
}

// NewRelay checks cfg and builds a relay.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.ChainID == nil || cfg.Jobs == nil || cfg.Peers == nil || cfg.Requester == nil || cfg.Now == nil {
		return nil, errors.New("fetch: relay needs a chain id, jobs and peers lookups, a requester and a clock")
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxSmall <= 0 {
		cfg.MaxSmall = DefaultMaxSmall
	}
	if cfg.MaxDownloads <= 0 {
		cfg.MaxDownloads = 32
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Relay{cfg: cfg, log: cfg.Log.With("component", "results_relay"), sem: make(chan struct{}, cfg.MaxDownloads)}, nil
}

// File describes what Copy passes on: the record's hash for the record,
// the file's hash and size from the verified record for a file.
type File struct {
	Path   string
	Size   int64
	SHA256 common.Hash
}

// Copy fetches path of job id (RecordPath for the record) from the node
// that ran it and writes it to w. It first checks auth as the node will
// (fresh, the submitter's, a job with a result) and finds the node's peer
// id in the registry. The record is checked against the record hash on
// chain, a file against the hash and size the verified record names;
// start is called with them before the first byte is written.
//
// Nothing unverified is passed on as good: bytes are written a chunk
// behind the node, and the last chunk only once the whole file hashed to
// the record's hash; on a mismatch Copy returns ErrMismatch without
// writing it, so w never holds the complete file.
func (r *Relay) Copy(ctx context.Context, id uint64, path string, auth Auth, w io.Writer, start func(File) error) (err error) {
	defer func() { r.cfg.Metrics.Relayed.WithLabelValues(outcome(err)).Inc() }()
	j, err := AuthorizeWith(r.cfg.Jobs, r.cfg.Probers, r.cfg.ChainID, r.cfg.Now(), id, path, auth)
	if err != nil {
		return err
	}
	peer, ok, err := r.cfg.Peers.NodePeer(j.Node)
	if err != nil {
		return fmt.Errorf("fetch: registry: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: node %s of job %d is no longer registered", ErrUnreachable, j.Node, id)
	}
	pull := &puller{r: r, peer: peer, id: id, path: path, auth: auth}
	first, err := pull.chunk(ctx, 0)
	if err != nil {
		return err
	}
	if path == RecordPath {
		rec, err := fullRecord(ctx, pull, first)
		if err != nil {
			return err
		}
		if _, err := checkRecord(&j, rec); err != nil {
			return err
		}
		if err := start(File{Path: path, Size: int64(len(rec)), SHA256: j.ResultHash}); err != nil {
			return err
		}
		_, err = w.Write(rec)
		r.cfg.Metrics.RelayedBytes.Add(float64(len(rec)))
		return err
	}
	res, err := checkRecord(&j, first.Record)
	if err != nil {
		return err
	}
	out, ok := findOutput(res, path)
	if !ok {
		return fmt.Errorf("%w: job %d's record has no output %q", ErrNotFound, id, path)
	}
	want, err := parseHash(out.SHA256)
	if err != nil {
		return err
	}
	if first.Size != uint64(out.SizeBytes) || first.SHA256 != want {
		return fmt.Errorf("%w: node offers %d bytes with sha256 %x for %q, the record says %d bytes, %s",
			ErrMismatch, first.Size, first.SHA256, path, out.SizeBytes, out.SHA256)
	}
	if err := start(File{Path: path, Size: out.SizeBytes, SHA256: want}); err != nil {
		return err
	}
	h := sha256.New()
	held := first.Data
	got := uint64(len(held))
	for got < first.Size {
		next, err := pull.chunk(ctx, got)
		if err != nil {
			return err
		}
		if len(next.Data) == 0 || next.Size != first.Size || next.SHA256 != first.SHA256 || got+uint64(len(next.Data)) > first.Size {
			return fmt.Errorf("%w: node's chunk at %d of %q does not continue the file", ErrMismatch, got, path)
		}
		h.Write(held)
		if _, err := w.Write(held); err != nil {
			return err
		}
		r.cfg.Metrics.RelayedBytes.Add(float64(len(held)))
		held = next.Data
		got += uint64(len(held))
	}
	h.Write(held)
	if sum := common.BytesToHash(h.Sum(nil)); sum != want {
		r.log.Warn("node served a file that does not match its record", "job", id, "path", path, "peer", peer.ShortString())
		return fmt.Errorf("%w: %q from the node hashes to %x, the record says %s", ErrMismatch, path, sum, out.SHA256)
	}
	_, err = w.Write(held)
	r.cfg.Metrics.RelayedBytes.Add(float64(len(held)))
	return err
}

// SmallFile is Small's answer.
type SmallFile struct {
	File
	Data []byte
}

// Small fetches a file of at most MaxSmall bytes (or the record) into
// memory, verified as Copy verifies it.
func (r *Relay) Small(ctx context.Context, id uint64, path string, auth Auth) (*SmallFile, error) {
	// Small files are held in memory: they count against MaxDownloads too.
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	default:
		return nil, fmt.Errorf("%w: too many downloads in progress; retry later", ErrBusy)
	}
	var buf bytes.Buffer
	var f File
	err := r.Copy(ctx, id, path, auth, &buf, func(file File) error {
		if file.Size > r.cfg.MaxSmall {
			return fmt.Errorf("%w: %q has %d bytes, cap %d", ErrTooLarge, path, file.Size, r.cfg.MaxSmall)
		}
		f = file
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &SmallFile{File: f, Data: buf.Bytes()}, nil
}

// puller requests chunks of one file from one node.
type puller struct {
	r    *Relay
	peer p2p.PeerID
	id   uint64
	path string
	auth Auth
}

func (p *puller) chunk(ctx context.Context, offset uint64) (*Response, error) {
	req := Request{JobID: p.id, Path: p.path, Offset: offset, Auth: p.auth}
	data, err := req.Encode()
	if err != nil {
		return nil, err
	}
	raw, err := p.r.cfg.Requester.Request(ctx, p.peer, p.r.cfg.Spec, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, p.peer.ShortString(), err)
	}
	resp, err := DecodeResponse(raw)
	if err != nil {
		return nil, err
	}
	if len(resp.Data) == 0 && offset < resp.Size {
		return nil, fmt.Errorf("%w: node sent no bytes at %d of %d", ErrMismatch, offset, resp.Size)
	}
	return resp, nil
}

// fullRecord pulls the rest of the record after its first chunk.
func fullRecord(ctx context.Context, p *puller, first *Response) ([]byte, error) {
	if first.Size > job.MaxResultBytes {
		return nil, fmt.Errorf("%w: record of %d bytes, limit %d", ErrMismatch, first.Size, job.MaxResultBytes)
	}
	rec := append([]byte(nil), first.Data...)
	for uint64(len(rec)) < first.Size {
		next, err := p.chunk(ctx, uint64(len(rec)))
		if err != nil {
			return nil, err
		}
		if next.Size != first.Size || uint64(len(rec)+len(next.Data)) > first.Size {
			return nil, fmt.Errorf("%w: record chunks do not add up", ErrMismatch)
		}
		rec = append(rec, next.Data...)
	}
	return rec, nil
}

// checkRecord verifies record bytes against the job's record hash on chain
// and decodes them. The hash on chain is the record's RecordSHA256 (the
// sha256 of its canonical JSON without that field): DecodeResult recomputes
// it from the bytes, so matching it to the chain binds every field.
func checkRecord(j *jobs.Job, rec []byte) (*job.Result, error) {
	return CheckRecord(j.ResultHash, rec)
}

// CheckRecord decodes record bytes and checks them against the record hash
// on chain.
func CheckRecord(onChain common.Hash, rec []byte) (*job.Result, error) {
	if len(rec) == 0 {
		return nil, fmt.Errorf("%w: empty record", ErrMismatch)
	}
	res, err := job.DecodeResult(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: record: %w", ErrMismatch, err)
	}
	if res.RecordSHA256 != hex.EncodeToString(onChain[:]) {
		return nil, fmt.Errorf("%w: record hashes to %s, the chain says %x", ErrMismatch, res.RecordSHA256, onChain)
	}
	return res, nil
}

// outcome labels a Copy's result for Metrics.Relayed.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrMismatch):
		return "mismatch"
	case errors.Is(err, ErrUnreachable):
		return "unreachable"
	case errors.Is(err, ErrRefused), errors.Is(err, ErrExpired), errors.Is(err, ErrBadSignature), errors.Is(err, ErrMalformed):
		return "refused"
	}
	return "error"
}
