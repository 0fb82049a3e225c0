package jsonrpc

import (
	"errors"
	"fmt"

	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// Block tag resolution. Under BFT finality every committed block is final,
// so safe and finalized resolve to the head; this node builds no pending
// block of its own, so pending also resolves to the head (except for nonces,
// where eth_getTransactionCount asks the pool).

// latestOr returns bnh, or "latest" when it is nil (geth's default when the
// block parameter is omitted).
func latestOr(bnh *rpc.BlockNumberOrHash) rpc.BlockNumberOrHash {
	if bnh == nil {
		return rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber)
	}
	return *bnh
}

// resolveNumber maps a block number or tag to a concrete height, clamped to
// nothing: heights above the head are returned as-is (the caller's lookup
// then finds nothing). ok is false for an invalid negative number.
func resolveNumber(b Backend, n rpc.BlockNumber) (uint64, bool) {
	switch n {
	case rpc.LatestBlockNumber, rpc.PendingBlockNumber, rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		return b.CurrentHeader().Number.Uint64(), true
	case rpc.EarliestBlockNumber:
		return 0, true
	}
	if n < 0 {
		return 0, false
	}
	return uint64(n), true
}

// headerByNumber returns the canonical header for a number or tag, or nil.
func headerByNumber(b Backend, n rpc.BlockNumber) *types.Header {
	switch n {
	case rpc.LatestBlockNumber, rpc.PendingBlockNumber, rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		return b.CurrentHeader()
	}
	num, ok := resolveNumber(b, n)
	if !ok {
		return nil
	}
	return b.HeaderByNumber(num)
}

// blockByNumber returns the canonical block for a number or tag, or nil.
func blockByNumber(b Backend, n rpc.BlockNumber) *types.Block {
	num, ok := resolveNumber(b, n)
	if !ok {
		return nil
	}
	return b.BlockByNumber(num)
}

// headerByNumberOrHash resolves an EIP-1898 block reference. Unknown blocks
// give geth's "header not found" errors, which state queries return.
func headerByNumberOrHash(b Backend, bnh rpc.BlockNumberOrHash) (*types.Header, error) {
	if n, ok := bnh.Number(); ok {
		h := headerByNumber(b, n)
		if h == nil {
			return nil, ErrHeaderNotFound
		}
		return h, nil
	}
	if hash, ok := bnh.Hash(); ok {
		h := b.HeaderByHash(hash)
		if h == nil {
			return nil, ErrHashNotFound
		}
		if bnh.RequireCanonical {
			if c := b.HeaderByNumber(h.Number.Uint64()); c == nil || c.Hash() != hash {
				return nil, ErrNotCanonical
			}
		}
		return h, nil
	}
	return nil, errors.New("invalid arguments; neither block nor hash specified")
}

// blockByNumberOrHash is headerByNumberOrHash for whole blocks; unknown
// blocks give (nil, nil) so methods that return null in geth can.
func blockByNumberOrHash(b Backend, bnh rpc.BlockNumberOrHash) (*types.Block, error) {
	if n, ok := bnh.Number(); ok {
		return blockByNumber(b, n), nil
	}
	if hash, ok := bnh.Hash(); ok {
		blk := b.BlockByHash(hash)
		if blk == nil {
			return nil, nil
		}
		if bnh.RequireCanonical {
			if c := b.HeaderByNumber(blk.NumberU64()); c == nil || c.Hash() != hash {
				return nil, ErrNotCanonical
			}
		}
		return blk, nil
	}
	return nil, errors.New("invalid arguments; neither block nor hash specified")
}

// stateAndHeader opens the state after the referenced block.
func stateAndHeader(b Backend, bnh rpc.BlockNumberOrHash) (*ethstate.StateDB, *types.Header, error) {
	h, err := headerByNumberOrHash(b, bnh)
	if err != nil {
		return nil, nil, err
	}
	st, err := b.StateAt(h)
	if err != nil {
		return nil, nil, fmt.Errorf("state at block %d: %w", h.Number.Uint64(), err)
	}
	return st, h, nil
}
