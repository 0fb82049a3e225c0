package native

import (
	"encoding/json"
	"errors"

	"github.com/ethereum/go-ethereum/common"
)

// Module is a chain-native module: Go code at a reserved address with a
// Solidity ABI. Implementations must be deterministic: handlers read and
// write only through [Call], never the wall clock, randomness or I/O.
type Module interface {
	// Name is the module's short name, also its key in the genesis params
	// section and in emc_systemContracts ("staking").
	Name() string
	// Address is the module's reserved address (see addresses.go).
	Address() common.Address
	// ABI is the module's Solidity ABI as JSON.
	ABI() string
	// Methods is the method table: exactly one entry per ABI function.
	Methods() []Method
}

// Method binds one ABI function to its Go handler.
type Method struct {
	// Name is the ABI function name (its overload-disambiguated name if the
	// ABI overloads it, as go-ethereum's abi package reports it).
	Name string
	// Gas is the static cost, charged in full before the handler runs. It
	// must cover the worst case of what the handler does (cold SLOADs,
	// fresh SSTOREs, logs, balance moves); document it per method.
	Gas uint64
	// InputGas optionally adds an input-dependent cost, evaluated on the
	// decoded arguments (for bounded pages, say). Nil means none.
	InputGas func(args []any) uint64
	// BlockGas optionally adds a cost that depends on the block the call
	// runs in: work a fork added to the method is charged from the fork's
	// activation block only, so blocks before it keep their gas. Nil means
	// none.
	BlockGas func(number uint64) uint64
	// Mutates says the handler writes state or emits logs. It must agree
	// with the ABI: view and pure functions do not mutate, nonpayable and
	// payable ones do. Mutating methods run only in direct calls.
	Mutates bool
	// Handler runs the method on the decoded arguments (as go-ethereum's
	// abi package decodes them: common.Address, *big.Int, ...) and returns
	// the outputs in ABI order. A returned error reverts the call with the
	// error's text as the revert reason.
	Handler func(c *Call, args []any) ([]any, error)
}

// Factory builds a module from its genesis params (the module's entry in the
// genesis "params" section, nil when absent). It validates the params and
// returns an error naming the bad field; defaults fill what is absent.
type Factory func(params json.RawMessage) (Module, error)

// Errors returned when building a [Registry].
var (
	// ErrDuplicateModule is returned when two modules share a name or an
	// address.
	ErrDuplicateModule = errors.New("native: duplicate module")
	// ErrNotReserved is returned when a module's address lies outside the
	// reserved module range.
	ErrNotReserved = errors.New("native: module address outside the reserved range")
	// ErrBadABI is returned when a module's ABI does not parse, or its method
	// table does not match its ABI.
	ErrBadABI = errors.New("native: bad module ABI")
	// ErrUnknownModule is returned by [Load] for a params entry that names no
	// known module.
	ErrUnknownModule = errors.New("native: params for unknown module")
	// ErrBadParams is returned by factories for invalid module params.
	ErrBadParams = errors.New("native: invalid module params")
)

// Revert reasons of the framework itself. Each is returned, wrapped with
// details, as the reason of a reverted call.
var (
	// ErrNotDirect is the reason when a state-changing method is called from
	// a contract instead of directly by an EOA transaction.
	ErrNotDirect = errors.New("native: state-changing module methods must be called directly by an EOA transaction")
	// ErrValueFromContract is the reason when a call from a contract carries
	// value: only direct calls can carry value, and only to payable methods.
	ErrValueFromContract = errors.New("native: module calls from contracts must not carry value")
	// ErrNotPayable is the reason when value is sent to a method that is not
	// payable.
	ErrNotPayable = errors.New("native: method is not payable")
	// ErrUnknownMethod is the reason when the input is shorter than a
	// selector or names no method of the module.
	ErrUnknownMethod = errors.New("native: unknown method selector")
	// ErrBadInput is the reason when the arguments do not decode per the ABI.
	ErrBadInput = errors.New("native: bad method input")
	// ErrInputTooLarge is the reason when the input exceeds [MaxInputBytes].
	ErrInputTooLarge = errors.New("native: input too large")
	// ErrInternal is the reason when a module breaks its own contract (its
	// outputs or events do not pack per its ABI). It is a module bug.
	ErrInternal = errors.New("native: internal module error")
)
