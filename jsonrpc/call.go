package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// executor runs eth_call / eth_estimateGas / debug_traceCall messages
// through Backend.ApplyMessage on a throwaway state, bounded by a gas cap
// and a wall-clock timeout.
type executor struct {
	b       Backend
	gasCap  uint64        // 0 = unlimited
	timeout time.Duration // 0 = unlimited
}

// call runs args on st at header after applying overrides.
func (x *executor) call(ctx context.Context, args TransactionArgs, st *ethstate.StateDB, header *types.Header, overrides *StateOverride) (*core.ExecutionResult, error) {
	if err := overrides.apply(st); err != nil {
		return nil, err
	}
	if err := args.callDefaults(x.gasCap, header.BaseFee, x.b.ChainConfig().ChainID); err != nil {
		return nil, err
	}
	msg := args.toMessage(header.BaseFee)
	return x.apply(ctx, st, header, msg, vm.Config{NoBaseFee: true})
}

// apply runs msg on st with an EVM for header, cancelling it at the timeout.
func (x *executor) apply(ctx context.Context, st *ethstate.StateDB, header *types.Header, msg *core.Message, cfg vm.Config) (*core.ExecutionResult, error) {
	if x.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, x.timeout)
		defer cancel()
	}
	evm := x.b.NewEVM(header, st, cfg)
	defer evm.Release()
	// A zero-priced call must not fail the basefee <= feecap invariant,
	// and BASEFEE then reads 0 as in geth.
	if msg.GasPrice == nil || msg.GasPrice.Sign() == 0 {
		evm.Context.BaseFee = new(big.Int)
	}
	stop := watch(ctx, evm.Cancel)
	defer stop()
	res, err := x.b.ApplyMessage(evm, msg, core.NewGasPool(msg.GasLimit))
	stop()
	if evm.Cancelled() {
		return nil, fmt.Errorf("%w (timeout = %v)", ErrExecutionAborted, x.timeout)
	}
	if serr := st.Error(); serr != nil {
		return nil, serr
	}
	if err != nil {
		return res, fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	return res, nil
}

// EstimateGas is eth_estimateGas on the latest state for callers in the
// node's process (its wallet), with DefaultConfig's gas cap and EVM
// timeout, in the context of the next block: the latest header with the
// next number, the earliest block the transaction can land in, so that a
// method whose gas a fork changes (native.Method.BlockGas) is estimated
// under the rules it runs under when the fork's block is the next one.
// A revert comes back as the same error eth_estimateGas returns.
func EstimateGas(ctx context.Context, b Backend, args TransactionArgs) (uint64, error) {
	st, header, err := stateAndHeader(b, latestOr(nil))
	if err != nil {
		return 0, err
	}
	next := types.CopyHeader(header)
	next.ParentHash = header.Hash()
	next.Number = new(big.Int).Add(header.Number, big.NewInt(1))
	d := DefaultConfig()
	x := &executor{b: b, gasCap: d.GasCap, timeout: d.EVMTimeout}
	return x.estimateGas(ctx, args, st, next, nil)
}

// estimateGas binary-searches the lowest gas limit at which args succeed,
// following geth's eth/gasestimator (including its optimistic first probe
// and 1.5% error ratio), but executing through Backend.ApplyMessage.
func (x *executor) estimateGas(ctx context.Context, args TransactionArgs, st *ethstate.StateDB, header *types.Header, overrides *StateOverride) (uint64, error) {
	if err := overrides.apply(st); err != nil {
		return 0, err
	}
	if args.Gas == nil {
		args.Gas = new(hexutil.Uint64)
	}
	if err := args.callDefaults(x.gasCap, header.BaseFee, x.b.ChainConfig().ChainID); err != nil {
		return 0, err
	}
	call := args.toMessage(header.BaseFee)

	hi := header.GasLimit
	if call.GasLimit >= params.TxGas {
		hi = call.GasLimit
	}
	feeCap := call.GasFeeCap
	if args.GasPrice != nil {
		feeCap = call.GasPrice
	}
	if feeCap != nil && feeCap.BitLen() != 0 {
		available := st.GetBalance(call.From).Clone()
		if call.Value != nil {
			if call.Value.Cmp(available) >= 0 {
				return 0, core.ErrInsufficientFundsForTransfer
			}
			available.Sub(available, call.Value)
		}
		allowance := new(uint256.Int).Div(available, feeCap)
		if allowance.IsUint64() && hi > allowance.Uint64() {
			hi = allowance.Uint64()
		}
	}
	if x.gasCap != 0 && hi > x.gasCap {
		hi = x.gasCap
	}
	// A plain transfer to an account without code costs exactly its gas used.
	if len(call.Data) == 0 && call.To != nil && st.GetCodeSize(*call.To) == 0 {
		failed, res, err := x.probe(ctx, call, st, header, params.TxGas)
		if !failed && err == nil {
			return res.UsedGas, nil
		}
	}
	failed, res, err := x.probe(ctx, call, st, header, hi)
	if err != nil {
		return 0, err
	}
	if failed {
		if res != nil && !errors.Is(res.Err, vm.ErrOutOfGas) {
			if errors.Is(res.Err, vm.ErrExecutionReverted) {
				return 0, newRevertError(res.Revert())
			}
			return 0, res.Err
		}
		return 0, fmt.Errorf("%w (%d)", ErrGasCapExceeded, hi)
	}
	lo := res.UsedGas - 1
	optimistic := (res.MaxUsedGas + params.CallStipend) * 64 / 63
	if optimistic < hi {
		failed, _, err = x.probe(ctx, call, st, header, optimistic)
		if err != nil {
			return 0, err
		}
		if failed {
			lo = optimistic
		} else {
			hi = optimistic
		}
	}
	const errorRatio = 0.015
	for lo+1 < hi {
		if float64(hi-lo)/float64(hi) < errorRatio {
			break
		}
		mid := lo + (hi-lo)/2
		if mid > lo*2 {
			mid = lo * 2
		}
		failed, _, err = x.probe(ctx, call, st, header, mid)
		if err != nil {
			return 0, err
		}
		if failed {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// probe runs call with gasLimit on a copy of st. failed reports a failure
// that more (or less) gas may fix; err is a failure it cannot.
func (x *executor) probe(ctx context.Context, call *core.Message, st *ethstate.StateDB, header *types.Header, gasLimit uint64) (failed bool, res *core.ExecutionResult, err error) {
	msg := *call
	msg.GasLimit = gasLimit
	res, err = x.apply(ctx, st.Copy(), header, &msg, vm.Config{NoBaseFee: true})
	if err != nil {
		if errors.Is(err, core.ErrIntrinsicGas) || errors.Is(err, core.ErrGasLimitTooHigh) {
			return true, nil, nil
		}
		return true, nil, err
	}
	return res.Failed(), res, nil
}

// watch calls onDone from another goroutine if ctx ends before stop is
// called. stop waits for that goroutine to exit, so onDone never runs after
// stop returns: the EVM and tracer it touches (Cancel, Stop) are then used
// by the request's goroutine alone again, as go-ethereum requires of them.
// stop is idempotent.
func watch(ctx context.Context, onDone func()) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			onDone()
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-exited
		})
	}
}
