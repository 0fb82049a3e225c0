package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/eth/tracers"
	"github.com/ethereum/go-ethereum/eth/tracers/logger"
	"github.com/ethereum/go-ethereum/rpc"

	// Register geth's built-in tracers (callTracer, prestateTracer, 4byte,
	// ... and the JavaScript tracer) in tracers.DefaultDirectory.
	_ "github.com/ethereum/go-ethereum/eth/tracers/js"
	_ "github.com/ethereum/go-ethereum/eth/tracers/native"
)

// defaultTraceTimeout bounds one trace unless the request sets "timeout"
// (geth's default).
const defaultTraceTimeout = 5 * time.Second

// maxTraceTimeout bounds a request's own "timeout".
const maxTraceTimeout = time.Minute

// ErrTxNotFound is returned by debug_traceTransaction for an unknown or
// unmined transaction.
var ErrTxNotFound = errors.New("transaction not found")

// TraceConfig is debug_traceTransaction's options (geth's shape: struct
// logger options inline, "tracer", "timeout", "tracerConfig").
type TraceConfig = tracers.TraceConfig

// TraceCallConfig is debug_traceCall's options: TraceConfig plus
// "stateOverrides".
type TraceCallConfig struct {
	TraceConfig
	StateOverrides *StateOverride `json:"stateOverrides"`
}

// debugAPI serves debug_traceTransaction and debug_traceCall.
type debugAPI struct {
	b Backend
	x *executor
}

// TraceTransaction re-executes a mined transaction on the state before it
// with the requested tracer (the struct logger by default).
func (api *debugAPI) TraceTransaction(ctx context.Context, hash common.Hash, config *TraceConfig) (any, error) {
	tx, blockHash, number, index := api.b.Transaction(hash)
	if tx == nil {
		return nil, ErrTxNotFound
	}
	if number == 0 {
		return nil, errors.New("genesis is not traceable")
	}
	block := api.b.BlockByHash(blockHash)
	if block == nil {
		return nil, fmt.Errorf("block %s not found", blockHash)
	}
	st, err := api.b.StateAtTransaction(ctx, block, int(index))
	if err != nil {
		return nil, err
	}
	signer := types.MakeSigner(api.b.ChainConfig(), block.Number(), block.Time())
	msg, err := core.TransactionToMessage(tx, signer, block.BaseFee())
	if err != nil {
		return nil, err
	}
	txctx := &tracers.Context{BlockHash: blockHash, BlockNumber: block.Number(), TxIndex: int(index), TxHash: hash}
	return api.trace(ctx, tx, msg, txctx, block.Header(), st, config)
}

// TraceCall runs args like eth_call at the given block with the requested
// tracer.
func (api *debugAPI) TraceCall(ctx context.Context, args TransactionArgs, bnh rpc.BlockNumberOrHash, config *TraceCallConfig) (any, error) {
	st, header, err := stateAndHeader(api.b, bnh)
	if err != nil {
		return nil, toRPCError(err)
	}
	var traceConfig *TraceConfig
	if config != nil {
		if err := config.StateOverrides.apply(st); err != nil {
			return nil, toRPCError(err)
		}
		traceConfig = &config.TraceConfig
	}
	if err := args.callDefaults(api.x.gasCap, header.BaseFee, api.b.ChainConfig().ChainID); err != nil {
		return nil, err
	}
	msg := args.toMessage(header.BaseFee)
	// The tracer sees a transaction; like geth, build a legacy one from args.
	tx := types.NewTx(&types.LegacyTx{
		Nonce: msg.Nonce, To: msg.To, Gas: msg.GasLimit, GasPrice: msg.GasPrice.ToBig(),
		Value: msg.Value.ToBig(), Data: msg.Data,
	})
	txctx := &tracers.Context{BlockHash: header.Hash(), BlockNumber: header.Number}
	return api.trace(ctx, tx, msg, txctx, header, st, traceConfig)
}

// trace runs msg on st under the configured tracer and returns its result.
func (api *debugAPI) trace(ctx context.Context, tx *types.Transaction, msg *core.Message, txctx *tracers.Context, header *types.Header, st *ethstate.StateDB, config *TraceConfig) (any, error) {
	if config == nil {
		config = &TraceConfig{}
	}
	var tracer *tracers.Tracer
	if config.Tracer == nil {
		l := logger.NewStructLogger(config.Config)
		tracer = &tracers.Tracer{Hooks: l.Hooks(), GetResult: l.GetResult, Stop: l.Stop}
	} else {
		var err error
		tracer, err = tracers.DefaultDirectory.New(*config.Tracer, txctx, config.TracerConfig, api.b.ChainConfig())
		if err != nil {
			return nil, err
		}
	}
	timeout := defaultTraceTimeout
	if config.Timeout != nil {
		var err error
		if timeout, err = time.ParseDuration(*config.Timeout); err != nil {
			return nil, invalidParams("invalid timeout: %v", err)
		}
		timeout = min(timeout, maxTraceTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	evm := api.b.NewEVM(header, st, vm.Config{Tracer: tracer.Hooks, NoBaseFee: true})
	defer evm.Release()
	// Route state changes through the tracer's hooks too (balance, nonce,
	// code, storage), as geth's tracing state does.
	evm.StateDB = ethstate.NewHookedState(st, tracer.Hooks)
	if msg.GasPrice == nil || msg.GasPrice.Sign() == 0 {
		evm.Context.BaseFee = new(big.Int)
	}
	// The watchdog is joined before the result is read, so the tracer's
	// GetResult never runs beside its Stop.
	stop := watch(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			tracer.Stop(errors.New("execution timeout"))
		}
		evm.Cancel()
	})
	defer stop()
	st.SetTxContext(txctx.TxHash, txctx.TxIndex, uint32(txctx.TxIndex+1))
	if tracer.OnTxStart != nil {
		tracer.OnTxStart(evm.GetVMContext(), tx, msg.From)
	}
	res, err := api.b.ApplyMessage(evm, msg, core.NewGasPool(msg.GasLimit))
	stop()
	if err != nil {
		return nil, fmt.Errorf("tracing failed: %w", err)
	}
	if tracer.OnTxEnd != nil {
		tracer.OnTxEnd(&types.Receipt{GasUsed: res.UsedGas}, nil)
	}
	return tracer.GetResult()
}
