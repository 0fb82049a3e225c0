package native

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

// Registry holds the chain's modules. It is immutable after construction and
// safe for concurrent use; [Registry.Bind] creates per-message state only.
type Registry struct {
	mods   []*entry // sorted by address
	byAddr map[common.Address]*entry
}

// entry is a module with its ABI parsed and its methods indexed by selector.
type entry struct {
	mod     Module
	abi     abi.ABI
	methods map[[4]byte]*method
}

type method struct {
	abi abi.Method
	Method
}

// NewRegistry validates mods and returns a registry of them. Every module
// must have a unique name and a unique reserved address, an ABI that parses,
// and exactly one method table entry per ABI function whose Mutates flag
// agrees with the function's state mutability.
func NewRegistry(mods ...Module) (*Registry, error) {
	r := &Registry{byAddr: make(map[common.Address]*entry, len(mods))}
	names := make(map[string]bool, len(mods))
	for _, m := range mods {
		e, err := newEntry(m)
		if err != nil {
			return nil, err
		}
		if names[m.Name()] {
			return nil, fmt.Errorf("%w: name %q", ErrDuplicateModule, m.Name())
		}
		if _, dup := r.byAddr[m.Address()]; dup {
			return nil, fmt.Errorf("%w: address %s", ErrDuplicateModule, m.Address())
		}
		names[m.Name()] = true
		r.byAddr[m.Address()] = e
		r.mods = append(r.mods, e)
	}
	slices.SortFunc(r.mods, func(a, b *entry) int {
		return bytes.Compare(a.mod.Address().Bytes(), b.mod.Address().Bytes())
	})
	return r, nil
}

// Load builds every module in factories from its entry in params (the
// genesis "params" section; a module without an entry gets nil params and
// its defaults) and returns a registry of them. An entry in params that names
// no factory is an error ([ErrUnknownModule]), so typos do not silently fall
// back to defaults.
func Load(params map[string]json.RawMessage, factories map[string]Factory) (*Registry, error) {
	for name := range params {
		if _, ok := factories[name]; !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownModule, name)
		}
	}
	names := make([]string, 0, len(factories))
	for name := range factories {
		names = append(names, name)
	}
	sort.Strings(names)
	mods := make([]Module, 0, len(names))
	for _, name := range names {
		m, err := factories[name](params[name])
		if err != nil {
			return nil, fmt.Errorf("native: module %s: %w", name, err)
		}
		if m.Name() != name {
			return nil, fmt.Errorf("%w: factory %q built module %q", ErrDuplicateModule, name, m.Name())
		}
		mods = append(mods, m)
	}
	return NewRegistry(mods...)
}

func newEntry(m Module) (*entry, error) {
	if !IsReserved(m.Address()) {
		return nil, fmt.Errorf("%w: %s at %s", ErrNotReserved, m.Name(), m.Address())
	}
	parsed, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadABI, m.Name(), err)
	}
	e := &entry{mod: m, abi: parsed, methods: make(map[[4]byte]*method)}
	for _, mm := range m.Methods() {
		am, ok := parsed.Methods[mm.Name]
		if !ok {
			return nil, fmt.Errorf("%w: %s: method %q not in ABI", ErrBadABI, m.Name(), mm.Name)
		}
		if mm.Handler == nil {
			return nil, fmt.Errorf("%w: %s: method %q has no handler", ErrBadABI, m.Name(), mm.Name)
		}
		if mm.Mutates == am.IsConstant() {
			return nil, fmt.Errorf("%w: %s: method %q Mutates=%t but ABI says %s",
				ErrBadABI, m.Name(), mm.Name, mm.Mutates, am.StateMutability)
		}
		sel := [4]byte(am.ID)
		if _, dup := e.methods[sel]; dup {
			return nil, fmt.Errorf("%w: %s: method %q listed twice", ErrBadABI, m.Name(), mm.Name)
		}
		e.methods[sel] = &method{abi: am, Method: mm}
	}
	if len(e.methods) != len(parsed.Methods) {
		return nil, fmt.Errorf("%w: %s: ABI has %d functions, method table %d",
			ErrBadABI, m.Name(), len(parsed.Methods), len(e.methods))
	}
	return e, nil
}

// Lookup returns the module at addr.
func (r *Registry) Lookup(addr common.Address) (Module, bool) {
	if r == nil {
		return nil, false
	}
	e, ok := r.byAddr[addr]
	if !ok {
		return nil, false
	}
	return e.mod, true
}

// All returns the modules ordered by address.
func (r *Registry) All() []Module {
	if r == nil {
		return nil
	}
	out := make([]Module, len(r.mods))
	for i, e := range r.mods {
		out[i] = e.mod
	}
	return out
}

// ContractInfo describes one module for emc_systemContracts.
type ContractInfo struct {
	Name    string          `json:"name"`
	Address common.Address  `json:"address"`
	ABI     json.RawMessage `json:"abi"`
}

// SystemContracts returns the name, address and ABI of every module, ordered
// by address: the result of emc_systemContracts.
func (r *Registry) SystemContracts() []ContractInfo {
	out := make([]ContractInfo, 0, len(r.All()))
	for _, m := range r.All() {
		out = append(out, ContractInfo{Name: m.Name(), Address: m.Address(), ABI: json.RawMessage(m.ABI())})
	}
	return out
}

// GenesisAlloc returns the genesis accounts of all modules, for the genesis
// builder to merge into its alloc (a user alloc entry at a module address is
// a genesis error the builder should report). Each account has code 0xFE
// (INVALID) and nonce 1, so it is never EIP-161 empty and thus never deleted,
// and a zero balance.
//
// A module that implements [GenesisState] starts with the balance and
// storage it returns (pools it holds, positions seeded at genesis); the
// genesis supply check counts that balance like any other.
func (r *Registry) GenesisAlloc() types.GenesisAlloc {
	alloc := make(types.GenesisAlloc, len(r.All()))
	for _, m := range r.All() {
		acct := types.Account{
			Code:    []byte{byte(vm.INVALID)},
			Nonce:   1,
			Balance: new(big.Int),
		}
		if gs, ok := m.(GenesisState); ok {
			bal, storage := gs.GenesisState()
			if bal != nil {
				acct.Balance = bal.ToBig()
			}
			if len(storage) > 0 {
				acct.Storage = storage
			}
		}
		alloc[m.Address()] = acct
	}
	if r != nil {
		// The supply ledger's account: never EIP-161 empty, never callable.
		alloc[SupplyAddress] = types.Account{Code: []byte{byte(vm.INVALID)}, Nonce: 1, Balance: new(big.Int)}
	}
	return alloc
}

// GenesisState is implemented by modules whose account does not start
// empty: GenesisState returns its genesis balance in wei (nil: zero) and
// storage (slot -> value, zero values left out). The module derives both
// from its validated params, so it cannot fail here.
type GenesisState interface {
	GenesisState() (balanceWei *uint256.Int, storage map[common.Hash]common.Hash)
}

// Bind installs, on evm, the fork's default precompiles plus one precompile
// per module bound to msg. Call it before every core.ApplyMessage (block
// processing, eth_call, estimateGas, tracing), after any evm.SetStateDB and
// evm.SetTxContext, and after evm.SetPrecompileCache: SetPrecompiles drops the
// EVM's precompile result cache, which must stay dropped since module results
// depend on state. A nil registry installs the default set only.
func (r *Registry) Bind(evm *vm.EVM, msg *core.Message) {
	pcs := vm.ActivePrecompiledContracts(evm.GetRules())
	if r != nil {
		for _, e := range r.mods {
			pcs[e.mod.Address()] = newBound(e, evm, msg)
		}
	}
	evm.SetPrecompiles(pcs)
}
