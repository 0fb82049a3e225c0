package native

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

// BlockEnv is what a block hook knows of its block. The chain fills it the
// same way when it builds, validates, traces and replays a block, so hooks
// see identical input everywhere.
type BlockEnv struct {
	Number   uint64
	Time     uint64
	Coinbase common.Address
	// ParentHash is the hash of the parent block: a seed no transaction of
	// this block can influence (the jobs module draws routers from it).
	ParentHash common.Hash
	// BaseFee is the block's EIP-1559 base fee in wei.
	BaseFee *big.Int
	// GasUsed is the gas the block's transactions used: known to EndBlock
	// only (zero in BeginBlock).
	GasUsed uint64
	// EpochLength is the genesis epoch length in blocks.
	EpochLength uint64
	// ParentSigners are the validators whose commit seals for the parent
	// block this block's header carries (its parent certificate), in the
	// certificate's order; empty for block 1, whose parent is genesis.
	// The chain has verified the certificate against ParentValidators.
	ParentSigners []common.Address
	// ParentValidators is the set that certified the parent block (empty
	// for block 1).
	ParentValidators []common.Address
	// Validators is the set that certifies this block (the set of its
	// epoch, carried by the epoch's boundary header).
	Validators []common.Address
	// NextValidators is, in an epoch-boundary block only, the set this
	// block's header carries for the blocks after it (nil elsewhere).
	NextValidators []common.Address
}

// BlockHooks is implemented by modules that act on every block, not only
// when called: settle an epoch, count a burn, record who sealed. BeginBlock
// runs before the block's first transaction, EndBlock after its last, on
// the same state the transactions use. Hooks change state only: they emit
// no logs and make no receipts, so what they did must be readable through
// the module's views (and the emc_ RPC methods built on them). They must be
// deterministic and cheap (no gas is charged); an error makes the block
// invalid, so return one only for a broken invariant, never for anything a
// user can cause.
type BlockHooks interface {
	BeginBlock(c *Call, env *BlockEnv) error
	EndBlock(c *Call, env *BlockEnv) error
}

// ValidatorSource is implemented by the module that decides the validator
// set. NextValidators reads the state of the parent of epoch-boundary block
// number and returns the set for the epoch that block starts, or nil to keep
// the current set.
type ValidatorSource interface {
	NextValidators(s StateReader, number uint64) ([]common.Address, error)
}

// ErrHook wraps a failed block hook: the block is invalid.
var ErrHook = errors.New("native: block hook failed")

// hookCall returns the Call a hook of e runs with: not direct, no caller,
// no value, emitting nothing.
func hookCall(e *entry, s vm.StateDB, env *BlockEnv) *Call {
	return &Call{
		State:       s,
		Module:      e.mod.Address(),
		Value:       new(uint256.Int),
		ChainID:     new(uint256.Int),
		BlockNumber: env.Number,
		Time:        env.Time,
		abi:         &e.abi,
		hook:        true,
	}
}

// BeginBlock runs every module's BeginBlock hook on s, in address order.
func (r *Registry) BeginBlock(s vm.StateDB, env *BlockEnv) error {
	return r.runHooks(s, env, func(h BlockHooks, c *Call) error { return h.BeginBlock(c, env) })
}

// PreviewBeginBlock runs the BeginBlock hook of the module at addr alone on
// s: what that module will do at the start of block env.Number, for a
// reader that wants to act in that block (a router predicting the jobs
// module's draws). s must be a throwaway copy; nothing is committed. It
// is not the chain's block processing: the other modules' hooks do not run,
// so the result is a prediction, and the caller must treat it as one.
func (r *Registry) PreviewBeginBlock(addr common.Address, s vm.StateDB, env *BlockEnv) error {
	if r == nil {
		return fmt.Errorf("%w: no modules", ErrHook)
	}
	e, ok := r.byAddr[addr]
	if !ok {
		return fmt.Errorf("%w: no module at %s", ErrHook, addr)
	}
	h, ok := e.mod.(BlockHooks)
	if !ok {
		return nil
	}
	if err := h.BeginBlock(hookCall(e, s, env), env); err != nil {
		return fmt.Errorf("%w: %s at block %d (preview): %w", ErrHook, e.mod.Name(), env.Number, err)
	}
	return nil
}

// EndBlock counts the block's base fee burn in the supply ledger, then runs
// every module's EndBlock hook on s, in address order.
func (r *Registry) EndBlock(s vm.StateDB, env *BlockEnv) error {
	if r == nil {
		return nil
	}
	if err := recordBaseFeeBurn(s, env); err != nil {
		return fmt.Errorf("%w: base fee at block %d: %w", ErrHook, env.Number, err)
	}
	return r.runHooks(s, env, func(h BlockHooks, c *Call) error { return h.EndBlock(c, env) })
}

func (r *Registry) runHooks(s vm.StateDB, env *BlockEnv, run func(BlockHooks, *Call) error) error {
	if r == nil {
		return nil
	}
	for _, e := range r.mods {
		h, ok := e.mod.(BlockHooks)
		if !ok {
			continue
		}
		if err := run(h, hookCall(e, s, env)); err != nil {
			return fmt.Errorf("%w: %s at block %d: %w", ErrHook, e.mod.Name(), env.Number, err)
		}
	}
	return nil
}

// NextValidators asks the registry's ValidatorSource module (the first in
// address order that is one) for the set of the epoch that boundary block
// number starts, from the state of its parent; nil, nil when no module
// decides the set or it keeps the current one.
func (r *Registry) NextValidators(s StateReader, number uint64) ([]common.Address, error) {
	if r == nil {
		return nil, nil
	}
	for _, e := range r.mods {
		if src, ok := e.mod.(ValidatorSource); ok {
			return src.NextValidators(s, number)
		}
	}
	return nil, nil
}
