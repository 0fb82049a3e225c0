package native

import (
	"fmt"
	"math"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

const (
	// GasPerInputWord is charged per 32-byte word of input (rounded up) on
	// top of a method's gas, for decoding it; the same rate as the identity
	// precompile's copy.
	GasPerInputWord = 3
	// RejectGas is charged for input that names no method or is too large.
	RejectGas = 100
	// MaxInputBytes bounds a module call's input; longer input reverts.
	MaxInputBytes = 64 << 10
)

// bound is one module bound to one message: the vm.PrecompiledContract that
// [Registry.Bind] installs.
type bound struct {
	e   *entry
	evm *vm.EVM
	msg *core.Message

	// direct is true while the next Run is the top-level frame (msg.To is
	// the module and it has not run yet).
	direct bool
	// startBalance is the module's balance when the message was bound; a
	// call from a contract that finds it changed carried value.
	startBalance *uint256.Int
}

var _ vm.PrecompiledContract = (*bound)(nil)

func newBound(e *entry, evm *vm.EVM, msg *core.Message) *bound {
	addr := e.mod.Address()
	b := &bound{e: e, evm: evm, msg: msg}
	if msg.To != nil && *msg.To == addr {
		b.direct = true
	} else {
		b.startBalance = new(uint256.Int).Set(evm.StateDB.GetBalance(addr))
	}
	return b
}

// Name implements vm.PrecompiledContract.
func (b *bound) Name() string { return "native:" + b.e.mod.Name() }

// RequiredGas implements vm.PrecompiledContract: the method's static gas,
// plus its input-dependent gas, plus its gas at the block's number, plus
// GasPerInputWord per input word. Input
// that names no method costs RejectGas plus the word gas.
func (b *bound) RequiredGas(input []byte) uint64 {
	words := (uint64(len(input)) + 31) / 32 // rounds up
	wordGas := words * GasPerInputWord      // len(input) < 2^40 in practice: no overflow
	m, ok := b.lookup(input)
	if !ok || len(input) > MaxInputBytes {
		return addSat(RejectGas, wordGas)
	}
	gas := addSat(m.Gas, wordGas)
	if m.InputGas != nil {
		if args, err := m.abi.Inputs.Unpack(input[4:]); err == nil {
			gas = addSat(gas, m.InputGas(args))
		}
	}
	if m.BlockGas != nil && b.evm.Context.BlockNumber != nil && b.evm.Context.BlockNumber.IsUint64() {
		gas = addSat(gas, m.BlockGas(b.evm.Context.BlockNumber.Uint64()))
	}
	return gas
}

// Run implements vm.PrecompiledContract. Every failure is a revert carrying
// an Error(string) reason, returned with vm.ErrExecutionReverted so the EVM
// rolls the frame back, keeps the remaining gas and surfaces the reason.
func (b *bound) Run(input []byte) ([]byte, error) {
	direct := b.direct
	b.direct = false // a module never calls out, so at most one run is top-level

	out, err := b.run(direct, input)
	if err != nil {
		return EncodeRevert(err.Error()), vm.ErrExecutionReverted
	}
	return out, nil
}

func (b *bound) run(direct bool, input []byte) ([]byte, error) {
	addr := b.e.mod.Address()
	if len(input) > MaxInputBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInputTooLarge, len(input), MaxInputBytes)
	}
	m, ok := b.lookup(input)
	if !ok {
		return nil, fmt.Errorf("%w: module %s, input %s", ErrUnknownMethod, b.e.mod.Name(), selectorHex(input))
	}
	chainID, err := chainIDOf(b.evm)
	if err != nil {
		return nil, err
	}
	c := &Call{
		State:       b.evm.StateDB,
		Module:      addr,
		Direct:      direct,
		Value:       new(uint256.Int),
		BlockNumber: b.evm.Context.BlockNumber.Uint64(),
		Time:        b.evm.Context.Time,
		ChainID:     chainID,
		abi:         &b.e.abi,
	}
	if direct {
		if b.msg.From == addr {
			return nil, fmt.Errorf("%w: module %s cannot call itself", ErrNotDirect, b.e.mod.Name())
		}
		c.Caller = b.msg.From
		if b.msg.Value != nil {
			c.Value.Set(b.msg.Value)
		}
		if !c.Value.IsZero() && !m.abi.IsPayable() {
			return nil, fmt.Errorf("%w: %s.%s", ErrNotPayable, b.e.mod.Name(), m.Name)
		}
	} else {
		if !b.evm.StateDB.GetBalance(addr).Eq(b.startBalance) {
			return nil, fmt.Errorf("%w: %s.%s", ErrValueFromContract, b.e.mod.Name(), m.Name)
		}
		if m.Mutates {
			return nil, fmt.Errorf("%w: %s.%s", ErrNotDirect, b.e.mod.Name(), m.Name)
		}
	}
	args, err := m.abi.Inputs.Unpack(input[4:])
	if err != nil {
		return nil, fmt.Errorf("%w: %s.%s: %w", ErrBadInput, b.e.mod.Name(), m.Name, err)
	}
	outs, err := m.Handler(c, args)
	if err != nil {
		return nil, err
	}
	if c.wrote && !m.Mutates {
		return nil, fmt.Errorf("%w: read-only method %s.%s wrote state", ErrInternal, b.e.mod.Name(), m.Name)
	}
	ret, err := m.abi.Outputs.Pack(outs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.%s outputs: %w", ErrInternal, b.e.mod.Name(), m.Name, err)
	}
	return ret, nil
}

// chainIDOf copies the EVM's chain id (zero when the config has none), so
// a handler cannot change the config through Call.ChainID.
func chainIDOf(evm *vm.EVM) (*uint256.Int, error) {
	cfg := evm.ChainConfig()
	if cfg == nil || cfg.ChainID == nil {
		return new(uint256.Int), nil
	}
	id, overflow := uint256.FromBig(cfg.ChainID)
	if overflow || cfg.ChainID.Sign() < 0 {
		return nil, fmt.Errorf("%w: chain id %s outside uint256", ErrInternal, cfg.ChainID)
	}
	return id, nil
}

// lookup finds the method named by input's selector.
func (b *bound) lookup(input []byte) (*method, bool) {
	if len(input) < 4 {
		return nil, false
	}
	m, ok := b.e.methods[[4]byte(input[:4])]
	return m, ok
}

// selectorHex formats the selector of input (or all of it, if shorter) for a
// revert reason.
func selectorHex(input []byte) string {
	if len(input) > 4 {
		input = input[:4]
	}
	return "0x" + common.Bytes2Hex(input)
}

// addSat adds with saturation at MaxUint64 (a cost that large is out of gas).
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
