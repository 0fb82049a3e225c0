// Package devseal is the block producer of `emcd --dev`: a single fixed
// signer that seals a block as soon as transactions are pending (and every
// period, if one is set, or every busy period while the caller says work
// waits on blocks). Its blocks have the same format as IBFT blocks: the
// signer is the only validator, and its commit seal alone is a quorum.
package devseal

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/state"
)

// Chain is what the sealer needs of the chain.
type Chain interface {
	Head() *types.Header
	Certificate(number uint64, hash common.Hash) (*cert.Certificate, error)
	BuildBlock(ctx context.Context, txs state.TxSource, p state.BuildParams) (*types.Block, error)
	InsertBlock(ctx context.Context, block *types.Block, commit *cert.Certificate) error
}

// Pool is what the sealer needs of the transaction pool.
type Pool interface {
	// Source returns the pending transactions in block-building order.
	Source() state.TxSource
	// Pending reports how many transactions are executable now.
	PendingCount() int
	// Reset moves the pool onto a newly committed head.
	Reset(head *types.Header) error
	// Notify returns a channel that receives a value when new transactions
	// become pending, and a function to stop notifications.
	Notify() (<-chan struct{}, func())
}

// Config configures a Sealer.
type Config struct {
	Key *ecdsa.PrivateKey
	// Period, when non-zero, seals a (possibly empty) block at least this often.
	Period time.Duration
	// Busy, when set, is asked every BusyPeriod while Period is zero: true
	// seals a (possibly empty) block, for work that waits on block counts
	// (the dev chain's jobs: draws, deadlines, settlement) on a chain that
	// otherwise seals only transactions.
	Busy       func() bool
	BusyPeriod time.Duration
	// MaxTxsPerBlock bounds a block's transaction count (0: gas limit only).
	MaxTxsPerBlock int
	Now            func() time.Time
}

// Sealer produces dev blocks.
type Sealer struct {
	cfg   Config
	chain Chain
	pool  Pool
	addr  common.Address
	log   *slog.Logger
}

// New returns a sealer; Run starts it.
func New(cfg Config, chain Chain, pool Pool, log *slog.Logger) *Sealer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sealer{cfg: cfg, chain: chain, pool: pool, addr: crypto.PubkeyToAddress(cfg.Key.PublicKey), log: log.With("component", "devseal")}
}

// Address is the signer's address (the block coinbase).
func (s *Sealer) Address() common.Address { return s.addr }

// Run seals blocks until ctx is done.
func (s *Sealer) Run(ctx context.Context) error {
	notify, stop := s.pool.Notify()
	defer stop()
	var tick <-chan time.Time
	busy := func() bool { return true }
	switch {
	case s.cfg.Period > 0:
		t := time.NewTicker(s.cfg.Period)
		defer t.Stop()
		tick = t.C
	case s.cfg.Busy != nil && s.cfg.BusyPeriod > 0:
		t := time.NewTicker(s.cfg.BusyPeriod)
		defer t.Stop()
		tick, busy = t.C, s.cfg.Busy
	}
	// Seal whatever is already pending (e.g. after a restart).
	if err := s.drain(ctx, false); err != nil {
		return err
	}
	for {
		forced := false
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
		case <-tick:
			forced = busy()
		}
		if err := s.drain(ctx, forced); err != nil {
			return err
		}
	}
}

// drain seals blocks while executable transactions remain (at least one
// block when forced).
func (s *Sealer) drain(ctx context.Context, forced bool) error {
	for ctx.Err() == nil {
		if !forced && s.pool.PendingCount() == 0 {
			return nil
		}
		b, err := s.SealOne(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if b.Transactions().Len() == 0 {
			return nil // nothing includable right now (e.g. fee caps under the base fee)
		}
		forced = false
	}
	return nil
}

// SealOne builds, seals and commits one block on the current head.
func (s *Sealer) SealOne(ctx context.Context) (*types.Block, error) {
	head := s.chain.Head()
	var parentCert *cert.Certificate
	if head.Number.Sign() > 0 {
		c, err := s.chain.Certificate(head.Number.Uint64(), head.Hash())
		if err != nil || c == nil {
			return nil, fmt.Errorf("devseal: certificate of head %d: %v", head.Number, err)
		}
		parentCert = c
	}
	start := time.Now()
	block, err := s.chain.BuildBlock(ctx, s.pool.Source(), state.BuildParams{
		Coinbase: s.addr, Time: s.cfg.Now(), ParentCommit: parentCert, MaxTxs: s.cfg.MaxTxsPerBlock,
	})
	if err != nil {
		return nil, fmt.Errorf("devseal: build: %w", err)
	}
	seal, err := cert.SignCommit(block.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, s.cfg.Key) })
	if err != nil {
		return nil, err
	}
	if err := s.chain.InsertBlock(ctx, block, &cert.Certificate{Seals: [][]byte{seal}}); err != nil {
		return nil, fmt.Errorf("devseal: insert block %d: %w", block.NumberU64(), err)
	}
	if err := s.pool.Reset(block.Header()); err != nil {
		return nil, fmt.Errorf("devseal: reset pool: %w", err)
	}
	s.log.Info("sealed block", "number", block.NumberU64(), "hash", block.Hash(), "txs", block.Transactions().Len(),
		"gas_used", block.GasUsed(), "elapsed", time.Since(start).Round(time.Microsecond))
	return block, nil
}
