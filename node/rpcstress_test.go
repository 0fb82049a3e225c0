package node

// Method: a real dev node in this process (pebble store in a temp dir, the
// chain, the txpool, the dev sealer, this package's Backend and the real
// JSON-RPC server over HTTP and WebSocket) is read by 32 goroutines calling
// every read-only JSON-RPC method, at latest, pending, historical blocks and
// by block hash, while a writer keeps sending transactions so that the
// sealer keeps moving the head. go-ethereum's StateDB, EVM, tracers and tries
// are not safe for concurrent use; the race detector (make race runs this
// with -race -short) and the runtime's map checks ("concurrent map writes")
// turn any sharing of one across requests or with the sealer into a
// failure. Results are checked too where they are known in advance: each
// watched account has a fixed nonce nobody changes.
//
// Every reader makes at least one full pass over the method table, then
// keeps going until the run's duration has passed; everything is bounded by
// one overall timeout.

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/operator"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// stressEmitterCode deploys a contract that, called with 32 bytes, stores
// them in slot 0 and emits LOG1(0xaa..aa, data); called with no data it
// reverts (the emitter of cmd/emcd's end-to-end test).
const stressEmitterCode = "605c600c600039605c6000f33615603657600035806000556000527faaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa60206000a1005b6308c379a060e01b6000526020600452600460245263626f6f6d60e01b60445260646000fd"

var stressTopic = common.HexToHash("0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")

// stressWatched is how many funded accounts the readers watch; account i
// has nonce i in genesis and never sends.
const stressWatched = 128

// minedTx is a transaction the writer saw in a block.
type minedTx struct {
	hash   common.Hash
	number uint64
	block  common.Hash
}

// stressEnv is what the readers share: all of it read-only or guarded.
type stressEnv struct {
	node     *Node
	url      string
	chainID  *big.Int
	watched  []common.Address
	emitter  common.Address
	devAddrs []common.Address

	minedMu sync.Mutex
	mined   []minedTx
}

func (e *stressEnv) pickMined(rnd *rand.Rand) minedTx {
	e.minedMu.Lock()
	defer e.minedMu.Unlock()
	return e.mined[rnd.IntN(len(e.mined))]
}

func (e *stressEnv) addMined(b *types.Block) {
	e.minedMu.Lock()
	defer e.minedMu.Unlock()
	for _, tx := range b.Transactions() {
		e.mined = append(e.mined, minedTx{hash: tx.Hash(), number: b.NumberU64(), block: b.Hash()})
	}
}

// histBlock returns a random canonical block number up to the head, hex.
func (e *stressEnv) histBlock(rnd *rand.Rand) (string, *types.Header) {
	head := e.node.Chain().Head().Number.Uint64()
	h := e.node.Chain().HeaderByNumber(rnd.Uint64N(head + 1))
	return hexutil.EncodeUint64(h.Number.Uint64()), h
}

// recentBlock returns one of the newest half of the blocks whose states are
// in-memory diff layers, hex: under the path scheme (the default)
// eth_getProof answers only for the blocks whose trie nodes are still in
// memory (the newest state.DiffLayers()) unless trie node history is kept
// (--history.trienode); the half leaves room for the head to move on before
// the call is served.
func (e *stressEnv) recentBlock(rnd *rand.Rand) (string, *types.Header) {
	head := e.node.Chain().Head().Number.Uint64()
	back := uint64(max(state.DiffLayers()/2, 1))
	h := e.node.Chain().HeaderByNumber(head - rnd.Uint64N(min(head, back-1)+1))
	return hexutil.EncodeUint64(h.Number.Uint64()), h
}

// stressMethod is one entry of the readers' table.
type stressMethod struct {
	name string
	call func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error
}

// call is a CallContext that also rejects a null result where one is wrong.
func call(ctx context.Context, c *rpc.Client, method string, args ...any) (any, error) {
	var out any
	if err := c.CallContext(ctx, &out, method, args...); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%s: null result", method)
	}
	return out, nil
}

func callNoResult(ctx context.Context, c *rpc.Client, method string, args ...any) error {
	_, err := call(ctx, c, method, args...)
	return err
}

// wantNonce checks eth_getTransactionCount of a watched account at block.
func wantNonce(ctx context.Context, c *rpc.Client, e *stressEnv, i int, block any) error {
	var got hexutil.Uint64
	if err := c.CallContext(ctx, &got, "eth_getTransactionCount", e.watched[i], block); err != nil {
		return fmt.Errorf("eth_getTransactionCount(%v): %w", block, err)
	}
	if uint64(got) != uint64(i) {
		return fmt.Errorf("eth_getTransactionCount(watched %d, %v) = %d, want %d", i, block, got, i)
	}
	return nil
}

func stressMethods() []stressMethod {
	payload := hexutil.Encode(common.LeftPadBytes([]byte{0x42}, 32))
	emitterCall := func(e *stressEnv) map[string]any {
		return map[string]any{"from": e.devAddrs[0], "to": e.emitter, "input": payload}
	}
	byHash := func(h *types.Header) map[string]any { return map[string]any{"blockHash": h.Hash()} }
	m := []stressMethod{
		// The crash of issue 8: many accounts the pool does not hold, at once.
		{"eth_getTransactionCount/pending/batch", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			const n = 16
			idx := make([]int, n)
			got := make([]hexutil.Uint64, n)
			batch := make([]rpc.BatchElem, n)
			for k := range batch {
				idx[k] = rnd.IntN(len(e.watched))
				batch[k] = rpc.BatchElem{Method: "eth_getTransactionCount", Args: []any{e.watched[idx[k]], "pending"}, Result: &got[k]}
			}
			if err := c.BatchCallContext(ctx, batch); err != nil {
				return err
			}
			for k, b := range batch {
				if b.Error != nil {
					return b.Error
				}
				if uint64(got[k]) != uint64(idx[k]) {
					return fmt.Errorf("pending nonce of watched %d = %d", idx[k], got[k])
				}
			}
			return nil
		}},
		{"eth_getTransactionCount/pending", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return wantNonce(ctx, c, e, rnd.IntN(len(e.watched)), "pending")
		}},
		{"eth_getTransactionCount/latest", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return wantNonce(ctx, c, e, rnd.IntN(len(e.watched)), "latest")
		}},
		{"eth_getTransactionCount/historical", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return wantNonce(ctx, c, e, rnd.IntN(len(e.watched)), n)
		}},
		{"eth_getTransactionCount/byHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, h := e.histBlock(rnd)
			return wantNonce(ctx, c, e, rnd.IntN(len(e.watched)), byHash(h))
		}},
		{"eth_getTransactionCount/pending/sender", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getTransactionCount", e.devAddrs[rnd.IntN(len(e.devAddrs))], "pending")
		}},
	}
	for _, blk := range []string{"latest", "pending", "historical", "byHash"} {
		block := func(e *stressEnv, rnd *rand.Rand) any {
			switch blk {
			case "historical":
				n, _ := e.histBlock(rnd)
				return n
			case "byHash":
				_, h := e.histBlock(rnd)
				return byHash(h)
			}
			return blk
		}
		m = append(m,
			stressMethod{"eth_getBalance/" + blk, func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
				var bal hexutil.Big
				if err := c.CallContext(ctx, &bal, "eth_getBalance", e.watched[rnd.IntN(len(e.watched))], block(e, rnd)); err != nil {
					return err
				}
				if (*big.Int)(&bal).Sign() <= 0 {
					return errors.New("watched account has no balance")
				}
				return nil
			}},
			stressMethod{"eth_getCode/" + blk, func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
				return callNoResult(ctx, c, "eth_getCode", e.emitter, block(e, rnd))
			}},
			stressMethod{"eth_getStorageAt/" + blk, func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
				return callNoResult(ctx, c, "eth_getStorageAt", e.emitter, "0x0", block(e, rnd))
			}},
			stressMethod{"eth_call/" + blk, func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
				return callNoResult(ctx, c, "eth_call", emitterCall(e), block(e, rnd))
			}},
			stressMethod{"eth_estimateGas/" + blk, func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
				args := map[string]any{"from": e.devAddrs[0], "to": e.watched[0], "value": "0x1"}
				return callNoResult(ctx, c, "eth_estimateGas", args, block(e, rnd))
			}},
			stressMethod{"eth_getProof/" + blk, func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
				var at any = blk
				switch blk {
				case "historical":
					at, _ = e.recentBlock(rnd)
				case "byHash":
					_, h := e.recentBlock(rnd)
					at = byHash(h)
				}
				return callNoResult(ctx, c, "eth_getProof", e.emitter, []string{"0x0", "0x1"}, at)
			}},
		)
	}
	selector := crypto.Keccak256([]byte("stakeOf(address)"))[:4]
	m = append(m,
		stressMethod{"eth_call/native-module", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			data := append(append([]byte(nil), selector...), common.LeftPadBytes(e.devAddrs[0].Bytes(), 32)...)
			return callNoResult(ctx, c, "eth_call", map[string]any{"to": native.StakingAddress, "input": hexutil.Encode(data)}, "latest")
		}},
		stressMethod{"eth_estimateGas/contract", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_estimateGas", emitterCall(e), "latest")
		}},
		stressMethod{"eth_call/overrides", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			over := map[string]any{e.devAddrs[0].Hex(): map[string]any{"balance": "0xffffffffffffffffffff"}}
			return callNoResult(ctx, c, "eth_call", emitterCall(e), "latest", over)
		}},
		stressMethod{"eth_chainId", simple("eth_chainId")},
		stressMethod{"eth_blockNumber", simple("eth_blockNumber")},
		stressMethod{"eth_gasPrice", simple("eth_gasPrice")},
		stressMethod{"eth_maxPriorityFeePerGas", simple("eth_maxPriorityFeePerGas")},
		stressMethod{"eth_syncing", simple("eth_syncing")},
		stressMethod{"eth_accounts", simple("eth_accounts")},
		stressMethod{"eth_feeHistory", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_feeHistory", "0x8", "latest", []float64{10, 50, 90})
		}},
		stressMethod{"eth_getBlockByNumber/latest", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getBlockByNumber", "latest", true)
		}},
		stressMethod{"eth_getBlockByNumber/pending", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getBlockByNumber", "pending", false)
		}},
		stressMethod{"eth_getBlockByNumber/historical", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getBlockByNumber", n, true)
		}},
		stressMethod{"eth_getBlockByHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, h := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getBlockByHash", h.Hash(), true)
		}},
		stressMethod{"eth_getHeaderByNumber", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getHeaderByNumber", n)
		}},
		stressMethod{"eth_getHeaderByHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, h := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getHeaderByHash", h.Hash())
		}},
		stressMethod{"eth_getBlockTransactionCountByNumber", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getBlockTransactionCountByNumber", n)
		}},
		stressMethod{"eth_getBlockTransactionCountByHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, h := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getBlockTransactionCountByHash", h.Hash())
		}},
		stressMethod{"eth_getUncleCountByBlockNumber", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getUncleCountByBlockNumber", "latest")
		}},
		stressMethod{"eth_getUncleCountByBlockHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, h := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getUncleCountByBlockHash", h.Hash())
		}},
		stressMethod{"eth_getBlockReceipts", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "eth_getBlockReceipts", n)
		}},
		stressMethod{"eth_getTransactionByHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getTransactionByHash", e.pickMined(rnd).hash)
		}},
		stressMethod{"eth_getRawTransactionByHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getRawTransactionByHash", e.pickMined(rnd).hash)
		}},
		stressMethod{"eth_getTransactionReceipt", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getTransactionReceipt", e.pickMined(rnd).hash)
		}},
		stressMethod{"eth_getTransactionByBlockNumberAndIndex", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getTransactionByBlockNumberAndIndex", hexutil.EncodeUint64(e.pickMined(rnd).number), "0x0")
		}},
		stressMethod{"eth_getTransactionByBlockHashAndIndex", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getTransactionByBlockHashAndIndex", e.pickMined(rnd).block, "0x0")
		}},
		stressMethod{"eth_getLogs", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getLogs", map[string]any{"fromBlock": "0x0", "toBlock": "latest", "address": e.emitter, "topics": []any{stressTopic}})
		}},
		stressMethod{"eth_getLogs/blockHash", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "eth_getLogs", map[string]any{"blockHash": e.pickMined(rnd).block})
		}},
		stressMethod{"eth_newFilter+changes+logs+uninstall", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			var id string
			if err := c.CallContext(ctx, &id, "eth_newFilter", map[string]any{"fromBlock": "0x0", "address": e.emitter, "topics": []any{stressTopic}}); err != nil {
				return err
			}
			return filterRoundTrip(ctx, c, id, true)
		}},
		stressMethod{"eth_newBlockFilter+changes+uninstall", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			var id string
			if err := c.CallContext(ctx, &id, "eth_newBlockFilter"); err != nil {
				return err
			}
			return filterRoundTrip(ctx, c, id, false)
		}},
		stressMethod{"eth_newPendingTransactionFilter+changes+uninstall", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			var id string
			if err := c.CallContext(ctx, &id, "eth_newPendingTransactionFilter"); err != nil {
				return err
			}
			return filterRoundTrip(ctx, c, id, false)
		}},
		stressMethod{"txpool_status", simple("txpool_status")},
		stressMethod{"txpool_content", simple("txpool_content")},
		stressMethod{"txpool_inspect", simple("txpool_inspect")},
		stressMethod{"txpool_contentFrom", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "txpool_contentFrom", e.devAddrs[rnd.IntN(len(e.devAddrs))])
		}},
		stressMethod{"debug_traceCall/structLogger", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "debug_traceCall", emitterCall(e), "latest", map[string]any{})
		}},
		stressMethod{"debug_traceCall/callTracer", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "debug_traceCall", emitterCall(e), n, map[string]any{"tracer": "callTracer"})
		}},
		stressMethod{"debug_traceTransaction/structLogger", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "debug_traceTransaction", e.pickMined(rnd).hash)
		}},
		stressMethod{"debug_traceTransaction/prestateTracer", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "debug_traceTransaction", e.pickMined(rnd).hash, map[string]any{"tracer": "prestateTracer"})
		}},
		stressMethod{"emc_systemContracts", simple("emc_systemContracts")},
		stressMethod{"emc_forks", simple("emc_forks")},
		stressMethod{"emc_consensusStatus", simple("emc_consensusStatus")},
		stressMethod{"emc_evidence", simple("emc_evidence")},
		stressMethod{"emc_creditsOf", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "emc_creditsOf", e.devAddrs[rnd.IntN(len(e.devAddrs))], n)
		}},
		stressMethod{"emc_supply", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			var s jsonrpc.Supply
			if err := c.CallContext(ctx, &s, "emc_supply", n); err != nil {
				return fmt.Errorf("emc_supply: %w", err)
			}
			sum := new(big.Int).Add(s.Circulating.ToInt(), s.Burned.ToInt())
			if sum.Add(sum, s.ModuleHeld.ToInt()); sum.Cmp(genesis.DefaultTotalSupplyWei()) != 0 || s.Total.ToInt().Cmp(sum) != 0 {
				return fmt.Errorf("emc_supply(%v): circulating + burned + module-held %s, total %s", n, sum, s.Total)
			}
			return nil
		}},
		stressMethod{"emc_stakeOf", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			return callNoResult(ctx, c, "emc_stakeOf", e.devAddrs[rnd.IntN(len(e.devAddrs))], n)
		}},
		stressMethod{"emc_computeNodes", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			var out jsonrpc.ComputeNodes
			if err := c.CallContext(ctx, &out, "emc_computeNodes", n); err != nil {
				return fmt.Errorf("emc_computeNodes: %w", err)
			}
			if uint64(len(out.Nodes)) > uint64(out.TotalNodes) {
				return fmt.Errorf("emc_computeNodes(%v): %d nodes of %d", n, len(out.Nodes), out.TotalNodes)
			}
			return nil
		}},
		stressMethod{"emc_jobs", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			n, _ := e.histBlock(rnd)
			f := map[string]any{"owner": e.devAddrs[rnd.IntN(len(e.devAddrs))], "limit": hexutil.Uint64(1 + rnd.IntN(int(jsonrpc.MaxJobsPage)))}
			var out jsonrpc.Jobs
			if err := c.CallContext(ctx, &out, "emc_jobs", f, n); err != nil {
				return fmt.Errorf("emc_jobs: %w", err)
			}
			if uint64(len(out.Jobs)) > uint64(out.Total) || out.NextOffset > out.Total {
				return fmt.Errorf("emc_jobs(%v): %d jobs, next %d of %d", n, len(out.Jobs), out.NextOffset, out.Total)
			}
			return nil
		}},
		stressMethod{"net_version", simple("net_version")},
		stressMethod{"net_listening", simple("net_listening")},
		stressMethod{"net_peerCount", simple("net_peerCount")},
		stressMethod{"web3_clientVersion", simple("web3_clientVersion")},
		stressMethod{"web3_sha3", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			return callNoResult(ctx, c, "web3_sha3", "0x68656c6c6f")
		}},
		// The operator API's backend reads the same chain and pool.
		stressMethod{"operator.Status", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, err := opBackend{e.node}.Status(ctx)
			return err
		}},
		stressMethod{"operator.NodeInfo", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			// The dev genesis schedules every known fork at block 0.
			info, err := opBackend{e.node}.NodeInfo(ctx)
			if err == nil && (len(info.Forks) != len(params.Forks) || !info.Forks[0].Scheduled || !info.Forks[0].Active) {
				err = fmt.Errorf("forks %+v", info.Forks)
			}
			return err
		}},
		stressMethod{"operator.TxPool", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			// The counts and the list are two reads of a moving pool, so
			// they need not agree; every listed transaction must have a sender.
			p, err := opBackend{e.node}.TxPool(ctx, nil)
			for _, tx := range p.Txs {
				if err == nil && tx.From == (common.Address{}) {
					err = fmt.Errorf("operator.TxPool: transaction %s without a sender", tx.Hash)
				}
			}
			return err
		}},
		stressMethod{"operator.Validators", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			v, err := opBackend{e.node}.Validators(ctx)
			if err == nil && len(v.Validators) == 0 {
				err = errors.New("operator.Validators: empty set")
			}
			return err
		}},
		stressMethod{"operator.Position", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			_, err := opBackend{e.node}.Position(ctx, e.devAddrs[rnd.IntN(len(e.devAddrs))])
			return err
		}},
		stressMethod{"operator.Jobs", func(ctx context.Context, c *rpc.Client, e *stressEnv, rnd *rand.Rand) error {
			owner := e.devAddrs[rnd.IntN(len(e.devAddrs))]
			p, err := opBackend{e.node}.Jobs(ctx, operator.JobsQuery{Owner: &owner, Limit: uint64(1 + rnd.IntN(10))})
			if err == nil && (uint64(len(p.Jobs)) > p.Total || p.NextOffset > p.Total) {
				err = fmt.Errorf("operator.Jobs: %d jobs, next %d of %d", len(p.Jobs), p.NextOffset, p.Total)
			}
			return err
		}},
	)
	return m
}

func simple(method string) func(context.Context, *rpc.Client, *stressEnv, *rand.Rand) error {
	return func(ctx context.Context, c *rpc.Client, _ *stressEnv, _ *rand.Rand) error {
		return callNoResult(ctx, c, method)
	}
}

func filterRoundTrip(ctx context.Context, c *rpc.Client, id string, logs bool) error {
	if err := callNoResult(ctx, c, "eth_getFilterChanges", id); err != nil {
		return err
	}
	if logs {
		if err := callNoResult(ctx, c, "eth_getFilterLogs", id); err != nil {
			return err
		}
	}
	var ok bool
	if err := c.CallContext(ctx, &ok, "eth_uninstallFilter", id); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("filter %s was gone before uninstall", id)
	}
	return nil
}

func TestRPCStressMovingHead(t *testing.T) {
	const readers = 32
	run := 4 * time.Second
	if testing.Short() {
		run = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	g := genesis.Dev()
	watched := make([]common.Address, stressWatched)
	for i := range watched {
		watched[i] = common.BigToAddress(big.NewInt(int64(0x5eed0000 + i)))
		g.Alloc[watched[i]] = types.Account{Balance: big.NewInt(1e18), Nonce: uint64(i)}
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{
		Role: RoleValidator, Dev: true, DataDir: config.NewDataDir(t.TempDir()), Genesis: g,
		RPCAddr: "127.0.0.1:0", DevAccounts: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	keys, err := genesis.DevAccountKeys(genesis.DevAccountCount)
	if err != nil {
		t.Fatal(err)
	}
	e := &stressEnv{node: n, url: "http://" + n.RPCAddr().String(), chainID: n.Chain().Config().ChainID, watched: watched}
	for _, k := range keys {
		e.devAddrs = append(e.devAddrs, crypto.PubkeyToAddress(k.PublicKey))
	}
	heads := make(chan state.HeadEvent, 1024)
	headSub := n.Chain().SubscribeHead(heads)
	defer headSub.Unsubscribe()

	w := &stressWriter{t: t, env: e, keys: keys, heads: heads, nonces: make([]uint64, len(keys))}
	w.client, err = rpc.DialContext(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer w.client.Close()
	// Before the readers start: the emitter exists and has logged once.
	deploy := w.send(ctx, 0, nil, common.FromHex(stressEmitterCode), 300_000)
	e.emitter = crypto.CreateAddress(e.devAddrs[0], deploy.Nonce())
	w.send(ctx, 0, &e.emitter, common.LeftPadBytes([]byte{1}, 32), 100_000)
	if err := w.waitMined(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// Under the path scheme go-ethereum indexes the state history in the
	// background after a start, and its first pass can wait for a 15 s
	// heartbeat; until then states below the in-memory layers are refused
	// ("haven't been fully indexed yet"), as in geth. The readers below
	// read such states once the head has moved past the in-memory layers.
	for !n.Chain().HistoryReady() {
		select {
		case <-ctx.Done():
			t.Fatal("state history still not indexed")
		case <-time.After(100 * time.Millisecond):
		}
	}
	startHead := n.Chain().Head().Number.Uint64()

	// Live subscriptions over WebSocket for the whole run.
	ws, err := rpc.DialContext(ctx, "ws://"+n.RPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var gotHeads, gotLogs, gotPending atomic.Int64
	subscribe := func(count *atomic.Int64, args ...any) {
		ch := make(chan any, 1024)
		sub, err := ws.EthSubscribe(ctx, ch, args...)
		if err != nil {
			t.Fatalf("eth_subscribe %v: %v", args[0], err)
		}
		go func() {
			for {
				select {
				case <-ch:
					count.Add(1)
				case <-sub.Err():
					return
				}
			}
		}()
		t.Cleanup(sub.Unsubscribe)
	}
	subscribe(&gotHeads, "newHeads")
	subscribe(&gotLogs, "logs", map[string]any{"topics": []any{stressTopic}})
	subscribe(&gotPending, "newPendingTransactions")

	methods := stressMethods()
	var (
		calls    = make([]atomic.Int64, len(methods))
		errMu    sync.Mutex
		failures []string
	)
	deadline := time.Now().Add(run)
	stopWriter := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.loop(ctx, stopWriter) }()

	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := rpc.DialContext(ctx, e.url)
			if err != nil {
				errMu.Lock()
				failures = append(failures, fmt.Sprintf("reader %d: dial: %v", r, err))
				errMu.Unlock()
				return
			}
			defer c.Close()
			rnd := rand.New(rand.NewPCG(uint64(r), 8))
			for i := 0; i < len(methods) || time.Now().Before(deadline); i++ {
				if ctx.Err() != nil {
					return
				}
				k := (r + i) % len(methods)
				if err := methods[k].call(ctx, c, e, rnd); err != nil {
					errMu.Lock()
					if len(failures) < 20 {
						failures = append(failures, fmt.Sprintf("reader %d %s: %v", r, methods[k].name, err))
					}
					errMu.Unlock()
					continue
				}
				calls[k].Add(1)
			}
		}()
	}
	wg.Wait()
	close(stopWriter)
	werr := <-writerDone
	if ctx.Err() != nil {
		t.Fatalf("stress run did not finish within its bound (writer: %v)", werr)
	}
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	for _, f := range failures {
		t.Error(f)
	}
	var total int64
	for k := range methods {
		total += calls[k].Load()
		if calls[k].Load() == 0 {
			t.Errorf("%s never succeeded", methods[k].name)
		}
	}
	moved := n.Chain().Head().Number.Uint64() - startHead
	t.Logf("%d readers made %d calls over %d methods while the head moved %d blocks; subscriptions: %d heads, %d logs, %d pending",
		readers, total, len(methods), moved, gotHeads.Load(), gotLogs.Load(), gotPending.Load())
	if moved < 2 {
		t.Errorf("the head moved only %d blocks during the run", moved)
	}
	// The node still answers, and every watched nonce is untouched.
	for i := range watched {
		if err := wantNonce(ctx, w.client, e, i, "pending"); err != nil {
			t.Fatal(err)
		}
	}
	if gotHeads.Load() == 0 || gotPending.Load() == 0 {
		t.Errorf("subscriptions saw %d heads and %d pending transactions", gotHeads.Load(), gotPending.Load())
	}
}

// stressWriter sends transactions from the dev accounts over JSON-RPC and
// waits for the sealer to mine them, so the head keeps moving.
type stressWriter struct {
	t      *testing.T
	env    *stressEnv
	keys   []*ecdsa.PrivateKey
	nonces []uint64
	client *rpc.Client
	heads  <-chan state.HeadEvent
	sent   int
	mined  int
}

func (w *stressWriter) send(ctx context.Context, from int, to *common.Address, data []byte, gas uint64) *types.Transaction {
	tx, err := w.trySend(ctx, from, to, data, gas)
	if err != nil {
		w.t.Fatal(err)
	}
	return tx
}

func (w *stressWriter) trySend(ctx context.Context, from int, to *common.Address, data []byte, gas uint64) (*types.Transaction, error) {
	tx, err := types.SignNewTx(w.keys[from], types.LatestSignerForChainID(w.env.chainID), &types.DynamicFeeTx{
		ChainID: w.env.chainID, Nonce: w.nonces[from], GasTipCap: big.NewInt(1_000_000_000),
		GasFeeCap: big.NewInt(50_000_000_000), Gas: gas, To: to, Value: big.NewInt(1), Data: data,
	})
	if err != nil {
		return nil, err
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var hash common.Hash
	if err := w.client.CallContext(ctx, &hash, "eth_sendRawTransaction", hexutil.Encode(raw)); err != nil {
		return nil, fmt.Errorf("eth_sendRawTransaction from dev %d nonce %d: %w", from, w.nonces[from], err)
	}
	w.nonces[from]++
	w.sent++
	return tx, nil
}

// waitMined consumes head events until want more transactions are mined.
func (w *stressWriter) waitMined(ctx context.Context, want int) error {
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for got := 0; got < want; {
		select {
		case ev := <-w.heads:
			got += ev.Block.Transactions().Len()
			w.mined += ev.Block.Transactions().Len()
			w.env.addMined(ev.Block)
		case <-timeout.C:
			return fmt.Errorf("only %d of %d transactions mined within a minute", got, want)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// loop sends rounds of transactions (an emitter call that logs and writes
// storage, and transfers to watched accounts) until stop, each round mined
// before the next.
func (w *stressWriter) loop(ctx context.Context, stop <-chan struct{}) error {
	for round := 0; ; round++ {
		select {
		case <-stop:
			return nil
		default:
		}
		var payload [32]byte
		payload[31] = byte(round)
		if _, err := w.trySend(ctx, 0, &w.env.emitter, payload[:], 100_000); err != nil {
			return err
		}
		for k := 1; k <= 3; k++ {
			from := 1 + (round*3+k)%(len(w.keys)-1)
			to := w.env.watched[(round*3+k)%len(w.env.watched)]
			if _, err := w.trySend(ctx, from, &to, nil, 21_000); err != nil {
				return err
			}
		}
		if err := w.waitMined(ctx, 4); err != nil {
			return err
		}
	}
}
