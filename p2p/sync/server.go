package sync

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/p2p"
)

// ChainReader is what the server reads (state.Chain satisfies it).
type ChainReader interface {
	Head() *types.Header
	BlockByNumber(number uint64) *types.Block
	Certificate(number uint64, hash common.Hash) (*cert.Certificate, error)
}

// Server answers sync requests from a ChainReader.
type Server struct {
	chain    ChainReader
	log      *slog.Logger
	maxBytes int
}

// NewServer returns a server over chain.
func NewServer(chain ChainReader, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{chain: chain, log: log.With("component", "sync_server"), maxBytes: MaxResponseBytes}
}

// Register installs the server's handler for spec on srv.
func (s *Server) Register(srv p2p.Server, spec p2p.Spec) error {
	return srv.Handle(spec, s.Handle)
}

// Handle is the p2p.Handler of the sync protocol.
func (s *Server) Handle(ctx context.Context, from p2p.PeerID, data []byte) ([]byte, error) {
	req, err := DecodeRequest(data)
	if err != nil {
		return nil, err
	}
	if req.Kind == KindGetStatus {
		h := s.chain.Head()
		return Status{Number: h.Number.Uint64(), Hash: h.Hash()}.Encode(), nil
	}
	var (
		entries []rlp.RawValue
		size    int
	)
	head := s.chain.Head().Number.Uint64()
	for n := req.From; n < req.From+req.Count && n <= head && n > 0; n++ {
		if ctx.Err() != nil {
			break
		}
		b := s.chain.BlockByNumber(n)
		if b == nil {
			break
		}
		c, err := s.certificate(b)
		if err != nil {
			s.log.Warn("cannot serve block", "number", n, "err", err)
			break
		}
		enc, err := EncodeEntry(Entry{Block: b, Cert: c})
		if err != nil {
			return nil, fmt.Errorf("sync: encode block %d: %w", n, err)
		}
		// 8 bytes of slack for the list header.
		if size+len(enc)+8 > s.maxBytes {
			break
		}
		size += len(enc)
		entries = append(entries, enc)
	}
	return EncodeBlocks(entries)
}

// certificate returns b's certificate: stored beside it, or else carried in
// the next block's extra-data.
func (s *Server) certificate(b *types.Block) (*cert.Certificate, error) {
	c, err := s.chain.Certificate(b.NumberU64(), b.Hash())
	if err == nil && c != nil {
		return c, nil
	}
	next := s.chain.BlockByNumber(b.NumberU64() + 1)
	if next == nil || next.ParentHash() != b.Hash() {
		return nil, fmt.Errorf("%w %d (%v)", errNoCert, b.NumberU64(), err)
	}
	extra, xerr := cert.DecodeExtra(next.Extra())
	if xerr != nil {
		return nil, xerr
	}
	return &extra.ParentCommit, nil
}
