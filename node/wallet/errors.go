package wallet

import "errors"

var (
	// ErrWalletFull is returned by Submit when Config.MaxInFlight
	// transactions are already waiting to be mined.
	ErrWalletFull = errors.New("wallet: too many transactions in flight")

	// ErrFeeCapExceeded is returned by Submit when the next block's base fee
	// plus the tip is above Policy.MaxFeeCapWei.
	ErrFeeCapExceeded = errors.New("wallet: base fee above the max fee cap")

	// ErrReverted is returned by Handle.Wait, with the receipt, when the
	// transaction was mined but failed (receipt status 0).
	ErrReverted = errors.New("wallet: transaction failed")

	// ErrStopped is returned by Submit after the wallet stopped, and by
	// Handle.Wait for a transaction still in flight when it stopped.
	ErrStopped = errors.New("wallet: stopped")

	// ErrBadConfig is returned by New for an invalid Config or Policy.
	ErrBadConfig = errors.New("wallet: bad config")

	// ErrBadRequest is returned by Submit for a request it cannot send
	// (negative value).
	ErrBadRequest = errors.New("wallet: bad request")
)
