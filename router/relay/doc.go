// Package relay is the router's side of EMC Hub calls: an http.Handler
// for /apps/<instance>/<path> on the RPC port that relays each call over a
// libp2p stream to a compute node running the instance (the node's side,
// and the wire protocol, are in computing/instance).
//
// For each call, in order (the first failure answers, always with a JSON
// body {"code": ..., "error": ...}):
//
//  1. The instance is looked up in the Directory (the chain-backed one
//     reads the apps module; MemDirectory is in memory, for tests): unknown
//     or ended is 404 unknown_instance.
//  2. Authorization: Bearer KEY must hash (instance.KeyHash: keccak256, as the apps module's apps.APIKeyHash) to
//     the instance's key hash, compared in constant time: else 401 bad_key.
//  3. A token bucket per key (Config.Rate, Burst): past it 429
//     rate_limited with Retry-After. Bad keys never spend a bucket.
//  4. Not yet ready: 503 not_ready. A declared body over MaxBody: 413.
//  5. Replicas are tried nearest first: the round-trip time from RTTs
//     (TableRTTs reads the live table, router/heartbeat) when it has one,
//     else the relay's own average of
//     stream opening times, unmeasured last. A replica that cannot be
//     reached is skipped; none reachable is 502 node_down. Once a request
//     was sent it is never retried elsewhere (it may not be idempotent).
//  6. The body streams to the node while the answer streams back; each
//     chunk is written and flushed as it arrives, so chunked answers and
//     server-sent events pass through as sent. A streamed body that passes
//     MaxBody is 413 too_large; no response header within HeaderTimeout is
//     504 timeout; a node refusal maps to its status (bad key 401, not
//     ready or busy 503, too large 413, app timeout 504, app unreachable
//     and anything else 502). A body the node cuts is cut for the caller
//     too (the connection is aborted), never passed off as whole.
//
// Metering (Config.Meter; meter.go). After the body's end frame the node
// sends its signed usage receipt for the call; the relay hands it to the
// Countersigner with the call's apps.RequestDigest (method, path?query,
// sha256 of the body the router sent) and the time it measured from
// opening the stream. The Countersigner keeps, per instance, the newest
// receipt it signed (at first the newest one settled on chain) and takes
// the node's in sequence order, an early one
// waiting up to Wait for those before it. It countersigns (apps.RoleRouter)
// only a receipt that is for this chain and instance, signed by the
// instance's node, placed by this router, next in sequence, adding exactly
// one call whose digest is the one relayed, with GPU-ms no more than
// max(GPUs, 1) × the measured milliseconds and the charge the app's prices
// give. The signed receipt goes back to the caller in the Emc-Receipt
// trailer (so a metered response is chunked, without Content-Length); a
// refused one is logged and the caller gets no trailer. A receipt can be
// lost (the stream broke, or the caller left, after the node signed it):
// every call relayed without a receipt (and not refused by the node) is
// kept as an orphan (the newest 64), and a receipt that waited Wait for
// up to two missing ones is countersigned when it chains orphans in their
// place (each a call the router relayed) and then its own call. A gap no
// orphans fill, a refused receipt, or a node whose receipts carry another
// sync token than the ledger's (it restarted, or lost its meter) starts a
// resync: receipts waiting are refused, the ledger draws a new sync token
// and Sync hands it, with the newest receipt the router countersigned, to
// the relay, which sends them in the next calls' request headers
// (instance.RequestHeader.SyncToken and SyncBase); the node restarts its
// meter from that receipt (checking both signatures) or from the chain's
// settled one, and its receipts carry the token (receipt frame version
// 2). Receipts with another token are refused until one with the new
// token is countersigned; the calls the node numbered that the router
// never countersigned are never charged. A ledger (also a new one) starts
// in resync. An early receipt holds its caller's trailer (not the body)
// for up to Wait.
//
// Restarts: with Config Store (FileReceiptStore: one file per instance,
// replaced atomically and synced; emcd writes through an
// atomicfile.Coalescer, so concurrent calls share one flush: group
// commit), the newest countersigned receipt is on disk before it is
// returned; Load at start reloads each one whose
// signatures, chain, instance, node, router and prices check out, for the
// settler to settle at once, and resyncs from it.
//
// Rate limit: each API key has a token bucket of Config.Rate calls per
// second and Config.Burst (emcd's --relay.rate and --relay.burst).
//
// The caller's going away resets the stream, which ends the app call on
// the node.
package relay
