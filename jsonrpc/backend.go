package jsonrpc

import (
	"context"
	"encoding/json"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/staking/rewards"
)

// Backend is everything the JSON-RPC services need from the node. The node
// package implements it over the chain (state package), the transaction pool
// and the consensus engine. Lookups return nil (not an error) for unknown
// blocks and transactions.
type Backend interface {
	ChainConfig() *params.ChainConfig
	// MinBaseFee is the floor the base fee never goes below (genesis param).
	MinBaseFee() *big.Int
	// TotalSupply is the genesis total supply in wei (a fresh value).
	TotalSupply() *big.Int

	// Chain data. Receipts are fully derived (logs carry block hash, number,
	// tx hash and indexes; contract address, effective gas price are set).
	CurrentHeader() *types.Header
	HeaderByNumber(number uint64) *types.Header
	HeaderByHash(hash common.Hash) *types.Header
	BlockByNumber(number uint64) *types.Block
	BlockByHash(hash common.Hash) *types.Block
	Receipts(blockHash common.Hash) types.Receipts
	// Transaction finds a mined transaction by hash.
	Transaction(hash common.Hash) (tx *types.Transaction, blockHash common.Hash, blockNumber uint64, index uint64)

	// State. StateAt opens the state after the block with the given header
	// (any block under the hash scheme; under the path scheme the last
	// --history.state blocks, else go-ethereum's "historical state ... is
	// not available"). StateDatabase gives access to tries for eth_getProof.
	// StateAt and StateAtTransaction return a StateDB that belongs to the
	// caller alone: a StateDB is not safe for concurrent use even by
	// readers, so an implementation must never cache one and hand it to two
	// requests (opening one costs a trie root read).
	StateAt(header *types.Header) (*ethstate.StateDB, error)
	StateDatabase() ethstate.Database
	// StateAtTransaction returns the state of block's parent with the block's
	// first txIndex transactions applied (for debug_traceTransaction).
	StateAtTransaction(ctx context.Context, block *types.Block, txIndex int) (*ethstate.StateDB, error)

	// Execution, through the same code path as block processing (native
	// chain modules included). NewEVM builds an EVM for a block context
	// derived from header; ApplyMessage runs msg on it, buying gas from gp.
	NewEVM(header *types.Header, statedb *ethstate.StateDB, cfg vm.Config) *vm.EVM
	ApplyMessage(evm *vm.EVM, msg *core.Message, gp *core.GasPool) (*core.ExecutionResult, error)

	// Transaction pool.
	SendTx(ctx context.Context, tx *types.Transaction) error
	PoolTransaction(hash common.Hash) *types.Transaction
	PoolNonce(addr common.Address) uint64
	PoolContent() (pending, queued map[common.Address][]*types.Transaction)
	PoolStatus() (pending, queued int)

	// Events. A ChainHeadEvent is sent for every new canonical block, in order.
	SubscribeChainHead(ch chan<- ChainHeadEvent) event.Subscription
	// SubscribeNewTxs reports transactions as they enter the pool's pending set.
	SubscribeNewTxs(ch chan<- []*types.Transaction) event.Subscription

	// Chain-native modules (emc_systemContracts).
	SystemContracts() []SystemContract
	// Forks is the chain's fork schedule (emc_forks): fork name to
	// activation block, as the genesis schedules it; nil when none.
	Forks() map[string]uint64
	// Rewards returns the chain's rewards module (emc_epochInfo), nil on a
	// chain without one.
	Rewards() *rewards.Module
	// Registry returns the chain's compute registry module
	// (emc_computeNodes), nil on a chain without one.
	Registry() *registry.Module
	// Verify returns the chain's verification module (emc_challenge,
	// emc_verifyFaults), nil on a chain without one.
	Verify() *verify.Module

	// Node status.
	PeerCount() int
	Syncing() (SyncProgress, bool)
	ConsensusStatus() (any, error)
	// Evidence returns the equivocation evidence the consensus engine
	// kept, oldest first (empty without an IBFT engine).
	Evidence() ([]Evidence, error)
	// ValidatorsAfter returns the validator set that certifies the blocks
	// after block number (the set in force once number is the head), from
	// the epoch-boundary headers.
	ValidatorsAfter(number uint64) ([]common.Address, error)

	// Accounts returns the unlocked accounts (dev mode only; nil otherwise).
	Accounts() AccountSigner
}

// ChainHeadEvent announces a new canonical head block with its receipts.
type ChainHeadEvent struct {
	Block    *types.Block
	Receipts types.Receipts
}

// SystemContract describes one chain-native module.
type SystemContract struct {
	Name    string          `json:"name"`
	Address common.Address  `json:"address"`
	ABI     json.RawMessage `json:"abi"`
}

// SyncProgress is returned by eth_syncing while the node catches up.
type SyncProgress struct {
	StartingBlock uint64
	CurrentBlock  uint64
	HighestBlock  uint64
}

// AccountSigner signs for unlocked accounts (eth_accounts, eth_sendTransaction,
// eth_sign, eth_signTypedData_v4). Dev mode only.
type AccountSigner interface {
	Addresses() []common.Address
	// SignTx signs tx for addr with the chain's latest signer.
	SignTx(addr common.Address, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
	// SignHash signs a 32-byte digest with addr's key, returning [R || S || V]
	// with V in {0, 1}.
	SignHash(addr common.Address, digest []byte) ([]byte, error)
}
