// Package txpool holds the transactions this node knows about but has not yet
// seen in a committed block, and hands them to the block builder in fee order.
//
// It owns:
//   - admission: stateless and stateful validation of incoming transactions,
//     with one sentinel error per rejection (errors.go); the texts are
//     go-ethereum's so that JSON-RPC clients (ethers, viem, web3) map them;
//   - the per-account lists: a contiguous, nonce-sorted "pending" run starting
//     at the account's state nonce (executable now) and a "queued" set of future
//     transactions held across nonce gaps (account.go);
//   - the by-hash lookup and a price heap over remote transactions used to
//     evict the cheapest when the pool is full (priceheap.go);
//   - limits per account and globally, sized in 32 KiB slots (config.go), and
//     the lifetime-based eviction of stale queued transactions, driven by an
//     injected clock (Pool.evictStale);
//   - the ordered view for block building: effective tip across accounts,
//     nonce order within an account (ordered.go);
//   - notifications of newly pending transactions (Pool.SubscribeNewTxs).
//
// The pool sees the chain only through the narrow Chain/State interfaces, so
// tests drive it with a fake chain and a simulated clock. A State (in the
// node, go-ethereum's *state.StateDB of the head) is never called from two
// goroutines at once: a StateDB is not safe even for concurrent readers, and
// Nonce serves eth_getTransactionCount "pending" from every RPC goroutine
// (Pool.stateMu).
//
// Where to begin reading: Pool.Add in pool.go, then validate.go, then
// Pool.Reset. The design follows go-ethereum's core/txpool/legacypool, with two
// deliberate differences: time comes from a clock passed in, and a transaction
// whose fee cap is below the next block's base fee is rejected at admission
// (after admission it is kept, but not offered to the builder while the base
// fee stays above its cap).
package txpool
