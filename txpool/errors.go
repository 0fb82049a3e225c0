package txpool

import (
	"errors"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
)

// The rejection errors. Each text is byte-for-byte go-ethereum's for the same
// condition. Where the error lives in a package we import anyway (core, types,
// vm) the variable IS geth's, so errors.Is matches both; the core/txpool and
// legacypool ones are redeclared with the same text because importing those
// packages would register geth's package-level meters. Matching texts matter:
// wallets and libraries recognise them (ethers maps "nonce too low" and
// "insufficient funds" to its own codes). Errors returned by Add wrap these with %w and add detail after a
// colon, exactly as geth does.
var (
	// ErrAlreadyKnown is returned when a transaction with the same hash is
	// already in the pool.
	ErrAlreadyKnown = errors.New("already known")

	// ErrInvalidSender is returned when the signature does not recover to a
	// sender (bad v, r, s). A wrong chain id also wraps ErrInvalidChainID.
	ErrInvalidSender = errors.New("invalid sender")

	// ErrInvalidChainID is returned (wrapped together with ErrInvalidSender)
	// when a transaction is signed for another chain.
	ErrInvalidChainID = types.ErrInvalidChainId // "invalid chain id for signer"

	// ErrUnprotectedTx is returned for legacy transactions signed without
	// EIP-155 replay protection. Such a transaction is valid on every chain, so
	// a signature meant for another network could be replayed here; the pool
	// refuses them outright (geth refuses them over RPC by default, same text).
	ErrUnprotectedTx = errors.New("only replay-protected (EIP-155) transactions allowed over RPC")

	// ErrTxTypeNotSupported is returned for any type other than legacy (0),
	// access-list (1) and dynamic-fee (2): blob (3) and set-code (4)
	// transactions are not part of this chain.
	ErrTxTypeNotSupported = core.ErrTxTypeNotSupported // "transaction type not supported"

	// ErrOversizedData is returned when the encoded transaction is larger than
	// Config.MaxTxSize (128 KiB by default).
	ErrOversizedData = errors.New("oversized data")

	// ErrMaxInitCodeSizeExceeded is returned for a contract creation whose init
	// code is over the EIP-3860 limit (Shanghai).
	ErrMaxInitCodeSizeExceeded = vm.ErrMaxInitCodeSizeExceeded // "max initcode size exceeded"

	// ErrNegativeValue is returned for a negative value; RLP cannot encode one,
	// but a transaction built in-process can carry it.
	ErrNegativeValue = errors.New("negative value")

	// ErrGasLimit is returned when the transaction's gas exceeds the current
	// block gas limit, so it could never be included.
	ErrGasLimit = errors.New("exceeds block gas limit")

	// ErrFeeCapVeryHigh is returned when the fee cap does not fit in 256 bits.
	ErrFeeCapVeryHigh = core.ErrFeeCapVeryHigh // "max fee per gas higher than 2^256-1"

	// ErrTipVeryHigh is returned when the tip cap does not fit in 256 bits.
	ErrTipVeryHigh = core.ErrTipVeryHigh // "max priority fee per gas higher than 2^256-1"

	// ErrTipAboveFeeCap is returned when the tip cap is above the fee cap.
	ErrTipAboveFeeCap = core.ErrTipAboveFeeCap // "max priority fee per gas higher than max fee per gas"

	// ErrNonceMax is returned for nonce 2^64-1 (EIP-2681).
	ErrNonceMax = core.ErrNonceMax // "nonce has max value"

	// ErrIntrinsicGas is returned when the gas limit does not even cover the
	// intrinsic cost (21000 + calldata + access list + creation).
	ErrIntrinsicGas = core.ErrIntrinsicGas // "intrinsic gas too low"

	// ErrFloorDataGas is returned, once Prague rules apply, when the gas limit
	// is below the EIP-7623 calldata floor.
	ErrFloorDataGas = core.ErrFloorDataGas // "insufficient gas for floor data gas cost"

	// ErrTxGasPriceTooLow is returned when the tip cap is below Config.MinTip.
	ErrTxGasPriceTooLow = errors.New("transaction gas price below minimum")

	// ErrFeeCapTooLow is returned when the fee cap is below the base fee of
	// the next block.
	ErrFeeCapTooLow = core.ErrFeeCapTooLow // "max fee per gas less than block base fee"

	// ErrNonceTooLow is returned when the nonce is below the sender's state
	// nonce (already used by a committed transaction).
	ErrNonceTooLow = core.ErrNonceTooLow // "nonce too low"

	// ErrInsufficientFunds is returned when the balance does not cover
	// gas * fee cap + value of this transaction plus every other transaction
	// the sender has in the pool.
	ErrInsufficientFunds = core.ErrInsufficientFunds // "insufficient funds for gas * price + value"

	// ErrReplaceUnderpriced is returned when a transaction with the same
	// sender and nonce is in the pool and the new one does not raise both the
	// fee cap and the tip cap by Config.PriceBump percent.
	ErrReplaceUnderpriced = errors.New("replacement transaction underpriced")

	// ErrAccountLimitExceeded is returned when the sender already has
	// Config.AccountSlots pending or Config.AccountQueue queued transactions.
	ErrAccountLimitExceeded = errors.New("account limit exceeded")

	// ErrPoolFull is returned when the pool is at capacity and the transaction
	// pays no more than the cheapest evictable one (or nothing is evictable).
	ErrPoolFull = errors.New("txpool is full")

	// ErrClosed is returned by Add after Close.
	ErrClosed = errors.New("txpool: closed")
)
