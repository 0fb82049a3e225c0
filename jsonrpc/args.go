package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// TransactionArgs are the arguments of eth_call, eth_estimateGas,
// eth_sendTransaction and debug_traceCall (geth's TransactionArgs without
// the blob and set-code fields, which this chain rejects).
type TransactionArgs struct {
	From                 *common.Address `json:"from"`
	To                   *common.Address `json:"to"`
	Gas                  *hexutil.Uint64 `json:"gas"`
	GasPrice             *hexutil.Big    `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big    `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big    `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big    `json:"value"`
	Nonce                *hexutil.Uint64 `json:"nonce"`

	// "data" and "input" are both accepted; "input" wins (geth #15628).
	Data  *hexutil.Bytes `json:"data"`
	Input *hexutil.Bytes `json:"input"`

	AccessList *types.AccessList `json:"accessList,omitempty"`
	ChainID    *hexutil.Big      `json:"chainId,omitempty"`
}

func (args *TransactionArgs) from() common.Address {
	if args.From == nil {
		return common.Address{}
	}
	return *args.From
}

func (args *TransactionArgs) data() []byte {
	if args.Input != nil {
		return *args.Input
	}
	if args.Data != nil {
		return *args.Data
	}
	return nil
}

// callDefaults fills zero values for eth_call-class methods, as geth's
// CallDefaults does. gasCap bounds the gas (0 = no cap).
func (args *TransactionArgs) callDefaults(gasCap uint64, baseFee *big.Int, chainID *big.Int) error {
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.Data != nil && args.Input != nil && !bytes.Equal(*args.Data, *args.Input) {
		return errors.New(`both "data" and "input" are set and not equal. Please use "input" to pass transaction call data`)
	}
	if args.ChainID == nil {
		args.ChainID = (*hexutil.Big)(chainID)
	} else if have := (*big.Int)(args.ChainID); have.Cmp(chainID) != 0 {
		return fmt.Errorf("chainId does not match node's (have=%v, want=%v)", have, chainID)
	}
	if args.Gas == nil {
		gas := gasCap
		if gas == 0 {
			gas = uint64(math.MaxUint64 / 2)
		}
		args.Gas = (*hexutil.Uint64)(&gas)
	} else if gasCap > 0 && gasCap < uint64(*args.Gas) {
		args.Gas = (*hexutil.Uint64)(&gasCap)
	}
	if args.Nonce == nil {
		args.Nonce = new(hexutil.Uint64)
	}
	if args.Value == nil {
		args.Value = new(hexutil.Big)
	}
	if baseFee == nil {
		if args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil {
			return errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
		}
		if args.GasPrice == nil {
			args.GasPrice = new(hexutil.Big)
		}
	} else {
		if args.MaxFeePerGas == nil {
			args.MaxFeePerGas = new(hexutil.Big)
		}
		if args.MaxPriorityFeePerGas == nil {
			args.MaxPriorityFeePerGas = new(hexutil.Big)
		}
	}
	return nil
}

// toMessage converts defaulted args to a core.Message that skips the nonce
// and EOA checks (calls, estimates and traces are not real transactions).
func (args *TransactionArgs) toMessage(baseFee *big.Int) *core.Message {
	var gasPrice, gasFeeCap, gasTipCap *uint256.Int
	switch {
	case baseFee == nil:
		gasPrice = mustU256(args.GasPrice)
		gasFeeCap, gasTipCap = gasPrice, gasPrice
	case args.GasPrice != nil:
		gasPrice = mustU256(args.GasPrice)
		gasFeeCap, gasTipCap = gasPrice, gasPrice
	default:
		gasFeeCap = mustU256(args.MaxFeePerGas)
		gasTipCap = mustU256(args.MaxPriorityFeePerGas)
		gasPrice = new(uint256.Int)
		if gasFeeCap.BitLen() > 0 || gasTipCap.BitLen() > 0 {
			bf, _ := uint256.FromBig(baseFee)
			gasPrice = new(uint256.Int).Add(gasTipCap, bf)
			if gasPrice.Cmp(gasFeeCap) > 0 {
				gasPrice = gasFeeCap
			}
		}
	}
	var accessList types.AccessList
	if args.AccessList != nil {
		accessList = *args.AccessList
	}
	msg := &core.Message{
		From:       args.from(),
		To:         args.To,
		Value:      mustU256(args.Value),
		Nonce:      uint64(*args.Nonce),
		GasLimit:   uint64(*args.Gas),
		GasPrice:   gasPrice,
		GasFeeCap:  gasFeeCap,
		GasTipCap:  gasTipCap,
		Data:       args.data(),
		AccessList: accessList,
	}
	msg.SkipNonceCheck()
	return msg.SkipEOACheck().SkipGasLimitCapCheck()
}

// toTransaction builds an unsigned transaction from fully defaulted args:
// legacy when gasPrice is given (EIP-2930 with an access list), else 1559.
func (args *TransactionArgs) toTransaction() *types.Transaction {
	al := types.AccessList{}
	if args.AccessList != nil {
		al = *args.AccessList
	}
	switch {
	case args.GasPrice != nil && args.AccessList != nil:
		return types.NewTx(&types.AccessListTx{
			To: args.To, ChainID: (*big.Int)(args.ChainID), Nonce: uint64(*args.Nonce),
			Gas: uint64(*args.Gas), GasPrice: (*big.Int)(args.GasPrice),
			Value: (*big.Int)(args.Value), Data: args.data(), AccessList: al,
		})
	case args.GasPrice != nil:
		return types.NewTx(&types.LegacyTx{
			To: args.To, Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas),
			GasPrice: (*big.Int)(args.GasPrice), Value: (*big.Int)(args.Value), Data: args.data(),
		})
	default:
		return types.NewTx(&types.DynamicFeeTx{
			To: args.To, ChainID: (*big.Int)(args.ChainID), Nonce: uint64(*args.Nonce),
			Gas: uint64(*args.Gas), GasFeeCap: (*big.Int)(args.MaxFeePerGas),
			GasTipCap: (*big.Int)(args.MaxPriorityFeePerGas), Value: (*big.Int)(args.Value),
			Data: args.data(), AccessList: al,
		})
	}
}

// mustU256 converts a decoded hexutil.Big (which JSON decoding already
// bounds to 256 bits) to uint256; nil becomes zero and anything that does
// not fit saturates rather than panicking.
func mustU256(b *hexutil.Big) *uint256.Int {
	if b == nil {
		return new(uint256.Int)
	}
	v, overflow := uint256.FromBig((*big.Int)(b))
	if overflow || (*big.Int)(b).Sign() < 0 {
		return new(uint256.Int).SetAllOne()
	}
	return v
}

// maxOverrideAccounts bounds the accounts one state override may touch.
const maxOverrideAccounts = 1000

// OverrideAccount replaces fields of one account for the duration of a
// call (geth's override.OverrideAccount without movePrecompileToAddress).
type OverrideAccount struct {
	Nonce     *hexutil.Uint64             `json:"nonce"`
	Code      *hexutil.Bytes              `json:"code"`
	Balance   *hexutil.Big                `json:"balance"`
	State     map[common.Hash]common.Hash `json:"state"`
	StateDiff map[common.Hash]common.Hash `json:"stateDiff"`
}

// StateOverride is the optional third parameter of eth_call and
// eth_estimateGas.
type StateOverride map[common.Address]OverrideAccount

// apply writes the overrides into st.
func (diff *StateOverride) apply(st *ethstate.StateDB) error {
	if diff == nil {
		return nil
	}
	if len(*diff) > maxOverrideAccounts {
		return invalidParams("too many state overrides (max %d)", maxOverrideAccounts)
	}
	for addr, account := range *diff {
		if account.Nonce != nil {
			st.SetNonce(addr, uint64(*account.Nonce), tracing.NonceChangeUnspecified)
		}
		if account.Code != nil {
			st.SetCode(addr, *account.Code, tracing.CodeChangeUnspecified)
		}
		if account.Balance != nil {
			st.SetBalance(addr, mustU256(account.Balance), tracing.BalanceChangeUnspecified)
		}
		if account.State != nil && account.StateDiff != nil {
			return fmt.Errorf("account %s has both 'state' and 'stateDiff'", addr.Hex())
		}
		if account.State != nil {
			st.SetStorage(addr, account.State)
		}
		for key, value := range account.StateDiff {
			st.SetState(addr, key, value)
		}
	}
	st.Finalise(params.Rules{})
	return nil
}
