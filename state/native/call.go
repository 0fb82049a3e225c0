package native

import (
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

// Call is what a handler sees of one module invocation. Handlers read and
// write only through it (or through State for reads), so the framework can
// enforce that read-only methods do not write.
type Call struct {
	// State is the message's state. Read anything; write only through the
	// methods of Call.
	State vm.StateDB
	// Module is the address of the called module.
	Module common.Address
	// Direct is true when the call is the top-level frame of an EOA
	// transaction (msg.To is the module), false when a contract called.
	Direct bool
	// Caller is msg.From in a direct call, the zero address otherwise (a
	// precompile cannot learn its caller; read-only methods must not need
	// it).
	Caller common.Address
	// Value is the EMC (wei) sent with a direct call, already credited to
	// the module's balance by the EVM before the handler runs. Zero (never
	// nil) in calls from contracts.
	Value *uint256.Int
	// BlockNumber and Time are the block context's number and timestamp.
	BlockNumber uint64
	Time        uint64
	// ChainID is the chain's EIP-155 id, from the EVM's chain config, for
	// handlers that verify signatures bound to this chain. Never nil; zero
	// in block hooks (hooks verify no signatures) and when the config has
	// none, so a handler that needs it must refuse zero.
	ChainID *uint256.Int

	abi   *abi.ABI
	wrote bool  // set by every write; read-only methods must leave it false
	outer *Call // the calling module's Call, for a Call made by Host
	hook  bool  // a block hook's Call: no logs
}

// InHook reports whether c is a block hook's Call (see [BlockHooks]).
func (c *Call) InHook() bool { return c.hook }

// Host returns a Call on the module at addr, whose parsed ABI is moduleABI,
// for that module's host API: Go functions a module exports so other modules
// can ask it to change its own state (credits' Spend, say) without reaching
// into its storage. The returned Call shares c's state, block context and
// caller; its writes count as writes of c too, so a read-only method that
// calls a mutating host API still fails the framework's check. Direct is
// false and Value is zero: a host call never carries the transaction's value.
func (c *Call) Host(addr common.Address, moduleABI *abi.ABI) *Call {
	return &Call{
		State:       c.State,
		Module:      addr,
		Caller:      c.Caller,
		Value:       new(uint256.Int),
		BlockNumber: c.BlockNumber,
		Time:        c.Time,
		ChainID:     cloneUint(c.ChainID),
		abi:         moduleABI,
		outer:       c,
		hook:        c.hook,
	}
}

// cloneUint copies v (nil stays nil).
func cloneUint(v *uint256.Int) *uint256.Int {
	if v == nil {
		return nil
	}
	return v.Clone()
}

// markWrote records a write on c and every Call it was made from.
func (c *Call) markWrote() {
	for x := c; x != nil; x = x.outer {
		x.wrote = true
	}
}

// Load reads the module's storage slot key.
func (c *Call) Load(key common.Hash) common.Hash {
	return c.State.GetState(c.Module, key)
}

// LoadUint reads the module's storage slot key as a uint256.
func (c *Call) LoadUint(key common.Hash) *uint256.Int {
	return LoadUint(c.State, c.Module, key)
}

// Store writes the module's storage slot key.
func (c *Call) Store(key, value common.Hash) {
	c.markWrote()
	c.State.SetState(c.Module, key, value)
}

// StoreUint writes v into the module's storage slot key.
func (c *Call) StoreUint(key common.Hash, v *uint256.Int) {
	c.Store(key, v.Bytes32())
}

// Pay moves amountWei from the module's balance to the account to. It fails,
// moving nothing, if the module holds less.
func (c *Call) Pay(to common.Address, amountWei *uint256.Int) error {
	c.markWrote()
	if c.State.GetBalance(c.Module).Lt(amountWei) {
		return fmt.Errorf("%w: module balance below payment of %s wei", ErrInternal, amountWei)
	}
	c.State.SubBalance(c.Module, amountWei, tracing.BalanceChangeTransfer)
	c.State.AddBalance(to, amountWei, tracing.BalanceChangeTransfer)
	return nil
}

// Emit appends the ABI event name to the message's logs, from the module's
// address. args are all the event's inputs in ABI order; indexed ones become
// topics after the event ID, the rest are packed into the data.
//
// In a block hook Emit logs nothing and returns nil: hooks make no receipts,
// so a host API shared by methods and hooks can emit unconditionally.
func (c *Call) Emit(name string, args ...any) error {
	c.markWrote()
	if c.hook {
		return nil
	}
	ev, ok := c.abi.Events[name]
	if !ok {
		return fmt.Errorf("%w: no event %q in ABI", ErrInternal, name)
	}
	if len(args) != len(ev.Inputs) {
		return fmt.Errorf("%w: event %s takes %d args, got %d", ErrInternal, name, len(ev.Inputs), len(args))
	}
	topics := []common.Hash{ev.ID}
	var data []any
	for i, in := range ev.Inputs {
		if !in.Indexed {
			data = append(data, args[i])
			continue
		}
		t, err := abi.MakeTopics([]any{args[i]})
		if err != nil {
			return fmt.Errorf("%w: event %s topic %s: %w", ErrInternal, name, in.Name, err)
		}
		topics = append(topics, t[0][0])
	}
	packed, err := ev.Inputs.NonIndexed().Pack(data...)
	if err != nil {
		return fmt.Errorf("%w: event %s data: %w", ErrInternal, name, err)
	}
	c.State.AddLog(&types.Log{
		Address:     c.Module,
		Topics:      topics,
		Data:        packed,
		BlockNumber: c.BlockNumber,
	})
	return nil
}
