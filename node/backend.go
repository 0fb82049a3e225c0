package node

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/txpool"
)

// backend implements jsonrpc.Backend over the chain and the pool.
type backend struct {
	chain     *state.Chain
	pool      *txpool.Pool
	contracts []jsonrpc.SystemContract
	forks     map[string]uint64 // the genesis fork schedule (emc_forks)
	rewards   *rewards.Module
	registry  *registry.Module
	verify    *verify.Module
	accounts  jsonrpc.AccountSigner
	status    func() (any, error)
	net       *network
	// relay is a router's results relay (emc_getResult); nil elsewhere.
	relay *fetch.Relay
	// devLive is the dev node's live table (emc_liveNodes); nil elsewhere.
	devLive  *heartbeat.Tracker
	headFeed event.Feed
	txFeed   event.Feed
}

var _ jsonrpc.Backend = (*backend)(nil)

func (b *backend) ChainConfig() *params.ChainConfig { return b.chain.Config() }
func (b *backend) MinBaseFee() *big.Int             { return b.chain.Genesis().MinBaseFeeWei() }
func (b *backend) TotalSupply() *big.Int            { return b.chain.Genesis().TotalSupply() }
func (b *backend) CurrentHeader() *types.Header     { return b.chain.Head() }
func (b *backend) HeaderByNumber(n uint64) *types.Header {
	return b.chain.HeaderByNumber(n)
}
func (b *backend) HeaderByHash(h common.Hash) *types.Header      { return b.chain.HeaderByHash(h) }
func (b *backend) BlockByNumber(n uint64) *types.Block           { return b.chain.BlockByNumber(n) }
func (b *backend) BlockByHash(h common.Hash) *types.Block        { return b.chain.BlockByHash(h) }
func (b *backend) Receipts(blockHash common.Hash) types.Receipts { return b.chain.Receipts(blockHash) }
func (b *backend) Transaction(hash common.Hash) (*types.Transaction, common.Hash, uint64, uint64) {
	return b.chain.Transaction(hash)
}

func (b *backend) StateAt(header *types.Header) (*ethstate.StateDB, error) {
	if header == nil {
		return nil, fmt.Errorf("node: state of unknown block")
	}
	return b.chain.StateAt(header.Root)
}
func (b *backend) StateDatabase() ethstate.Database { return b.chain.StateDatabase() }
func (b *backend) StateAtTransaction(ctx context.Context, block *types.Block, txIndex int) (*ethstate.StateDB, error) {
	return b.chain.StateAtTransaction(ctx, block, txIndex)
}

func (b *backend) NewEVM(header *types.Header, statedb *ethstate.StateDB, cfg vm.Config) *vm.EVM {
	return b.chain.NewEVM(header, statedb, cfg)
}
func (b *backend) ApplyMessage(evm *vm.EVM, msg *core.Message, gp *core.GasPool) (*core.ExecutionResult, error) {
	return b.chain.ApplyMessage(evm, msg, gp)
}

func (b *backend) SendTx(_ context.Context, tx *types.Transaction) error {
	if err := b.pool.Add([]*types.Transaction{tx}, true)[0]; err != nil {
		return err
	}
	if b.net != nil {
		b.net.gossipLocal(tx)
	}
	return nil
}
func (b *backend) PoolTransaction(hash common.Hash) *types.Transaction { return b.pool.Get(hash) }
func (b *backend) PoolNonce(addr common.Address) uint64                { return b.pool.Nonce(addr) }
func (b *backend) PoolContent() (map[common.Address][]*types.Transaction, map[common.Address][]*types.Transaction) {
	return b.pool.Content()
}
func (b *backend) PoolStatus() (int, int) { return b.pool.Stats() }

func (b *backend) SubscribeChainHead(ch chan<- jsonrpc.ChainHeadEvent) event.Subscription {
	return b.headFeed.Subscribe(ch)
}
func (b *backend) SubscribeNewTxs(ch chan<- []*types.Transaction) event.Subscription {
	return b.txFeed.Subscribe(ch)
}

func (b *backend) SystemContracts() []jsonrpc.SystemContract { return b.contracts }
func (b *backend) Forks() map[string]uint64                  { return b.forks }
func (b *backend) Rewards() *rewards.Module                  { return b.rewards }
func (b *backend) Registry() *registry.Module                { return b.registry }
func (b *backend) Verify() *verify.Module                    { return b.verify }
func (b *backend) PeerCount() int {
	if b.net == nil {
		return 0
	}
	return b.net.host.PeerCount()
}

func (b *backend) Syncing() (jsonrpc.SyncProgress, bool) {
	if b.net == nil || b.net.syncer.CaughtUp() {
		return jsonrpc.SyncProgress{}, false
	}
	head := b.chain.Head().Number.Uint64()
	target := b.net.syncer.Target().Number
	if target <= head {
		return jsonrpc.SyncProgress{}, false
	}
	return jsonrpc.SyncProgress{CurrentBlock: head, HighestBlock: target}, true
}

// Evidence reports the IBFT engine's equivocation evidence (none in dev mode).
func (b *backend) Evidence() ([]jsonrpc.Evidence, error) {
	if b.net == nil {
		return nil, nil
	}
	evs := b.net.engine.Evidence()
	out := make([]jsonrpc.Evidence, 0, len(evs))
	for i := range evs {
		who, err := evs[i].Signer()
		if err != nil {
			return nil, fmt.Errorf("node: evidence %d: %w", i, err)
		}
		data, err := evs[i].Encode()
		if err != nil {
			return nil, fmt.Errorf("node: encode evidence %d: %w", i, err)
		}
		code, height, round := evs[i].View()
		out = append(out, jsonrpc.Evidence{Validator: who, Code: code.String(), Height: hexutil.Uint64(height),
			Round: hexutil.Uint64(round), Data: data})
	}
	return out, nil
}

// ValidatorsAfter returns the set that certifies the blocks after number.
func (b *backend) ValidatorsAfter(number uint64) ([]common.Address, error) {
	return b.chain.ValidatorsFor(number + 1)
}

func (b *backend) ConsensusStatus() (any, error) {
	if b.status == nil {
		return nil, nil
	}
	return b.status()
}

// Accounts returns nil (an untyped nil interface) when no accounts are
// unlocked, so callers can compare with nil.
func (b *backend) Accounts() jsonrpc.AccountSigner { return b.accounts }
