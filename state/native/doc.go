// Package native is the framework for chain-native modules: Go code that lives
// at a reserved address, exposes a Solidity ABI and is executed by the EVM as a
// precompiled contract bound to one message.
//
// Start reading at [Module] and [Method] (what a module author writes), then
// [Registry.Bind] (the one integration point of the block executor) and
// [Call] (what a handler sees).
//
// # Execution model
//
// Because modules are precompiles, go-ethereum's whole state transition runs
// unchanged around them: nonce, gas purchase, intrinsic gas, value transfer,
// refund, priority fee, base-fee burn, receipts, logs, eth_call, estimateGas
// and tracers. The executor calls [Registry.Bind] before every
// core.ApplyMessage; Bind installs the fork's default precompiles plus one
// precompile per module that captures the EVM (state, block context) and the
// message.
//
// # Callers
//
// A precompile's Run sees only its input, not its caller, value or static
// flag. The framework recovers them from the message:
//
//   - Direct call: msg.To is the module address. A module never calls out, so
//     the one run of the module in this message is the top-level frame: the
//     caller is msg.From, the value is msg.Value, and methods that mutate
//     state are allowed. Value sent to a method that is not payable reverts.
//   - Call from a contract: msg.To is anything else. The caller is not known,
//     so only read-only (view) methods are allowed. A state-changing method
//     reverts with [ErrNotDirect]'s reason. Since the value is not known
//     either, a call whose value moved the module's balance away from its
//     balance at the start of the message reverts with [ErrValueFromContract]'s
//     reason (so STATICCALL, DELEGATECALL and value-less CALL work; SELFDESTRUCT
//     sending funds to a module is the one way to perturb this, and makes
//     later read-only calls in that same message revert).
//
// # Gas
//
// A method's cost is its declared static gas (the worst case of the storage
// it touches, documented per method) plus [GasPerInputWord] per 32-byte word
// of input, plus an optional input-dependent term ([Method.InputGas]). It is
// charged in full before the handler runs; a revert keeps the unused gas of
// the frame like a Solidity revert does. Storage writes by modules earn no
// SSTORE refunds. Module addresses are not in go-ethereum's precompile list
// that state.Prepare pre-warms (EIP-2929), so the first CALL of a module from
// a contract in a transaction pays the cold account access (2600) like any
// cold address; the top-level callee is warm as always.
//
// # Failures
//
// A handler error, an unknown selector, undecodable input, a forbidden call
// or value all revert: Run returns the ABI encoding of Error(string) together
// with vm.ErrExecutionReverted, so eth_call and receipts surface the reason,
// state and logs of the frame are rolled back, and remaining gas is returned.
//
// # Storage layout
//
// A module's state lives in its own account's storage. Slot helpers follow
// Solidity's layout so tools that know it can read module storage with
// eth_getStorageAt: a plain variable at slot n is [Slot](n); mapping entry k
// of the mapping at slot p is keccak256(pad32(k) ‖ pad32(p)) ([MapSlot]); the
// elements of a dynamic array whose length is at slot p start at keccak256(p)
// ([ArraySlot]).
//
// # Genesis
//
// Every module account is created at genesis with code 0xFE (INVALID) and
// nonce 1 ([Registry.GenesisAlloc]): the account is never EIP-161 empty, so it
// is never deleted by state clearing, and EVM code reading it sees code; the
// precompile binding always takes precedence over the code when called.
// Module parameters come from the genesis "params" section, one JSON object
// per module name, decoded by the module's [Factory] ([Load]).
//
// # Addresses
//
// Module addresses are reserved in 0x…1000–0x…10ff, listed in addresses.go.
package native
