// Package nativetest runs chain-native modules through a real go-ethereum
// EVM on an in-memory state, the way the block executor does: one fresh EVM
// per message, [native.Registry.Bind], core.ApplyMessage, Finalise. Tests of
// modules start at [New].
package nativetest

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

const (
	// BaseFeeWei and GasPriceWei are the harness's fixed fees: the sender
	// pays GasPriceWei per gas, BaseFeeWei of it is burned and the rest goes
	// to Coinbase.
	BaseFeeWei  = 7
	GasPriceWei = 10
	// GasLimit is the default message gas limit.
	GasLimit = 1_000_000
)

// Config returns a chain config with every fork through Cancun active at
// genesis, as emcd runs.
func Config() *params.ChainConfig {
	zero := uint64(0)
	return &params.ChainConfig{
		ChainID:                 big.NewInt(1337),
		HomesteadBlock:          big.NewInt(0),
		EIP150Block:             big.NewInt(0),
		EIP155Block:             big.NewInt(0),
		EIP158Block:             big.NewInt(0),
		ByzantiumBlock:          big.NewInt(0),
		ConstantinopleBlock:     big.NewInt(0),
		PetersburgBlock:         big.NewInt(0),
		IstanbulBlock:           big.NewInt(0),
		MuirGlacierBlock:        big.NewInt(0),
		BerlinBlock:             big.NewInt(0),
		LondonBlock:             big.NewInt(0),
		ArrowGlacierBlock:       big.NewInt(0),
		GrayGlacierBlock:        big.NewInt(0),
		MergeNetsplitBlock:      big.NewInt(0),
		ShanghaiTime:            &zero,
		CancunTime:              &zero,
		TerminalTotalDifficulty: big.NewInt(0),
		BlobScheduleConfig:      &params.BlobScheduleConfig{Cancun: params.DefaultCancunBlobConfig},
	}
}

// Chain is an in-memory state plus the block context messages run in.
type Chain struct {
	t        testing.TB
	Config   *params.ChainConfig
	Registry *native.Registry
	State    *state.StateDB
	Number   uint64
	Time     uint64
	// Coinbase receives the priority fees.
	Coinbase common.Address
	txIndex  int
}

// New returns a chain whose state holds the registry's genesis alloc plus
// alloc, committed as a genesis root.
func New(t testing.TB, reg *native.Registry, alloc types.GenesisAlloc) *Chain {
	t.Helper()
	db := rawdb.NewMemoryDatabase()
	tdb := triedb.NewDatabase(db, triedb.HashDefaults)
	sdb := state.NewMPTDatabase(tdb, state.NewCodeDB(db))
	st, err := state.New(types.EmptyRootHash, sdb)
	if err != nil {
		t.Fatalf("state.New: %v", err)
	}
	c := &Chain{t: t, Config: Config(), Registry: reg, State: st, Number: 1, Time: 1_700_000_000,
		Coinbase: common.HexToAddress("0xc0ffee0000000000000000000000000000c0ffee")}
	all := reg.GenesisAlloc()
	for a, acct := range alloc {
		all[a] = acct
	}
	for addr, acct := range all {
		st.SetCode(addr, acct.Code, tracing.CodeChangeGenesis)
		st.SetNonce(addr, acct.Nonce, tracing.NonceChangeGenesis)
		if acct.Balance != nil {
			st.SetBalance(addr, uint256.MustFromBig(acct.Balance), tracing.BalanceIncreaseGenesisBalance)
		}
		for k, v := range acct.Storage {
			st.SetState(addr, k, v)
		}
	}
	root, err := st.Commit(c.Rules(), 0)
	if err != nil {
		t.Fatalf("commit genesis: %v", err)
	}
	if st, err = state.New(root, sdb); err != nil {
		t.Fatalf("reopen genesis: %v", err)
	}
	c.State = st
	return c
}

// Rules returns the fork rules of the chain's current block.
func (c *Chain) Rules() params.Rules {
	return c.Config.Rules(new(big.Int).SetUint64(c.Number), true, c.Time)
}

// BlockContext returns the block context messages run in.
func (c *Chain) BlockContext() vm.BlockContext {
	random := common.Hash{0x01}
	return vm.BlockContext{
		CanTransfer: core.CanTransfer,
		Transfer:    core.Transfer,
		GetHash:     func(n uint64) common.Hash { return crypto.Keccak256Hash(new(big.Int).SetUint64(n).Bytes()) },
		Coinbase:    c.Coinbase,
		GasLimit:    30_000_000,
		BlockNumber: new(big.Int).SetUint64(c.Number),
		Time:        c.Time,
		Difficulty:  new(big.Int),
		BaseFee:     big.NewInt(BaseFeeWei),
		BlobBaseFee: big.NewInt(1),
		Random:      &random,
	}
}

// Msg builds a message from from to to (nil creates a contract), with the
// sender's current nonce, GasLimit and the harness gas price.
func (c *Chain) Msg(from common.Address, to *common.Address, valueWei *uint256.Int, data []byte) *core.Message {
	if valueWei == nil {
		valueWei = new(uint256.Int)
	}
	price := uint256.NewInt(GasPriceWei)
	return &core.Message{
		From:      from,
		To:        to,
		Nonce:     c.State.GetNonce(from),
		Value:     valueWei,
		GasLimit:  GasLimit,
		GasPrice:  price,
		GasFeeCap: price,
		GasTipCap: price,
		Data:      data,
	}
}

// Apply runs msg as the next transaction of the current block, the way the
// executor does: a fresh EVM, Bind, ApplyMessage, then Finalise with the
// fork's EIP-161 rules. It fails the test on a consensus error (invalid
// message); EVM errors such as reverts are in the result. It returns the
// result and the logs the message emitted.
func (c *Chain) Apply(msg *core.Message) (*core.ExecutionResult, []*types.Log) {
	c.t.Helper()
	res, logs, err := c.TryApply(msg)
	if err != nil {
		c.t.Fatalf("ApplyMessage: %v", err)
	}
	return res, logs
}

// TryApply is Apply returning the consensus error instead of failing.
func (c *Chain) TryApply(msg *core.Message) (*core.ExecutionResult, []*types.Log, error) {
	txHash := crypto.Keccak256Hash(big.NewInt(int64(c.txIndex)).Bytes(), new(big.Int).SetUint64(c.Number).Bytes())
	c.State.SetTxContext(txHash, c.txIndex, 0)
	c.txIndex++
	evm := vm.NewEVM(c.BlockContext(), c.State, c.Config, vm.Config{})
	c.Registry.Bind(evm, msg)
	gp := core.NewGasPool(30_000_000)
	res, err := core.ApplyMessage(evm, msg, gp)
	if err != nil {
		return nil, nil, err
	}
	c.State.Finalise(c.Rules())
	return res, c.State.GetLogs(txHash, c.Number, common.Hash{}, c.Time), nil
}

// Call runs msg as eth_call does: on a copy of the state, discarded after.
func (c *Chain) Call(msg *core.Message) *core.ExecutionResult {
	c.t.Helper()
	saved := c.State
	c.State = saved.Copy()
	defer func() { c.State = saved }()
	res, _ := c.Apply(msg)
	return res
}

// Invoke binds the registry for msg and calls to with input and value
// straight through evm.Call from msg.From, skipping the message checks and
// fees of ApplyMessage: the dispatcher as the EVM reaches it, for fuzzing.
// State changes persist in c.State.
func (c *Chain) Invoke(msg *core.Message, to common.Address, input []byte, valueWei *uint256.Int) ([]byte, error) {
	if valueWei == nil {
		valueWei = new(uint256.Int)
	}
	evm := vm.NewEVM(c.BlockContext(), c.State, c.Config, vm.Config{})
	c.Registry.Bind(evm, msg)
	ret, _, err := evm.Call(msg.From, to, input, vm.NewGasBudget(msg.GasLimit, 0), valueWei)
	return ret, err
}

// Root returns the state root after the messages applied so far.
func (c *Chain) Root() common.Hash {
	return c.State.IntermediateRoot(c.Rules())
}

// Deploy puts runtime code at a fresh contract address directly in state
// (nonce 1, as after a CREATE) and returns the address.
func (c *Chain) Deploy(code []byte) common.Address {
	deployer := common.Address{0xde, 0x91}
	nonce := c.State.GetNonce(deployer)
	addr := crypto.CreateAddress(deployer, nonce)
	c.State.SetNonce(deployer, nonce+1, tracing.NonceChangeUnspecified)
	c.State.SetCode(addr, code, tracing.CodeChangeUnspecified)
	c.State.SetNonce(addr, 1, tracing.NonceChangeUnspecified)
	c.State.Finalise(c.Rules())
	return addr
}

// Forwarder returns runtime code that forwards its calldata to target with
// op (vm.CALL forwarding CALLVALUE, vm.STATICCALL or vm.DELEGATECALL) and all
// remaining gas, then returns the callee's return data on success or reverts
// with it on failure: the smallest contract that calls a module.
func Forwarder(target common.Address, op vm.OpCode) []byte {
	code := []byte{
		byte(vm.CALLDATASIZE), byte(vm.PUSH1), 0, byte(vm.PUSH1), 0, byte(vm.CALLDATACOPY), // mem[0:] = calldata
		byte(vm.PUSH1), 0, byte(vm.PUSH1), 0, // retSize, retOffset
		byte(vm.CALLDATASIZE), byte(vm.PUSH1), 0, // argsSize, argsOffset
	}
	if op == vm.CALL {
		code = append(code, byte(vm.CALLVALUE))
	}
	code = append(code, byte(vm.PUSH20))
	code = append(code, target[:]...)
	code = append(code, byte(vm.GAS), byte(op),
		byte(vm.RETURNDATASIZE), byte(vm.PUSH1), 0, byte(vm.PUSH1), 0, byte(vm.RETURNDATACOPY), // mem[0:] = returndata
	)
	dest := len(code) + 7 // past PUSH1 dest, JUMPI, RETURNDATASIZE, PUSH1 0, REVERT
	code = append(code, byte(vm.PUSH1), byte(dest), byte(vm.JUMPI),
		byte(vm.RETURNDATASIZE), byte(vm.PUSH1), 0, byte(vm.REVERT),
		byte(vm.JUMPDEST), byte(vm.RETURNDATASIZE), byte(vm.PUSH1), 0, byte(vm.RETURN),
	)
	return code
}

// Fee returns what a message that used gasUsed cost its sender.
func Fee(gasUsed uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(gasUsed), uint256.NewInt(GasPriceWei))
}

// IntrinsicGas is go-ethereum's intrinsic gas of a plain call with data
// under the test chain's rules (what a module call is charged before the
// module's own gas).
func IntrinsicGas(data []byte) uint64 {
	to := common.Address{}
	g, err := core.IntrinsicGas(data, nil, nil, common.Address{}, &to, new(uint256.Int), Config().Rules(new(big.Int), true, 0))
	if err != nil {
		panic(err) // only on uint64 overflow, impossible for test inputs
	}
	return g
}
