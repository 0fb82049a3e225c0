package jsonrpc

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/rpc"
)

// The sentinel errors below travel to clients verbatim, so their text is
// geth's wording (clients such as ethers.js match on it) rather than the
// usual "jsonrpc: " prefix. errorCodes maps each to its JSON-RPC code.
var (
	// ErrUnknownAccount is returned by the signing methods when the account
	// is not unlocked on this node (or no accounts are, outside dev mode).
	ErrUnknownAccount = errors.New("unknown account")
	// ErrFilterNotFound is returned for an unknown or expired filter id.
	ErrFilterNotFound = errors.New("filter not found")
	// ErrUnknownBlock is returned by eth_getLogs for an unknown blockHash.
	ErrUnknownBlock = errors.New("unknown block")
	// ErrHeaderNotFound is returned by state queries at a block that does not
	// exist (geth: "header not found").
	ErrHeaderNotFound = errors.New("header not found")
	// ErrHashNotFound is returned by state queries at an unknown block hash.
	ErrHashNotFound = errors.New("header for hash not found")
	// ErrNotCanonical is returned for an EIP-1898 hash query with
	// requireCanonical set when the block is not canonical.
	ErrNotCanonical = errors.New("hash is not currently canonical")
	// ErrInvalidParams is returned for parameters that decode but make no
	// sense (bad storage key, too many keys, bad percentiles).
	ErrInvalidParams = errors.New("invalid argument")
	// ErrInvalidBlockRange is returned by log queries with fromBlock > toBlock.
	ErrInvalidBlockRange = errors.New("invalid block range params")
	// ErrBlockRangeIntoFuture is returned by log queries past the head.
	ErrBlockRangeIntoFuture = errors.New("block range extends beyond current head block")
	// ErrBlockHashWithRange is returned when a log query names both a block
	// hash and a range.
	ErrBlockHashWithRange = errors.New("can't specify fromBlock/toBlock with blockHash")
	// ErrBlockRangeTooLarge is returned when a log query spans more blocks
	// than Config.LogBlockRange.
	ErrBlockRangeTooLarge = errors.New("exceed maximum block range")
	// ErrTooManyLogs is returned when a log query matches more than
	// Config.LogResultLimit logs.
	ErrTooManyLogs = errors.New("query returned more than the allowed number of results")
	// ErrExceedMaxTopics is returned for filters with more than four topic
	// positions or too many alternatives in one position.
	ErrExceedMaxTopics = errors.New("exceed max topics")
	// ErrExceedMaxAddresses is returned for filters with too many addresses.
	ErrExceedMaxAddresses = errors.New("exceed max addresses or topics per search position")
	// ErrTooManyFilters is returned by eth_new*Filter when Config.MaxFilters
	// filters are installed.
	ErrTooManyFilters = errors.New("too many filters installed")
	// ErrGasCapExceeded is returned by eth_estimateGas when the transaction
	// needs more gas than it may have (geth: "gas required exceeds allowance").
	ErrGasCapExceeded = errors.New("gas required exceeds allowance")
	// ErrExecutionAborted is returned when eth_call or a trace hits the EVM
	// timeout.
	ErrExecutionAborted = errors.New("execution aborted")
	// ErrLimitExceeded is returned when a request exceeds a server limit.
	ErrLimitExceeded = errors.New("limit exceeded")
)

// JSON-RPC error codes used by this package (see EIP-1474 and geth rpc/errors.go).
const (
	codeDefault       = -32000
	codeInvalidParams = -32602
	codeLimitExceeded = -32005
	codeReverted      = 3
)

// errorCodes is the one table mapping sentinel errors to JSON-RPC codes.
// Errors not listed (pool rejections included) get geth's default -32000
// with their own message, which is what geth sends for them.
var errorCodes = []struct {
	target error
	code   int
}{
	{ErrInvalidParams, codeInvalidParams},
	{ErrInvalidBlockRange, codeInvalidParams},
	{ErrBlockRangeIntoFuture, codeInvalidParams},
	{ErrBlockHashWithRange, codeInvalidParams},
	{ErrBlockRangeTooLarge, codeInvalidParams},
	{ErrTooManyLogs, codeLimitExceeded},
	{ErrTooManyFilters, codeLimitExceeded},
	{ErrLimitExceeded, codeLimitExceeded},
}

// codedError is an error with a JSON-RPC code and optional data; geth's rpc
// server reads ErrorCode and ErrorData from the returned error value.
type codedError struct {
	err  error
	code int
	data any
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// ErrorCode implements rpc.Error.
func (e *codedError) ErrorCode() int { return e.code }

// ErrorData implements rpc.DataError.
func (e *codedError) ErrorData() any { return e.data }

var (
	_ rpc.Error     = (*codedError)(nil)
	_ rpc.DataError = (*codedError)(nil)
)

// Is makes every codedError with the revert code match vm.ErrExecutionReverted
// as well as its wrapped error, so callers can test either.
func (e *codedError) Is(target error) bool {
	return e.code == codeReverted && target == vm.ErrExecutionReverted
}

// toRPCError converts err for the wire: errors that already carry a code pass
// through, sentinels from errorCodes get theirs, anything else is left to
// the rpc server's default (-32000, message = err.Error()).
func toRPCError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(rpc.Error); ok {
		return err
	}
	var coded *codedError
	if errors.As(err, &coded) {
		return &codedError{err: err, code: coded.code, data: coded.data}
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.target) {
			return &codedError{err: err, code: e.code}
		}
	}
	return err
}

// invalidParams returns a -32602 error with the given message.
func invalidParams(format string, args ...any) error {
	return &codedError{err: fmt.Errorf(format, args...), code: codeInvalidParams}
}

// newRevertError builds geth's revert error: code 3, message
// "execution reverted[: reason]", data the hex revert bytes.
func newRevertError(revert []byte) error {
	err := vm.ErrExecutionReverted
	if reason, errUnpack := abi.UnpackRevert(revert); errUnpack == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &codedError{err: err, code: codeReverted, data: hexutil.Encode(revert)}
}
