package txpool

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// acceptedTypes are the only transaction types this chain executes.
const acceptedTypes = 1<<types.LegacyTxType | 1<<types.AccessListTxType | 1<<types.DynamicFeeTxType

// validateTx performs every check that needs no account state, in geth's
// order (core/txpool.ValidateTransaction): cheap checks before the signature
// recovery, the expensive part. It runs without the pool lock. It returns the
// recovered sender and the caps as uint256 (bit lengths are checked here).
func validateTx(tx *types.Transaction, head *types.Header, rules *params.Rules, signer types.Signer, cfg *Config) (from common.Address, feeCap, tip *uint256.Int, err error) {
	if tx.Type() >= 8 || acceptedTypes&(1<<tx.Type()) == 0 {
		return from, nil, nil, fmt.Errorf("%w: tx type %v not supported by this pool", ErrTxTypeNotSupported, tx.Type())
	}
	if size := tx.Size(); size > cfg.MaxTxSize {
		return from, nil, nil, fmt.Errorf("%w: transaction size %v, limit %v", ErrOversizedData, size, cfg.MaxTxSize)
	}
	if tx.To() == nil {
		if err := vm.CheckMaxInitCodeSize(rules, uint64(len(tx.Data()))); err != nil {
			return from, nil, nil, err
		}
	}
	if tx.Value().Sign() < 0 {
		return from, nil, nil, ErrNegativeValue
	}
	if head.GasLimit < tx.Gas() {
		return from, nil, nil, fmt.Errorf("%w: gas %v, block gas limit %v", ErrGasLimit, tx.Gas(), head.GasLimit)
	}
	if tx.GasFeeCap().BitLen() > 256 {
		return from, nil, nil, ErrFeeCapVeryHigh
	}
	if tx.GasTipCap().BitLen() > 256 {
		return from, nil, nil, ErrTipVeryHigh
	}
	if tx.GasFeeCapIntCmp(tx.GasTipCap()) < 0 {
		return from, nil, nil, fmt.Errorf("%w: maxPriorityFeePerGas: %s, maxFeePerGas: %s", ErrTipAboveFeeCap, tx.GasTipCap(), tx.GasFeeCap())
	}
	// Replay protection: an unprotected legacy signature is valid on every
	// chain. Typed transactions always carry their chain id.
	if tx.Type() == types.LegacyTxType && !tx.Protected() {
		return from, nil, nil, ErrUnprotectedTx
	}
	from, err = types.Sender(signer, tx)
	if err != nil {
		// A wrong chain id arrives here wrapped in ErrInvalidChainID; keep
		// both in the chain so errors.Is finds either (geth's text is
		// "invalid sender: invalid chain id for signer: have X want Y").
		return from, nil, nil, fmt.Errorf("%w: %w", ErrInvalidSender, err)
	}
	if tx.Nonce()+1 < tx.Nonce() {
		return from, nil, nil, ErrNonceMax
	}
	value, overflow := uint256.FromBig(tx.Value())
	if overflow {
		return from, nil, nil, ErrInsufficientFunds
	}
	intrGas, err := core.IntrinsicGas(tx.Data(), tx.AccessList(), nil, from, tx.To(), value, *rules)
	if err != nil {
		return from, nil, nil, err
	}
	if tx.Gas() < intrGas {
		return from, nil, nil, fmt.Errorf("%w: gas %v, minimum needed %v", ErrIntrinsicGas, tx.Gas(), intrGas)
	}
	if rules.IsPrague {
		floor, err := core.FloorDataGas(*rules, from, tx.To(), value, tx.Data(), tx.AccessList())
		if err != nil {
			return from, nil, nil, err
		}
		if tx.Gas() < floor {
			return from, nil, nil, fmt.Errorf("%w: gas %v, minimum needed %v", ErrFloorDataGas, tx.Gas(), floor)
		}
	}
	if tx.GasTipCapIntCmp(cfg.MinTip) < 0 {
		return from, nil, nil, fmt.Errorf("%w: gas tip cap %v, minimum needed %v", ErrTxGasPriceTooLow, tx.GasTipCap(), cfg.MinTip)
	}
	feeCap, _ = uint256.FromBig(tx.GasFeeCap())
	tip, _ = uint256.FromBig(tx.GasTipCap())
	return from, feeCap, tip, nil
}

// replaces reports whether tx may replace old: both its fee cap and its tip
// cap must be strictly higher and at least bump percent higher, with the
// threshold rounded down (geth's legacypool rule; old 100 wei needs 110).
func replaces(old, tx *types.Transaction, bump uint64) bool {
	if old.GasFeeCapCmp(tx) >= 0 || old.GasTipCapCmp(tx) >= 0 {
		return false
	}
	a := new(big.Int).SetUint64(100 + bump)
	hundred := big.NewInt(100)
	feeThreshold := new(big.Int).Mul(a, old.GasFeeCap())
	feeThreshold.Div(feeThreshold, hundred)
	tipThreshold := new(big.Int).Mul(a, old.GasTipCap())
	tipThreshold.Div(tipThreshold, hundred)
	return tx.GasFeeCapIntCmp(feeThreshold) >= 0 && tx.GasTipCapIntCmp(tipThreshold) >= 0
}

// reasons maps sentinels to the metric label of a rejection.
var reasons = []struct {
	err  error
	name string
}{
	{ErrAlreadyKnown, "already_known"},
	{ErrInvalidChainID, "chain_id"},
	{ErrInvalidSender, "invalid_sender"},
	{ErrUnprotectedTx, "unprotected"},
	{ErrTxTypeNotSupported, "tx_type"},
	{ErrOversizedData, "oversized"},
	{ErrMaxInitCodeSizeExceeded, "initcode"},
	{ErrNegativeValue, "negative_value"},
	{ErrGasLimit, "gas_limit"},
	{ErrFeeCapVeryHigh, "fee_cap_bits"},
	{ErrTipVeryHigh, "tip_bits"},
	{ErrTipAboveFeeCap, "tip_above_fee_cap"},
	{ErrNonceMax, "nonce_max"},
	{ErrIntrinsicGas, "intrinsic_gas"},
	{ErrFloorDataGas, "floor_data_gas"},
	{ErrTxGasPriceTooLow, "tip_too_low"},
	{ErrFeeCapTooLow, "fee_cap_too_low"},
	{ErrNonceTooLow, "nonce_too_low"},
	{ErrInsufficientFunds, "insufficient_funds"},
	{ErrReplaceUnderpriced, "replace_underpriced"},
	{ErrAccountLimitExceeded, "account_limit"},
	{ErrPoolFull, "pool_full"},
	{ErrClosed, "closed"},
}

// reasonOf names err for the Rejected metric.
func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}
