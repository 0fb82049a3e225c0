package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
)

// ErrStateLost is returned by Open when the head block's state is missing
// and cannot be rebuilt from stored blocks.
var ErrStateLost = errors.New("state: head state lost and not recoverable")

// Crash recovery (path scheme).
//
// InsertBlock syncs pebble's WAL after every block, so blocks, receipts,
// certificates and the head pointer survive a SIGKILL. The path scheme's
// newest states, however, live in memory: up to DiffLayers() diff layers plus the
// disk layer's write buffer (--cache.buffer MB of trie nodes) are flushed to
// pebble only when the buffer fills, and on a clean Close. After an unclean shutdown the persisted state is therefore that of
// an older block. Every block after it is stored and certified, so Open
// re-executes them, in order, on the persisted state until the head's state
// is back; each re-executed block must reproduce its header's state root.
//
// The alternative, flushing the layers at every block (tdb.Commit), would
// write every modified trie node of every block to pebble and lose what the
// path scheme is for (write batching, fewer flushed versions of hot nodes).
// Replay costs nothing in normal operation and, after a crash, at most the
// blocks since the last buffer flush (measured in recover_test.go and the
// report of state/bench_test.go).

// recoverHead makes the state of head available, replaying blocks when the
// path scheme lost its in-memory layers. It returns how many blocks were
// re-executed.
func (c *Chain) recoverHead(ctx context.Context, head *types.Header) (int, error) {
	if _, err := ethstate.New(head.Root, c.sdb); err == nil {
		return 0, nil
	} else if c.scheme != SchemePath {
		return 0, fmt.Errorf("state: head state %s missing: %w", head.Root, err)
	}
	// Find the newest block whose state the trie database holds.
	base := head
	for {
		if base.Number.Sign() == 0 {
			return 0, fmt.Errorf("%w: no stored block at or below %d has its state (the genesis state is gone too)", ErrStateLost, head.Number)
		}
		num := base.Number.Uint64() - 1
		parent := rawdb.ReadHeader(c.db, base.ParentHash, num)
		if parent == nil {
			return 0, fmt.Errorf("%w: header %d %s missing", ErrStateLost, num, base.ParentHash)
		}
		base = parent
		if c.hasLiveState(base) {
			break
		}
	}
	start := time.Now()
	c.log.Warn("head state missing after an unclean shutdown: re-executing blocks",
		"persisted", base.Number, "head", head.Number, "blocks", head.Number.Uint64()-base.Number.Uint64())
	parent := base
	replayed := 0
	for n := base.Number.Uint64() + 1; n <= head.Number.Uint64(); n++ {
		block := c.canonicalBlock(n)
		if block == nil {
			return replayed, fmt.Errorf("%w: block %d missing", ErrStateLost, n)
		}
		if block.ParentHash() != parent.Hash() {
			return replayed, fmt.Errorf("%w: block %d does not extend %d", ErrStateLost, n, n-1)
		}
		if err := c.replayBlock(ctx, parent, block); err != nil {
			return replayed, err
		}
		replayed++
		c.metrics.Recovered.Inc()
		parent = block.Header()
	}
	c.log.Info("state recovered", "head", head.Number, "blocks", replayed, "elapsed", time.Since(start).Round(time.Millisecond))
	return replayed, nil
}

// RecoveredBlocks is how many blocks Open re-executed to rebuild state lost
// in an unclean shutdown (0 after a clean one).
func (c *Chain) RecoveredBlocks() int { return c.recovered }

// hasLiveState reports whether the layer tree holds h's state (not a
// historic read).
func (c *Chain) hasLiveState(h *types.Header) bool {
	_, err := c.triedb.NodeReader(h.Root)
	return err == nil
}

// canonicalBlock reads the stored canonical block number n, not limited by
// the head pointer (which Open has not set yet).
func (c *Chain) canonicalBlock(n uint64) *types.Block {
	hash := rawdb.ReadCanonicalHash(c.db, n)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadBlock(c.db, hash, n)
}

// replayBlock re-executes a stored, certified block on its parent's state and
// commits the resulting state (the block itself is already stored).
func (c *Chain) replayBlock(ctx context.Context, parent *types.Header, block *types.Block) error {
	statedb, err := ethstate.New(parent.Root, c.sdb)
	if err != nil {
		return fmt.Errorf("%w: state of block %d: %w", ErrStateLost, parent.Number, err)
	}
	res, err := c.execute(ctx, block.Header(), block.Hash(), block.Transactions(), statedb, nil)
	if err != nil {
		return fmt.Errorf("state: replay block %d: %w", block.NumberU64(), err)
	}
	if err := c.checkResult(block, res); err != nil {
		return fmt.Errorf("state: replay block %d: %w", block.NumberU64(), err)
	}
	root, err := statedb.Commit(c.config.Rules(block.Number(), true, block.Time()), block.NumberU64())
	if err != nil {
		return fmt.Errorf("state: replay block %d: commit: %w", block.NumberU64(), err)
	}
	if root != block.Root() {
		return fmt.Errorf("%w: replayed block %d root %s, header says %s", ErrInvalidBlock, block.NumberU64(), root, block.Root())
	}
	c.unflushed = c.unflushed || root != parent.Root
	return c.flattenLayers(block.NumberU64(), root)
}

// Close flushes the path scheme's in-memory layers into the store, so the
// next Open starts from the head's state without replaying, and releases
// the trie database. The caller closes the store afterwards. InsertBlock
// fails with ErrClosed afterwards.
//
// go-ethereum journals the layers instead (tdb.Journal) to keep them for
// reorgs; emcd's blocks are final once certified, so nothing needs the
// layers, and flushing leaves a smaller data dir than a journal of the
// layers' diffs (the state history keeps those blocks queryable).
func (c *Chain) Close() error {
	c.insertMu.Lock()
	defer c.insertMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	if c.scheme == SchemePath && c.unflushed {
		if ferr := c.triedb.Commit(c.Head().Root, false); ferr != nil {
			err = fmt.Errorf("state: flush state layers: %w", ferr)
		}
	}
	if cerr := c.triedb.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("state: close trie database: %w", cerr)
	}
	if serr := syncStore(c.db); serr != nil && err == nil {
		err = serr
	}
	return err
}
