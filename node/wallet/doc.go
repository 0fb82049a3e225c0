// Package wallet sends transactions from the node's own key on behalf of the
// node's services (equivocation evidence now; registration, assignments and
// results later).
//
// Begin with Wallet.Submit: it builds an EIP-1559 transaction with the next
// nonce, signs it with the chain's signer and hands it to the node's send
// path (the local pool, then gossip), returning a Handle whose Wait gives the
// receipt. The Wallet then watches the chain's heads; what to do about each
// transaction still in flight is decided by Tracker (tracker.go), a plain
// state machine with no goroutines, clock or I/O:
//
//   - mined: the receipt is delivered to the Handle (an error too, wrapping
//     ErrReverted, when the transaction failed);
//   - dropped (neither mined nor in the pool): the same signed transaction is
//     sent again;
//   - stuck (the account's next nonce for Policy.StuckBlocks heads): it is
//     replaced with the same nonce and both fees raised by at least the pool's
//     price bump, at most Policy.MaxBumps times and never above
//     Policy.MaxFeeCapWei;
//   - nonce taken (the account's nonce moved past it but none of its versions
//     was mined: another transaction from the same key, sent elsewhere): the
//     request is sent again with a fresh nonce, and the local nonce re-synced.
//
// IBFT blocks are final, so a mined transaction is never un-mined; the
// wallet does not handle reorganisations.
//
// Everything is bounded: Config.MaxInFlight transactions at once (Submit
// fails with ErrWalletFull beyond), one pending head at a time (the head
// forwarder keeps only the newest, so the chain, which sends head events
// while holding its insert lock, never waits on the wallet).
package wallet
